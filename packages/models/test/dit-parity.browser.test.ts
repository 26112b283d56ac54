/**
 * WebGPU parity with the reference fixture (f32, 1e-4) in headless Chromium: the fixture JSON is imported as a
 * module and the weights are fetched from the vite server (`?url`).
 */
import { type Backend, createBackend, type Tensor } from '@duality/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configFromReference,
  type DiT,
  DiTDenoiser,
  loadDiT,
  mergeHeads,
  splitHeadsRotary,
} from '../src/index';
import fixture from './fixtures/dit_parity.json';
import weightsUrl from './fixtures/dit_parity.safetensors?url';

interface T {
  shape: number[];
  data: number[];
}
const fx = fixture as unknown as {
  config: Record<string, number>;
  inputs: { tokens: T; sigma: T; soft: { indices: T; weights: T }; dense: { logits: T } };
  expected: Record<'tokens' | 'soft' | 'dense', { float32: T; float64: T }>;
};

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
};

let gpu: Backend;
let cpu: Backend;
let model: DiT;
beforeAll(async () => {
  gpu = await createBackend('webgpu');
  cpu = await createBackend('cpu', { threads: 0 });
  const bytes = new Uint8Array(await (await fetch(weightsUrl)).arrayBuffer());
  const c = fx.config;
  const config = configFromReference({
    vocab_size: c.vocab_size,
    model: {
      hidden_size: c.hidden_size,
      cond_dim: c.cond_dim,
      n_heads: c.n_heads,
      n_blocks: c.n_blocks,
      length: c.seq_len,
    },
  });
  model = await loadDiT(gpu, bytes, { config });
});
afterAll(() => {
  model?.dispose();
  gpu?.destroy();
});

describe('DiT parity on webgpu (f32)', () => {
  it('is running on the webgpu backend', () => {
    expect(model.backend.name).toBe('webgpu');
  });

  for (const which of ['tokens', 'soft', 'dense'] as const) {
    it(`${which} logits match expected.${which}.float32 to 1e-4`, async () => {
      const { inputs } = fx;
      let input: Parameters<DiT['forward']>[0];
      if (which === 'tokens') input = { tokens: gpu.tensor(inputs.tokens.data, inputs.tokens.shape, 'i32') };
      else if (which === 'soft')
        input = {
          soft: {
            indices: gpu.tensor(inputs.soft.indices.data, inputs.soft.indices.shape, 'i32'),
            weights: gpu.tensor(inputs.soft.weights.data, inputs.soft.weights.shape, 'f32'),
          },
        };
      else input = { dense: gpu.tensor(inputs.dense.logits.data, inputs.dense.logits.shape, 'f32') };
      const logits = await model.forward(input, inputs.sigma.data);
      const got = await logits.read();
      logits.dispose();
      expect(maxAbsDiff(got, fx.expected[which].float32.data)).toBeLessThan(1e-4);
    });
  }

  it('the SUBS denoiser runs on webgpu and agrees with the cpu one', async () => {
    const V = fx.config.vocab_size;
    const ids = fx.inputs.tokens.data.map((t, i) => (i % 3 === 0 ? V - 1 : t));
    const run = async (b: Backend, m: DiT) => {
      const d = new DiTDenoiser(m, { kind: 'subs', maskIndex: V - 1 });
      const out: Tensor = await d.predict(b.tensor(ids, fx.inputs.tokens.shape, 'i32'), fx.inputs.sigma.data);
      return out.read();
    };
    const cpuModel = await loadDiT(
      cpu,
      await (await fetch(weightsUrl)).arrayBuffer().then((b) => new Uint8Array(b)),
      {
        config: model.config,
      },
    );
    const a = await run(gpu, model);
    const b = await run(cpu, cpuModel);
    let worst = 0;
    for (let i = 0; i < a.length; i++) {
      if (a[i] === b[i]) continue; // equal infinities included
      worst = Math.max(worst, Math.abs(a[i] - b[i]));
    }
    expect(worst).toBeLessThan(1e-4);
    cpuModel.dispose();
  });

  it('splitHeadsRotary and mergeHeads agree with the cpu loops', async () => {
    const [B, L, H, Dh] = [2, 5, 3, 4];
    const qkv = Array.from({ length: B * L * 3 * H * Dh }, (_, i) => Math.sin(i));
    const cos = Array.from({ length: (L * Dh) / 2 }, (_, i) => Math.cos(i / 3));
    const sin = Array.from({ length: (L * Dh) / 2 }, (_, i) => Math.sin(i / 3));
    const run = async (b: Backend) => {
      const { q, k, v } = splitHeadsRotary(
        b,
        b.tensor(qkv, [B, L, 3 * H * Dh], 'f32'),
        b.tensor(cos, [L, Dh / 2], 'f32'),
        b.tensor(sin, [L, Dh / 2], 'f32'),
        H,
        0.5,
      );
      return [await q.read(), await k.read(), await v.read(), await mergeHeads(b, v).read()];
    };
    const [g, c] = [await run(gpu), await run(cpu)];
    for (let i = 0; i < 4; i++) expect(maxAbsDiff(g[i], c[i])).toBeLessThan(1e-6);
  });
});
