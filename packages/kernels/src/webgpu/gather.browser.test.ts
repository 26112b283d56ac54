/**
 * Gathers and scatters on WebGPU against the cpu backend on random shapes. Copies (embedding, gatherLast,
 * oneHot) are exact; embeddingBag and scatterAdd sum in f32 on the GPU (in the cpu's order) and in f64 on the
 * cpu, so they agree within k·2^-23 of the summed magnitudes. scatterAdd is deterministic: repeated runs give the
 * same bits even with many repeated indices.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { both, closeness, createPair, type Pair, randomF32, randomInts, sizeOf } from './test-utils';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

const RUNS = { numRuns: 15, seed: 5150 };
const tableCase = fc.record({
  v: fc.integer({ min: 1, max: 60 }),
  dim: fc.integer({ min: 1, max: 70 }),
  outer: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 2 }),
  k: fc.integer({ min: 1, max: 6 }),
  idType: fc.constantFrom('i32' as const, 'u32' as const),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
});

describe('gathers', () => {
  it('embedding copies table rows exactly', async () => {
    await fc.assert(
      fc.asyncProperty(tableCase, async ({ v, dim, outer, idType, seed }) => {
        const r = await both(
          pair,
          [
            { data: randomF32(v * dim, seed), shape: [v, dim], dtype: 'f32' },
            { data: randomInts(sizeOf(outer), seed + 1, 0, v), shape: outer, dtype: idType },
          ],
          (b, [t, ids]) => b.embedding(t, ids),
        );
        expect(r.shape).toEqual([...outer, dim]);
        expect(Array.from(r.gpu)).toEqual(Array.from(r.cpu));
      }),
      RUNS,
    );
  });

  it('embeddingBag sums weighted rows within k·2^-22 (f32 vs the cpu f64 accumulator)', async () => {
    await fc.assert(
      fc.asyncProperty(tableCase, async ({ v, dim, outer, k, idType, seed }) => {
        const shape = [...outer, k];
        const r = await both(
          pair,
          [
            { data: randomF32(v * dim, seed), shape: [v, dim], dtype: 'f32' },
            { data: randomInts(sizeOf(shape), seed + 1, 0, v), shape, dtype: idType },
            { data: randomF32(sizeOf(shape), seed + 2), shape, dtype: 'f32' },
          ],
          (b, [t, ids, w]) => b.embeddingBag(t, ids, w),
        );
        const c = closeness(r.gpu, r.cpu, { abs: k * 2 ** -22 });
        expect(c.ok, c.worst).toBe(true);
      }),
      RUNS,
    );
  });

  it('gatherLast and oneHot match the cpu backend exactly', async () => {
    await fc.assert(
      fc.asyncProperty(tableCase, async ({ v, outer, idType, seed }) => {
        const ids = randomInts(sizeOf(outer), seed + 1, 0, v);
        const g = await both(
          pair,
          [
            { data: randomF32(sizeOf(outer) * v, seed), shape: [...outer, v], dtype: 'f32' },
            { data: ids, shape: outer, dtype: idType },
          ],
          (b, [x, i]) => b.gatherLast(x, i),
        );
        expect(Array.from(g.gpu)).toEqual(Array.from(g.cpu));
        const o = await both(pair, [{ data: ids, shape: outer, dtype: idType }], (b, [i]) =>
          b.oneHot(i, v, 'f32'),
        );
        expect(Array.from(o.gpu)).toEqual(Array.from(o.cpu));
      }),
      RUNS,
    );
  });
});

describe('scatterAdd', () => {
  it('matches the cpu backend within n·2^-22 and is bit-for-bit reproducible with repeated indices', async () => {
    await fc.assert(
      fc.asyncProperty(tableCase, fc.integer({ min: 1, max: 200 }), async ({ v, dim, idType, seed }, n) => {
        const inputs = [
          { data: randomF32(v * dim, seed), shape: [v, dim], dtype: 'f32' as const },
          { data: randomInts(n, seed + 1, 0, Math.min(v, 3)), shape: [n], dtype: idType },
          { data: randomF32(n * dim, seed + 2), shape: [n, dim], dtype: 'f32' as const },
        ];
        const r = await both(pair, inputs, (b, [t, i, s]) => b.scatterAdd(t, i, s));
        const c = closeness(r.gpu, r.cpu, { abs: (n + 1) * 2 ** -22 });
        expect(c.ok, c.worst).toBe(true);
        const again = await both(pair, inputs, (b, [t, i, s]) => b.scatterAdd(t, i, s));
        expect(Array.from(again.gpu)).toEqual(Array.from(r.gpu));
      }),
      RUNS,
    );
  });
});
