import type { Shape, TypedArray } from '../types';
import { broadcastStrides, shapeSize } from '../validate';
import { apply, code, type RangeKernel, type RangeLoop, rangeKernelOf, runRange } from './parallel';
import type { CpuTensor } from './tensor';

/** How one operand is read inside a broadcast output: base offset of each output row and last-axis stride. */
export interface OperandLayout {
  rowOffsets: Int32Array;
  step: number;
}

/** Rows of the output (all but the last axis) and the row length; a 0-d output is one row of one element. */
export function rowsOf(outShape: Shape): { rows: number; n: number } {
  if (outShape.length === 0) return { rows: 1, n: 1 };
  return { rows: shapeSize(outShape.slice(0, -1)), n: outShape[outShape.length - 1] };
}

/** Lays out an operand of shape `shape` broadcast to `outShape` (NumPy rules, already validated). */
export function layoutOf(shape: Shape, outShape: Shape): OperandLayout {
  if (outShape.length === 0) return { rowOffsets: new Int32Array(1), step: 0 };
  const strides = broadcastStrides(shape, outShape);
  const outer = outShape.slice(0, -1);
  const rows = shapeSize(outer);
  const rowOffsets = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let rem = r;
    let off = 0;
    for (let d = outer.length - 1; d >= 0; d--) {
      off += (rem % outer[d]) * strides[d];
      rem = Math.floor(rem / outer[d]);
    }
    rowOffsets[r] = off;
  }
  return { rowOffsets, step: strides[outShape.length - 1] };
}

const sameShape = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Arguments of a binary row kernel: rows r0 … r1 − 1 of the output (see binaryKernel). */
export interface BinaryArgs {
  a: TypedArray;
  b: TypedArray;
  out: TypedArray;
  /** Offsets of each output row in a and b (broadcast layouts), or null: row r starts at r·n·step. */
  ao: Int32Array | null;
  bo: Int32Array | null;
  sa: number;
  sb: number;
  n: number;
  size: number;
}

/** The loop of a binary op: out[o + j] = f(a[ia + j·sa], b[ib + j·sb]) over the rows of the output. */
function binaryLoop(f: (x: number, y: number) => number): RangeLoop<BinaryArgs> {
  return (p, r0, r1) => {
    const { a, b, out, ao, bo, sa, sb, n, size } = p;
    for (let r = r0; r < r1; r++) {
      let ia = ao ? ao[r] : r * n * sa;
      let ib = bo ? bo[r] : r * n * sb;
      const end = Math.min(size, (r + 1) * n);
      for (let j = r * n; j < end; j++, ia += sa, ib += sb) out[j] = f(a[ia], b[ib]);
    }
  };
}

/** The row kernel of one binary op f, a self-contained function of the JS values a[ia] and b[ib]. */
export function binaryKernel(f: (x: number, y: number) => number): RangeKernel<BinaryArgs> {
  return rangeKernelOf(apply(binaryLoop, code(f)));
}

/** Rows of a flat (non-broadcast) elementwise job: long enough to amortise a row, short enough to split. */
const FLAT_ROW = 1024;

/** Runs a binary row kernel over the broadcast of a and b into out (one row per output row when broadcasting). */
export function mapBinary(
  a: CpuTensor,
  b: CpuTensor,
  shape: Shape,
  out: TypedArray,
  kernel: RangeKernel<BinaryArgs>,
  cost: number,
): void {
  const size = out.length;
  const flatA = sameShape(a.shape, shape);
  if (flatA && (b.data.length === 1 || sameShape(b.shape, shape))) {
    const sb = b.data.length === 1 && size !== 1 ? 0 : 1;
    const args = { a: a.data, b: b.data, out, ao: null, bo: null, sa: 1, sb, n: FLAT_ROW, size };
    runRange(kernel, args, Math.ceil(size / FLAT_ROW), size * cost);
    return;
  }
  const { rows, n } = rowsOf(shape);
  const la = layoutOf(a.shape, shape);
  const lb = layoutOf(b.shape, shape);
  const args = {
    a: a.data,
    b: b.data,
    out,
    ao: la.rowOffsets,
    bo: lb.rowOffsets,
    sa: la.step,
    sb: lb.step,
    n,
    size,
  };
  runRange(kernel, args, rows, size * cost);
}

/** out[i] = c[i'] ? a[i''] : b[i'''] over the broadcast of all three. */
export function mapSelect(
  c: TypedArray,
  cShape: Shape,
  a: TypedArray,
  aShape: Shape,
  b: TypedArray,
  bShape: Shape,
  outShape: Shape,
  out: TypedArray,
): void {
  const { rows, n } = rowsOf(outShape);
  const lc = layoutOf(cShape, outShape);
  const la = layoutOf(aShape, outShape);
  const lb = layoutOf(bShape, outShape);
  for (let r = 0; r < rows; r++) {
    let ic = lc.rowOffsets[r];
    let ia = la.rowOffsets[r];
    let ib = lb.rowOffsets[r];
    const o = r * n;
    for (let j = 0; j < n; j++, ic += lc.step, ia += la.step, ib += lb.step) {
      out[o + j] = c[ic] !== 0 ? a[ia] : b[ib];
    }
  }
}
