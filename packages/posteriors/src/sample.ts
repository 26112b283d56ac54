import {
  ArgumentError,
  type Backend,
  DTypeError,
  describeShape,
  type RandomStream,
  ShapeError,
  streamUniform,
  type Tensor,
} from '@duality/kernels';
import { checkProbRows, NotADistributionError, toleranceOf } from '@duality/noise';
import { checkStream } from './validate';

/**
 * The inverse-CDF draw of one row: the first id whose cumulative mass exceeds u·Σp (ids in order), or the last id
 * with positive mass when rounding leaves u·Σp unreached.
 */
export function inverseCdfRow(p: ArrayLike<number>, start: number, k: number, u: number): number {
  const op = 'inverseCdfRow';
  const length = (p as ArrayLike<number> | null)?.length;
  if (typeof length !== 'number') throw new ArgumentError(op, `p ${String(p)}`, 'an array of probabilities');
  if (!(Number.isInteger(k) && k >= 1 && Number.isInteger(start) && start >= 0 && start + k <= length)) {
    throw new ArgumentError(
      op,
      `row [${start}, ${start + k}) of ${length} entries`,
      'a row inside p (k ≥ 1)',
    );
  }
  if (!(u >= 0 && u <= 1)) throw new ArgumentError(op, `u = ${String(u)}`, 'a uniform in [0, 1]');
  const id = inverseCdfUnchecked(p, start, k, u);
  if (id < 0)
    throw new NotADistributionError(op, `a row without positive mass (or with NaN)`, 'some p_j > 0');
  return id;
}

function inverseCdfUnchecked(p: ArrayLike<number>, start: number, k: number, u: number): number {
  let total = 0;
  for (let j = start; j < start + k; j++) total += p[j];
  const threshold = u * total;
  let cum = 0;
  let last = -1;
  for (let j = 0; j < k; j++) {
    const v = p[start + j];
    if (v > 0) {
      cum += v;
      last = j;
      if (cum > threshold) return j;
    }
  }
  return last;
}

/** The uniform at element `e` of a stream (Philox-4x32-10 layout of @duality/kernels): the kernels' helper. */
export { streamUniform };

/**
 * Unfused inverse-CDF sampling of probability rows [..., K] → i32 [...], row r with the uniform at element
 * offset + r·K of the stream: the reference the fused kernels are tested against (and the fallback for
 * processes without a fused kernel). Reads the probabilities back to the host.
 */
export async function sampleInverseCdf(
  backend: Backend,
  probs: Tensor,
  stream: RandomStream,
): Promise<Tensor<'i32'>> {
  return sampleInverseCdfRows(backend, probs, stream);
}

export async function sampleInverseCdfRows(
  backend: Backend,
  probs: Tensor,
  stream: RandomStream,
): Promise<Tensor<'i32'>> {
  const isTensor = typeof probs === 'object' && probs !== null && Array.isArray(probs.shape);
  if (!isTensor)
    throw new ArgumentError('sampleInverseCdf', `probs ${String(probs)}`, 'a probability Tensor');
  if (stream === null || typeof stream !== 'object') {
    throw new ArgumentError(
      'sampleInverseCdf',
      `stream ${String(stream)}`,
      'a random stream { seed, offset? }',
    );
  }
  if (probs.dtype !== 'f32' && probs.dtype !== 'f64') {
    throw new DTypeError('sampleInverseCdf', `probs of dtype ${probs.dtype}`, 'f32 | f64');
  }
  if (probs.shape.length < 1 || probs.shape[probs.shape.length - 1] === 0) {
    throw new ShapeError(
      'sampleInverseCdf',
      `probs of shape ${describeShape(probs.shape)}`,
      'a non-empty last axis',
    );
  }
  const k = probs.shape[probs.shape.length - 1];
  checkStream('sampleInverseCdf', stream, probs.size);
  const data = await probs.read();
  // rows must be distributions (the shared check of @duality/noise), so every draw is a valid id
  checkProbRows('sampleInverseCdf', data, k, toleranceOf(probs.dtype));
  const rows = data.length / k;
  const offset = stream.offset ?? 0;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++)
    out[r] = inverseCdfUnchecked(data, r * k, k, streamUniform(stream.seed, offset + r * k));
  return backend.tensor(out, probs.shape.slice(0, -1), 'i32');
}
