import { validateLayerNorm, validateRows } from '../checks/reduce';
import type { Backend, Tensor, TypedArray } from '../types';
import { EXP_NON_POSITIVE } from './fast-math';
import {
  apply,
  code,
  literal,
  type RangeKernel,
  type RangeLoop,
  rangeKernel,
  rangeKernelOf,
  runRange,
} from './parallel';
import { type CpuTensor, output } from './tensor';

/** Applies `f(src, start, n)` to each last-axis row, writing one value per row. Accumulates in float64. */
function reduceRows(
  backend: Backend,
  op: string,
  a: Tensor,
  f: (src: TypedArray, start: number, n: number) => number,
): CpuTensor {
  const { rows, n, outer } = validateRows(backend, op, a);
  const ta = a as CpuTensor;
  const out = output(backend, outer, ta.dtype);
  const src = ta.data;
  for (let r = 0; r < rows; r++) out.data[r] = f(src, r * n, n);
  return out;
}

/** Σ over the row. */
function rowSum(src: TypedArray, start: number, n: number): number {
  let s = 0;
  for (let i = start; i < start + n; i++) s += src[i];
  return s;
}

/** max over the row; NaN anywhere gives NaN. */
function rowMax(src: TypedArray, start: number, n: number): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = start; i < start + n; i++) {
    const v = src[i];
    if (v > m) m = v;
    else if (Number.isNaN(v)) return Number.NaN;
  }
  return m;
}

/** log Σ exp x, shifted by the row max so no term overflows; ±∞ maxima pass through. */
function rowLogsumexp(src: TypedArray, start: number, n: number): number {
  const m = rowMax(src, start, n);
  if (!Number.isFinite(m)) return m;
  let s = 0;
  for (let i = start; i < start + n; i++) s += Math.exp(src[i] - m);
  return m + Math.log(s);
}

export const sum = (b: Backend, a: Tensor) => reduceRows(b, 'sum', a, rowSum);
export const max = (b: Backend, a: Tensor) => reduceRows(b, 'max', a, rowMax);
export const logsumexp = (b: Backend, a: Tensor) => reduceRows(b, 'logsumexp', a, rowLogsumexp);

/** Arguments of a row kernel over rows of n: src (and w for LayerNorm) in, out of src's shape. */
interface RowArgs {
  src: TypedArray;
  out: TypedArray;
  n: number;
  w?: TypedArray;
  eps?: number;
}

/** A row kernel with its cost per element (~ns on one core). */
type RowOp = { kernel: RangeKernel<RowArgs>; cost: number };

/** Row-wise map over the last axis: `op` (or `f32` on f32 tensors) writes each row of a tensor of a's shape. */
function mapRows(backend: Backend, name: string, a: Tensor, op: RowOp, f32?: RowOp): CpuTensor {
  const { rows, n } = validateRows(backend, name, a);
  const ta = a as CpuTensor;
  const out = output(backend, ta.shape, ta.dtype);
  const { kernel, cost } = (ta.dtype === 'f32' && f32) || op;
  runRange(kernel, { src: ta.data, out: out.data, n }, rows, rows * n * cost);
  return out;
}

/** A row's max as Code for the row kernels (rowMax is self-contained). */
const ROW_MAX = code(rowMax);
type RowReduce = (src: TypedArray, start: number, n: number) => number;

/**
 * softmax = exp(x − max) / Σ exp(x − max) with `exp` for e^(x − max) ≤ 1; `byInverse`: one 1/Σ and products (the
 * f32 kernel), else quotients (f64). A row of all −∞ gives NaN (0/0), like torch; NaN anywhere: NaN.
 */
