import { ArgumentError, IndexOutOfRangeError, KernelError } from '@duality/kernels';

/**
 * Argument checks shared by the schedules, the operator and the processes. Each throws a typed `KernelError`
 * subclass from `@duality/kernels` naming the function, what it got and what it expected.
 */

/** gamma, alpha, tau…: any finite number. */
export function assertFinite(op: string, name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ArgumentError(op, `${name} = ${String(value)}`, `a finite number`);
  }
}

/** A time t in [0, 1]. */
export function assertUnitTime(op: string, name: string, t: number): void {
  if (typeof t !== 'number' || !(t >= 0 && t <= 1)) {
    throw new ArgumentError(op, `${name} = ${String(t)}`, `a time in [0, 1]`);
  }
}

/** An alpha in [0, 1]. */
export function assertAlpha(op: string, name: string, alpha: number): void {
  if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) {
    throw new ArgumentError(op, `${name} = ${String(alpha)}`, `an alpha in [0, 1]`);
  }
}

/** A vocabulary size: an integer K ≥ 2. */
export function assertVocabSize(op: string, vocabSize: number): void {
  if (!Number.isInteger(vocabSize) || vocabSize < 2) {
    throw new ArgumentError(op, `vocabSize = ${String(vocabSize)}`, 'an integer K ≥ 2');
  }
}

/** A positive integer (k, points, degree…). */
export function assertPositiveInteger(op: string, name: string, value: number, min = 1): void {
  if (!Number.isInteger(value) || value < min) {
    throw new ArgumentError(op, `${name} = ${String(value)}`, `an integer ≥ ${min}`);
  }
}

/** Every id in [0, vocabSize). */
export function assertIdsInRange(op: string, ids: ArrayLike<number>, vocabSize: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!(id >= 0 && id < vocabSize)) {
      throw new IndexOutOfRangeError(op, `id ${id} at flat position ${i}`, `an id in [0, ${vocabSize})`);
    }
  }
}

/** A probability vector that does not sum to 1 within the stated tolerance, or has negative entries. */
export class NotADistributionError extends KernelError {
  override name = 'NotADistributionError';
}

/** NaN or ±Infinity where a finite number is required (probabilities, log-probabilities, alphas). */
export class NonFiniteError extends KernelError {
  override name = 'NonFiniteError';
}
