/**
 * DiT gradients on WebGPU (headless Chromium) against the cpu backend in f32: the dit_parity weights and inputs
 * (V 37, D 48, 2 blocks), L = Σ c·log_softmax(logits)[y] for tokens (with dropout in training mode, so the
 * Philox masks must agree), soft and dense inputs; every parameter gradient and the input gradients, per tensor
 * within 1e-4·max|g|. Also the models' own ops (attention layout, dropout) forward and backward, webgpu vs cpu.
 */
import { type Backend, createBackend, type Tensor, tidy, valueAndGrad } from '@duality/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinHeadsRotaryOp, mergeHeadsOp, splitHeadsOp, splitHeadsRotaryOp } from '../src/attention-ops';
import { dropout } from '../src/dropout';
import { type DiT, type DiTInput, type DiTParameters, type ForwardOptions, loadDiT } from '../src/index';
import gradFixture from './fixtures/dit_grad.json';
import weightsUrl from './fixtures/dit_parity.safetensors?url';
import { ditLoss, fixtureConfig, gradError } from './grad-helpers';

interface T {
  shape: number[];
  data: number[];
}
const fx = (
  gradFixture as unknown as { config: Record<string, unknown>; dit_grad: { inputs: Record<string, T> } }
).dit_grad;
const inputs = fx.inputs as unknown as {
  tokens: T;
  sigma: T;
  c: T;
  y: T;
  soft: { indices: T; weights: T };
  dense: { logits: T };
};

let gpu: Backend;
let cpu: Backend;
const models = new Map<Backend, DiT>();
beforeAll(async () => {
  gpu = await createBackend('webgpu');
  cpu = await createBackend('cpu', { threads: 0 });
  const bytes = new Uint8Array(await (await fetch(weightsUrl)).arrayBuffer());
  const config = fixtureConfig((gradFixture as unknown as { config: Record<string, unknown> }).config);
  for (const b of [gpu, cpu]) models.set(b, await loadDiT(b, bytes, { config }));
});
afterAll(() => {
  for (const m of models.values()) m.dispose();
  gpu?.destroy();
  cpu?.destroy();
});

type Case = 'tokens' | 'soft' | 'dense';

async function gradients(b: Backend, which: Case, options: Omit<ForwardOptions, 'parameters'>) {
  const model = models.get(b) as DiT;
  const y = b.tensor(inputs.y.data, inputs.y.shape, 'i32');
  const c = b.tensor(inputs.c.data, inputs.c.shape, 'f32');
  const src = which === 'soft' ? inputs.soft.weights : inputs.dense.logits;
  const x = b.tensor(src.data, src.shape, 'f32');
  const indices = b.tensor(inputs.soft.indices.data, inputs.soft.indices.shape, 'i32');
  const tokens = b.tensor(inputs.tokens.data, inputs.tokens.shape, 'i32');
  const { value, grads } = await valueAndGrad(async (p: { params: DiTParameters; x: Tensor }) => {
    const input: DiTInput =
      which === 'tokens'
        ? { tokens }
        : which === 'soft'
          ? { soft: { indices, weights: p.x } }
          : { dense: p.x };
    const logits = await model.forward(input, inputs.sigma.data, { ...options, parameters: p.params });
    return tidy(() => ditLoss(b, logits, y, c));
  })({ params: model.parameters(), x });
  const out = {
    loss: (await value.read())[0],
    params: new Map<string, Float32Array>(),
    x: await grads.x.read(),
  };
  for (const [name, g] of Object.entries(grads.params))
    out.params.set(name, (await g.read()) as Float32Array);
  return out;
}