function softmaxLoop(max: RowReduce, exp: (x: number) => number, byInverse: boolean): RangeLoop<RowArgs> {
  return ({ src, out, n }, r0, r1) => {
    const e = new Float64Array(n);
    for (let r = r0; r < r1; r++) {
      const start = r * n;
      const m = max(src, start, n);
      let s = 0;
      for (let i = 0; i < n; i++) {
        e[i] = exp(src[start + i] - m);
        s += e[i];
      }
      if (byInverse) {
        const inv = 1 / s;
        for (let i = 0; i < n; i++) out[start + i] = e[i] * inv;
      } else for (let i = 0; i < n; i++) out[start + i] = e[i] / s;
    }
  };
}
const softmaxRows = rangeKernelOf(
  apply(
    softmaxLoop,
    ROW_MAX,
    code((x: number) => Math.exp(x)),
    literal(false),
  ),
);
/** f32: the exp of fast-math.ts (x − max ≤ 0) and one 1/Σ. */
const softmaxRowsF32 = rangeKernelOf(apply(softmaxLoop, ROW_MAX, EXP_NON_POSITIVE, literal(true)));
export const softmax = (backend: Backend, a: Tensor) =>
  mapRows(backend, 'softmax', a, { kernel: softmaxRows, cost: 30 }, { kernel: softmaxRowsF32, cost: 12 });

/** logSoftmax = x − logsumexp(x) (shifted by the row max; ±∞ or NaN maxima pass through). */
function logSoftmaxLoop(max: RowReduce): RangeLoop<RowArgs> {
  return ({ src, out, n }, r0, r1) => {
    for (let r = r0; r < r1; r++) {
      const start = r * n;
      const m = max(src, start, n);
      let lse = m;
      if (Number.isFinite(m)) {
        let s = 0;
        for (let i = start; i < start + n; i++) s += Math.exp(src[i] - m);
        lse = m + Math.log(s);
      }
      for (let i = start; i < start + n; i++) out[i] = src[i] - lse;
    }
  };
}
const logSoftmaxRows = rangeKernelOf(apply(logSoftmaxLoop, ROW_MAX));
export const logSoftmax = (backend: Backend, a: Tensor) =>
  mapRows(backend, 'logSoftmax', a, { kernel: logSoftmaxRows, cost: 25 });

/** Weight-only LayerNorm over the last axis with biased variance: (x − mean)/√(var + eps) · weight. */
const layerNormRows = rangeKernel<RowArgs>(({ src, out, n, w, eps }, r0, r1) => {
  for (let r = r0; r < r1; r++) {
    const start = r * n;
    let sum = 0;
    for (let i = start; i < start + n; i++) sum += src[i];
    const mean = sum / n;
    let v = 0;
    for (let i = start; i < start + n; i++) v += (src[i] - mean) * (src[i] - mean);
    const inv = 1 / Math.sqrt(v / n + (eps as number));
    for (let i = 0; i < n; i++) out[start + i] = (src[start + i] - mean) * inv * (w as TypedArray)[i];
  }
});
export function layerNorm(backend: Backend, x: Tensor, weight: Tensor, eps = 1e-5): CpuTensor {
  const { rows, n } = validateLayerNorm(backend, x, weight, eps);
  const [tx, tw] = [x as CpuTensor, weight as CpuTensor];
  const out = output(backend, tx.shape, tx.dtype);
  runRange(layerNormRows, { src: tx.data, out: out.data, n, w: tw.data, eps }, rows, rows * n * 6);
  return out;
}

/** Index of the largest value per row (first on ties; a NaN counts as largest, like torch). */
export function argmax(backend: Backend, a: Tensor): CpuTensor<'i32'> {
  const { rows, n, outer } = validateRows(backend, 'argmax', a, 'any');
  const ta = a as CpuTensor;
  const out = output(backend, outer, 'i32');
  const src = ta.data;
  for (let r = 0; r < rows; r++) out.data[r] = rowArgmax(src, r * n, n);
  return out;
}

export function rowArgmax(src: TypedArray, start: number, n: number): number {
  let best = src[start];
  let arg = 0;
  if (Number.isNaN(best)) return 0;
  for (let i = 1; i < n; i++) {
    const v = src[start + i];
    if (Number.isNaN(v)) return i;
    if (v > best) {
      best = v;
      arg = i;
    }
  }
  return arg;
}
