/**
 * Typed errors. Each names the op that refused, what it got and what it expected, so a caller can both
 * `instanceof`-match and read a useful message. Every class sets its `name` as a string literal: a name taken
 * from the constructor (`new.target.name`) is mangled by minifiers.
 */
export class KernelError extends Error {
  override name = 'KernelError';
  readonly op: string;
  readonly got: string;
  readonly expected: string;
  constructor(op: string, got: string, expected: string, detail?: string) {
    super(`${op}: got ${got}, expected ${expected}${detail ? ` (${detail})` : ''}`);
    this.op = op;
    this.got = got;
    this.expected = expected;
  }
}

/** Shapes that do not fit (rank, broadcast, inner dimensions). */
export class ShapeError extends KernelError {
  override name = 'ShapeError';
}
/** A dtype the op does not take, or two inputs whose dtypes differ. */
export class DTypeError extends KernelError {
  override name = 'DTypeError';
}
/** An index (token id, gather index) outside its range. */
export class IndexOutOfRangeError extends KernelError {
  override name = 'IndexOutOfRangeError';
}
/** A tensor used after `dispose()`, or a tensor of another backend. */
export class DisposedTensorError extends KernelError {
  override name = 'DisposedTensorError';
}
/** A scalar argument outside its domain (k < 1, p outside (0, 1], non-finite seed…). */
export class ArgumentError extends KernelError {
  override name = 'ArgumentError';
}
/** No WebGPU adapter or device could be had. */
export class WebGPUUnavailableError extends KernelError {
  override name = 'WebGPUUnavailableError';
}
/** A WebGPU validation or out-of-memory error caught through an error scope. */
export class GPUValidationError extends KernelError {
  override name = 'GPUValidationError';
}

/** Storage that cannot be had: a tensor (or a broadcast result) too large for the JS engine or the device. */
export class AllocationError extends KernelError {
  override name = 'AllocationError';
}
/** A cpu worker thread died (exited, was terminated, ran out of memory) while the pool needed it. */
export class WorkerCrashedError extends KernelError {
  override name = 'WorkerCrashedError';
}

export const describeShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;
