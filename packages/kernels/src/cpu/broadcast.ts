import type { Shape, TypedArray } from '../types';
import { broadcastStrides, shapeSize } from '../validate';

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

/**
 * One output row of a binary op: out[o + j] = f(a[ia + j·sa], b[ib + j·sb]) for j < n. Each op has its own row
 * kernel (a plain loop, no per-element callback), so the per-call dispatch happens once per row.
 */
export type RowKernel = (
  a: TypedArray,
  ia: number,
  sa: number,
  b: TypedArray,
  ib: number,
  sb: number,
  out: TypedArray,
  o: number,
  n: number,
) => void;

/** Runs `row` over the broadcast of a and b (one call when no broadcasting is needed). */
export function mapBinary(
  a: TypedArray,
  aShape: Shape,
  b: TypedArray,
  bShape: Shape,
  outShape: Shape,
  out: TypedArray,
  row: RowKernel,
): void {
  if (sameShape(aShape, outShape) && sameShape(bShape, outShape)) {
    row(a, 0, 1, b, 0, 1, out, 0, out.length);
    return;
  }
  if (b.length === 1 && sameShape(aShape, outShape)) {
    row(a, 0, 1, b, 0, 0, out, 0, out.length);
    return;
  }
  const { rows, n } = rowsOf(outShape);
  const la = layoutOf(aShape, outShape);
  const lb = layoutOf(bShape, outShape);
  for (let r = 0; r < rows; r++)
    row(a, la.rowOffsets[r], la.step, b, lb.rowOffsets[r], lb.step, out, r * n, n);
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
