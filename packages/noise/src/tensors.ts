/**
 * Small tensor helpers shared by the processes: input validation, per-row coefficients and 53-bit uniforms
 * straight from the Philox stream (same numbers on every backend). Temporaries are owned with the kernels' `tidy`.
 */
import {
  ArgumentError,
  type Backend,
  DTypeError,
  defineOp,
  describeShape as describe,
  type FloatDType,
  isCpuBackend,
  philoxKey,
  philoxWords,
  type RandomStream,
  ShapeError,
  type Tensor,
} from '@duality/kernels';
import { assertIdsInRange } from './errors';
import { checkProbRows, toleranceOf } from './probs';
import type { Times } from './types';

/**
 * The content checks that run where the data is at hand without a read-back: cpu-only ops (no WGSL kernel, no
 * gradient) that read their tensor through the kernel context and throw the checks' typed errors.
 */
const scanProbRows = defineOp<[Tensor, string, number], void>({
  name: 'checkProbRows',
  cpu: (ctx, x, op, vocabSize) => checkProbRows(op, ctx.data(x), vocabSize, toleranceOf(x.dtype)),
});
const scanIds = defineOp<[Tensor, string, number], void>({
  name: 'checkIds',
  cpu: (ctx, ids, op, vocabSize) => assertIdsInRange(op, ctx.data(ids), vocabSize),
});

/** The backend argument of a factory: a Backend (not the options object passed in its place, not undefined). */
export function checkBackend(op: string, backend: unknown): asserts backend is Backend {
  const b = backend as Partial<Backend> | null | undefined;
  if (b === null || typeof b !== 'object' || typeof b.tensor !== 'function' || typeof b.name !== 'string') {
    throw new ArgumentError(
      op,
      `backend ${kindOf(backend)}`,
      `a Backend first, e.g. ${op}(await createBackend('cpu'), { vocabSize })`,
    );
  }
}

/** The options argument: an object. */
export function checkOptions(op: string, options: unknown): void {
  if (options === null || typeof options !== 'object') {
    throw new ArgumentError(op, `options ${kindOf(options)}`, 'an options object { vocabSize, … }');
  }
}

/**
 * x0Probs must be a float [B, L, K] tensor with K = vocabSize, and (checked on cpu, where the data is at hand
 * without a read-back) every row a distribution within DEFAULT_TOLERANCE: no NaN, entries ≥ −1e-9 (f64) /
 * −1e-4 (f32), |Σ − 1| within the same. Returns [B, L].
 */
export function checkProbs(op: string, x: Tensor, vocabSize: number): [number, number] {
  if (!isTensorLike(x)) throw new ArgumentError(op, `x0Probs ${kindOf(x)}`, 'a float [B, L, K] Tensor');
  if (x.dtype !== 'f32' && x.dtype !== 'f64')
    throw new DTypeError(op, `x0Probs of dtype ${x.dtype}`, 'f32 | f64');
  if (x.shape.length !== 3 || x.shape[2] !== vocabSize) {
    throw new ShapeError(op, `x0Probs of shape ${describe(x.shape)}`, `[B, L, ${vocabSize}]`);
  }
  if (isCpuBackend(x.backend)) scanProbRows(x, op, vocabSize);
  return [x.shape[0], x.shape[1]];
}

/** A value that has a tensor's shape, dtype and backend (not null, not a typed array). */
export const isTensorLike = (x: unknown): x is Tensor =>
  typeof x === 'object' &&
  x !== null &&
  Array.isArray((x as Tensor).shape) &&
  typeof (x as Tensor).dtype === 'string' &&
  typeof (x as Tensor).backend === 'object';

/** How a wrong value is named in an error: null, a Float32Array, a number… */
export const kindOf = (x: unknown): string =>
  x === null
    ? 'null'
    : ArrayBuffer.isView(x)
      ? `a ${x.constructor.name}`
      : typeof x === 'object'
        ? 'an object that is not a Tensor'
        : `of type ${typeof x}`;