describe('DiT gradients on webgpu agree with the cpu backend (f32)', () => {
  it('runs on the webgpu backend', () => {
    expect(models.get(gpu)?.backend.name).toBe('webgpu');
  });

  const cases: Array<[Case, Omit<ForwardOptions, 'parameters'>]> = [
    ['tokens', { train: { seed: 17, p: 0.2 } }],
    ['soft', {}],
    ['dense', {}],
  ];
  for (const [which, options] of cases) {
    it(`${which}${options.train ? ' (dropout 0.2, training mode)' : ''}: loss, every parameter gradient, input gradient`, async () => {
      const [g, c] = [await gradients(gpu, which, options), await gradients(cpu, which, options)];
      expect(Math.abs(g.loss - c.loss)).toBeLessThan(2e-5 * Math.abs(c.loss));
      expect(g.params.size).toBe(c.params.size);
      let worst = 0;
      for (const [name, want] of c.params) {
        const err = gradError(g.params.get(name) as Float32Array, want);
        worst = Math.max(worst, err.maxAbs / err.scale);
        expect(err.maxAbs, name).toBeLessThanOrEqual(1e-4 * err.scale);
      }
      if (which !== 'tokens') {
        const err = gradError(g.x, c.x);
        expect(err.maxAbs).toBeLessThanOrEqual(1e-4 * err.scale);
      }
      console.log(`webgpu vs cpu ${which}: worst max|Δ|/max|g| ${worst.toExponential(2)}`);
    });
  }
});

describe('the models ops on webgpu', () => {
  const wave = (n: number, salt: number) =>
    Array.from({ length: n }, (_, i) => Math.sin(12.9898 * (i + 1) + salt));
  /** Σ w·op(x) and its gradient w.r.t. x on a backend (inputs from the same host values). */
  async function valueAndInputGrad(b: Backend, op: (xs: Tensor[]) => Tensor[], shapes: number[][]) {
    const xs = shapes.map((s, i) =>
      b.tensor(
        wave(
          s.reduce((a, c) => a * c, 1),
          i,
        ),
        s,
        'f32',
      ),
    );
    const outs = op(xs);
    const ws = outs.map((o, i) => b.tensor(wave(o.size, 50 + i), o.shape, 'f32'));
    const forward = await Promise.all(outs.map((o) => o.read()));
    const { grads } = await valueAndGrad((p: Tensor[]) =>
      tidy(() =>
        op(p)
          .map((y, i) => b.sum(b.reshape(b.mul(y, ws[i]), [y.size])))
          .reduce((acc, t) => b.add(acc, t)),
      ),
    )(xs);
    return { forward, grads: await Promise.all(grads.map((g) => g.read())) };
  }
  const [B, L, H, Dh] = [2, 5, 3, 4];
  const table = (b: Backend, salt: number) => b.tensor(wave((L * Dh) / 2, salt), [L, Dh / 2], 'f32');
  const heads = [B, H, L, Dh];
  const ops: Array<[string, (b: Backend) => (xs: Tensor[]) => Tensor[], number[][]]> = [
    [
      'splitHeadsRotary',
      (b) =>
        ([x]) =>
          splitHeadsRotaryOp(x, table(b, 1), table(b, 2), H, 0.5),
      [[B, L, 3 * H * Dh]],
    ],
    [
      'joinHeadsRotary',
      (b) =>
        ([q, k, v]) => [joinHeadsRotaryOp(q, k, v, table(b, 1), table(b, 2), 0.5)],
      [heads, heads, heads],
    ],
    [
      'mergeHeads',
      () =>
        ([x]) => [mergeHeadsOp(x, 0)],
      [heads],
    ],
    [
      'splitHeads',
      () =>
        ([x]) => [splitHeadsOp(x, H)],
      [[B, L, H * Dh]],
    ],
    [
      'dropout (offset across block 2³², bigint seed)',
      () =>
        ([x]) => [dropout(x, { p: 0.35, seed: 2n ** 40n + 3n, offset: 2 ** 34 - 6 })],
      [[7, 33]],
    ],
  ];
  for (const [name, op, shapes] of ops) {
    it(`${name}: forward and backward agree with the cpu kernels`, async () => {
      const [g, c] = [
        await valueAndInputGrad(gpu, op(gpu), shapes),
        await valueAndInputGrad(cpu, op(cpu), shapes),
      ];
      for (let i = 0; i < c.forward.length; i++)
        expect(gradError(g.forward[i], c.forward[i]).maxAbs).toBeLessThan(1e-6);
      for (let i = 0; i < c.grads.length; i++)
        expect(gradError(g.grads[i], c.grads[i]).maxAbs).toBeLessThan(1e-6);
      if (name.startsWith('dropout')) {
        // the same zeros: masks are bit-identical
        expect(Array.from(g.forward[0], (v) => v === 0)).toEqual(Array.from(c.forward[0], (v) => v === 0));
      }
    });
  }
});
