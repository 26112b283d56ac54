/**
 * Input checks and shape arithmetic shared by every backend, so both refuse the same inputs with the same
 * typed errors.
 */
import { ArgumentError, DisposedTensorError, DTypeError, describeShape, ShapeError } from './errors';
import type { Backend, DType, RandomStream, Shape, Tensor } from './types';

export const shapeSize = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

/** How a JS value reads in a message: `null`, `a number (3)`, `a Float32Array`, `an object`. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== 'object') return `a ${typeof value} (${String(value)})`;
  const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
  return ctor && ctor !== 'Object' ? `a ${ctor}` : 'an object';
}

export function checkShape(op: string, shape: Shape): void {
  if (!Array.isArray(shape)) {
    throw new ShapeError(op, `shape ${describeValue(shape)}`, 'an array of non-negative integer dimensions');
  }
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(op, `shape ${describeShape(shape)}`, 'non-negative integer dimensions');
    }
  }
}

/** The tensor is alive and belongs to this backend. */
export function checkTensor(op: string, name: string, t: Tensor, backend: Backend): void {
  if (t === null || typeof t !== 'object' || typeof (t as Partial<Tensor>).disposed !== 'boolean') {
    throw new ArgumentError(op, `${name} = ${describeValue(t)}`, 'a Tensor');
  }
  if (t.disposed) throw new DisposedTensorError(op, `${name} (disposed)`, 'a live tensor');
  if (t.backend !== backend) {
    throw new DisposedTensorError(
      op,
      `${name} from another backend (${t.backend.name})`,
      `a tensor of this ${backend.name} backend`,
    );
  }
}

export function checkDtype(op: string, name: string, t: Tensor, allowed: readonly DType[]): void {
  if (!allowed.includes(t.dtype)) {
    throw new DTypeError(op, `${name} of dtype ${t.dtype}`, `one of ${allowed.join(' | ')}`);
  }
}

export const FLOAT: readonly DType[] = ['f32', 'f64'];
export const INDEX: readonly DType[] = ['i32', 'u32'];

export function checkSameDtype(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) throw new DTypeError(op, `dtypes ${a.dtype} and ${b.dtype}`, 'equal dtypes');
}

export function checkRank(
  op: string,
  name: string,
  t: Tensor,
  min: number,
  max = Number.POSITIVE_INFINITY,
): void {
  if (t.shape.length < min || t.shape.length > max) {
    const want =
      max === Number.POSITIVE_INFINITY ? `rank ≥ ${min}` : min === max ? `rank ${min}` : `rank ${min}…${max}`;
    throw new ShapeError(op, `${name} of shape ${describeShape(t.shape)}`, want);
  }
}

/** NumPy broadcasting of two shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(
        op,
        `shapes ${describeShape(a)} and ${describeShape(b)}`,
        'broadcast-compatible shapes',
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Row-major strides of `shape` viewed inside `outShape` (0 on broadcast axes). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const j = outShape.length - shape.length + i;
    strides[j] = shape[i] === 1 ? 0 : s;
    s *= shape[i];
  }
  return strides;
}

export interface MatmulPlan {
  /** Output shape [...batch, M, N]. */
  outShape: number[];
  batch: number;
  m: number;
  k: number;
  n: number;
  /** Element offset of batch item i in A and in B (broadcast batch axes give repeated offsets). */
  aOffsets: Int32Array;
  bOffsets: Int32Array;
}

