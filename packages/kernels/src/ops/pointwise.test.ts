import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { valueAndGrad } from '../autograd/grad';
import { arbBroadcastPair, gradcheck, seededValues } from '../autograd/gradcheck';
import { createCpuBackend } from '../cpu/backend';
import { ArgumentError, DTypeError, ShapeError } from '../errors';
import type { Tensor } from '../types';
import { broadcastShapes, broadcastStrides } from '../validate';
import { maximum, minimum } from './binary';
import { arbShape, seeded, sizeOf, unravel, values } from './op-test-utils';
import { abs, clamp, neg, rsqrt, sigmoid, sqrt, square, tanh } from './unary';

const b = createCpuBackend({ threads: 0 });
const RUNS = { numRuns: 30, seed: 20260618 };
const GRAD_RUNS = { numRuns: 6, seed: 20260619 };

/** Each map with its float64 reference formula and a domain where its derivative is smooth. */
const MAPS = [
  { op: sqrt, ref: Math.sqrt, lo: 0.2, hi: 4 },
  { op: rsqrt, ref: (v: number) => 1 / Math.sqrt(v), lo: 0.2, hi: 4 },
  { op: tanh, ref: Math.tanh, lo: -3, hi: 3 },
  { op: sigmoid, ref: (v: number) => 1 / (1 + Math.exp(-v)), lo: -6, hi: 6 },
  { op: neg, ref: (v: number) => -v, lo: -3, hi: 3 },
  { op: abs, ref: Math.abs, lo: -3, hi: 3 },
  { op: square, ref: (v: number) => v * v, lo: -3, hi: 3 },
] as const;

