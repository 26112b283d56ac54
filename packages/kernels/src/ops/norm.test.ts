import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { valueAndGrad } from '../autograd/grad';
import { gradcheck, seededValues } from '../autograd/gradcheck';
import { createCpuBackend } from '../cpu/backend';
import { ArgumentError, DTypeError, ShapeError } from '../errors';
import type { Tensor } from '../types';
import { layerNormStats } from './norm';
import { arbShape, seeded, sizeOf, values } from './op-test-utils';

const b = createCpuBackend({ threads: 0 });
const RUNS = { numRuns: 30, seed: 20260624 };

const arbCase = fc.tuple(arbShape(0, 2, 4), fc.integer({ min: 1, max: 8 }), fc.nat(1000));

describe('layerNormStats', () => {
  it('y = Backend.layerNorm bit for bit; mean and rstd [..., 1] match a naive two-pass row loop', async () => {
    await fc.assert(
      fc.asyncProperty(arbCase, fc.constantFrom(0, 1e-5, 0.1), async ([outer, n, seed], eps) => {
        const shape = [...outer, n];
        for (const dtype of ['f64', 'f32'] as const) {
          const x = b.tensor(seeded(sizeOf(shape), seed, -3, 3), shape, dtype);
          const w = b.tensor(seeded(n, seed + 1, 0.5, 1.5), [n], dtype);
          const [y, mean, rstd] = layerNormStats(x, w, eps);
          expect(await values(y)).toEqual(await values(b.layerNorm(x, w, eps)));
          expect(mean.shape).toEqual([...outer, 1]);
          expect(rstd.shape).toEqual([...outer, 1]);
          const xv = await values(x);
          const [mv, rv] = [await values(mean), await values(rstd)];
          const round = dtype === 'f32' ? Math.fround : (v: number) => v;
          for (let r = 0; r < sizeOf(outer); r++) {
            const row = xv.slice(r * n, r * n + n);
            const m = row.reduce((a, v) => a + v, 0) / n;
            const v = row.reduce((a, t) => a + (t - m) ** 2, 0) / n;
            expect(mv[r]).toBe(round(m));
            expect(rv[r]).toBe(round(1 / Math.sqrt(v + eps)));
          }
        }
      }),
      RUNS,
    );
  });

  it('f32 = the f64 result on the same inputs, rounded once', async () => {
    await fc.assert(
      fc.asyncProperty(arbCase, async ([outer, n, seed]) => {
        const shape = [...outer, n];
        const x32 = b.tensor(Float32Array.from(seeded(sizeOf(shape), seed, -3, 3)), shape, 'f32');
        const w32 = b.tensor(Float32Array.from(seeded(n, seed + 1, 0.5, 1.5)), [n], 'f32');
        const r32 = layerNormStats(x32, w32);
        const r64 = layerNormStats(b.cast(x32, 'f64'), b.cast(w32, 'f64'));
        for (let k = 0; k < 3; k++)
          expect(await values(r32[k])).toEqual(Array.from(Float32Array.from(await values(r64[k]))));
      }),
      RUNS,
    );
  });

  it('gradients in x and w through y match central differences (f64)', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 2, 3),
        fc.integer({ min: 2, max: 6 }),
        fc.nat(1000),
        async (outer, n, seed) => {
          const shape = [...outer, n];
          const r = await gradcheck(
            b,
            (x: Tensor, w: Tensor) => layerNormStats(x, w, 1e-5)[0],
            [
              { data: seededValues(sizeOf(shape), seed, -2, 2), shape },
              { data: seededValues(n, seed + 1, 0.5, 1.5), shape: [n] },
            ],
            { seed },
          );
          expect(r.ok, r.message).toBe(true);
        },
      ),
      { numRuns: 10, seed: 20260625 },
    );
  });

  it('mean and rstd pass no gradient (documented): a loss of them alone gives zero gradients', async () => {
    const x = b.tensor(seeded(6, 3, -1, 1), [2, 3], 'f64');
    const w = b.tensor([1, 2, 3], [3], 'f64');
    const { grads } = await valueAndGrad((p: { x: Tensor; w: Tensor }) => {
      const [, mean, rstd] = layerNormStats(p.x, p.w);
      return b.add(b.sum(b.reshape(mean, [2])), b.sum(b.reshape(rstd, [2])));
    })({ x, w });
    expect(await values(grads.x)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(await values(grads.w)).toEqual([0, 0, 0]);
  });

  it('refuses bad weights, dtypes and eps', () => {
    const x = b.zeros([2, 3], 'f64');
    expect(() => layerNormStats(x, b.zeros([2], 'f64'))).toThrow(ShapeError);
    expect(() => layerNormStats(x, b.zeros([3], 'f32'))).toThrow(DTypeError);
    expect(() => layerNormStats(b.zeros([2, 3], 'i32'), b.zeros([3], 'i32'))).toThrow(DTypeError);
    expect(() => layerNormStats(x, b.zeros([3], 'f64'), -1)).toThrow(ArgumentError);
    expect(() => layerNormStats(b.zeros([2, 0], 'f64'), b.zeros([0], 'f64'))).toThrow(ShapeError);
  });
});
