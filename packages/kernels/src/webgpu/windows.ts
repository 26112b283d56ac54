/**
 * Ops on operands bigger than one storage binding (maxStorageBufferBindingSize) run window by window, and this
 * is the one place that does it. An op is split along one axis of `units` (rows, elements, vocab rows, output
 * columns…); each window's slice of every split operand is copied into a window buffer (`copyBufferToBuffer`
 * has no binding limit and needs no offset alignment), the op's usual kernel runs on the window buffers, and the
 * window's outputs are copied back into place. The dispatch is told where its window starts in the whole
 * tensor, so kernels that report a fault name rows of the whole tensor, not of the window.
 */
import type { Shape } from '../types';
import type { GpuContext } from './context';
import { type BroadcastPlan, broadcastParams, planBroadcast } from './kernels/elementwise';
import type { Scalar } from './runtime';
import type { GpuTensor } from './tensor';

/**
 * One split operand. Unit u of the whole operand is `blocks` runs of `unit` elements, the run of block b at
 * element b·stride + u·unit (one block: the units lie one after another); in the window buffer the window's
 * units are contiguous within each block, so the buffer is [blocks, count·unit].
 */
export interface WindowOperand {
  /** The binding name the kernel sees. */
  name: string;
  buffer: GPUBuffer;
  dtype: Scalar;
  /** Elements of one unit within a block. */
  unit: number;
  blocks?: number;
  stride?: number;
  /** An output that the kernel also reads (updated in place): its window is copied in before the dispatch too. */
  inout?: boolean;
}

/** A split operand over a tensor's buffer. */
export function operand(
  name: string,
  t: GpuTensor,
  unit: number,
  layout: { blocks?: number; stride?: number; inout?: boolean } = {},
): WindowOperand {
  return { name, buffer: t.buffer, dtype: t.dtype as Scalar, unit, ...layout };
}

/** Runs on one window: `count` units starting at unit `first` of the whole op, on the window buffers. */
export type WindowDispatch = (count: number, first: number, buffers: Record<string, GPUBuffer>) => void;

const elementsPerUnit = (x: WindowOperand) => (x.blocks ?? 1) * x.unit;

/**
 * Runs `dispatch` window by window when some operand (split inputs `sliced`, split outputs `outputs`) exceeds one
 * binding, with as many units per window as the widest operand allows; operands the kernel binds whole are its
 * own business. Returns false (nothing done) when every split operand fits one binding, or when one unit alone
 * does not fit (the op then binds everything whole, and a binding over the limit fails as GPUValidationError).
 */
export function windowed(
  g: GpuContext,
  op: string,
  units: number,
  sliced: readonly WindowOperand[],
  outputs: readonly WindowOperand[],
  dispatch: WindowDispatch,
): boolean {
  const all = [...sliced, ...outputs];
  if (!all.some((x) => g.tooBig(units * elementsPerUnit(x)))) return false;
  const widest = Math.max(1, ...all.map(elementsPerUnit));
  const per = Math.min(units, Math.floor(g.bindLimit / 4 / widest));
  if (per < 1) return false;
  const temps = all.map((x) => g.rt.createStorage(x.dtype, per * elementsPerUnit(x)));
  try {
    for (let first = 0; first < units; first += per) {
      const count = Math.min(per, units - first);
      const buffers: Record<string, GPUBuffer> = {};
      all.forEach((x, i) => {
        buffers[x.name] = temps[i];
      });
      all.forEach((x, i) => {
        if (i < sliced.length || x.inout) copyWindow(g, op, x, temps[i], first, count, 'in');
      });
      dispatch(count, first, buffers);
      outputs.forEach((x, i) => {
        copyWindow(g, op, x, temps[sliced.length + i], first, count, 'out');
      });
    }
  } finally {
    // Destroying after submission is valid: the queued copies and dispatches still complete.
    for (const t of temps) t.destroy();
  }
  return true;
}

