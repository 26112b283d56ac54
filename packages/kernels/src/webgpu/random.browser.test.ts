/**
 * Random streams on WebGPU: Philox words, uniforms and normals must equal the cpu ones BIT FOR BIT for any seed
 * (including 64-bit seeds) and offset (including offsets past 2^32 and not multiples of 4). Categorical samples
 * use the same uniforms; the GPU computes the Gumbel scores in f32 while the cpu uses f64, so an id may differ
 * only where the two best scores are within float error of each other (a near tie), which is counted and bounded.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import golden from '../../test/fixtures/normal_golden.json' with { type: 'json' };
import { philoxKey, philoxWords, wordToUniform } from '../rng/philox';
import type { Tensor } from '../types';
import { bitsOf, createPair, type Pair, randomF32 } from './test-utils';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

const stream = fc.record({
  seed: fc.oneof(fc.integer({ min: 0, max: 2 ** 31 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
  offset: fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 2 ** 32 - 64, max: 2 ** 34 })),
  count: fc.integer({ min: 0, max: 3000 }),
});
const RUNS = { numRuns: 25, seed: 31337 };

type WordsBackend = {
  uniformWords(shape: number[], s: { seed: number | bigint; offset?: number }): Tensor<'u32'>;
};

describe('Philox streams', () => {
  it('raw words equal rng/philox.ts bit for bit', async () => {
    const gpu = pair.gpu as unknown as WordsBackend;
    await fc.assert(
      fc.asyncProperty(stream, async ({ seed, offset, count }) => {
        const got = await gpu.uniformWords([count], { seed, offset }).read();
        const want = philoxWords(philoxKey(seed), offset, count);
        expect(Array.from(got)).toEqual(Array.from(want));
      }),
      RUNS,
    );
  });

  it('uniforms equal the cpu backend bit for bit (and wordToUniform of the words)', async () => {
    await fc.assert(
      fc.asyncProperty(stream, async ({ seed, offset, count }) => {
        const g = await pair.gpu.uniform([count], { seed, offset }).read();
        const c = await pair.cpu.uniform([count], { seed, offset }).read();
        expect(Array.from(bitsOf(g))).toEqual(Array.from(bitsOf(c)));
        const words = philoxWords(philoxKey(seed), offset, Math.min(count, 8));
        for (let i = 0; i < words.length; i++) expect(g[i]).toBe(wordToUniform(words[i]));
      }),
      RUNS,
    );
  });

  it('normals equal the cpu backend (rng/normal.ts) bit for bit', async () => {
    await fc.assert(
      fc.asyncProperty(stream, async ({ seed, offset, count }) => {
        const g = await pair.gpu.normal([count], { seed, offset }).read();
        const c = await pair.cpu.normal([count], { seed, offset }).read();
        expect(Array.from(bitsOf(g))).toEqual(Array.from(bitsOf(c)));
      }),
      RUNS,
    );
  });

  it('normals equal the independent golden vector (NumPy f32 emulation of rng/normal.ts)', async () => {
    const g = await pair.gpu
      .normal([golden.normalBits.length], { seed: golden.seed, offset: golden.firstElement })
      .read();
    expect(Array.from(bitsOf(g))).toEqual(golden.normalBits);
  });

  it('200 000 normals in one go are bit-identical (every code path of the Box–Muller twin)', async () => {
    const n = 200_000;
    const g = bitsOf(await pair.gpu.normal([n], { seed: 123456789n, offset: 7 }).read());
    const c = bitsOf(await pair.cpu.normal([n], { seed: 123456789n, offset: 7 }).read());
    let differ = 0;
    for (let i = 0; i < n; i++) if (g[i] !== c[i]) differ++;
    expect(differ).toBe(0);
  });
});

/** Gumbel score of entry i of row r as the cpu computes it (f64 on f32 logits and f32-exact uniforms). */
function cpuScore(
  logits: Float32Array,
  n: number,
  r: number,
  i: number,
  u: Float64Array,
  invT: number,
): number {
  return logits[r * n + i] * invT - Math.log(-Math.log(u[r * n + i]));
}

describe('sampleCategorical', () => {
  // Bound: the GPU score is within ~1e-5 (absolute, for |logits·/T| ≤ 30) of the f64 score, so any id that differs
  // must come from two scores closer than NEAR_TIE. With ≈ 1000 rows drawn below, differences are rare (≤ 1%).
  const NEAR_TIE = 1e-4;

  it('ids equal the cpu ids for the same seed, except near ties (counted, ≤ 1% of rows)', async () => {
    let rowsSeen = 0;
    let nearTies = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.constantFrom(0.5, 1, 2),
        fc.integer({ min: 1, max: 10_000 }),
        async (rows, n, offset, temperature, seed) => {
          const logits = randomF32(rows * n, seed, -6, 6);
          const opts = { seed, offset, temperature };
          const g = await pair.gpu.sampleCategorical(pair.gpu.tensor(logits, [rows, n], 'f32'), opts).read();
          const c = await pair.cpu.sampleCategorical(pair.cpu.tensor(logits, [rows, n], 'f32'), opts).read();
          const u = Float64Array.from(philoxWords(philoxKey(seed), offset, rows * n), wordToUniform);
          for (let r = 0; r < rows; r++) {
            rowsSeen++;
            if (g[r] === c[r]) continue;
            nearTies++;
            const gap = Math.abs(
              cpuScore(logits, n, r, g[r], u, 1 / temperature) -
                cpuScore(logits, n, r, c[r], u, 1 / temperature),
            );
            expect(gap, `row ${r}: gpu ${g[r]} vs cpu ${c[r]}`).toBeLessThan(NEAR_TIE);
          }
        },
      ),
      { numRuns: 30, seed: 99 },
    );
    console.info(`sampleCategorical: ${nearTies} near-tie differences in ${rowsSeen} rows`);
    expect(nearTies).toBeLessThanOrEqual(Math.ceil(rowsSeen / 100));
  });

  it('draws from a 50257-wide row equal the cpu draws (16 rows, all seeds)', async () => {
    const rows = 16;
    const n = 50257;
    const logits = randomF32(rows * n, 5, -4, 4);
    const g = await pair.gpu
      .sampleCategorical(pair.gpu.tensor(logits, [rows, n], 'f32'), { seed: 2n ** 63n + 5n, offset: 3 })
      .read();
    const c = await pair.cpu
      .sampleCategorical(pair.cpu.tensor(logits, [rows, n], 'f32'), { seed: 2n ** 63n + 5n, offset: 3 })
      .read();
    expect(Array.from(g)).toEqual(Array.from(c));
  });

  it('follows the softmax distribution: 2000 draws of a 4-way categorical within 4.5 standard errors', async () => {
    const probs = [0.1, 0.2, 0.3, 0.4];
    const rows = 2000;
    const logits = new Float32Array(rows * 4);
    for (let r = 0; r < rows; r++) for (let i = 0; i < 4; i++) logits[r * 4 + i] = Math.log(probs[i]);
    const ids = await pair.gpu
      .sampleCategorical(pair.gpu.tensor(logits, [rows, 4], 'f32'), { seed: 17 })
      .read();
    const counts = [0, 0, 0, 0];
    for (const id of ids) counts[id]++;
    for (let i = 0; i < 4; i++) {
      const se = Math.sqrt(rows * probs[i] * (1 - probs[i]));
      expect(Math.abs(counts[i] - rows * probs[i])).toBeLessThan(4.5 * se);
    }
  });
});
