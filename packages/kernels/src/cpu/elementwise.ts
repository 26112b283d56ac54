import {
  validateBinary,
  validateCompare,
  validateScale,
  validateUnary,
  validateWhere,
} from '../checks/elementwise';
import type { Backend, CompareOp, DType, Tensor, TypedArray } from '../types';
import { mapBinary, mapSelect, type RowKernel } from './broadcast';
import { type CpuTensor, output } from './tensor';

/** A broadcasting binary op; inputs share one dtype (from `allowed` when given), the output has it too. */
export function binary(
  backend: Backend,
  op: string,
  a: Tensor,
  b: Tensor,
  row: RowKernel,
  allowed?: readonly DType[],
): CpuTensor {
  const shape = validateBinary(backend, op, a, b, allowed);
  const [ta, tb] = [a as CpuTensor, b as CpuTensor];
  const out = output(backend, shape, ta.dtype);
  mapBinary(ta.data, ta.shape, tb.data, tb.shape, shape, out.data, row);
  return out;
}

/** A whole-array loop dst[i] = f(src[i]) (written out per op: no per-element callback). */
export type MapKernel = (src: TypedArray, dst: TypedArray) => void;

/** A float elementwise map, computed in float64 and stored in the input's dtype. */
export function unary(backend: Backend, op: string, a: Tensor, map: MapKernel): CpuTensor {
  validateUnary(backend, op, a);
  return floatMap(backend, a as CpuTensor, map);
}

function floatMap(backend: Backend, ta: CpuTensor, map: MapKernel): CpuTensor {
  const out = output(backend, ta.shape, ta.dtype);
  map(ta.data, out.data);
  return out;
}

export const addRow: RowKernel = (a, ia, sa, b, ib, sb, out, o, n) => {
  for (let j = o; j < o + n; j++, ia += sa, ib += sb) out[j] = a[ia] + b[ib];
};
export const subRow: RowKernel = (a, ia, sa, b, ib, sb, out, o, n) => {
  for (let j = o; j < o + n; j++, ia += sa, ib += sb) out[j] = a[ia] - b[ib];
};
export const mulRow: RowKernel = (a, ia, sa, b, ib, sb, out, o, n) => {
  for (let j = o; j < o + n; j++, ia += sa, ib += sb) out[j] = a[ia] * b[ib];
};
export const divRow: RowKernel = (a, ia, sa, b, ib, sb, out, o, n) => {
  for (let j = o; j < o + n; j++, ia += sa, ib += sb) out[j] = a[ia] / b[ib];
};

export const expMap: MapKernel = (src, dst) => {
  for (let i = 0; i < src.length; i++) dst[i] = Math.exp(src[i]);
};
export const logMap: MapKernel = (src, dst) => {
  for (let i = 0; i < src.length; i++) dst[i] = Math.log(src[i]);
};

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
/** GELU, tanh approximation, exactly torch's approximate='tanh': ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
export const geluTanhMap: MapKernel = (src, dst) => {
  for (let i = 0; i < src.length; i++) {
    const x = src[i];
    dst[i] = 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
  }
};
/** SiLU: x·σ(x). */
export const siluMap: MapKernel = (src, dst) => {
  for (let i = 0; i < src.length; i++) dst[i] = src[i] / (1 + Math.exp(-src[i]));
};

/** a·s + shift. */
export function scale(backend: Backend, a: Tensor, s: number, shift = 0): CpuTensor {
  validateScale(backend, a, s, shift);
  return floatMap(backend, a as CpuTensor, (src, dst) => {
    for (let i = 0; i < src.length; i++) dst[i] = src[i] * s + shift;
  });
}

const COMPARE: Record<CompareOp, RowKernel> = {
  lt: (a, ia, sa, b, ib, sb, out, o, n) => {
    for (let j = o; j < o + n; j++, ia += sa, ib += sb) out[j] = a[ia] < b[ib] ? 1 : 0;
  },
  le: (a, ia, sa, b, ib, sb, out, o, n) => {
    for (let j = o; j < o + n; j++, ia += sa, ib += sb) out[j] = a[ia] <= b[ib] ? 1 : 0;
  },
  gt: (a, ia, sa, b, ib, sb, out, o, n) => {
    for (let j = o; j < o + n; j++, ia += sa, ib += sb) out[j] = a[ia] > b[ib] ? 1 : 0;
  },
  ge: (a, ia, sa, b, ib, sb, out, o, n) => {
    for (let j = o; j < o + n; j++, ia += sa, ib += sb) out[j] = a[ia] >= b[ib] ? 1 : 0;
  },
  eq: (a, ia, sa, b, ib, sb, out, o, n) => {
    for (let j = o; j < o + n; j++, ia += sa, ib += sb) out[j] = a[ia] === b[ib] ? 1 : 0;
  },
  ne: (a, ia, sa, b, ib, sb, out, o, n) => {
    for (let j = o; j < o + n; j++, ia += sa, ib += sb) out[j] = a[ia] !== b[ib] ? 1 : 0;
  },
};

/** Broadcasting comparison → i32 0/1 (any dtype; both inputs the same dtype; NaN compares false except `ne`). */
export function compare(backend: Backend, a: Tensor, b: Tensor, cmp: CompareOp): CpuTensor<'i32'> {
  const shape = validateCompare(backend, a, b, cmp);
  const [ta, tb] = [a as CpuTensor, b as CpuTensor];
  const out = output(backend, shape, 'i32');
  mapBinary(ta.data, ta.shape, tb.data, tb.shape, shape, out.data, COMPARE[cmp]);
  return out;
}

/** cond ? a : b, broadcasting over all three (cond i32/u32, a and b one dtype). */
export function where(backend: Backend, cond: Tensor, a: Tensor, b: Tensor): CpuTensor {
  const shape = validateWhere(backend, cond, a, b);
  const [tc, ta, tb] = [cond as CpuTensor, a as CpuTensor, b as CpuTensor];
  const out = output(backend, shape, ta.dtype);
  mapSelect(tc.data, tc.shape, ta.data, ta.shape, tb.data, tb.shape, shape, out.data);
  return out;
}
