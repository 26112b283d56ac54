import { ArgumentError } from '@duality/kernels';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { operatorPolyFit, operatorTable } from '../src/approx';
import { diffusionTransform } from '../src/operator';
import { gaussianCurriculum } from '../src/schedules';

// The papers' OWT curriculum: K = 50257 (GPT-2), gamma in [-3.5, -1.75].
const RANGE = { vocabSize: 50257, gammaMin: -3.5, gammaMax: -1.75 };

describe('operatorTable (dense table, cubic Hermite)', () => {
  const table = operatorTable({ ...RANGE, points: 257 });

  it('reports its max error at the interval midpoints, and random gammas stay within it', () => {
    expect(table.maxError.points).toBe(256);
    expect(table.maxError.alphaAbs).toBeLessThan(1e-9);
    expect(table.maxError.dalphaDgammaRel).toBeLessThan(1e-6);
    fc.assert(
      fc.property(fc.double({ min: RANGE.gammaMin, max: RANGE.gammaMax, noNaN: true }), (gamma) => {
        const exact = diffusionTransform(gamma, RANGE.vocabSize);
        const approx = table.evaluate(gamma);
        // Midpoints are where Hermite interpolation errs most; 1.5× covers the curvature of the error bound.
        expect(Math.abs(approx.alpha - exact.alpha)).toBeLessThanOrEqual(
          1.5 * table.maxError.alphaAbs + 1e-15,
        );
      }),
      { seed: 606, numRuns: 40 },
    );
  });

  it('is exact at its nodes and refuses gammas outside its range', () => {
    expect(table.evaluate(-3.5).alpha).toBe(diffusionTransform(-3.5, RANGE.vocabSize).alpha);
    expect(() => table.evaluate(-3.6)).toThrow(ArgumentError);
    expect(() => table.evaluate(Number.NaN)).toThrow(ArgumentError);
    expect(() => operatorTable({ ...RANGE, points: 1 })).toThrow(ArgumentError);
  });
});

describe('Chapter II polynomial fits of alpha(t)', () => {
  const fits = ([3, 5, 7, 9] as const).map((degree) => operatorPolyFit({ ...RANGE, degree, samples: 401 }));

  it('errors fall with the degree (max error against the exact operator, printed per degree)', () => {
    const rows = fits.map(
      (f) =>
        `poly${f.degree}: max |Δalpha| = ${f.maxError.alphaAbs.toExponential(2)}, max |Δdalpha/dt| = ${f.maxErrorDt.dalphaDtAbs.toExponential(2)}`,
    );
    console.log(`K = 50257, gamma in [-3.5, -1.75]\n${rows.join('\n')}`);
    for (let i = 1; i < fits.length; i++) {
      expect(fits[i].maxError.alphaAbs).toBeLessThan(fits[i - 1].maxError.alphaAbs);
    }
    expect(fits[3].maxError.alphaAbs).toBeLessThan(1e-4);
    expect(fits[0].maxError.alphaAbs).toBeGreaterThan(1e-3);
  });

  it('the monomial coefficients reproduce evaluateAt, and dalpha/dt is the polynomial derivative', () => {
    const fit = fits[3];
    fc.assert(
      fc.property(fc.double({ min: 1e-3, max: 1 - 1e-3, noNaN: true }), (t) => {
        let alpha = 0;
        for (let i = 0; i < fit.coefficients.length; i++) alpha += fit.coefficients[i] * t ** i;
        expect(fit.evaluateAt(t).alpha).toBeCloseTo(alpha, 12);
        // Central difference: truncation h²/6·|p'''| ≲ 1e-9, rounding 2^-53/h ≈ 1e-10.
        const h = 1e-6;
        const fd = (fit.evaluateAt(t + h).alpha - fit.evaluateAt(t - h).alpha) / (2 * h);
        expect(Math.abs(fd - fit.evaluateAt(t).dalphaDt)).toBeLessThan(1e-7);
      }),
      { seed: 707, numRuns: 50 },
    );
  });

  it('random curriculum times stay within the reported max error', () => {
    const fit = fits[3];
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), (t) => {
        const exact = diffusionTransform(
          RANGE.gammaMin + t * (RANGE.gammaMax - RANGE.gammaMin),
          RANGE.vocabSize,
        ).alpha;
        // The validation grid is twice as fine as the fit grid; 1.1× covers the between-grid maxima of a smooth error.
        expect(Math.abs(fit.evaluateAt(t).alpha - exact)).toBeLessThanOrEqual(1.1 * fit.maxError.alphaAbs);
      }),
      { seed: 808, numRuns: 40 },
    );
  });

  it('gaussianCurriculum picks the approximation by name', () => {
    const exact = gaussianCurriculum({ ...RANGE, approx: 'exact' });
    const table = gaussianCurriculum({ ...RANGE, approx: 'table' });
    const poly3 = gaussianCurriculum({ ...RANGE, approx: 'poly3' });
    expect(table.approximation.kind).toBe('table');
    expect(poly3.approximation.kind).toBe('poly3');
    expect(Math.abs(table.alpha(0.3) - exact.alpha(0.3))).toBeLessThan(1e-9);
    expect(Math.abs(poly3.alpha(0.3) - exact.alpha(0.3))).toBeLessThanOrEqual(
      poly3.approximation.maxError.alphaAbs * 1.1,
    );
    expect(Math.abs(poly3.alpha(0.3) - exact.alpha(0.3))).toBeGreaterThan(0);
    // @ts-expect-error: an unknown approximation name is refused at run time too.
    expect(() => gaussianCurriculum({ ...RANGE, approx: 'poly4' })).toThrow(ArgumentError);
    // @ts-expect-error: degree 4 is not one of the Chapter II fits.
    expect(() => operatorPolyFit({ ...RANGE, degree: 4 })).toThrow(ArgumentError);
  });
});
