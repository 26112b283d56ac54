import {
  type Backend,
  DTypeError,
  philox4x32,
  philoxKey,
  type RandomStream,
  ShapeError,
  type Tensor,
  wordToUniform,
} from '@duality/kernels';

/**
 * The inverse-CDF draw of one row: the first id whose cumulative mass exceeds u·Σp (ids in order), or the last id
 * with positive mass when rounding leaves u·Σp unreached.
 */
export function inverseCdfRow(p: ArrayLike<number>, start: number, k: number, u: number): number {
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

/** The uniform at element `e` of a stream (Philox-4x32-10 layout of @duality/kernels). */
export function streamUniform(seed: number | bigint, e: number): number {
  const { k0, k1 } = philoxKey(seed);
  const block = new Uint32Array(4);
  const b = Math.floor(e / 4);
  philox4x32(b % 4294967296, Math.floor(b / 4294967296), 0, 0, k0, k1, block);
  return wordToUniform(block[e % 4]);
}

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
  if (probs.dtype !== 'f32' && probs.dtype !== 'f64') {
    throw new DTypeError('sampleInverseCdf', `probs of dtype ${probs.dtype}`, 'f32 | f64');
  }
  if (probs.shape.length < 1 || probs.shape[probs.shape.length - 1] === 0) {
    throw new ShapeError(
      'sampleInverseCdf',
      `probs of shape [${probs.shape.join(', ')}]`,
      'a non-empty last axis',
    );
  }
  const k = probs.shape[probs.shape.length - 1];
  const data = await probs.read();
  const rows = data.length / k;
  const offset = stream.offset ?? 0;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++)
    out[r] = inverseCdfRow(data, r * k, k, streamUniform(stream.seed, offset + r * k));
  return backend.tensor(out, probs.shape.slice(0, -1), 'i32');
}
