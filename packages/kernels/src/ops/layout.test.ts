import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gradcheck, seededValues } from '../autograd/gradcheck';
import { createCpuBackend } from '../cpu/backend';
import { ArgumentError, DTypeError, ShapeError } from '../errors';
import type { Tensor } from '../types';
import { concat, padSlice, slice, transpose } from './layout';
import { arbPerm, arbShape, arbSlice, ravel, seeded, sizeOf, unravel, values } from './op-test-utils';

const b = createCpuBackend({ threads: 0 });
const RUNS = { numRuns: 40, seed: 20260612 };
const GRAD_RUNS = { numRuns: 8, seed: 20260613 };

const f64 = (shape: number[], seed: number) => b.tensor(seeded(sizeOf(shape), seed), shape, 'f64');

describe('transpose', () => {
  it('matches a naive loop over the permuted multi-index (f64, i32) and its inverse restores x', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 4, 4).chain((s) => fc.tuple(fc.constant(s), arbPerm(s.length), fc.nat(1000))),
        async ([shape, perm, seed]) => {
          const x = f64(shape, seed);
          const y = transpose(x, perm);
          const xv = await values(x);
          const want = new Array<number>(x.size);
          for (let o = 0; o < x.size; o++) {
            const i = unravel(o, y.shape);
            const j = new Array<number>(shape.length);
            perm.forEach((p, a) => {
              j[p] = i[a];
            });
            want[o] = xv[ravel(j, shape)];
          }
          expect(y.shape).toEqual(perm.map((p) => shape[p]));
          expect(await values(y)).toEqual(want);
          const inv = perm.map((_, a) => perm.indexOf(a));
          expect(await values(transpose(y, inv))).toEqual(xv);
          const xi = b.tensor(
            Int32Array.from(xv, (v) => Math.round(v * 1000)),
            shape,
            'i32',
          );
          expect(await values(transpose(xi, perm))).toEqual(want.map((v) => Math.round(v * 1000)));
          const x32 = b.cast(x, 'f32');
          expect(await values(transpose(x32, perm))).toEqual(Array.from(Float32Array.from(want)));
        },
      ),
      RUNS,
    );
  });

  it('defaults to reversing the axes (the matrix transpose for 2-D) and accepts negative axes', async () => {
    const x = b.tensor([1, 2, 3, 4, 5, 6], [2, 3], 'f64');
    expect(transpose(x).shape).toEqual([3, 2]);
    expect(await values(transpose(x))).toEqual([1, 4, 2, 5, 3, 6]);
    expect(await values(transpose(x, [-1, 0]))).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it('refuses what is not a permutation of the axes', () => {
    const x = b.zeros([2, 3], 'f64');
    expect(() => transpose(x, [0, 0])).toThrow(ArgumentError);
    expect(() => transpose(x, [0])).toThrow(/permutation of the 2 axes/);
    expect(() => transpose(x, [0, 2])).toThrow(ArgumentError);
    expect(() => transpose(x, [0.5, 1])).toThrow(ArgumentError);
  });
});

