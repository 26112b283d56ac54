/**
 * Last-axis row ops on the device (sum, max, logsumexp, softmax, logSoftmax, layerNorm, argmax) and the row
 * runner the filters share: the row layout (kernels/rows.ts) is chosen from the whole tensor's row count, and
 * tensors bigger than one binding run over windows of whole rows, so windowed results are bit-identical.
 */
import { validateLayerNorm, validateRows } from '../checks/reduce';
import type { DType, Shape, Tensor } from '../types';
import type { GpuContext } from './context';
import {
  argmaxSpec,
  layerNormSpec,
  maxSpec,
  type RowMode,
  rowGroups,
  rowMode,
  type SoftOp,
  softSpec,
  sumSpec,
} from './kernels/rows';
import type { KernelSpec } from './runtime';
import type { GpuTensor } from './tensor';
import { rowWindows } from './windows';

export interface RowRun {
  /** The row kernel's scalar arguments (params.a, params.b) and a fixed layout. */
  extra?: { a?: number; b?: number; mode?: RowMode };
  /** Buffers bound whole (weights, the fault buffer). */
  more?: Record<string, GPUBuffer>;
}

/** Runs a last-axis row kernel over x [rows, n] into a new [outShape] tensor of `outType`. */
export function runRows(
  g: GpuContext,
  op: string,
  x: GpuTensor,
  rows: number,
  n: number,
  outShape: Shape,
  outType: DType,
  key: string,
  spec: (mode: RowMode) => Omit<KernelSpec, 'key'>,
  { extra = {}, more = {} }: RowRun = {},
): GpuTensor {
  const mode = extra.mode ?? rowMode(n, rows);
  const out = g.output(outShape, outType);
  const run = (count: number, first: number, buffers: Record<string, GPUBuffer>) => {
    const params = { rows: count, n, a: extra.a ?? 0, b: extra.b ?? 0, first };
    g.run(op, () => spec(mode), `${key}_${mode}`, buffers, params, rowGroups(mode, count));
  };
  const outRow = out.size === x.size ? n : 1;
  const windows = rowWindows(g, op, x, n, out, outRow, (count, first, buffers) =>
    run(count, first, { ...more, ...buffers }),
  );
  if (!windows) run(rows, 0, { x: x.buffer, out: out.buffer, ...more });
  return out;
}

/** sum/max/logsumexp (one value per row) and softmax/logSoftmax (a row per row), f32. */
export function reduceRows(g: GpuContext, op: 'sum' | 'max' | SoftOp, a: Tensor): GpuTensor {
  g.alive(op);
  const { rows, n, outer } = validateRows(g.backend, op, a);
  const ta = a as GpuTensor;
  const shape = op === 'softmax' || op === 'logSoftmax' ? ta.shape : outer;
  if (op === 'sum') return runRows(g, op, ta, rows, n, shape, 'f32', 'sum', sumSpec);
  if (op === 'max') return runRows(g, op, ta, rows, n, shape, 'f32', 'max', maxSpec);
  return runRows(g, op, ta, rows, n, shape, 'f32', `soft_${op}`, (mode) => softSpec(op, mode));
}

/** Weight-only LayerNorm over the last axis (biased variance). */
export function layerNorm(g: GpuContext, x: Tensor, weight: Tensor, eps = 1e-5): GpuTensor {
  const op = 'layerNorm';
  g.alive(op);
  const { rows, n } = validateLayerNorm(g.backend, x, weight, eps);
  const [tx, tw] = [x as GpuTensor, weight as GpuTensor];
  const run = { extra: { a: eps }, more: { w: tw.buffer } };
  return runRows(g, op, tx, rows, n, tx.shape, 'f32', 'layerNorm', layerNormSpec, run);
}

/** Index of the largest value per row (any dtype; NaN counts as largest, first index on ties). */
export function argmax(g: GpuContext, a: Tensor): GpuTensor<'i32'> {
  const op = 'argmax';
  g.alive(op);
  const { rows, n, outer } = validateRows(g.backend, op, a, 'any');
  const ta = a as GpuTensor;
  const t = ta.dtype as 'f32' | 'i32' | 'u32';
  const spec = (mode: RowMode) => argmaxSpec(t, mode);
  return runRows(g, op, ta, rows, n, outer, 'i32', `argmax_${t}`, spec) as GpuTensor<'i32'>;
}
