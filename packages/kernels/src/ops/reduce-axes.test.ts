import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { valueAndGrad } from '../autograd/grad';
import { gradcheck, seededValues } from '../autograd/gradcheck';
import { createCpuBackend } from '../cpu/backend';
import { ArgumentError, DTypeError, ShapeError } from '../errors';
import type { Tensor } from '../types';
import { arbPerm, arbShape, ravel, seeded, sizeOf, unravel, values } from './op-test-utils';
import { maxAxes, meanAxes, sumAxes } from './reduce-axes';

const b = createCpuBackend({ threads: 0 });
const RUNS = { numRuns: 40, seed: 20260615 };
const GRAD_RUNS = { numRuns: 8, seed: 20260616 };

/** A shape and a random subset of its axes (as a sorted list; sometimes negative, sometimes undefined = all). */
const arbAxes = arbShape(0, 4, 4).chain((shape) =>
  fc.tuple(
    fc.constant(shape),
    fc.subarray(
      shape.map((_, a) => a),
      { minLength: 0 },
    ),
    fc.boolean(),
    fc.boolean(),
    fc.nat(1000),
  ),
);

/** Naive reduction: for each output multi-index, fold over every input index that maps to it. */
function naive(xv: number[], shape: number[], axes: number[], f: (acc: number[]) => number): number[] {
  const kept = shape.map((d, a) => (axes.includes(a) ? 1 : d));
  const groups: number[][] = Array.from({ length: sizeOf(kept) }, () => []);
  for (let i = 0; i < xv.length; i++) {
    const idx = unravel(i, shape).map((v, a) => (axes.includes(a) ? 0 : v));
    groups[ravel(idx, kept)].push(xv[i]);
  }
  return groups.map(f);
}

const sum = (g: number[]) => g.reduce((a, v) => a + v, 0);
const outShape = (shape: number[], axes: number[], keep: boolean) =>
  keep ? shape.map((d, a) => (axes.includes(a) ? 1 : d)) : shape.filter((_, a) => !axes.includes(a));

