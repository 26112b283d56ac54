/**
 * Diffusion times for a training batch (MDLM / Duo training, the reference's `_sample_t`), on [eps, 1) with
 * sampling_eps = 1e-3. For a global batch of n rows (all gradient-accumulation micro-batches together):
 *
 *   'stratified' (the reference's antithetic sampling): t_i = ((u_i + i)/n mod 1)·(1 − eps) + eps, one uniform
 *                 u_i per row, so row i falls in stratum i.
 *   'systematic' (one shift for the batch): t_i = ((u + i/n) mod 1)·(1 − eps) + eps with a single u, so the n
 *                 times are a rotated lattice hitting each stratum once.
 *   'iid'        (antithetic sampling off): t_i = u_i·(1 − eps) + eps.
 *
 * The uniforms come from the Philox stream (seed, time domain, lane = step), element i = row i; a micro-batch is
 * the slice [start, start + count) of its step's global batch, so accumulating m micro-batches of B rows gives
 * the same times as one batch of m·B.
 */
import { ArgumentError } from '@duality/kernels';
import { STREAM_DOMAIN, streamUniforms } from './rng';

/** The reference's training.sampling_eps. */
export const SAMPLING_EPS = 1e-3;

export type TimeSampling = 'stratified' | 'systematic' | 'iid';
const MODES: readonly string[] = ['stratified', 'systematic', 'iid'];

/** The pre-affine point x_i in [0, 1) of row i of n, from that row's uniform (or the batch's one u). */
function unitPoint(mode: TimeSampling, u: number, i: number, n: number): number {
  if (mode === 'stratified') return ((u + i) / n) % 1;
  if (mode === 'systematic') return (u + i / n) % 1;
  return u;
}

/** Times from given uniforms: `uniforms[i]` is row i's (for 'systematic', uniforms[0] is the one u). */
export function timesFromUniforms(
  uniforms: ArrayLike<number>,
  n: number,
  mode: TimeSampling = 'stratified',
  eps = SAMPLING_EPS,
  start = 0,
): Float64Array {
  if (!(eps >= 0 && eps < 1))
    throw new ArgumentError('timesFromUniforms', `eps ${eps}`, 'a number in [0, 1)');
  if (!MODES.includes(mode))
    throw new ArgumentError('timesFromUniforms', `mode ${JSON.stringify(mode)}`, MODES.join(' | '));
  const count = mode === 'systematic' ? n - start : uniforms.length;
  const out = new Float64Array(count);
  for (let r = 0; r < count; r++) {
    const u = mode === 'systematic' ? uniforms[0] : uniforms[r];
    if (!(u >= 0 && u < 1))
      throw new ArgumentError('timesFromUniforms', `uniform ${u}`, 'a number in [0, 1)');
    out[r] = unitPoint(mode, u, start + r, n) * (1 - eps) + eps; // t = (1 − eps)·x + eps
  }
  return out;
}

export interface SampleTimesOptions {
  seed: number | bigint;
  /** The optimiser step (the stream's lane): each step has its own times. */
  step: number;
  /** Rows of the whole step: batch size × gradient-accumulation steps. */
  globalBatch: number;
  /** First row of the slice wanted (default 0). */
  start?: number;
  /** Rows wanted (default globalBatch − start). */
  count?: number;
  mode?: TimeSampling;
  eps?: number;
}

/** The times of rows [start, start + count) of a step's global batch, drawn from the Philox stream. */
export function sampleTimes(options: SampleTimesOptions): Float64Array {
  const { seed, step, globalBatch: n, start = 0, mode = 'stratified', eps = SAMPLING_EPS } = options;
  const count = options.count ?? n - start;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new ArgumentError('sampleTimes', `globalBatch ${n}`, 'an integer ≥ 1');
  if (
    !Number.isSafeInteger(start) ||
    !Number.isSafeInteger(count) ||
    start < 0 ||
    count < 0 ||
    start + count > n
  ) {
    throw new ArgumentError('sampleTimes', `rows [${start}, ${start + count})`, `a slice of [0, ${n})`);
  }
  if (mode === 'systematic') {
    const u = streamUniforms(seed, STREAM_DOMAIN.time, step, 0, 1);
    return timesFromUniforms(u, n, mode, eps, start).subarray(0, count);
  }
  return timesFromUniforms(streamUniforms(seed, STREAM_DOMAIN.time, step, start, count), n, mode, eps, start);
}