/** Validates a (batched, transposed) matmul and lays out its batch offsets. */
export function planMatmul(
  op: string,
  aShape: Shape,
  bShape: Shape,
  transposeA = false,
  transposeB = false,
  biasShape?: Shape,
): MatmulPlan {
  if (aShape.length < 2 || bShape.length < 2) {
    throw new ShapeError(
      op,
      `shapes ${describeShape(aShape)} × ${describeShape(bShape)}`,
      'operands of rank ≥ 2',
    );
  }
  const ar = aShape.length;
  const br = bShape.length;
  const m = transposeA ? aShape[ar - 1] : aShape[ar - 2];
  const ka = transposeA ? aShape[ar - 2] : aShape[ar - 1];
  const kb = transposeB ? bShape[br - 1] : bShape[br - 2];
  const n = transposeB ? bShape[br - 2] : bShape[br - 1];
  if (ka !== kb) {
    throw new ShapeError(
      op,
      `inner dimensions ${ka} and ${kb} (A ${describeShape(aShape)}${transposeA ? 'ᵀ' : ''}, B ${describeShape(bShape)}${transposeB ? 'ᵀ' : ''})`,
      'equal inner dimensions',
    );
  }
  if (biasShape && (biasShape.length !== 1 || biasShape[0] !== n)) {
    throw new ShapeError(op, `bias of shape ${describeShape(biasShape)}`, `bias of shape [${n}]`);
  }
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const batchShape = broadcastShapes(op, aBatch, bBatch);
  const batch = shapeSize(batchShape);
  const aStr = broadcastStrides(aBatch, batchShape);
  const bStr = broadcastStrides(bBatch, batchShape);
  const aOffsets = new Int32Array(batch);
  const bOffsets = new Int32Array(batch);
  const aMat = aShape[ar - 1] * aShape[ar - 2];
  const bMat = bShape[br - 1] * bShape[br - 2];
  for (let i = 0; i < batch; i++) {
    let rem = i;
    let ao = 0;
    let bo = 0;
    for (let d = batchShape.length - 1; d >= 0; d--) {
      const idx = rem % batchShape[d];
      rem = Math.floor(rem / batchShape[d]);
      ao += idx * aStr[d];
      bo += idx * bStr[d];
    }
    aOffsets[i] = ao * aMat;
    bOffsets[i] = bo * bMat;
  }
  return { outShape: [...batchShape, m, n], batch, m, k: ka, n, aOffsets, bOffsets };
}

/** Rows and row length of a last-axis op on x [..., n]. */
export function lastAxis(op: string, name: string, t: Tensor): { rows: number; n: number; outer: number[] } {
  checkRank(op, name, t, 1);
  const n = t.shape[t.shape.length - 1];
  if (n === 0)
    throw new ShapeError(op, `${name} of shape ${describeShape(t.shape)}`, 'a non-empty last axis');
  const outer = t.shape.slice(0, -1) as number[];
  return { rows: shapeSize(outer), n, outer };
}

/** A `{ seed, offset? }` stream argument: checks it and returns its offset (default 0). */
export function streamOffset(op: string, stream: RandomStream, name = 'stream'): number {
  if (stream === null || typeof stream !== 'object') {
    throw new ArgumentError(op, `${name} ${describeValue(stream)}`, 'an object { seed, offset? }');
  }
  const offset = stream.offset ?? 0;
  checkSeed(op, stream.seed, offset);
  return offset;
}

export function checkSeed(op: string, seed: number | bigint, offset = 0): void {
  const okSeed =
    typeof seed === 'bigint' ? seed >= 0n && seed < 1n << 64n : Number.isSafeInteger(seed) && seed >= 0;
  if (!okSeed) throw new ArgumentError(op, `seed ${String(seed)}`, 'a non-negative integer below 2^64');
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new ArgumentError(op, `offset ${offset}`, 'a non-negative safe integer');
  }
}

/** Resolves a reshape target (at most one −1, inferred) against the source shape; sizes must match. */
export function resolveReshape(op: string, from: Shape, to: Shape): number[] {
  if (!Array.isArray(to)) {
    throw new ShapeError(op, `target shape ${describeValue(to)}`, 'an array of dimensions');
  }
  const size = shapeSize(from);
  const free = to.filter((d) => d === -1).length;
  const bad = to.some((d) => !Number.isInteger(d) || d < -1);
  if (free > 1 || bad) {
    throw new ShapeError(
      op,
      `target shape ${describeShape(to)}`,
      'non-negative integer dimensions and at most one −1',
    );
  }
  const known = shapeSize(to.filter((d) => d !== -1));
  const out = to.map((d) => (d === -1 ? (known === 0 ? 0 : size / known) : d));
  if (!Number.isInteger(shapeSize(out)) || shapeSize(out) !== size || out.some((d) => !Number.isInteger(d))) {
    throw new ShapeError(
      op,
      `reshape of ${describeShape(from)} to ${describeShape(to)}`,
      `a shape of ${size} elements`,
    );
  }
  return out;
}

