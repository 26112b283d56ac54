/**
 * Reductions over any axes on webgpu against the cpu backend. max (and its gradient, with distinct values) and
 * integer sums are exact; f32 sums accumulate in f32 on the device and in f64 on cpu, so they agree within
 * count·2⁻²³·Σ|x| (data in [−1, 1]: at most count² ULPs of 1, stated per test).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../types';
import { both, closeness, createPair, type Pair, randomF32, randomInts } from '../webgpu/test-utils';
import { arbPerm, arbShape, sizeOf, valueAndGrads } from './op-test-utils';
import { maxAxes, meanAxes, sumAxes } from './reduce-axes';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

const RUNS = { numRuns: 10, seed: 20260617 };

const arbCase = arbShape(1, 4, 5).chain((shape) =>
  fc.tuple(
    fc.constant(shape),
    fc.subarray(
      shape.map((_, a) => a),
      { minLength: 1 },
    ),
    fc.boolean(),
    arbPerm(sizeOf(shape)),
  ),
);

describe('reductions over axes: webgpu = cpu', () => {
  it('values: f32 sum/mean within count²·2⁻²³, max exact; i32 sum and max exact', async () => {
    await fc.assert(
      fc.asyncProperty(arbCase, async ([shape, axes, keep, perm]) => {
        const count = axes.reduce((acc, a) => acc * shape[a], 1);
        const data = Float32Array.from(perm, (p, i) => (p / perm.length) * 2 - 1 + 1e-3 * Math.sin(i));
        const input = [{ data, shape, dtype: 'f32' as const }];
        for (const op of [sumAxes, meanAxes]) {
          const r = await both(pair, input, (_b, [x]) => op(x, axes, keep));
          const c = closeness(r.gpu, r.cpu, { abs: count * count * 2 ** -23 });
          expect(c.ok, c.worst).toBe(true);
        }
        const m = await both(pair, input, (_b, [x]) => maxAxes(x, axes, keep));
        expect(m.gpu).toEqual(m.cpu);
        const ints = [
          { data: randomInts(sizeOf(shape), perm.length, -1000, 1000), shape, dtype: 'i32' as const },
        ];
        for (const op of [sumAxes, maxAxes]) {
          const r = await both(pair, ints, (_b, [x]) => op(x, axes, keep));
          expect(r.gpu).toEqual(r.cpu);
        }
      }),
      RUNS,
    );
  });

  it('gradients: sum and max exact, mean within 1 ULP', async () => {
    await fc.assert(
      fc.asyncProperty(arbCase, async ([shape, axes, keep, perm]) => {
        const data = Float32Array.from(perm, (p) => 0.1 * p - 0.5);
        const input = [{ data, shape }];
        for (const op of [sumAxes, maxAxes, meanAxes]) {
          const f = (x: Tensor) => op(x, axes, keep);
          const g = await valueAndGrads(pair.gpu, f, input, perm.length);
          const c = await valueAndGrads(pair.cpu, f, input, perm.length);
          const cl = closeness(g.grads[0], c.grads[0], { rel: op === meanAxes ? 2 ** -23 : 0 });
          expect(cl.ok, `${op.definition.name}: ${cl.worst}`).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('f32 sums stay close on a long reduced axis (4096 elements)', async () => {
    const data = randomF32(4 * 4096, 5);
    const r = await both(pair, [{ data, shape: [4, 4096], dtype: 'f32' }], (_b, [x]) => sumAxes(x, 1));
    const c = closeness(r.gpu, r.cpu, { abs: 4096 * 2 ** -23 * 8 });
    expect(c.ok, c.worst).toBe(true);
  });

  it('NaN propagates like on cpu (the device tests NaN on the bits)', async () => {
    const data = [1, Number.NaN, 3, 2, 5, 5, Number.NaN, 0];
    const r = await both(pair, [{ data, shape: [2, 4], dtype: 'f32' }], (_b, [x]) => maxAxes(x, 1));
    expect(r.gpu).toEqual(r.cpu);
    expect(Number.isNaN(r.gpu[0]) && Number.isNaN(r.gpu[1])).toBe(true);
  });
});