describe('pointwise maps', () => {
  it('f64 = the reference formula; f32 = that value rounded once', async () => {
    await fc.assert(
      fc.asyncProperty(arbShape(0, 3, 5), fc.nat(1000), async (shape, seed) => {
        for (const { op, ref, lo, hi } of MAPS) {
          const data = Float32Array.from(seeded(sizeOf(shape), seed, lo, hi));
          const x64 = b.tensor(data, shape, 'f64');
          const want = Array.from(data, ref);
          expect(await values(op(x64)), op.definition.name).toEqual(want);
          const y32 = op(b.tensor(data, shape, 'f32'));
          expect(y32.dtype).toBe('f32');
          expect(await values(y32)).toEqual(Array.from(Float32Array.from(want)));
        }
      }),
      RUNS,
    );
  });

  it('laws: √(x²) = |x|, rsqrt·sqrt = 1, tanh x = 2σ(2x) − 1, −(−x) = x, clamp = min(max(x, lo), hi)', async () => {
    await fc.assert(
      fc.asyncProperty(arbShape(1, 3, 5), fc.nat(1000), async (shape, seed) => {
        const x = b.tensor(seeded(sizeOf(shape), seed, -4, 4), shape, 'f64');
        const xv = await values(x);
        const r = await values(sqrt(square(x)));
        r.forEach((v, i) => {
          expect(v).toBe(Math.abs(xv[i]));
        });
        const pos = abs(x);
        (await values(b.mul(rsqrt(pos), sqrt(pos)))).forEach((v) => {
          expect(Math.abs(v - 1)).toBeLessThanOrEqual(4e-16);
        });
        const t = await values(tanh(x));
        const s = await values(sigmoid(b.scale(x, 2)));
        t.forEach((v, i) => {
          expect(Math.abs(v - (2 * s[i] - 1))).toBeLessThanOrEqual(1e-15);
        });
        expect(await values(neg(neg(x)))).toEqual(xv);
        const lo = b.full([], -1, 'f64');
        const hi = b.full([], 0.5, 'f64');
        expect(await values(clamp(x, -1, 0.5))).toEqual(await values(minimum(maximum(x, lo), hi)));
        expect(await values(clamp(clamp(x, -1, 0.5), -1, 0.5))).toEqual(await values(clamp(x, -1, 0.5)));
      }),
      RUNS,
    );
  });

  it('i32: neg, abs, square and clamp wrap like a typed-array store', async () => {
    const x = b.tensor([-(2 ** 31), -3, 0, 7, 65536], [5], 'i32');
    expect(await values(neg(x))).toEqual([-(2 ** 31), 3, 0, -7, -65536]);
    expect(await values(abs(x))).toEqual([-(2 ** 31), 3, 0, 7, 65536]);
    expect(await values(square(x))).toEqual([0, 9, 0, 49, 0]);
    expect(await values(clamp(x, -2, 5))).toEqual([-2, -2, 0, 5, 5]);
  });

  it('NaN passes through clamp, maximum and minimum; clamp takes infinite bounds', async () => {
    const x = b.tensor([Number.NaN, 2, -2], [3], 'f64');
    const y = b.tensor([1, Number.NaN, -3], [3], 'f64');
    expect(await values(clamp(x, 0, 1))).toEqual([Number.NaN, 1, 0]);
    expect(await values(maximum(x, y))).toEqual([Number.NaN, Number.NaN, -2]);
    expect(await values(minimum(x, y))).toEqual([Number.NaN, Number.NaN, -3]);
    expect(await values(clamp(x, Number.NEGATIVE_INFINITY, 0))).toEqual([Number.NaN, 0, -2]);
  });

  it('maximum/minimum broadcast like a naive loop and max + min = a + b', async () => {
    await fc.assert(
      fc.asyncProperty(arbBroadcastPair(4, 4), fc.nat(1000), async ([sa, sb], seed) => {
        const a = b.tensor(seeded(sizeOf(sa), seed, -2, 2), sa, 'f64');
        const c = b.tensor(seeded(sizeOf(sb), seed + 1, -2, 2), sb, 'f64');
        const shape = broadcastShapes('test', sa, sb);
        const [av, cv] = [await values(a), await values(c)];
        const [ta, tc] = [broadcastStrides(sa, shape), broadcastStrides(sb, shape)];
        const at = (v: number[], st: number[], o: number) =>
          v[unravel(o, shape).reduce((acc, i, k) => acc + i * st[k], 0)];
        const mx = await values(maximum(a, c));
        const mn = await values(minimum(a, c));
        for (let o = 0; o < sizeOf(shape); o++) {
          expect(mx[o]).toBe(Math.max(at(av, ta, o), at(cv, tc, o)));
          expect(mn[o]).toBe(Math.min(at(av, ta, o), at(cv, tc, o)));
          expect(mx[o] + mn[o]).toBe(at(av, ta, o) + at(cv, tc, o));
        }
        const ia = b.tensor(
          Int32Array.from(av, (v) => Math.round(v * 3)),
          sa,
          'i32',
        );
        const ic = b.tensor(
          Int32Array.from(cv, (v) => Math.round(v * 3)),
          sb,
          'i32',
        );
        const im = await values(maximum(ia, ic));
        for (let o = 0; o < sizeOf(shape); o++)
          expect(im[o]).toBe(Math.max(Math.round(at(av, ta, o) * 3), Math.round(at(cv, tc, o) * 3)) | 0);
      }),
      RUNS,
    );
  });

  it('ties: maximum/minimum give all of gy to a; clamp passes gy at its bounds', async () => {
    const a = b.tensor([1, 2, 3], [3], 'f64');
    const c = b.tensor([1, 5, 0], [3], 'f64');
    const g = await valueAndGrad((p: { a: Tensor; c: Tensor }) => maximum(p.a, p.c))({ a, c });
    expect(await values(g.grads.a)).toEqual([1, 0, 1]);
    expect(await values(g.grads.c)).toEqual([0, 1, 0]);
    const h = await valueAndGrad((p: { a: Tensor; c: Tensor }) => minimum(p.a, p.c))({ a, c });
    expect(await values(h.grads.a)).toEqual([1, 1, 0]);
    expect(await values(h.grads.c)).toEqual([0, 0, 1]);
    const k = await valueAndGrad((p: Tensor) => clamp(p, 1, 2))(b.tensor([0.5, 1, 1.5, 2, 3], [5], 'f64'));
    expect(await values(k.grads)).toEqual([0, 1, 1, 1, 0]);
    const s = await valueAndGrad((p: Tensor) => abs(p))(b.tensor([-2, 0, 2], [3], 'f64'));
    expect(await values(s.grads)).toEqual([-1, 0, 1]);
  });

  it('refuses wrong dtypes, bad bounds and shapes that do not broadcast', () => {
    expect(() => sqrt(b.zeros([2], 'i32'))).toThrow(DTypeError);
    expect(() => neg(b.zeros([2], 'u32'))).toThrow(DTypeError);
    expect(() => clamp(b.zeros([2], 'f64'), 1, 0)).toThrow(ArgumentError);
    expect(() => clamp(b.zeros([2], 'f64'), Number.NaN, 0)).toThrow(/lo NaN/);
    expect(() => clamp(b.zeros([2], 'i32'), 0.5, 2)).toThrow(ArgumentError);
    expect(() => maximum(b.zeros([2], 'f64'), b.zeros([2], 'f32'))).toThrow(DTypeError);
    expect(() => minimum(b.zeros([2], 'f64'), b.zeros([3], 'f64'))).toThrow(ShapeError);
  });
});