/** Two tensors must have exactly the same shape. */
export function checkSameShape(op: string, names: string, a: Shape, b: Shape): void {
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
    throw new ShapeError(
      op,
      `${names} of shapes ${describeShape(a)} and ${describeShape(b)}`,
      'equal shapes',
    );
  }
}

/** A dtype passed as an argument (not a tensor) must be one of `allowed`. */
export function checkDtypeArg(op: string, dtype: string, allowed: readonly DType[]): void {
  if (!(allowed as readonly string[]).includes(dtype)) {
    throw new DTypeError(op, `dtype ${String(dtype)}`, `one of ${allowed.join(' | ')}`);
  }
}

/** A finite number (scale factors, shifts, fill values of float tensors). */
export function checkFinite(op: string, name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ArgumentError(op, `${name} ${String(value)}`, `a finite ${name}`);
  }
}

/** top-k: k is an integer in [1, n]. */
export function checkTopK(op: string, k: number, n: number): void {
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new ArgumentError(op, `k ${String(k)}`, `an integer k in [1, ${n}] (the last axis)`);
  }
}

/** top-p: p in (0, 1]. */
export function checkTopP(op: string, p: number): void {
  if (typeof p !== 'number' || !(p > 0 && p <= 1)) {
    throw new ArgumentError(op, `p ${String(p)}`, 'p in (0, 1]');
  }
}

/**
 * Smallest sampling temperature, 2^-126 (the smallest normal f32): 1/T stays a finite f32 on every backend, and
 * f32 logits times 1/T stay finite in float64. Subnormal temperatures are refused rather than sampled wrongly.
 */
export const MIN_TEMPERATURE = 2 ** -126;

/** Sampling temperature: finite and ≥ MIN_TEMPERATURE. */
export function checkTemperature(op: string, temperature: number): void {
  if (typeof temperature !== 'number' || !(temperature >= MIN_TEMPERATURE) || !Number.isFinite(temperature)) {
    throw new ArgumentError(
      op,
      `temperature ${String(temperature)}`,
      'a finite temperature ≥ 2^-126 (the smallest normal f32)',
    );
  }
}

/** A NaN logit has no place in a ranking or a distribution (found by a cpu scan or a webgpu fault). */
export function nanLogit(op: string, row: number, index: number): ArgumentError {
  return new ArgumentError(op, `NaN logit at row ${row}, index ${index}`, 'logits without NaN');
}

/** A row whose logits are all −∞ has no distribution to draw from (or to filter). */
export function allMinusInfinity(op: string, row: number): ArgumentError {
  return new ArgumentError(op, `a row of all −∞ logits (row ${row})`, 'at least one logit above −∞ per row');
}

/** LayerNorm epsilon: finite and ≥ 0. */
export function checkEps(op: string, eps: number): void {
  if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) {
    throw new ArgumentError(op, `eps ${String(eps)}`, 'a finite eps ≥ 0');
  }
}

/** A stream window offset … offset + count − 1 must stay within safe integers. */
export function checkStreamRange(op: string, offset: number, count: number): void {
  if (!Number.isSafeInteger(offset + count)) {
    throw new ArgumentError(op, `stream window ${offset} + ${count}`, 'offset + count below 2^53');
  }
}

/** Tensor data: an array or a typed array of numbers (not null, not a string). */
export function checkData(op: string, data: ArrayLike<number>): void {
  if (!Array.isArray(data) && !(ArrayBuffer.isView(data) && !(data instanceof DataView))) {
    throw new ArgumentError(op, `data ${describeValue(data)}`, 'an array or a typed array of numbers');
  }
}
