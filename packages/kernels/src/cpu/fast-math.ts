/**
 * Cheaper math for the f32 range kernels (the f64 kernels, the reference, keep Math.exp / Math.tanh):
 *   e^x = 2^n·p(f) for x ≤ 0, t = x·log₂e = n + f (n integer, f in (−½, ½]), p the degree-7 Taylor polynomial
 *   of 2^f = e^(f ln 2); relative error < 1e-8 (the f32 rounding is 6e-8), 0 below −103 where f32 underflows;
 *   NaN stays NaN, −∞ gives 0. ~2.5× cheaper than Math.exp in V8.
 * `makeExpNonPositive` is self-contained (range kernels take it by its text, see parallel.ts `apply`).
 */
import { apply, type Code } from './parallel';

/** (ln 2)^k / k!, k = 1 … 7: the coefficients written in `makeExpNonPositive` (a test compares them). */
export const EXP2_TAYLOR: readonly number[] = [1, 2, 3, 4, 5, 6, 7].map(
  (k) => Math.LN2 ** k / [1, 2, 6, 24, 120, 720, 5040][k - 1],
);

/** Builds e^x for x ≤ 0 (its table of 2^−k, k = 0 … 150, once). */
export function makeExpNonPositive(): (x: number) => number {
  const pow2 = new Float64Array(151);
  for (let k = 0; k < 151; k++) pow2[k] = 2 ** -k;
  return (x: number): number => {
    if (x < -103) return 0;
    const t = x * 1.4426950408889634; // log₂e
    const n = (t - 0.5) | 0;
    const f = t - n;
    // 2^f = 1 + Σ (ln 2)^k/k! f^k, Horner
    const t6 = 0.00015403530393381606 + f * 0.000015252733804059838; // from (ln 2)^6/6!
    const t4 = 0.009618129107628477 + f * (0.0013333558146428441 + f * t6); // from (ln 2)^4/4!
    return (
      (1 + f * (0.6931471805599453 + f * (0.2402265069591007 + f * (0.055504108664821576 + f * t4)))) *
      pow2[-n]
    );
  };
}

/** e^x for x ≤ 0, as Code for range kernels that take it as an argument. */
export const EXP_NON_POSITIVE: Code<(x: number) => number> = apply(makeExpNonPositive);

/** The same e^x (x ≤ 0) as a plain function, for tests and inference kernels elsewhere. */
export const expNonPositive: (x: number) => number = EXP_NON_POSITIVE.value;
