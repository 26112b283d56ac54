/**
 * The one content check of probability rows, shared by the noise processes and @duality/posteriors: every row of
 * x0Probs [.., K] is a distribution, i.e. no NaN or ±∞, every entry ≥ −tolerance and |Σ_j p_j − 1| ≤ tolerance.
 */
import type { FloatDType } from '@duality/kernels';
import { NonFiniteError, NotADistributionError } from './errors';

/** Default tolerances of the checks: 1e-9 for f64 rows, 1e-4 for f32 rows (a K = 50k f32 softmax passes). */
export const DEFAULT_TOLERANCE = { f64: 1e-9, f32: 1e-4 } as const;

/** The tolerance for rows of this dtype: the one given, else DEFAULT_TOLERANCE. */
export const toleranceOf = (dtype: FloatDType | string, tolerance?: number): number =>
  tolerance ?? (dtype === 'f64' ? DEFAULT_TOLERANCE.f64 : DEFAULT_TOLERANCE.f32);

/** The typed error for a bad row with this sum and smallest entry. */
export function probRowError(op: string, row: number, sum: number, min: number, tolerance: number): Error {
  if (!Number.isFinite(sum) || !Number.isFinite(min)) {
    return new NonFiniteError(op, `x0Probs row ${row} containing NaN or ±Infinity`, 'finite probabilities');
  }
  if (min < -tolerance) {
    return new NotADistributionError(
      op,
      `x0Probs row ${row} with entry ${min}`,
      `entries ≥ 0 (tolerance ${tolerance})`,
    );
  }
  return new NotADistributionError(
    op,
    `x0Probs row ${row} summing to ${sum}`,
    `rows summing to 1 ± ${tolerance}`,
  );
}

/** Whether a row with this sum and smallest entry passes (false for NaN). */
export const rowPasses = (sum: number, min: number, tolerance: number): boolean =>
  Math.abs(sum - 1) <= tolerance && min >= -tolerance;

/** Checks row `row` (entries start … start + k − 1 of a plain array); returns its sum. */
export function checkProbRow(
  op: string,
  data: ArrayLike<number>,
  start: number,
  k: number,
  row: number,
  tolerance: number,
): number {
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  for (let j = start; j < start + k; j++) {
    const v = data[j];
    sum += v;
    if (v < min) min = v;
  }
  if (!rowPasses(sum, min, tolerance)) throw probRowError(op, row, sum, min, tolerance);
  return sum;
}

/** Checks every row of K entries in a plain array (an empty array has no rows and passes). */
export function checkProbRows(op: string, data: ArrayLike<number>, k: number, tolerance: number): void {
  for (let r = 0, start = 0; start < data.length; r++, start += k)
    checkProbRow(op, data, start, k, r, tolerance);
}
