import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../cpu/backend';
import { ArgumentError } from '../errors';
import { philoxKey, philoxWords } from '../rng/philox';
import { arbShape, sizeOf, values } from './op-test-utils';
import { randint, wordToInt } from './random-int';

const b = createCpuBackend({ threads: 0 });
const RUNS = { numRuns: 40, seed: 20260621 };

const arbRange = fc
  .tuple(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 2 ** 32 - 1 }))
  .map(([low, n]) => {
    const high = Math.min(2 ** 31, low + n);
    return { low, high };
  });

describe('randint', () => {
  it('element e = low + ⌊w·n/2³²⌋ of stream word offset + e (BigInt reference), in [low, high)', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 3, 6),
        arbRange,
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.nat(2 ** 40),
        async (shape, { low, high }, seed, offset) => {
          const t = randint(b, shape, low, high, { seed, offset });
          expect(t.dtype).toBe('i32');
          expect(t.shape).toEqual(shape);
          const words = philoxWords(philoxKey(seed), offset, sizeOf(shape));
          const n = BigInt(high - low);
          const want = Array.from(words, (w) => low + Number((BigInt(w) * n) >> 32n));
          const got = await values(t);
          expect(got).toEqual(want);
          for (const v of got) expect(v >= low && v < high).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('a window at offset + k equals elements k… of the stream at offset', async () => {
    const a = await values(randint(b, [40], 0, 7, { seed: 5, offset: 3 }));
    const w = await values(randint(b, [30], 0, 7, { seed: 5, offset: 13 }));
    expect(w).toEqual(a.slice(10));
  });

  it('each k in [0, n) gets ⌊2³²/n⌋ or ⌈2³²/n⌉ words (the bias bound): exact boundaries by BigInt', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 32 - 1 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (n, u) => {
          const k = Math.min(n - 1, Math.floor(u * n));
          const N = BigInt(n);
          // first word mapped to k: ⌈k·2³²/n⌉
          const first = (BigInt(k) * (1n << 32n) + N - 1n) / N;
          const next = (BigInt(k + 1) * (1n << 32n) + N - 1n) / N;
          expect(wordToInt(Number(first), n)).toBe(k);
          if (first > 0n) expect(wordToInt(Number(first - 1n), n)).toBe(k - 1);
          const count = next - first;
          const lo = (1n << 32n) / N;
          expect(count === lo || count === lo + 1n).toBe(true);
        },
      ),
      { numRuns: 200, seed: 20260622 },
    );
    expect(wordToInt(0, 10)).toBe(0);
    expect(wordToInt(2 ** 32 - 1, 10)).toBe(9);
  });

  it('10⁵ draws over 10 values pass a χ² test (9 dof, below the 99.9% quantile 27.88)', async () => {
    for (const seed of [42, 43, 44]) {
      const v = await values(randint(b, [100_000], -3, 7, { seed }));
      const counts = new Array<number>(10).fill(0);
      for (const x of v) counts[x + 3]++;
      const chi2 = counts.reduce((acc, c) => acc + (c - 10_000) ** 2 / 10_000, 0);
      expect(chi2).toBeLessThan(27.88);
    }
  });

  it('refuses bad ranges, shapes and streams', async () => {
    expect(() => randint(b, [2], 3, 3, { seed: 1 })).toThrow(ArgumentError);
    expect(() => randint(b, [2], 0.5, 3, { seed: 1 })).toThrow(/low 0.5/);
    expect(() => randint(b, [2], -(2 ** 31), 2 ** 31, { seed: 1 })).toThrow(ArgumentError);
    expect(() => randint(b, [2], 0, 2 ** 31 + 1, { seed: 1 })).toThrow(ArgumentError);
    expect(() => randint(b, [2], 0, 3, { seed: -1 })).toThrow(ArgumentError);
    expect(() => randint(b, [-1], 0, 3, { seed: 1 })).toThrow();
    expect(await values(randint(b, [2], -(2 ** 31), 2 ** 31 - 1, { seed: 1 }))).toHaveLength(2);
  });
});
