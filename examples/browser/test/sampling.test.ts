/**
 * The page's sampling session (src/sampling.ts) on the cpu backend in Node: the streamed frames end on the
 * ids `sample()` returns, masks are drawn as the mask glyph, and a model that does not fit its entry is refused.
 */
import { createBackend } from '@duality/kernels';
import { DiT, ditConfig, initStateDict, serializeDiT } from '@duality/models';
import { describe, expect, it } from 'vitest';
import type { ModelEntry } from '../src/manifest';
import {
  decodeText,
  denoise,
  type Frame,
  loadModel,
  MASK_GLYPH,
  ModelMismatchError,
  makeSampler,
  type SampleSettings,
  tokenText,
} from '../src/sampling';

const config = (vocabSize: number) =>
  ditConfig({ vocabSize, hiddenSize: 16, condDim: 8, nHeads: 2, nBlocks: 1, length: 10 });

async function bytesOf(vocabSize: number): Promise<Uint8Array> {
  const cpu = await createBackend('cpu', { threads: 0 });
  const c = config(vocabSize);
  const model = await DiT.fromStateDict(cpu, c, initStateDict(c, { seed: 5, scheme: 'normal', std: 0.3 }));
  return serializeDiT(model);
}

const entry = (process: 'masked' | 'uniform', over: Partial<ModelEntry> = {}): ModelEntry => ({
  name: process,
  label: process,
  untrained: true,
  file: 'x',
  bytes: 1,
  tokenizer: 'brown8',
  process,
  vocabSize: process === 'masked' ? 28 : 27,
  length: 10,
  parameters: 1,
  sampler: process === 'masked' ? 'ancestral' : 'psi',
  steps: 5,
  kappa: { kind: 'constant', eta: 0.5 },
  noiseRemoval: 'ancestral',
  ...over,
});

describe('a sampling session', () => {
  it.each([
    ['uniform', 'psi'],
    ['masked', 'ancestral'],
    ['masked', 'psi'],
  ] as const)('%s / %s: every step streamed, the last frame = sample()', async (process, sampler) => {
    const cpu = await createBackend('cpu', { threads: 0 });
    const e = entry(process);
    const loaded = await loadModel(cpu, e, await bytesOf(e.vocabSize));
    const settings: SampleSettings = { sampler, kappa: { kind: 'max-capped', eta: 0.2 }, steps: 5, seed: 9 };
    const frames: Frame[] = [];
    for await (const f of denoise(loaded, settings)) frames.push(f);
    expect(frames.map((f) => [f.phase, f.done])).toEqual([
      ...[1, 2, 3, 4, 5].map((d) => ['step', d]),
      ['final', 5],
    ]);
    expect(frames.slice(0, -1).every((f) => f.x0?.length === 10)).toBe(true);
    const ids = await (
      await makeSampler(loaded, settings).sample(loaded.denoiser, { batch: 1, length: 10, seed: 9 })
    ).read();
    const last = frames.at(-1) as Frame;
    expect(Array.from(last.ids)).toEqual(Array.from(ids));
    expect(decodeText(loaded, last.ids)).toMatch(/^[a-z ]{10}$/);
    if (process === 'masked') {
      expect(loaded.maskId).toBe(27);
      expect(frames[0].ids.some((id) => id === 27)).toBe(true); // the first step of 5 leaves masks
      expect(tokenText(loaded, 27)).toBe(MASK_GLYPH);
    }
    expect(tokenText(loaded, 0)).toBe('a');
    loaded.model.dispose();
  });

  it('stops between steps when its signal is aborted', async () => {
    const cpu = await createBackend('cpu', { threads: 0 });
    const e = entry('uniform');
    const loaded = await loadModel(cpu, e, await bytesOf(27));
    const controller = new AbortController();
    const seen: number[] = [];
    const settings: SampleSettings = {
      sampler: 'ancestral',
      kappa: { kind: 'pure-pc', eta: 0 },
      steps: 6,
      seed: 1,
    };
    await expect(
      (async () => {
        for await (const f of denoise(loaded, settings, controller.signal)) {
          seen.push(f.done);
          if (f.done === 2) controller.abort();
        }
      })(),
    ).rejects.toThrow(/abort/i);
    expect(seen).toEqual([1, 2]);
  });

  it('refuses a model whose vocabulary or context does not fit the entry', async () => {
    const cpu = await createBackend('cpu', { threads: 0 });
    const uniformBytes = await bytesOf(27);
    await expect(loadModel(cpu, entry('masked', { vocabSize: 27 }), uniformBytes)).rejects.toThrow(
      ModelMismatchError,
    );
    await expect(loadModel(cpu, entry('uniform', { length: 11 }), uniformBytes)).rejects.toThrow(
      'uniform: got a model with 27 ids and context 10, expected 27 ids (brown8) and context ≥ 11',
    );
  });
});
