/** The public row helpers: duoRow leaves log_softmax(z) in logp with or without a gradient, and its gradient is
 * duoGradRow's; both against the NELBO integrand (duoIntegrand) on the same row. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { duoGradRow, duoIntegrand, duoRow, logSoftmaxRow } from '../src/index';

describe('duoRow', () => {
  it('value = duoIntegrand(log_softmax z); logp holds log_softmax z after the call; grad = duoGradRow', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 2, maxLength: 12 }),
        fc.nat(),
        fc.nat(),
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        (z, a, b, alpha) => {
          const k = z.length;
          const [xt, x0] = [a % k, b % k];
          const expected = new Float64Array(k);
          logSoftmaxRow(z, 0, k, expected);
          const value = duoIntegrand(expected, xt, x0, alpha, -1);
          const logp = new Float64Array(k);
          const grad = new Float64Array(k);
          expect(duoRow(z, 0, k, xt, x0, alpha, -1, logp, grad)).toBe(value);
          expect(Array.from(logp)).toEqual(Array.from(expected));
          const alone = new Float64Array(k);
          duoGradRow(z, 0, k, xt, x0, alpha, -1, new Float64Array(k), alone);
          expect(Array.from(grad)).toEqual(Array.from(alone));
          expect(duoRow(z, 0, k, xt, x0, alpha, -1, logp, undefined)).toBe(value);
        },
      ),
    );
  });
});
