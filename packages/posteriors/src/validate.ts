import {
  ArgumentError,
  type Backend,
  DTypeError,
  dispose,
  IndexOutOfRangeError,
  ShapeError,
  shapeSize,
  describeShape as shapeText,
  type Tensor,
  tidy,
} from '@duality/kernels';
import {
  DEFAULT_TOLERANCE,
  type NoiseProcess,
  probRowError,
  rowPasses,
  type Times,
  toleranceOf,
} from '@duality/noise';
import { KappaRangeError, NonFiniteError, TimeOrderError } from './errors';

export { DEFAULT_TOLERANCE };
/** The typed error of a bad probability row (the shared check of @duality/noise). */
export const rowError = probRowError;

export interface CheckOptions {
  /** Check the contents of x0Probs and xt (sums, NaN, negative entries, ids in range). Default true. */
  validate?: boolean;
  /** Allowed |Σ p − 1| (and negativity) of x0Probs rows. Default 1e-9 for f64, 1e-4 for f32. */
  tolerance?: number;
}

/** Layout of a batched step: x0Probs [B, …, K], xt [B, …]. */
export interface StepLayout {
  /** Number of probability rows (product of xt's shape). */
  rows: number;
  /** Vocabulary size K. */
  k: number;
  /** Batch size B (first axis). */
  batch: number;
  /** Rows per batch entry. */
  rowsPerBatch: number;
}

/** Shapes, dtypes and backends of (x0Probs, xt) against the process. */
export function checkStepTensors(op: string, process: NoiseProcess, x0Probs: Tensor, xt: Tensor): StepLayout {
  for (const [name, t] of [
    ['x0Probs', x0Probs],
    ['xt', xt],
  ] as const) {
    const ok = typeof t === 'object' && t !== null && Array.isArray(t.shape) && typeof t.dtype === 'string';
    if (!ok) {
      const got = t === null ? 'null' : ArrayBuffer.isView(t) ? `a ${t.constructor.name}` : typeof t;
      throw new ArgumentError(
        op,
        `${name} ${got}`,
        `a Tensor (${name === 'xt' ? 'ids [B, …]' : '[B, …, K]'})`,
      );
    }
  }
  if (x0Probs.dtype !== 'f32' && x0Probs.dtype !== 'f64') {
    throw new DTypeError(op, `x0Probs of dtype ${x0Probs.dtype}`, 'f32 | f64');
  }
  if (xt.dtype !== 'i32' && xt.dtype !== 'u32')
    throw new DTypeError(op, `xt of dtype ${xt.dtype}`, 'i32 | u32');
  const k = process.vocabSize;
  const shape = x0Probs.shape;
  if (shape.length < 2 || shape[shape.length - 1] !== k) {
    throw new ShapeError(
      op,
      `x0Probs of shape ${shapeText(shape)}`,
      `[B, …, ${k}] (rank ≥ 2, last axis = vocabSize)`,
    );
  }
  const outer = shape.slice(0, -1);
  if (xt.shape.length !== outer.length || xt.shape.some((d, i) => d !== outer[i])) {
    throw new ShapeError(
      op,
      `xt of shape ${shapeText(xt.shape)}`,
      `${shapeText(outer)} (x0Probs without its last axis)`,
    );
  }
  if (x0Probs.backend !== process.backend || xt.backend !== process.backend) {
    throw new ShapeError(
      op,
      'tensors from another backend',
      `tensors of the process's ${process.backend.name} backend`,
    );
  }
  const rows = shapeSize(outer);
  const batch = outer[0];
  return { rows, k, batch, rowsPerBatch: batch === 0 ? 0 : rows / batch };
}

/** Expands a scalar-or-per-batch argument to one finite number per batch row. */
export function perBatch(op: string, name: string, value: Times, batch: number): Float64Array {
  if (typeof value === 'number') return new Float64Array(batch).fill(value);
  if (value === null || typeof value !== 'object' || typeof value.length !== 'number') {
    const got = value === null ? 'null' : typeof value;
    throw new ArgumentError(op, `${name} ${got}`, `a number or ${batch} numbers (one per batch row)`);
  }
  if (value.length !== batch) {
    throw new ShapeError(
      op,
      `${name} with ${value.length} entries`,
      `a number or ${batch} entries (one per batch row)`,
    );
  }
  return Float64Array.from(value);
}

function checkFinite(op: string, name: string, values: Float64Array): void {
  for (const v of values) {
    if (!Number.isFinite(v)) throw new NonFiniteError(op, `${name} = ${v}`, 'a finite number');
  }
}

/** κ in [0, 1] for every batch row. */
export function checkKappa(op: string, kappa: Times, batch: number): Float64Array {
  const values = perBatch(op, 'kappa', kappa, batch);
  for (const v of values) {
    if (!(v >= 0 && v <= 1)) throw new KappaRangeError(op, `kappa = ${v}`, 'kappa in [0, 1]');
  }
  return values;
}

export interface TimeArgs {
  /** Earlier time s (less noise), scalar or one per batch row; converted with the process schedule. */
  s?: Times;
  /** Later time t (more noise). */
  t?: Times;
  /** Or the signal levels directly: alphaS = alpha(s) ≥ … */
  alphaS?: Times;
  /** … alphaT = alpha(t). */
  alphaT?: Times;
}

