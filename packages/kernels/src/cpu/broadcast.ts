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

/** out[i] = f(a[i'], b[i'']) over the broadcast of a and b. */
export function mapBinary(
  a: TypedArray,
  aShape: Shape,
  b: TypedArray,
  bShape: Shape,
  outShape: Shape,
  out: TypedArray,
  f: (x: number, y: number) => number,
): void {
  if (sameShape(aShape, outShape) && sameShape(bShape, outShape)) {
    for (let i = 0; i < out.length; i++) out[i] = f(a[i], b[i]);
    return;
  }
  const { rows, n } = rowsOf(outShape);
  const la = layoutOf(aShape, outShape);
  const lb = layoutOf(bShape, outShape);
  for (let r = 0; r < rows; r++) {
    let ia = la.rowOffsets[r];
    let ib = lb.rowOffsets[r];
    const o = r * n;
    for (let j = 0; j < n; j++, ia += la.step, ib += lb.step) out[o + j] = f(a[ia], b[ib]);
  }
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
