/**
 * Layout ops on webgpu against the cpu backend: values bit for bit (they are copies of 32-bit words, for f32
 * and i32 alike) and gradients (copies again, so bit for bit too).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../types';
import { both, createPair, type Pair, randomF32, randomInts } from '../webgpu/test-utils';
import { concat, padSlice, slice, transpose } from './layout';
import { arbPerm, arbShape, arbSlice, sizeOf, valueAndGrads } from './op-test-utils';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

const RUNS = { numRuns: 10, seed: 20260614 };

describe('layout ops: webgpu = cpu', () => {
  it('transpose (f32 and i32) values and gradients', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 4, 5).chain((s) => fc.tuple(fc.constant(s), arbPerm(s.length), fc.nat(1000))),
        async ([shape, perm, seed]) => {
          const f = await both(
            pair,
            [{ data: randomF32(sizeOf(shape), seed), shape, dtype: 'f32' }],
            (_b, [x]) => transpose(x, perm),
          );
          expect(f.gpu).toEqual(f.cpu);
          const i = await both(
            pair,
            [{ data: randomInts(sizeOf(shape), seed, -5, 5), shape, dtype: 'i32' }],
            (_b, [x]) => transpose(x, perm),
          );
          expect(i.gpu).toEqual(i.cpu);
          const input = [{ data: randomF32(sizeOf(shape), seed), shape }];
          const g = await valueAndGrads(pair.gpu, (x: Tensor) => transpose(x, perm), input, seed);
          const c = await valueAndGrads(pair.cpu, (x: Tensor) => transpose(x, perm), input, seed);
          expect(g.grads).toEqual(c.grads);
        },
      ),
      RUNS,
    );
  });

  it('slice and padSlice values and gradients', async () => {
    await fc.assert(
      fc.asyncProperty(arbSlice(1, 4, 5, true), fc.nat(1000), async ({ shape, begin, size }, seed) => {
        const s = await both(
          pair,
          [{ data: randomF32(sizeOf(shape), seed), shape, dtype: 'f32' }],
          (_b, [x]) => slice(x, begin, size),
        );
        expect(s.gpu).toEqual(s.cpu);
        const p = await both(
          pair,
          [{ data: randomInts(sizeOf(size), seed, -9, 9), shape: size, dtype: 'i32' }],
          (_b, [g]) => padSlice(g, shape, begin),
        );
        expect(p.gpu).toEqual(p.cpu);
        const f = (x: Tensor) => padSlice(slice(x, begin, size), shape, begin);
        const input = [{ data: randomF32(sizeOf(shape), seed), shape }];
        const g = await valueAndGrads(pair.gpu, f, input, seed);
        const c = await valueAndGrads(pair.cpu, f, input, seed);
        expect(g.y).toEqual(c.y);
        expect(g.grads).toEqual(c.grads);
      }),
      RUNS,
    );
  });

  it('concat values and gradients', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(1, 4, 4).chain((s) =>
          fc.tuple(fc.constant(s), fc.integer({ min: 0, max: s.length - 1 }), fc.nat(1000)),
        ),
        async ([shape, axis, seed]) => {
          const other = [...shape];
          other[axis] += 2;
          const inputs = [
            { data: randomF32(sizeOf(shape), seed), shape, dtype: 'f32' as const },
            { data: randomF32(sizeOf(other), seed + 1), shape: other, dtype: 'f32' as const },
          ];
          const r = await both(pair, inputs, (_b, [x, y]) => concat([x, y, x], axis));
          expect(r.gpu).toEqual(r.cpu);
          const f = (x: Tensor, y: Tensor) => concat([x, y, x], axis);
          const g = await valueAndGrads(pair.gpu, f, inputs, seed);
          const c = await valueAndGrads(pair.cpu, f, inputs, seed);
          // x's gradient is the sum of two slices: one f32 addition, correctly rounded on both sides
          expect(g.grads).toEqual(c.grads);
        },
      ),
      RUNS,
    );
  });
});
