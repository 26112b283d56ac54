/**
 * Tiled WebGPU matmul against the cpu backend (f32, and f64 as the exact reference) on random batched shapes,
 * broadcast batch axes, transposes and fused bias. The GPU accumulates in f32 (possibly with FMAs), the cpu in
 * f64: for entries in [−1, 1] every output is within K·2^-22 of the exact value, which the test allows.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Shape } from '../types';
import { both, closeness, createPair, type Pair, randomF32, sizeOf } from './test-utils';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

const matmulCase = fc.record({
  m: fc.integer({ min: 1, max: 40 }),
  k: fc.integer({ min: 1, max: 70 }),
  n: fc.integer({ min: 1, max: 40 }),
  batchA: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
  shareB: fc.boolean(),
  transposeA: fc.boolean(),
  transposeB: fc.boolean(),
  bias: fc.boolean(),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
});

describe('matmul', () => {
  it('matches the cpu backend within K·2^-22 (batched, broadcast batch, transposes, bias)', async () => {
    await fc.assert(
      fc.asyncProperty(matmulCase, async (c) => {
        const aShape: Shape = [...c.batchA, ...(c.transposeA ? [c.k, c.m] : [c.m, c.k])];
        const bMat = c.transposeB ? [c.n, c.k] : [c.k, c.n];
        const bShape: Shape = c.shareB ? bMat : [...c.batchA.map((d, i) => (i === 0 ? 1 : d)), ...bMat];
        const inputs = [
          { data: randomF32(sizeOf(aShape), c.seed), shape: aShape, dtype: 'f32' as const },
          { data: randomF32(sizeOf(bShape), c.seed + 1), shape: bShape, dtype: 'f32' as const },
          { data: randomF32(c.n, c.seed + 2), shape: [c.n], dtype: 'f32' as const },
        ];
        const r = await both(pair, inputs, (b, [x, y, z]) =>
          b.matmul(x, y, {
            transposeA: c.transposeA,
            transposeB: c.transposeB,
            bias: c.bias ? z : undefined,
          }),
        );
        const close = closeness(r.gpu, r.cpu, { abs: (c.k + 1) * 2 ** -22 });
        expect(close.ok, close.worst).toBe(true);
      }),
      { numRuns: 16, seed: 424242 },
    );
  });

  it('is within K·2^-22 of the float64 cpu result (the exact reference)', async () => {
    const [m, k, n] = [33, 257, 19];
    const a = randomF32(m * k, 11);
    const b = randomF32(k * n, 12);
    const g = await pair.gpu
      .matmul(pair.gpu.tensor(a, [m, k], 'f32'), pair.gpu.tensor(b, [k, n], 'f32'))
      .read();
    const exact = await pair.cpu
      .matmul(pair.cpu.tensor(Float64Array.from(a), [m, k]), pair.cpu.tensor(Float64Array.from(b), [k, n]))
      .read();
    const close = closeness(g, exact, { abs: k * 2 ** -22 });
    expect(close.ok, close.worst).toBe(true);
  });

  it('handles an empty inner dimension (bias only) and empty outputs', async () => {
    const a = pair.gpu.zeros([2, 0], 'f32');
    const b = pair.gpu.zeros([0, 3], 'f32');
    const bias = pair.gpu.tensor([1, 2, 3], [3], 'f32');
    expect(Array.from(await pair.gpu.matmul(a, b, { bias }).read())).toEqual([1, 2, 3, 1, 2, 3]);
    expect(Array.from(await pair.gpu.matmul(a, b).read())).toEqual([0, 0, 0, 0, 0, 0]);
    const e = pair.gpu.matmul(pair.gpu.zeros([0, 4], 'f32'), pair.gpu.zeros([4, 2], 'f32'));
    expect(e.shape).toEqual([0, 2]);
    expect((await e.read()).length).toBe(0);
  });
});
