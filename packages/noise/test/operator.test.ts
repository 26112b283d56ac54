import { ArgumentError } from '@duality/kernels';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { binaryTransformClosedForm, diffusionTransform } from '../src/operator';
import { type OperatorFixture, readFixture, relErr } from './fixtures';

const fixture = readFixture<OperatorFixture>('duo_operator.json');

describe('diffusionTransform against duo_operator.json', () => {
  for (const table of fixture.tables) {
    it(`matches every column of the K = ${table.vocab_size} table to 1e-9 relative`, () => {
      const fields = ['p', 'one_minus_p', 'alpha', 'one_minus_alpha', 'dp_dgamma', 'dalpha_dgamma'] as const;
      const worst: Record<string, number> = {};
      table.gamma.forEach((gamma, i) => {
        const v = diffusionTransform(gamma, table.vocab_size);
        const got = {
          p: v.p,
          one_minus_p: v.oneMinusP,
          alpha: v.alpha,
          one_minus_alpha: v.oneMinusAlpha,
          dp_dgamma: v.dpDgamma,
          dalpha_dgamma: v.dalphaDgamma,
        };
        for (const f of fields) worst[f] = Math.max(worst[f] ?? 0, relErr(got[f], table[f][i]));
      });
      for (const f of fields) expect(worst[f], f).toBeLessThan(1e-9);
    });
  }

  it('matches the curriculum map (K = 50257, gamma in [-3.5, -1.75])', () => {
    const c = fixture.curriculum;
    c.gamma.forEach((gamma, i) => {
      const v = diffusionTransform(gamma, c.vocab_size);
      expect(relErr(v.alpha, c.alpha[i])).toBeLessThan(1e-9);
      expect(relErr(v.oneMinusAlpha, c.one_minus_alpha[i])).toBeLessThan(1e-9);
      expect(relErr(v.dalphaDgamma, c.dalpha_dgamma[i])).toBeLessThan(1e-9);
      expect(relErr(-Math.log(v.alpha), c.sigma[i])).toBeLessThan(1e-9);
    });
  });

  it('agrees with the Monte-Carlo rows of the fixture (quadrature columns)', () => {
    for (const row of fixture.mc_check.rows) {
      const v = diffusionTransform(row.gamma, fixture.mc_check.vocab_size);
      expect(relErr(v.alpha, row.alpha_quadrature)).toBeLessThan(1e-9);
      expect(relErr(v.dalphaDgamma, row.dalpha_dgamma_quadrature)).toBeLessThan(1e-9);
    }
  });
});

describe('diffusionTransform laws', () => {
  it('K = 2 equals the closed form erf(mu/2) over gamma in [-6, 2]', () => {
    for (let gamma = -6; gamma <= 2; gamma += 0.25) {
      expect(relErr(diffusionTransform(gamma, 2).alpha, binaryTransformClosedForm(gamma))).toBeLessThan(
        1e-12,
      );
    }
  });

  it('alpha + (1 − alpha) = 1 and p + (1 − p) = 1 for any K and gamma', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 50257 }),
        fc.double({ min: -6, max: 2, noNaN: true }),
        (K, gamma) => {
          const v = diffusionTransform(gamma, K);
          expect(Math.abs(v.p + v.oneMinusP - 1)).toBeLessThan(1e-14);
          expect(Math.abs(v.alpha + v.oneMinusAlpha - 1)).toBeLessThan(1e-13);
        },
      ),
      { seed: 101, numRuns: 40 },
    );
  });

  it('dalphaDgamma agrees with a central finite difference (h = 1e-4)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 50257 }),
        fc.double({ min: -6, max: 2, noNaN: true }),
        (K, gamma) => {
          const h = 1e-4;
          const fd =
            (diffusionTransform(gamma + h, K).alpha - diffusionTransform(gamma - h, K).alpha) / (2 * h);
          const exact = diffusionTransform(gamma, K).dalphaDgamma;
          // Truncation h²/6·|alpha'''| ≲ 1e-8·|alpha'|; rounding of the two alphas 2·2^-53/(2h) ≈ 1.1e-12.
          expect(Math.abs(fd - exact)).toBeLessThan(1e-6 * Math.abs(exact) + 5e-12);
        },
      ),
      { seed: 202, numRuns: 30 },
    );
  });

  it('alpha is decreasing in gamma with limits 1 (gamma → −∞) and 0 (gamma → +∞)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 50257 }),
        fc.double({ min: -6, max: 2, noNaN: true }),
        fc.double({ min: 1e-3, max: 2, noNaN: true }),
        (K, gamma, step) => {
          const a = diffusionTransform(gamma, K);
          const b = diffusionTransform(gamma + step, K);
          // 1 − alpha carries full relative precision where alpha rounds to 1.
          expect(b.oneMinusAlpha).toBeGreaterThan(a.oneMinusAlpha);
          expect(b.alpha).toBeLessThanOrEqual(a.alpha);
          expect(a.dalphaDgamma).toBeLessThan(0);
          expect(a.alpha).toBeGreaterThan(0);
          expect(a.alpha).toBeLessThanOrEqual(1);
        },
      ),
      { seed: 303, numRuns: 30 },
    );
    for (const K of [2, 27, 50257]) {
      expect(diffusionTransform(-12, K).alpha).toBeGreaterThan(1 - 1e-12);
      expect(diffusionTransform(14, K).alpha).toBeLessThan(1e-3);
    }
  });

  it('keeps relative precision far outside the curriculum range: small alpha (gamma ≫ 0) and saturation (gamma ≪ 0)', () => {
    // K = 2, small mu: alpha = erf(mu/2) = (2/√π)(x − x³/3 + x⁵/10), x = mu/2, to ~x⁷.
    for (const gamma of [12, 20, 40]) {
      const x = Math.exp(-gamma / 2) / 2;
      const series = (2 / Math.sqrt(Math.PI)) * (x - x ** 3 / 3 + x ** 5 / 10);
      expect(relErr(diffusionTransform(gamma, 2).alpha, series)).toBeLessThan(1e-12);
    }
    for (const K of [27, 50257]) {
      const v = diffusionTransform(30, K);
      expect(v.alpha).toBeGreaterThan(0);
      expect(v.oneMinusAlpha).toBeLessThanOrEqual(1);
      // Small mu: alpha ≈ c·mu, so alpha(γ + 2)/alpha(γ) → e^{-1}.
      expect(relErr(diffusionTransform(32, K).alpha / v.alpha, Math.exp(-1))).toBeLessThan(1e-6);
    }
    const saturated = diffusionTransform(-50, 50257);
    expect(saturated).toEqual({
      alpha: 1,
      dalphaDgamma: 0,
      oneMinusAlpha: 0,
      p: 1,
      oneMinusP: 0,
      dpDgamma: 0,
    });
    expect(diffusionTransform(-1e6, 27).alpha).toBe(1);
    expect(diffusionTransform(1e6, 27).alpha).toBe(0);
  });

  it('refuses non-finite gamma and bad vocabulary sizes with ArgumentError', () => {
    for (const gamma of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => diffusionTransform(gamma, 27)).toThrow(ArgumentError);
    }
    for (const K of [1, 0, -3, 2.5, Number.NaN])
      expect(() => diffusionTransform(0, K)).toThrow(ArgumentError);
    expect(() => diffusionTransform(Number.NaN, 27)).toThrow(
      /diffusionTransform: got gamma = NaN, expected a finite number/,
    );
  });
});
