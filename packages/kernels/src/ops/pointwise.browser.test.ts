/**
 * Pointwise maps, maximum/minimum and clamp on webgpu against the cpu backend (values and gradients). neg, abs,
 * square, clamp, maximum and minimum are exact; sqrt/rsqrt/tanh/sigmoid are within the WGSL accuracy bounds
 * (stated per map below, in units of 2⁻²³ relative or absolute where the value is near 0).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arbBroadcastPair } from '../autograd/gradcheck';
import type { Tensor } from '../types';
import { both, closeness, createPair, type Pair, randomF32, randomInts } from '../webgpu/test-utils';
import { maximum, minimum } from './binary';
import { arbShape, sizeOf, valueAndGrads } from './op-test-utils';
import { abs, clamp, neg, rsqrt, sigmoid, sqrt, square, tanh } from './unary';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

const RUNS = { numRuns: 8, seed: 20260620 };
const U = 2 ** -23;

/** Domain and tolerances (value, gradient) of each map. */
const MAPS = [
  { op: sqrt, lo: 0.1, hi: 8, tol: { rel: 3 * U }, gtol: { rel: 8 * U } },
  { op: rsqrt, lo: 0.1, hi: 8, tol: { rel: 3 * U }, gtol: { rel: 12 * U } },
  { op: tanh, lo: -6, hi: 6, tol: { rel: 8 * U, abs: 4 * U }, gtol: { abs: 16 * U } },
  { op: sigmoid, lo: -10, hi: 10, tol: { rel: 32 * U, abs: 2 * U }, gtol: { rel: 64 * U, abs: 2 * U } },
  { op: neg, lo: -3, hi: 3, tol: {}, gtol: {} },
  { op: abs, lo: -3, hi: 3, tol: {}, gtol: {} },
  { op: square, lo: -3, hi: 3, tol: {}, gtol: {} },
] as const;

describe('pointwise maps: webgpu = cpu', () => {
  it('values and gradients within the stated bounds', async () => {
    await fc.assert(
      fc.asyncProperty(arbShape(1, 3, 6), fc.nat(1000), async (shape, seed) => {
        for (const { op, lo, hi, tol, gtol } of MAPS) {
          const data = randomF32(sizeOf(shape), seed, lo, hi);
          const input = [{ data, shape }];
          const g = await valueAndGrads(pair.gpu, (x: Tensor) => op(x), input, seed);
          const c = await valueAndGrads(pair.cpu, (x: Tensor) => op(x), input, seed);
          const v = closeness(g.y, c.y, tol);
          expect(v.ok, `${op.definition.name}: ${v.worst}`).toBe(true);
          const d = closeness(g.grads[0], c.grads[0], gtol);
          expect(d.ok, `${op.definition.name} gradient: ${d.worst}`).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('i32 neg, abs, square and clamp are exact (wrapping included)', async () => {
    const data = [-(2 ** 31), -3, 0, 7, 65536, 46341];
    for (const f of [neg, abs, square, (x: Tensor) => clamp(x, -2, 5)]) {
      const r = await both(pair, [{ data, shape: [6], dtype: 'i32' }], (_b, [x]) => f(x));
      expect(r.gpu).toEqual(r.cpu);
    }
  });

  it('clamp values and gradients are exact (bounds included in the gradient)', async () => {
    await fc.assert(
      fc.asyncProperty(arbShape(1, 3, 6), fc.nat(1000), async (shape, seed) => {
        const data = Float32Array.from(randomF32(sizeOf(shape), seed, -2, 2), (v, i) =>
          i % 5 === 0 ? 0.5 : v,
        );
        const f = (x: Tensor) => clamp(x, -1, 0.5);
        const g = await valueAndGrads(pair.gpu, f, [{ data, shape }], seed);
        const c = await valueAndGrads(pair.cpu, f, [{ data, shape }], seed);
        expect(g.y).toEqual(c.y);
        expect(g.grads).toEqual(c.grads);
      }),
      RUNS,
    );
  });

  it('maximum/minimum broadcast exactly (f32, i32, u32) and route gradients alike, ties to a', async () => {
    await fc.assert(
      fc.asyncProperty(arbBroadcastPair(4, 4), fc.nat(1000), async ([sa, sb], seed) => {
        for (const op of [maximum, minimum]) {
          // coarse values so that ties occur
          const a = Float32Array.from(randomInts(sizeOf(sa), seed, -3, 3));
          const c = Float32Array.from(randomInts(sizeOf(sb), seed + 1, -3, 3));
          const inputs = [
            { data: a, shape: sa },
            { data: c, shape: sb },
          ];
          const f = (x: Tensor, y: Tensor) => op(x, y);
          const g = await valueAndGrads(pair.gpu, f, inputs, seed);
          const k = await valueAndGrads(pair.cpu, f, inputs, seed);
          expect(g.y).toEqual(k.y);
          const ga = closeness(g.grads[0], k.grads[0], { rel: 4 * U, abs: 1e-6 });
          const gb = closeness(g.grads[1], k.grads[1], { rel: 4 * U, abs: 1e-6 });
          expect(ga.ok && gb.ok, `${ga.worst} ${gb.worst}`).toBe(true);
          for (const dtype of ['i32', 'u32'] as const) {
            const lo = dtype === 'u32' ? 0 : -1000;
            const r = await both(
              pair,
              [
                { data: randomInts(sizeOf(sa), seed, lo, 1000), shape: sa, dtype },
                { data: randomInts(sizeOf(sb), seed + 2, lo, 1000), shape: sb, dtype },
              ],
              (_b, [x, y]) => op(x, y),
            );
            expect(r.gpu).toEqual(r.cpu);
          }
        }
      }),
      RUNS,
    );
  });

  it('maximum/minimum propagate NaN like on cpu', async () => {
    for (const op of [maximum, minimum]) {
      const r = await both(
        pair,
        [
          { data: [Number.NaN, 2, -2], shape: [3], dtype: 'f32' },
          { data: [1, Number.NaN, -3], shape: [3], dtype: 'f32' },
        ],
        (_b, [x, y]) => op(x, y),
      );
      expect(r.gpu).toEqual(r.cpu);
    }
  });
});