describe('slice, padSlice and concat', () => {
  it('slice matches a naive box copy; padSlice is its adjoint ⟨slice x, y⟩ = ⟨x, padSlice y⟩', async () => {
    await fc.assert(
      fc.asyncProperty(arbSlice(0, 4, 5), fc.nat(1000), async ({ shape, begin, size }, seed) => {
        const x = f64(shape, seed);
        const s = slice(x, begin, size);
        const xv = await values(x);
        const want = Array.from({ length: sizeOf(size) }, (_, o) => {
          const i = unravel(o, size);
          return xv[
            ravel(
              i.map((v, a) => v + begin[a]),
              shape,
            )
          ];
        });
        expect(s.shape).toEqual(size);
        expect(await values(s)).toEqual(want);
        const y = f64(size, seed + 7);
        const p = padSlice(y, shape, begin);
        const yv = await values(y);
        const pv = await values(p);
        const lhs = want.reduce((acc, v, i) => acc + v * yv[i], 0);
        const rhs = xv.reduce((acc, v, i) => acc + v * pv[i], 0);
        expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(lhs)));
        // padSlice is zero outside the box and y inside it
        expect(pv.reduce((acc, v) => acc + Math.abs(v), 0)).toBeCloseTo(
          yv.reduce((acc, v) => acc + Math.abs(v), 0),
          12,
        );
      }),
      RUNS,
    );
  });

  it('a size of −1 takes the rest of the axis', async () => {
    const x = b.tensor([0, 1, 2, 3, 4, 5], [2, 3], 'f64');
    expect(await values(slice(x, [1, 1], [-1, -1]))).toEqual([4, 5]);
  });

  it('slice∘concat = id and concat of the slices = x (f64, f32, i32)', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(1, 4, 4).chain((s) =>
          fc.tuple(
            fc.constant(s),
            fc.integer({ min: 0, max: s.length - 1 }),
            fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
            fc.nat(1000),
          ),
        ),
        async ([shape, axis, widths, seed]) => {
          for (const dtype of ['f64', 'f32', 'i32'] as const) {
            const parts = widths.map((w, i) => {
              const s = [...shape];
              s[axis] = w;
              const v = seeded(sizeOf(s), seed + i, -100, 100);
              return b.tensor(dtype === 'i32' ? v.map(Math.round) : v, s, dtype);
            });
            const neg = axis - shape.length; // the same axis counted from the end
            const c = concat(parts, neg);
            expect(c.shape[axis]).toBe(widths.reduce((a, w) => a + w, 0));
            let at = 0;
            for (const part of parts) {
              const begin = shape.map((_, a) => (a === axis ? at : 0));
              const back = slice(c, begin, part.shape);
              expect(await values(back)).toEqual(await values(part));
              at += part.shape[axis];
            }
            const whole = b.tensor(
              seeded(sizeOf(c.shape), seed, -9, 9),
              c.shape,
              dtype === 'i32' ? 'f64' : dtype,
            );
            let from = 0;
            const cut = widths.map((w) => {
              const begin = c.shape.map((_, a) => (a === axis ? from : 0));
              const size = c.shape.map((d, a) => (a === axis ? w : d));
              from += w;
              return slice(whole, begin, size);
            });
            expect(await values(concat(cut, axis))).toEqual(await values(whole));
          }
        },
      ),
      RUNS,
    );
  });

  it('refuses bad boxes and mismatched inputs with typed errors', () => {
    const x = b.zeros([2, 3], 'f64');
    expect(() => slice(x, [0, 2], [1, 2])).toThrow(ArgumentError);
    expect(() => slice(x, [0], [1])).toThrow(ShapeError);
    expect(() => slice(x, [-1, 0], [1, 1])).toThrow(/begin \+ size ≤ 2/);
    expect(() => padSlice(x, [2, 2], [0, 0])).toThrow(ArgumentError);
    expect(() => concat([x, b.zeros([3, 3], 'f64')], 1)).toThrow(ShapeError);
    expect(() => concat([x, b.zeros([2, 3], 'f32')], 0)).toThrow(DTypeError);
    expect(() => concat([x], 2)).toThrow(/axis 2/);
    expect(() => concat([], 0)).toThrow(ArgumentError);
    expect(() => concat([b.zeros([], 'f64')], 0)).toThrow(ShapeError);
  });
});

describe('layout gradients match central differences (f64)', () => {
  const input = (shape: number[], seed: number) => ({
    data: seededValues(sizeOf(shape), seed, -2, 2),
    shape,
  });

  it('transpose', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(1, 4, 3).chain((s) => fc.tuple(fc.constant(s), arbPerm(s.length), fc.nat(1000))),
        async ([shape, perm, seed]) => {
          const r = await gradcheck(b, (x: Tensor) => transpose(x, perm), [input(shape, seed)], { seed });
          expect(r.ok, r.message).toBe(true);
        },
      ),
      GRAD_RUNS,
    );
  });

  it('slice and padSlice', async () => {
    await fc.assert(
      fc.asyncProperty(arbSlice(1, 3, 4, true), fc.nat(1000), async ({ shape, begin, size }, seed) => {
        const r1 = await gradcheck(b, (x: Tensor) => slice(x, begin, size), [input(shape, seed)], { seed });
        expect(r1.ok, r1.message).toBe(true);
        const r2 = await gradcheck(b, (g: Tensor) => padSlice(g, shape, begin), [input(size, seed)], {
          seed,
        });
        expect(r2.ok, r2.message).toBe(true);
      }),
      GRAD_RUNS,
    );
  });

  it('concat (every input gets its own slice of the gradient)', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(1, 3, 3).chain((s) =>
          fc.tuple(fc.constant(s), fc.integer({ min: 0, max: s.length - 1 }), fc.nat(1000)),
        ),
        async ([shape, axis, seed]) => {
          const other = [...shape];
          other[axis] += 1;
          const r = await gradcheck(
            b,
            (x: Tensor, y: Tensor) => b.mul(concat([x, y, x], axis), concat([y, x, y], axis)),
            [input(shape, seed), input(shape, seed + 1)],
            { seed },
          );
          expect(r.ok, r.message).toBe(true);
          const r2 = await gradcheck(b, (x: Tensor, y: Tensor) => concat([x, y], axis), [
            input(shape, seed),
            input(other, seed + 2),
          ]);
          expect(r2.ok, r2.message).toBe(true);
        },
      ),
      GRAD_RUNS,
    );
  });
});