describe('sumAxes / meanAxes / maxAxes', () => {
  it('cpu sums are the row-major fold bit for bit (f64; the row-wise pass keeps each output’s order of terms)', async () => {
    await fc.assert(
      fc.asyncProperty(arbAxes, async ([shape, axes, , , seed]) => {
        // full 53-bit mantissas, so a different order of the terms would change the bits
        const data = Float64Array.from(
          seeded(sizeOf(shape), seed, -5, 5),
          (v, i) => v * Math.PI + 1 / (i + 3),
        );
        const x = b.tensor(data, shape, 'f64');
        const want = naive(await values(x), shape, axes, sum);
        expect(await values(sumAxes(x, axes, true))).toEqual(want);
      }),
      RUNS,
    );
  });

  it('match a naive fold per output (f64); keepDims and negative axes give the same values', async () => {
    await fc.assert(
      fc.asyncProperty(arbAxes, async ([shape, axes, keep, negative, seed]) => {
        const x = b.tensor(seeded(sizeOf(shape), seed, -5, 5), shape, 'f64');
        const xv = await values(x);
        const arg = negative ? axes.map((a) => a - shape.length) : axes;
        const s = sumAxes(x, arg, keep);
        expect(s.shape).toEqual(outShape(shape, axes, keep));
        const ws = naive(xv, shape, axes, sum);
        (await values(s)).forEach((v, i) => {
          expect(Math.abs(v - ws[i])).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(ws[i])));
        });
        if (axes.every((a) => shape[a] > 0)) {
          const wm = naive(xv, shape, axes, (g) => sum(g) / g.length);
          (await values(meanAxes(x, arg, keep))).forEach((v, i) => {
            expect(Math.abs(v - wm[i])).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(wm[i])));
          });
          expect(await values(maxAxes(x, arg, keep))).toEqual(naive(xv, shape, axes, (g) => Math.max(...g)));
        }
      }),
      RUNS,
    );
  });

  it('f32 = the f64 result rounded once (both accumulate in float64 in the same order)', async () => {
    await fc.assert(
      fc.asyncProperty(arbAxes, async ([shape, axes, keep, , seed]) => {
        const x32 = b.tensor(Float32Array.from(seeded(sizeOf(shape), seed, -5, 5)), shape, 'f32');
        const x64 = b.cast(x32, 'f64');
        for (const op of [sumAxes, meanAxes, maxAxes]) {
          const r32 = op(x32, axes, keep);
          expect(r32.dtype).toBe('f32');
          expect(await values(r32)).toEqual(Array.from(Float32Array.from(await values(op(x64, axes, keep)))));
        }
      }),
      RUNS,
    );
  });

  it('undefined axes reduce everything; i32 sums wrap like a typed-array store, i32/u32 max is exact', async () => {
    const x = b.tensor([1, 2, 3, 4, 5, 6], [2, 3], 'f64');
    expect((await values(sumAxes(x))).concat(await values(meanAxes(x)), await values(maxAxes(x)))).toEqual([
      21, 3.5, 6,
    ]);
    expect(sumAxes(x).shape).toEqual([]);
    expect(sumAxes(x, undefined, true).shape).toEqual([1, 1]);
    expect(await values(sumAxes(x, 0))).toEqual([5, 7, 9]);
    const big = b.tensor([2 ** 31 - 1, 1, -5, 7], [2, 2], 'i32');
    expect(await values(sumAxes(big, 1))).toEqual([-(2 ** 31), 2]);
    expect(await values(maxAxes(big, 0))).toEqual([2 ** 31 - 1, 7]);
    const u = b.tensor([4e9, 1, 3, 2], [2, 2], 'u32');
    expect(await values(maxAxes(u, 1))).toEqual([4e9, 3]);
  });

  it('maxAxes propagates NaN; the gradient goes to the first maximum on ties', async () => {
    const x = b.tensor([1, Number.NaN, 3, 2, 5, 5, 5, 1], [2, 4], 'f64');
    const m = await values(maxAxes(x, 1));
    expect(Number.isNaN(m[0])).toBe(true);
    expect(m[1]).toBe(5);
    const t = b.tensor([2, 7, 7, 1, 7, 0], [2, 3], 'f64');
    const { grads } = await valueAndGrad((p: Tensor) => maxAxes(p))(t);
    expect(await values(grads)).toEqual([0, 1, 0, 0, 0, 0]);
    const { grads: g0 } = await valueAndGrad((p: Tensor) => maxAxes(p, 0))(t);
    expect(await values(g0)).toEqual([1, 1, 1, 0, 0, 0]);
  });

  it('refuses bad axes, empty max/mean reductions and integer means', () => {
    const x = b.zeros([2, 3], 'f64');
    expect(() => sumAxes(x, [0, 0])).toThrow(ArgumentError);
    expect(() => sumAxes(x, [2])).toThrow(/axis in \[-2, 2\)/);
    expect(() => sumAxes(x, [0.5])).toThrow(ArgumentError);
    expect(() => sumAxes(x, 0, 1 as unknown as boolean)).toThrow(ArgumentError);
    expect(() => maxAxes(b.zeros([2, 0], 'f64'), 1)).toThrow(ShapeError);
    expect(() => meanAxes(b.zeros([2, 3], 'i32'), 1)).toThrow(DTypeError);
    expect(sumAxes(b.zeros([2, 0], 'f64'), 1).shape).toEqual([2]);
  });
});

describe('reduction gradients match central differences (f64)', () => {
  const grads = fc.tuple(
    arbShape(1, 4, 3).chain((shape) =>
      fc.tuple(
        fc.constant(shape),
        fc.subarray(
          shape.map((_, a) => a),
          { minLength: 1 },
        ),
        fc.boolean(),
      ),
    ),
    fc.nat(1000),
  );

  it('sumAxes and meanAxes', async () => {
    await fc.assert(
      fc.asyncProperty(grads, async ([[shape, axes, keep], seed]) => {
        const input = [{ data: seededValues(sizeOf(shape), seed, -2, 2), shape }];
        for (const op of [sumAxes, meanAxes]) {
          const r = await gradcheck(b, (x: Tensor) => b.mul(op(x, axes, keep), op(x, axes, keep)), input, {
            seed,
          });
          expect(r.ok, r.message).toBe(true);
        }
      }),
      GRAD_RUNS,
    );
  });

  it('maxAxes (distinct values 0.1 apart, so the steps never change the maximum)', async () => {
    await fc.assert(
      fc.asyncProperty(
        grads.chain(([s, seed]) => fc.tuple(fc.constant(s), fc.constant(seed), arbPerm(sizeOf(s[0])))),
        async ([[shape, axes, keep], seed, perm]) => {
          const data = perm.map((p) => 0.1 * p - 0.5);
          const r = await gradcheck(
            b,
            (x: Tensor) => b.mul(maxAxes(x, axes, keep), maxAxes(x, axes, keep)),
            [{ data, shape }],
            { seed },
          );
          expect(r.ok, r.message).toBe(true);
        },
      ),
      GRAD_RUNS,
    );
  });
});
