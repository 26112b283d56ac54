import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { philoxKey, philoxWords, wordToUniform } from '../src/rng/philox';
import { cpu, data, FC } from './helpers';

/** Standard normal CDF through erf (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7: far below the KS bound). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-z * z);
  return 0.5 * (1 + (x >= 0 ? erf : -erf));
}

/** Kolmogorov–Smirnov statistic of a sample against a CDF. */
function ksStatistic(sample: number[], cdf: (x: number) => number): number {
  const s = [...sample].sort((a, b) => a - b);
  let d = 0;
  s.forEach((x, i) => {
    const c = cdf(x);
    d = Math.max(d, (i + 1) / s.length - c, c - i / s.length);
  });
  return d;
}

/** KS critical value at significance alpha (asymptotic): √(−ln(α/2)/(2n)). */
const ksBound = (n: number, alpha: number) => Math.sqrt(-Math.log(alpha / 2) / (2 * n));

const arbStream = fc.record({
  seed: fc.oneof(fc.nat({ max: 2 ** 40 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
  offset: fc.nat({ max: 5000 }),
});

describe('uniform', () => {
  it('element e is wordToUniform of stream word offset + e, in (0, 1), identical for f32 and f64', () => {
    fc.assert(
      fc.property(arbStream, fc.integer({ min: 0, max: 40 }), ({ seed, offset }, n) => {
        const want = Array.from(philoxWords(philoxKey(seed), offset, n), wordToUniform);
        const u32 = data(cpu.uniform([n], { seed, offset }));
        expect(u32).toEqual(want);
        expect(data(cpu.uniform([n], { seed, offset }, 'f64'))).toEqual(want);
        for (const u of u32) expect(u > 0 && u < 1).toBe(true);
      }),
      FC,
    );
  });

  it('law: a window of a stream equals the same numbers read from an earlier offset (offsets compose)', () => {
    fc.assert(
      fc.property(
        arbStream,
        fc.nat({ max: 37 }),
        fc.integer({ min: 1, max: 30 }),
        ({ seed, offset }, skip, n) => {
          const long = data(cpu.uniform([skip + n], { seed, offset }));
          const window = data(cpu.uniform([n], { seed, offset: offset + skip }));
          expect(window).toEqual(long.slice(skip));
        },
      ),
      FC,
    );
  });

  it('same seed gives the same tensor; a different seed gives a different one; shape is kept', () => {
    const a = cpu.uniform([3, 4], { seed: 7 });
    expect(a.shape).toEqual([3, 4]);
    expect(data(a)).toEqual(data(cpu.uniform([3, 4], { seed: 7, offset: 0 })));
    expect(data(a)).not.toEqual(data(cpu.uniform([3, 4], { seed: 8 })));
    expect(data(cpu.uniform([4], { seed: 5n }))).toEqual(data(cpu.uniform([4], { seed: 5 })));
  });

  it('is uniform: mean, variance and a 20-bin chi-square at fixed seeds', () => {
    const n = 20000;
    for (const seed of [1, 2 ** 33 + 5]) {
      const u = data(cpu.uniform([n], { seed }, 'f64'));
      const mean = u.reduce((a, b) => a + b, 0) / n;
      const variance = u.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
      // sd of the mean is √(1/12 / n) ≈ 0.002; bound at 6 sd
      expect(Math.abs(mean - 0.5)).toBeLessThan(6 * Math.sqrt(1 / 12 / n));
      // var of the sample variance is ≈ (1/80 − 1/144)/n; bound at 6 sd
      expect(Math.abs(variance - 1 / 12)).toBeLessThan(6 * Math.sqrt((1 / 80 - 1 / 144) / n));
      const bins = new Array(20).fill(0);
      for (const x of u) bins[Math.floor(x * 20)]++;
      const chi2 = bins.reduce((a, c) => a + (c - n / 20) ** 2 / (n / 20), 0);
      // chi-square with 19 dof: P(χ² > 55) ≈ 2e-5
      expect(chi2).toBeLessThan(55);
    }
  });
});

describe('normal', () => {
  it('law: windows compose at any (unaligned) offset; f64 holds the same values as f32', () => {
    fc.assert(
      fc.property(
        arbStream,
        fc.nat({ max: 13 }),
        fc.integer({ min: 1, max: 21 }),
        ({ seed, offset }, skip, n) => {
          const long = data(cpu.normal([skip + n], { seed, offset }));
          expect(data(cpu.normal([n], { seed, offset: offset + skip }))).toEqual(long.slice(skip));
          expect(data(cpu.normal([n], { seed, offset: offset + skip }, 'f64'))).toEqual(long.slice(skip));
        },
      ),
      FC,
    );
  });

  it('is standard normal: mean ≈ 0, variance ≈ 1 and a Kolmogorov–Smirnov bound at fixed seeds', () => {
    const n = 20000;
    for (const [seed, offset] of [
      [3, 0],
      [2 ** 40 + 11, 1],
    ]) {
      const z = data(cpu.normal([n], { seed, offset }, 'f64'));
      const mean = z.reduce((a, b) => a + b, 0) / n;
      const variance = z.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
      expect(Math.abs(mean)).toBeLessThan(6 / Math.sqrt(n));
      expect(Math.abs(variance - 1)).toBeLessThan(6 * Math.sqrt(2 / n));
      expect(ksStatistic(z, normalCdf)).toBeLessThan(ksBound(n, 1e-6));
      // the odd (sin) and even (cos) halves of each pair are uncorrelated
      let cross = 0;
      for (let i = 0; i + 1 < n; i += 2) cross += z[i] * z[i + 1];
      expect(Math.abs(cross / (n / 2))).toBeLessThan(6 / Math.sqrt(n / 2));
    }
  });
});
