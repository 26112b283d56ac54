/**
 * adamwUpdate and globalNorm on webgpu against the cpu backend (f32). The update is elementwise f32 arithmetic
 * with WGSL's sqrt (2.5 ULP) and division (2.5 ULP) where the cpu rounds once from float64, and p·(1 − lr·wd) +
 * update may cancel: params agree within 2U·|p| + 64U·lr (|update| ≲ 3·lr), moments within 4U relative +
 * 4U·max|moment| (U = 2⁻²³; the lerp and the β₂ blend round up to four times). The norm accumulates in f32 on the device: within (n/256 + 16)·2⁻²³ relative.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fixture from '../../test/fixtures/adamw.json';
import type { Backend, Tensor } from '../types';
import { closeness, createPair, type Pair, randomF32 } from '../webgpu/test-utils';
import { arbShape, sizeOf, valueAndGrads } from './op-test-utils';
import { adamwUpdate, globalNorm } from './optim';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

const U = 2 ** -23;
type Named = Record<string, { shape: number[]; data: number[] }>;
const H = fixture.hyperparameters;

/** The per-tensor comparison of the header: params, m, v of the device against the cpu. */
function compare(g: number[][], c: number[][], lr: number): { ok: boolean; worst: string } {
  const scale = (a: number[]) => a.reduce((acc, x) => Math.max(acc, Math.abs(x)), 0);
  const p = closeness(g[0], c[0], { rel: 2 * U, abs: 64 * U * lr });
  const m = closeness(g[1], c[1], { rel: 4 * U, abs: 4 * U * scale(c[1]) });
  const v = closeness(g[2], c[2], { rel: 4 * U, abs: 4 * U * scale(c[2]) });
  return { ok: p.ok && m.ok && v.ok, worst: `p ${p.worst} m ${m.worst} v ${v.worst}` };
}

/** Runs the fixture's 5 steps in f32 on a backend; returns params, exp_avg, exp_avg_sq after each step. */
async function fixtureRun(b: Backend): Promise<number[][][]> {
  const init = fixture.initial_params as Named;
  const names = fixture.names;
  const params = names.map((k) => b.tensor(init[k].data, init[k].shape, 'f32'));
  const m = params.map((p) => b.zeros(p.shape, 'f32'));
  const v = params.map((p) => b.zeros(p.shape, 'f32'));
  const out: number[][][] = [];
  for (const [n, step] of fixture.steps.entries()) {
    const raw = fixture.grads[n] as Named;
    const grads = names.map((k) => b.tensor(raw[k].data, raw[k].shape, 'f32'));
    adamwUpdate(
      { params, grads, m, v },
      {
        lr: step.lr,
        beta1: H.betas[0],
        beta2: H.betas[1],
        eps: H.eps,
        weightDecay: H.weight_decay,
        step: step.step,
        clipCoef: step.clip_coef,
      },
    );
    const read = async (ts: Tensor[]) =>
      (await Promise.all(ts.map((t) => t.read()))).flatMap((a) => Array.from(a));
    out.push([await read(params), await read(m), await read(v)]);
    for (const g of grads) g.dispose();
  }
  for (const t of [...params, ...m, ...v]) t.dispose();
  return out;
}

describe('optimiser ops: webgpu = cpu (f32)', () => {
  it('adamwUpdate over the torch fixture (5 steps) within the bounds of the header', async () => {
    const [g, c] = [await fixtureRun(pair.gpu), await fixtureRun(pair.cpu)];
    for (let s = 0; s < g.length; s++) {
      const r = compare(g[s], c[s], fixture.steps[s].lr);
      expect(r.ok, `step ${s + 1}: ${r.worst}`).toBe(true);
    }
  });

  it('adamwUpdate on random tensors and hyperparameters', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(1, 3, 40),
        fc.nat(1000),
        fc.constantFrom(0.9, 0.3),
        async (shape, seed, beta1) => {
          const n = sizeOf(shape);
          const host = [randomF32(n, seed), randomF32(n, seed + 1), randomF32(n, seed + 2, -0.1, 0.1)];
          host.push(randomF32(n, seed + 3, 0, 0.01));
          const run = async (b: Backend) => {
            const [p, g, m, v] = host.map((d) => b.tensor(d, shape, 'f32'));
            const h = { lr: 1e-3, beta1, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, step: 7, clipCoef: 0.5 };
            adamwUpdate({ params: [p], grads: [g], m: [m], v: [v] }, h);
            const r = [Array.from(await p.read()), Array.from(await m.read()), Array.from(await v.read())];
            for (const t of [p, g, m, v]) t.dispose();
            return r;
          };
          const [g, c] = [await run(pair.gpu), await run(pair.cpu)];
          const r = compare(g, c, 1e-3);
          expect(r.ok, r.worst).toBe(true);
        },
      ),
      { numRuns: 10, seed: 20260632 },
    );
  });

  it('globalNorm values and gradients (tensors up to 2¹⁶ elements)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbShape(0, 3, 40), { minLength: 1, maxLength: 4 }),
        fc.nat(1000),
        async (shapes, seed) => {
          const inputs = shapes.map((s, i) => ({ data: randomF32(sizeOf(s), seed + i), shape: s }));
          const total = shapes.reduce((a, s) => a + sizeOf(s), 0);
          const f = (...ts: Tensor[]) => globalNorm(ts);
          const g = await valueAndGrads(pair.gpu, f, inputs, seed);
          const c = await valueAndGrads(pair.cpu, f, inputs, seed);
          const v = closeness(g.y, c.y, { rel: (total / 256 + 16) * U });
          expect(v.ok, v.worst).toBe(true);
          for (const [i, gi] of g.grads.entries()) {
            const d = closeness(gi, c.grads[i], { rel: (total / 256 + 32) * U, abs: 1e-7 });
            expect(d.ok, `tensor ${i}: ${d.worst}`).toBe(true);
          }
        },
      ),
      { numRuns: 10, seed: 20260633 },
    );
  });
});
