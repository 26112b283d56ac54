import { ArgumentError } from '@duality/kernels';

/**
 * Errors of @duality/posteriors. Each extends `KernelError` (op, got, expected), so callers can match either the
 * specific class or any kernel error.
 */

// The content checks of probability rows live in @duality/noise (one helper for both packages), with their errors.
export { NonFiniteError, NotADistributionError } from '@duality/noise';

/** Times or alphas in the wrong order or outside their range (s ≥ t, alpha outside [0, 1]). */
export class TimeOrderError extends ArgumentError {
  override name = 'TimeOrderError';
}

/** κ outside [0, 1] (or not a number). */
export class KappaRangeError extends ArgumentError {
  override name = 'KappaRangeError';
}
