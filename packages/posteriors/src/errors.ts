import { ArgumentError, KernelError } from '@duality/kernels';

/**
 * Errors of @duality/posteriors. Each extends `KernelError` (op, got, expected), so callers can match either the
 * specific class or any kernel error.
 */

/** A probability vector that does not sum to 1 within the stated tolerance, or has negative entries. */
export class NotADistributionError extends KernelError {
  override name = 'NotADistributionError';
}

/** NaN or ±Infinity where a finite number is required (probabilities, log-probabilities, alphas). */
export class NonFiniteError extends KernelError {
  override name = 'NonFiniteError';
}

/** Times or alphas in the wrong order or outside their range (s ≥ t, alpha outside [0, 1]). */
export class TimeOrderError extends ArgumentError {
  override name = 'TimeOrderError';
}

/** κ outside [0, 1] (or not a number). */
export class KappaRangeError extends ArgumentError {
  override name = 'KappaRangeError';
}
