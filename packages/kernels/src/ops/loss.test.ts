import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { valueAndGrad } from '../autograd/grad';
import { gradcheck, seededValues } from '../autograd/gradcheck';
import { createCpuBackend } from '../cpu/backend';
import { DTypeError, IndexOutOfRangeError, ShapeError } from '../errors';
import type { Tensor } from '../types';
import { softmaxCrossEntropy } from './loss';
import { arbShape, seeded, sizeOf, values } from './op-test-utils';

const b = createCpuBackend({ threads: 0 });
const RUNS = { numRuns: 30, seed: 20260627 };

const arbCase = fc.tuple(arbShape(0, 2, 4), fc.integer({ min: 1, max: 9 }), fc.nat(1000), fc.boolean());

function targetsOf(rows: number, n: number, seed: number): Int32Array {
  return Int32Array.from(seeded(rows, seed, 0, n), (v) => Math.min(n - 1, Math.floor(v)));
}

describe('softmaxCrossEntropy', () => {
  it('= (log Σ exp z − z_y)·w by a naive row loop (f64), and = −gatherLast(logSoftmax z, y)', async () => {
    await fc.assert(
      fc.asyncProperty(arbCase, async ([outer, n, seed, weighted]) => {
        const rows = sizeOf(outer);
        const zv = seeded(rows * n, seed, -5, 5);
        const yv = targetsOf(rows, n, seed + 1);
        const wv = seeded(rows, seed + 2, 0, 2);
        const z = b.tensor(zv, [...outer, n], 'f64');
        const y = b.tensor(yv, outer, 'i32');
        const w = b.tensor(wv, outer, 'f64');
        const loss = softmaxCrossEntropy(z, y, weighted ? { weights: w } : undefined);
        expect(loss.shape).toEqual(outer);
        const got = await values(loss);
        const ref = await values(b.scale(b.gatherLast(b.logSoftmax(z), y), -1));
        for (let r = 0; r < rows; r++) {
          let s = 0;
          for (let j = 0; j < n; j++) s += Math.exp(zv[r * n + j]);
          const want = (Math.log(s) - zv[r * n + yv[r]]) * (weighted ? wv[r] : 1);
          expect(Math.abs(got[r] - want)).toBeLessThanOrEqual(1e-14 * (1 + Math.abs(want)));
          expect(Math.abs(got[r] - ref[r] * (weighted ? wv[r] : 1))).toBeLessThanOrEqual(
            1e-14 * (1 + Math.abs(want)),
          );
          expect(got[r]).toBeGreaterThanOrEqual(0);
        }
      }),
      RUNS,
    );
  });

  it('f32 = the f64 result rounded once; u32 targets = i32 targets', async () => {
    await fc.assert(
      fc.asyncProperty(arbCase, async ([outer, n, seed, weighted]) => {
        const rows = sizeOf(outer);
        const z32 = b.tensor(Float32Array.from(seeded(rows * n, seed, -5, 5)), [...outer, n], 'f32');
        const w32 = b.tensor(Float32Array.from(seeded(rows, seed + 2, 0, 2)), outer, 'f32');
        const yv = targetsOf(rows, n, seed + 1);
        const y = b.tensor(yv, outer, 'i32');
        const opts = (w: Tensor) => (weighted ? { weights: w } : {});
        const l32 = await values(softmaxCrossEntropy(z32, y, opts(w32)));
        const l64 = await values(softmaxCrossEntropy(b.cast(z32, 'f64'), y, opts(b.cast(w32, 'f64'))));
        expect(l32).toEqual(Array.from(Float32Array.from(l64)));
        const yu = b.tensor(Uint32Array.from(yv), outer, 'u32');
        expect(await values(softmaxCrossEntropy(z32, yu, opts(w32)))).toEqual(l32);
      }),
      RUNS,
    );
  });

  it('the fused gradient = the taped composition weights·(−gatherLast(logSoftmax z, y)) (f64)', async () => {
    await fc.assert(
      fc.asyncProperty(arbCase, async ([outer, n, seed]) => {
        const rows = sizeOf(outer);
        const z = b.tensor(seeded(rows * n, seed, -5, 5), [...outer, n], 'f64');
        const y = b.tensor(targetsOf(rows, n, seed + 1), outer, 'i32');
        const w = b.tensor(seeded(rows, seed + 2, 0, 2), outer, 'f64');
        const c = b.tensor(seeded(rows, seed + 3), outer, 'f64');
        const loss = (f: (p: { z: Tensor; w: Tensor }) => Tensor) => (p: { z: Tensor; w: Tensor }) =>
          b.sum(b.reshape(b.mul(f(p), c), [rows]));
        const fused = await valueAndGrad(loss((p) => softmaxCrossEntropy(p.z, y, { weights: p.w })))({
          z,
          w,
        });
        const composed = await valueAndGrad(
          loss((p) => b.mul(b.scale(b.gatherLast(b.logSoftmax(p.z), y), -1), p.w)),
        )({
          z,
          w,
        });
        for (const k of ['z', 'w'] as const) {
          const [g, h] = [await values(fused.grads[k]), await values(composed.grads[k])];
          g.forEach((v, i) => {
            expect(Math.abs(v - h[i])).toBeLessThanOrEqual(1e-14 * (1 + Math.abs(h[i])));
          });
        }
      }),
      RUNS,
    );
  });

  it('gradients in logits and weights match central differences (f64)', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 2, 3),
        fc.integer({ min: 1, max: 6 }),
        fc.nat(1000),
        async (outer, n, seed) => {
          const rows = sizeOf(outer);
          const r = await gradcheck(
            b,
            (z: Tensor, y: Tensor, w: Tensor) => softmaxCrossEntropy(z, y, { weights: w }),
            [
              { data: seededValues(rows * n, seed, -3, 3), shape: [...outer, n] },
              { data: targetsOf(rows, n, seed + 1), shape: outer, dtype: 'i32' },
              { data: seededValues(rows, seed + 2, 0.2, 2), shape: outer },
            ],
            { seed },
          );
          expect(r.ok, r.message).toBe(true);
        },
      ),
      { numRuns: 10, seed: 20260628 },
    );
  });

  it('is stable for large logits (no overflow) and refuses bad targets, shapes and dtypes', async () => {
    const z = b.tensor([1000, 0, -1000, 800], [2, 2], 'f64');
    const y = b.tensor([1, 0], [2], 'i32');
    const l = await values(softmaxCrossEntropy(z, y));
    expect(l[0]).toBe(1000);
    expect(l[1]).toBe(1800);
    expect(() => softmaxCrossEntropy(z, b.tensor([0, 2], [2], 'i32'))).toThrow(IndexOutOfRangeError);
    expect(() => softmaxCrossEntropy(z, b.tensor([0, 2], [2], 'i32'))).toThrow(/target 2 at row 1/);
    expect(() => softmaxCrossEntropy(z, b.tensor([0], [1], 'i32'))).toThrow(ShapeError);
    expect(() => softmaxCrossEntropy(z, b.tensor([0, 1], [2], 'f64'))).toThrow(DTypeError);
    expect(() => softmaxCrossEntropy(z, y, { weights: b.zeros([2], 'f32') })).toThrow(DTypeError);
    expect(() => softmaxCrossEntropy(z, y, { weights: b.zeros([2, 1], 'f64') })).toThrow(ShapeError);
  });
});
