import { type Backend, createBackend, type Tensor, valueAndGrad } from '@duality/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duoLoss, klLoss, mdlmLoss } from '../src/index';

let gpu: Backend;
let cpu: Backend;
beforeAll(async () => {
  gpu = await createBackend('webgpu');
  cpu = await createBackend('cpu', { threads: 0 });
});
afterAll(() => {
  gpu?.destroy();
  cpu?.destroy();
});

/** LCG logits in [−4, 4), ids and per-token coefficients for `rows` tokens over K ids. */
function data(rows: number, k: number, seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s >>> 8) / 16777216;
  };
  const z = Float32Array.from({ length: rows * k }, () => Math.fround((next() - 0.5) * 8));
  const t = Float32Array.from({ length: rows * k }, () => Math.fround((next() - 0.5) * 8));
  const x0 = Int32Array.from({ length: rows }, () => Math.floor(next() * (k - 1)));
  const xt = Int32Array.from({ length: rows }, (_, r) =>
    r % 3 === 0 ? x0[r] : r % 3 === 1 ? k - 1 : Math.floor(next() * k),
  );
  const alpha = Float32Array.from({ length: rows }, () => Math.fround(0.02 + 0.96 * next()));
  const dalpha = Float32Array.from({ length: rows }, () => Math.fround(-0.5 - next()));
  const w = Float32Array.from({ length: rows }, (_, r) => Math.fround(dalpha[r] / (1 - alpha[r])));
  return { z, t, x0, xt, alpha, dalpha, w };
}

async function both(
  k: number,
  rows: number,
  f: (bk: Backend, z: Tensor, d: ReturnType<typeof data>) => Tensor,
): Promise<{ value: number; grad: number }> {
  const d = data(rows, k, 17 + k);
  const run = async (bk: Backend) => {
    const z = bk.tensor(d.z, [rows, k], 'f32');
    const { value, grads } = await valueAndGrad((p: Tensor) => f(bk, p, d))(z);
    return { v: await value.read(), g: await grads.read() };
  };
  const [a, c] = [await run(cpu), await run(gpu)];
  let value = 0;
  let grad = 0;
  for (let i = 0; i < a.v.length; i++)
    value = Math.max(value, Math.abs(a.v[i] - c.v[i]) / (1 + Math.abs(a.v[i])));
  for (let i = 0; i < a.g.length; i++)
    grad = Math.max(grad, Math.abs(a.g[i] - c.g[i]) / (1 + Math.abs(a.g[i])));
  return { value, grad };
}

describe('loss ops: webgpu against cpu (f32)', () => {
  for (const k of [5, 27, 300]) {
    const rows = 48;
    it(`MDLM, K = ${k}`, async () => {
      const r = await both(k, rows, (bk, z, d) =>
        mdlmLoss(
          z,
          bk.tensor(d.xt, [rows], 'i32'),
          bk.tensor(d.x0, [rows], 'i32'),
          bk.tensor(d.w, [rows], 'f32'),
          k - 1,
        ),
      );
      expect(r.value).toBeLessThan(1e-5);
      expect(r.grad).toBeLessThan(1e-5);
    });
    it(`Duo, K = ${k}`, async () => {
      const r = await both(k, rows, (bk, z, d) =>
        duoLoss(
          z,
          bk.tensor(d.xt, [rows], 'i32'),
          bk.tensor(d.x0, [rows], 'i32'),
          bk.tensor(d.alpha, [rows], 'f32'),
          bk.tensor(d.dalpha, [rows], 'f32'),
        ),
      );
      expect(r.value).toBeLessThan(1e-4);
      expect(r.grad).toBeLessThan(1e-4);
    });
    it(`KL both directions, K = ${k}`, async () => {
      for (const dir of ['student-teacher', 'teacher-student'] as const) {
        const r = await both(k, rows, (bk, z, d) => klLoss(z, bk.tensor(d.t, [rows, k], 'f32'), dir));
        expect(r.value).toBeLessThan(1e-5);
        expect(r.grad).toBeLessThan(1e-5);
      }
    });
  }
});