/** Copies units [first, first + count) of `x` into its window buffer (`in`) or back into place (`out`). */
function copyWindow(
  g: GpuContext,
  op: string,
  x: WindowOperand,
  temp: GPUBuffer,
  first: number,
  count: number,
  direction: 'in' | 'out',
): void {
  const blocks = x.blocks ?? 1;
  const run = count * x.unit;
  if (blocks === 1) {
    if (direction === 'in') g.copy(op, x.buffer, temp, run, first * x.unit, 0);
    else g.copy(op, temp, x.buffer, run, 0, first * x.unit);
    return;
  }
  const stride = x.stride ?? 0;
  const list = [];
  for (let b = 0; b < blocks; b++) {
    const whole = b * stride + first * x.unit;
    const part = b * run;
    list.push(
      direction === 'in'
        ? { from: x.buffer, to: temp, count: run, fromAt: whole, toAt: part }
        : { from: temp, to: x.buffer, count: run, fromAt: part, toAt: whole },
    );
  }
  if (run > 0) g.copies(op, list);
}

/**
 * Windows of whole last-axis rows of `x` [rows, n] for a row kernel whose output has `outRow` elements per row
 * (n for maps, 1 for reductions); `extra` buffers are bound whole. Returns false when no windows are needed (or
 * one row does not fit).
 */
export function rowWindows(
  g: GpuContext,
  op: string,
  x: GpuTensor,
  n: number,
  out: GpuTensor,
  outRow: number,
  dispatch: WindowDispatch,
): boolean {
  const rows = n === 0 ? 0 : x.size / n;
  const sliced = [{ name: 'x', buffer: x.buffer, unit: n, dtype: x.dtype as Scalar }];
  const outputs = [{ name: 'out', buffer: out.buffer, unit: outRow, dtype: out.dtype as Scalar }];
  return windowed(g, op, rows, sliced, outputs, dispatch);
}

/**
 * Windows of single elements of a same-shape map (`a` → `out`). Returns false when both fit one binding.
 */
export function elementWindows(
  g: GpuContext,
  op: string,
  a: GpuTensor,
  out: GpuTensor,
  dispatch: WindowDispatch,
): boolean {
  const sliced = [{ name: 'a', buffer: a.buffer, unit: 1, dtype: a.dtype as Scalar }];
  const outputs = [{ name: 'out', buffer: out.buffer, unit: 1, dtype: out.dtype as Scalar }];
  return windowed(g, op, a.size, sliced, outputs, dispatch);
}

/**
 * A broadcast map over windows of the output when some operand exceeds one binding: operands of the output's
 * size are sliced with it, operands varying only along the last axis (or of one element) stay bound whole.
 * Windows are whole last-axis rows, or single elements when every whole operand has one element. `dispatch`
 * gets the window's broadcast params and buffers. Returns false (nothing done) when no windows are needed or
 * the operands do not fit this scheme.
 */
export function broadcastWindows(
  g: GpuContext,
  op: string,
  out: GpuTensor,
  operands: Array<{ name: string; t: GpuTensor }>,
  dispatch: (params: ReturnType<typeof broadcastParams>, buffers: Record<string, GPUBuffer>) => void,
): boolean {
  const shape = out.shape;
  const n = shape.length > 0 ? shape[shape.length - 1] : 1;
  const full = operands.filter((o) => o.t.size === out.size);
  const kept = operands.filter((o) => o.t.size !== out.size);
  const alongLast = (s: Shape) => s.slice(0, -1).every((d) => d === 1);
  if (kept.some((o) => !alongLast(o.t.shape))) return false;
  const inner = kept.every((o) => o.t.size === 1) ? 1 : n;
  if (inner === 0) return false;
  const whole: Record<string, GPUBuffer> = {};
  for (const o of kept) whole[o.name] = o.t.buffer;
  const sliced = full.map((o) => ({
    name: o.name,
    buffer: o.t.buffer,
    unit: inner,
    dtype: o.t.dtype as Scalar,
  }));
  const outputs = [{ name: 'out', buffer: out.buffer, unit: inner, dtype: out.dtype as Scalar }];
  return windowed(g, op, out.size / inner, sliced, outputs, (count, _first, buffers) => {
    const windowShape = [count, inner];
    const shapes = operands.map((o) => (o.t.size === out.size ? windowShape : o.t.shape.slice(-1)));
    const plan: BroadcastPlan = planBroadcast(op, windowShape, shapes);
    dispatch(broadcastParams(plan), { ...whole, ...buffers });
  });
}
