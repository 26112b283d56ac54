import { ArgumentError, KernelError } from '@duality/kernels';

/**
 * Errors of @duality/samplers. Each extends `KernelError` (op, got, expected), so a caller can match the specific
 * class or any kernel error.
 */

/** A sampler configured with values outside their domain (steps < 1, top-p outside (0, 1], …). */
export class SamplerConfigError extends ArgumentError {
  override name = 'SamplerConfigError';
}

/** A denoiser whose output breaks the contract: wrong shape or dtype, NaN, +∞, rows that are not log-probabilities. */
export class DenoiserOutputError extends KernelError {
  override name = 'DenoiserOutputError';
}

/** A sequence longer than the denoiser's context without semi-autoregressive sampling configured. */
export class ContextLengthError extends KernelError {
  override name = 'ContextLengthError';
}

/** Sampling was cancelled through its AbortSignal. */
export class SamplingAbortedError extends KernelError {
  /** 'AbortError', the web convention for a cancelled operation (the class stays typed). */
  override name = 'AbortError';
}
