import { philoxWords } from '@duality/kernels';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { STREAM_DOMAIN, streamPermutation, streamUniforms, streamWords, uniform53 } from './rng';

describe('domain streams', () => {
  it('a window of a stream equals the same words read from its start', () => {
    fc.assert(
      fc.property(
        fc.nat(1e9),
        fc.nat(1000),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 40 }),
        (seed, lane, a, n) => {
          const all = streamWords(seed, STREAM_DOMAIN.time, lane, 0, a + n);
          expect(Array.from(streamWords(seed, STREAM_DOMAIN.time, lane, a, n))).toEqual(
            Array.from(all.subarray(a)),
          );
        },
      ),
    );
  });

  it('domain 0, lane 0 is the kernels stream; other domains and lanes differ from it', () => {
    expect(Array.from(streamWords(7, 0, 0, 3, 9))).toEqual(Array.from(philoxWords({ k0: 7, k1: 0 }, 3, 9)));
    const base = Array.from(philoxWords({ k0: 7, k1: 0 }, 0, 16));
    expect(Array.from(streamWords(7, STREAM_DOMAIN.shuffle, 0, 0, 16))).not.toEqual(base);
    expect(Array.from(streamWords(7, STREAM_DOMAIN.shuffle, 1, 0, 16))).not.toEqual(
      Array.from(streamWords(7, STREAM_DOMAIN.shuffle, 0, 0, 16)),
    );
  });

  it('uniforms lie in (0, 1) and 53-bit uniforms in [0, 1)', () => {
    const u = streamUniforms(3, STREAM_DOMAIN.time, 5, 0, 4096);
    expect(u.every((x) => x > 0 && x < 1)).toBe(true);
    expect(uniform53(0, 0)).toBe(0);
    expect(uniform53(0xffffffff, 0xffffffff)).toBeLessThan(1);
  });

  it('permutations are permutations, and depend on seed and lane', () => {
    fc.assert(
      fc.property(fc.nat(1e6), fc.nat(100), fc.integer({ min: 0, max: 300 }), (seed, lane, n) => {
        const p = streamPermutation(seed, STREAM_DOMAIN.shuffle, lane, n);
        expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      }),
    );
    const a = streamPermutation(1, STREAM_DOMAIN.shuffle, 0, 100);
    expect(Array.from(streamPermutation(1, STREAM_DOMAIN.shuffle, 0, 100))).toEqual(Array.from(a));
    expect(Array.from(streamPermutation(1, STREAM_DOMAIN.shuffle, 1, 100))).not.toEqual(Array.from(a));
    expect(Array.from(streamPermutation(2, STREAM_DOMAIN.shuffle, 0, 100))).not.toEqual(Array.from(a));
  });

  it('each position of a permutation is uniform over the elements (chi-square, fixed seeds)', () => {
    // n = 5, 6000 lanes: the count of value v at position 0 is Binomial(6000, 1/5); chi-square with 4 dof,
    // the 1e-6 quantile is 33.4: a correct shuffle fails this with probability 1e-6 at most (fixed seed: never).
    const n = 5;
    const lanes = 6000;
    const counts = new Array(n * n).fill(0);
    for (let lane = 0; lane < lanes; lane++) {
      const p = streamPermutation(11, STREAM_DOMAIN.shuffle, lane, n);
      for (let pos = 0; pos < n; pos++) counts[pos * n + p[pos]]++;
    }
    for (let pos = 0; pos < n; pos++) {
      const e = lanes / n;
      let chi = 0;
      for (let v = 0; v < n; v++) chi += (counts[pos * n + v] - e) ** 2 / e;
      expect(chi).toBeLessThan(33.4);
    }
  });

  it('refuses bad seeds, lanes and sizes', () => {
    expect(() => streamWords(-1, 1, 0, 0, 1)).toThrow(/seed -1/);
    expect(() => streamWords(1, 1, 2 ** 32, 0, 1)).toThrow(/lane 4294967296/);
    expect(() => streamWords(1, 1, 0, -1, 1)).toThrow(/non-negative integers/);
    expect(() => streamPermutation(1, 1, 0, 1.5)).toThrow(/n 1.5/);
  });
});