/** ids must be an i32 [B, L] tensor (optionally of a given shape) with every id in [0, vocabSize) (checked on cpu). */
export function checkIds(
  op: string,
  name: string,
  ids: Tensor,
  vocabSize: number,
  shape?: readonly number[],
) {
  if (!isTensorLike(ids)) throw new ArgumentError(op, `${name} ${kindOf(ids)}`, 'an i32 [B, L] Tensor');
  if (ids.dtype !== 'i32') throw new DTypeError(op, `${name} of dtype ${ids.dtype}`, 'i32');
  if (ids.shape.length !== 2 || (shape && (ids.shape[0] !== shape[0] || ids.shape[1] !== shape[1]))) {
    throw new ShapeError(op, `${name} of shape ${describe(ids.shape)}`, shape ? describe(shape) : '[B, L]');
  }
  if (isCpuBackend(ids.backend)) scanIds(ids, `${op} (${name})`, vocabSize);
  return [ids.shape[0], ids.shape[1]] as [number, number];
}

/** One value per batch row: a scalar is repeated, an array must have length B. */
export function perRow(op: string, name: string, times: Times, batch: number): Float64Array {
  if (typeof times === 'number') return new Float64Array(batch).fill(times);
  const arrayLike = typeof times === 'object' && times !== null && typeof times.length === 'number';
  if (!arrayLike) {
    throw new ArgumentError(
      op,
      `${name} ${kindOf(times)}`,
      `a number or ${batch} numbers (one per batch row)`,
    );
  }
  if (times.length !== batch) {
    throw new ShapeError(
      op,
      `${name} with ${times.length} values`,
      `one number or ${batch} values (one per batch row)`,
    );
  }
  return Float64Array.from(times);
}

/** A [B, 1, 1] (or [B, 1]) tensor of per-row coefficients in the given dtype. */
export function rowTensor(
  backend: Backend,
  values: Float64Array,
  dtype: FloatDType,
  rank: 2 | 3 = 3,
): Tensor {
  const shape = rank === 3 ? [values.length, 1, 1] : [values.length, 1];
  return backend.tensor(dtype === 'f64' ? values : Float32Array.from(values), shape, dtype);
}

const TWO_POW_M53 = 2 ** -53;
/** Most uniforms drawn in one call (2 words each): 2^27, a 1 GiB Float64Array, far beyond any [B, L]. */
const MAX_UNIFORMS = 2 ** 27;

/**
 * n uniforms in (0, 1) with 53-bit resolution: uniform i takes words offset + 2i and offset + 2i + 1 of the Philox
 * stream (26 + 27 high bits, plus half an ulp so 0 never occurs). Same numbers on every backend.
 */
export function uniforms53(stream: RandomStream, count: number): Float64Array {
  if (stream === null || typeof stream !== 'object') {
    throw new ArgumentError('uniforms53', `stream ${kindOf(stream)}`, 'a random stream { seed, offset? }');
  }
  if (!(Number.isInteger(count) && count >= 0 && count <= MAX_UNIFORMS)) {
    throw new ArgumentError('uniforms53', `count = ${String(count)}`, `an integer in [0, ${MAX_UNIFORMS}]`);
  }
  const words = philoxWords(philoxKey(stream.seed), stream.offset ?? 0, 2 * count);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const hi = words[2 * i] >>> 6; // 26 bits
    const lo = words[2 * i + 1] >>> 5; // 27 bits
    out[i] = (hi * 2 ** 27 + lo + 0.5) * TWO_POW_M53;
  }
  return out;
}

/** Uniform ids in [0, n): floor(u·n) from 53-bit uniforms (bias ≤ n·2^-53). */
export function uniformIds(stream: RandomStream, count: number, n: number): Int32Array {
  if (!(Number.isInteger(n) && n >= 1 && n <= 2 ** 31)) {
    throw new ArgumentError('uniformIds', `n = ${String(n)}`, 'an integer id range n in [1, 2^31]');
  }
  const u = uniforms53(stream, count);
  const ids = new Int32Array(count);
  for (let i = 0; i < count; i++) ids[i] = Math.min(Math.floor(u[i] * n), n - 1);
  return ids;
}