describe('pointwise gradients match central differences (f64)', () => {
  it('sqrt, rsqrt, tanh, sigmoid, neg, abs, square (abs away from 0)', async () => {
    await fc.assert(
      fc.asyncProperty(arbShape(1, 3, 4), fc.nat(1000), async (shape, seed) => {
        for (const { op, lo, hi } of MAPS) {
          let data = seededValues(sizeOf(shape), seed, lo, hi);
          if (op === abs) data = data.map((v) => (Math.abs(v) < 0.1 ? v + 0.3 : v));
          const r = await gradcheck(b, (x: Tensor) => b.mul(op(x), x), [{ data, shape }], { seed });
          expect(r.ok, `${op.definition.name}: ${r.message}`).toBe(true);
        }
      }),
      GRAD_RUNS,
    );
  });

  it('clamp (values kept 0.05 away from the bounds)', async () => {
    await fc.assert(
      fc.asyncProperty(arbShape(1, 3, 4), fc.nat(1000), async (shape, seed) => {
        const data = seededValues(sizeOf(shape), seed, -2, 2).map((v) =>
          Math.abs(v + 0.5) < 0.05 || Math.abs(v - 1) < 0.05 ? v + 0.12 : v,
        );
        const r = await gradcheck(b, (x: Tensor) => b.mul(clamp(x, -0.5, 1), x), [{ data, shape }], { seed });
        expect(r.ok, r.message).toBe(true);
      }),
      GRAD_RUNS,
    );
  });

  it('maximum and minimum with broadcasting (operands on disjoint grids, never within 0.03)', async () => {
    await fc.assert(
      fc.asyncProperty(arbBroadcastPair(3, 3), fc.nat(1000), async ([sa, sb], seed) => {
        const grid = (n: number, s: number, off: number) =>
          seededValues(n, s, -10, 10).map((v) => Math.round(v) * 0.1 + off);
        for (const op of [maximum, minimum]) {
          const r = await gradcheck(
            b,
            (x: Tensor, y: Tensor) => b.mul(op(x, y), op(x, y)),
            [
              { data: grid(sizeOf(sa), seed, 0.03), shape: sa },
              { data: grid(sizeOf(sb), seed + 1, 0), shape: sb },
            ],
            { seed },
          );
          expect(r.ok, `${op.definition.name}: ${r.message}`).toBe(true);
        }
      }),
      GRAD_RUNS,
    );
  });
});