/**
 * Signal levels of a step s < t (alphaS > alphaT), one per batch row. With `allowEqual`, s = t is accepted
 * (a pure corrector step, as in the constant phase of a linear-constant-linear profile).
 */
export function resolveAlphas(
  op: string,
  process: NoiseProcess,
  args: TimeArgs,
  batch: number,
  allowEqual = false,
): { alphaS: Float64Array; alphaT: Float64Array } {
  const byTime = args.s !== undefined || args.t !== undefined;
  const byAlpha = args.alphaS !== undefined || args.alphaT !== undefined;
  if (byTime === byAlpha || (byTime && (args.s === undefined || args.t === undefined))) {
    throw new TimeOrderError(
      op,
      'an incomplete or mixed time specification',
      '{ s, t } or { alphaS, alphaT }',
    );
  }
  if (byAlpha && (args.alphaS === undefined || args.alphaT === undefined)) {
    throw new TimeOrderError(op, 'only one of alphaS / alphaT', 'both alphaS and alphaT');
  }
  if (byTime) {
    const s = perBatch(op, 's', args.s as Times, batch);
    const t = perBatch(op, 't', args.t as Times, batch);
    checkFinite(op, 's', s);
    checkFinite(op, 't', t);
    for (let b = 0; b < batch; b++) checkOrder(op, 's', s[b], 't', t[b], allowEqual);
    const alphaS = s.map((v) => process.schedule.alpha(v));
    const alphaT = t.map((v) => process.schedule.alpha(v));
    checkAlphas(op, alphaS, alphaT, true);
    return { alphaS, alphaT };
  }
  const alphaS = perBatch(op, 'alphaS', args.alphaS as Times, batch);
  const alphaT = perBatch(op, 'alphaT', args.alphaT as Times, batch);
  checkAlphas(op, alphaS, alphaT, allowEqual);
  return { alphaS, alphaT };
}

/** 0 ≤ low < high ≤ 1 (≤ with allowEqual): s < t for times, alphaT < alphaS for signal levels. */
function checkOrder(op: string, low: string, vLow: number, high: string, vHigh: number, allowEqual: boolean) {
  const inRange = vLow >= 0 && vLow <= 1 && vHigh >= 0 && vHigh <= 1;
  const ordered = allowEqual ? vLow <= vHigh : vLow < vHigh;
  if (!inRange || !ordered) {
    const rel = allowEqual ? '≤' : '<';
    throw new TimeOrderError(op, `${low} = ${vLow}, ${high} = ${vHigh}`, `0 ≤ ${low} ${rel} ${high} ≤ 1`);
  }
}

function checkAlphas(op: string, alphaS: Float64Array, alphaT: Float64Array, allowEqual: boolean): void {
  checkFinite(op, 'alphaS', alphaS);
  checkFinite(op, 'alphaT', alphaT);
  for (let b = 0; b < alphaS.length; b++)
    checkOrder(op, 'alphaT', alphaT[b], 'alphaS', alphaS[b], allowEqual);
}

export const idError = (op: string, row: number, id: number, k: number) =>
  new IndexOutOfRangeError(op, `xt[${row}] = ${id}`, `ids in [0, ${k})`);

export const toleranceFor = (x0Probs: Tensor, options: CheckOptions): number =>
  toleranceOf(x0Probs.dtype, options.tolerance);

/**
 * Content checks on any backend through backend ops (row sums, row minima) and a read-back of xt: every row of
 * x0Probs a distribution within the tolerance, no NaN, every id in [0, K).
 */
export async function checkContents(
  op: string,
  backend: Backend,
  x0Probs: Tensor,
  xt: Tensor,
  layout: StepLayout,
  options: CheckOptions,
): Promise<void> {
  if (options.validate === false) return;
  const tolerance = toleranceFor(x0Probs, options);
  const stats = tidy(() => [backend.sum(x0Probs), backend.max(backend.scale(x0Probs, -1))]);
  let sumData: ArrayLike<number>;
  let negMinData: ArrayLike<number>;
  let ids: ArrayLike<number>;
  try {
    [sumData, negMinData, ids] = await Promise.all([stats[0].read(), stats[1].read(), xt.read()]);
  } finally {
    dispose(stats);
  }
  for (let r = 0; r < layout.rows; r++) {
    const sum = sumData[r];
    const min = -negMinData[r];
    if (!rowPasses(sum, min, tolerance)) throw rowError(op, r, sum, min, tolerance);
    if (!(ids[r] >= 0 && ids[r] < layout.k)) throw idError(op, r, ids[r], layout.k);
  }
}

/** A random stream for rows·K draws: seed a non-negative integer below 2^64, offset + count a safe integer. */
export function checkStream(
  op: string,
  stream: { seed: number | bigint; offset?: number },
  count: number,
): void {
  const { seed } = stream;
  const okSeed =
    typeof seed === 'bigint' ? seed >= 0n && seed < 1n << 64n : Number.isSafeInteger(seed) && seed >= 0;
  if (!okSeed) throw new ArgumentError(op, `seed ${String(seed)}`, 'a non-negative integer below 2^64');
  const offset = stream.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(offset + count)) {
    throw new ArgumentError(
      op,
      `offset ${offset} for ${count} draws`,
      'a non-negative offset with offset + rows·K safe',
    );
  }
}
