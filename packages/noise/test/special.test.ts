import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { logNdtr, ndtr, ndtri } from '../src/special';

describe('normal special functions (float64)', () => {
  it('Φ and log Φ at known values', () => {
    expect(ndtr(0)).toBe(0.5);
    // Φ(−1.96) = 0.024997895148220435 (to the last digit).
    expect(Math.abs(ndtr(-1.96) / 0.024997895148220435 - 1)).toBeLessThan(1e-15);
    expect(Math.abs(logNdtr(-1.96) - Math.log(0.024997895148220435))).toBeLessThan(1e-15);
    // Upper tail without cancellation: 1 − Φ(10) = 7.619853024160527e-24, so log Φ(10) = −7.6198…e-24.
    expect(Math.abs(logNdtr(10) / -7.619853024160527e-24 - 1)).toBeLessThan(1e-14);
  });

  it('log Φ follows the asymptotic series deep in the lower tail (no underflow)', () => {
    for (const z of [-40, -100, -600, -1e4]) {
      const z2 = z * z;
      const series = 1 - 1 / z2 + 3 / z2 ** 2 - 15 / z2 ** 3 + 105 / z2 ** 4 - 945 / z2 ** 5;
      const asymptotic = -0.5 * z2 - Math.log(-z) - 0.5 * Math.log(2 * Math.PI) + Math.log(series);
      expect(Math.abs(logNdtr(z) - asymptotic)).toBeLessThan(1e-14 * Math.abs(asymptotic));
    }
  });

  it('log Φ is continuous across its branch point and increasing', () => {
    expect(Math.abs(logNdtr(-1 - 1e-12) - logNdtr(-1 + 1e-12))).toBeLessThan(1e-11);
    fc.assert(
      fc.property(
        fc.double({ min: -50, max: 30, noNaN: true }),
        fc.double({ min: 1e-6, max: 5, noNaN: true }),
        (z, d) => {
          expect(logNdtr(z + d)).toBeGreaterThanOrEqual(logNdtr(z));
        },
      ),
      { seed: 11, numRuns: 200 },
    );
  });

  it('Φ⁻¹ inverts Φ to ~1e-15 relative, in both tails and through the upper-tail form', () => {
    fc.assert(
      fc.property(fc.double({ min: -37, max: 8, noNaN: true }), (x) => {
        const p = ndtr(x);
        // Conditioning: an ulp of p moves x by ε·p/φ(x); plus an ulp of x itself.
        const density = Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
        const bound = 4e-16 * (Math.max(1, Math.abs(x)) + p / density);
        expect(Math.abs(ndtri(p) - x)).toBeLessThan(bound);
        // Upper form: q = 1 − Φ(|x|) = Φ(−|x|) is exact in the upper tail; ndtri(q, true) = |x| without forming 1 − q.
        const ax = Math.abs(x);
        expect(Math.abs(ndtri(ndtr(-ax), true) - ax)).toBeLessThan(
          4e-16 * (Math.max(1, ax) + ndtr(-ax) / density),
        );
      }),
      { seed: 12, numRuns: 300 },
    );
    expect(ndtri(0.5)).toBe(0);
    // Deep lower tail: Φ(Φ⁻¹(1e-300)) = 1e-300 to ~|x|·ε relative (Φ's relative slope there is |x| ≈ 37).
    expect(Math.abs(ndtr(ndtri(1e-300)) / 1e-300 - 1)).toBeLessThan(1e-13);
  });
});
