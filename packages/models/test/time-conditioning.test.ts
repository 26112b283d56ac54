import { type Backend, createBackend } from '@duality/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configFromReference,
  configToReference,
  DiT,
  DiTDenoiser,
  ditConfig,
  initStateDict,
  loadDiT,
  ModelConfigError,
  serializeDiT,
} from '../src/index';

// time_conditioning: false (the reference's MDLM): sigma is replaced by 0 before the network (_process_sigma).
const base = { vocabSize: 7, hiddenSize: 16, condDim: 8, nHeads: 2, nBlocks: 1, length: 6 };
let backend: Backend;
beforeAll(async () => {
  backend = await createBackend('cpu', { threads: 0 });
});
afterAll(() => backend.destroy());

const tokens = () => backend.tensor([0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4], [2, 6], 'i32');

async function logits(model: DiT, sigma?: number[]): Promise<Float64Array> {
  return Float64Array.from(await (await model.forward({ tokens: tokens() }, sigma)).read());
}

describe('time_conditioning', () => {
  it('defaults to true and round-trips through the reference names', () => {
    expect(ditConfig(base).timeConditioning).toBe(true);
    const off = ditConfig({ ...base, timeConditioning: false });
    expect(configToReference(off).algo).toEqual({ causal_attention: false, time_conditioning: false });
    expect(configFromReference(configToReference(off))).toEqual(off);
    const hf = configFromReference({
      vocab_size: 7,
      hidden_dim: 16,
      cond_dim: 8,
      model_length: 6,
      n_blocks: 1,
      n_heads: 2,
      time_conditioning: false,
    });
    expect(hf.timeConditioning).toBe(false);
    expect(() =>
      configFromReference({ ...configToReference(off), algo: { time_conditioning: 'no' } }),
    ).toThrow(ModelConfigError);
  });

  it('a model without time conditioning ignores sigma (= the logits at sigma 0); one with it does not', async () => {
    const state = initStateDict(ditConfig(base), { seed: 3, scheme: 'normal', std: 0.3 });
    const on = await DiT.fromStateDict(backend, ditConfig(base), state, { dtype: 'f64' });
    const off = await DiT.fromStateDict(backend, ditConfig({ ...base, timeConditioning: false }), state, {
      dtype: 'f64',
    });
    const atZero = await logits(on, [0, 0]);
    const offLogits = await logits(off, [2.5, 0.7]);
    expect(offLogits).toEqual(atZero);
    expect(await logits(off)).toEqual(atZero); // sigma may be omitted
    const onLogits = await logits(on, [2.5, 0.7]);
    expect(Math.max(...onLogits.map((v, i) => Math.abs(v - atZero[i])))).toBeGreaterThan(1e-3);
    expect(new DiTDenoiser(off).timeConditioned).toBe(false);
    expect(new DiTDenoiser(on).timeConditioned).toBe(true);
  });

  it('loadDiT honours time_conditioning: false from the file metadata and from options.config', async () => {
    const config = ditConfig({ ...base, timeConditioning: false });
    const model = await DiT.fromStateDict(backend, config, initStateDict(config, { seed: 1 }));
    const bytes = await serializeDiT(model);
    const loaded = await loadDiT(backend, bytes);
    expect(loaded.config.timeConditioning).toBe(false);
    const overridden = await loadDiT(backend, bytes, {
      config: { ...configToReference(config), algo: { time_conditioning: true } },
    });
    expect(overridden.config.timeConditioning).toBe(true);
    for (const m of [model, loaded, overridden]) m.dispose();
  });
});
