import { ArgumentError } from '../errors';
import type { Backend, CompareOp, DType, Tensor } from '../types';
import { broadcastShapes, checkDtype, checkFinite, checkSameDtype, FLOAT, INDEX } from '../validate';
import { mapBinary, mapSelect } from './broadcast';
import { type CpuTensor, output, use } from './tensor';

const ALL: readonly DType[] = ['f32', 'f64', 'i32', 'u32'];

/** A broadcasting binary op; inputs share one dtype from `allowed`, the output has it too. */
export function binary(
  backend: Backend,
  op: string,
  a: Tensor,
  b: Tensor,
  f: (x: number, y: number) => number,
  allowed: readonly DType[] = ALL,
): CpuTensor {
  const ta = use(op, 'a', a, backend);
  const tb = use(op, 'b', b, backend);
  checkDtype(op, 'a', ta, allowed);
  checkSameDtype(op, ta, tb);
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  const out = output(backend, shape, ta.dtype);
  mapBinary(ta.data, ta.shape, tb.data, tb.shape, shape, out.data, f);
  return out;
}

/** A float elementwise map, computed in float64 and stored in the input's dtype. */
export function unary(backend: Backend, op: string, a: Tensor, f: (x: number) => number): CpuTensor {
  const ta = use(op, 'a', a, backend);
  checkDtype(op, 'a', ta, FLOAT);
  const out = output(backend, ta.shape, ta.dtype);
  const src = ta.data;
  const dst = out.data;
  for (let i = 0; i < src.length; i++) dst[i] = f(src[i]);
  return out;
}

export const addF = (x: number, y: number) => x + y;
export const subF = (x: number, y: number) => x - y;
export const mulF = (x: number, y: number) => x * y;
export const divF = (x: number, y: number) => x / y;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
/** GELU, tanh approximation (torch approximate='tanh'): ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
export const geluTanhF = (x: number) =>
  0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
/** SiLU: x·σ(x). */
export const siluF = (x: number) => x / (1 + Math.exp(-x));

export function scale(backend: Backend, a: Tensor, s: number, shift = 0): CpuTensor {
  checkFinite('scale', 'factor', s);
  checkFinite('scale', 'shift', shift);
  return unary(backend, 'scale', a, (x) => x * s + shift);
}

const COMPARE: Record<CompareOp, (x: number, y: number) => number> = {
  lt: (x, y) => (x < y ? 1 : 0),
  le: (x, y) => (x <= y ? 1 : 0),
  gt: (x, y) => (x > y ? 1 : 0),
  ge: (x, y) => (x >= y ? 1 : 0),
  eq: (x, y) => (x === y ? 1 : 0),
  ne: (x, y) => (x !== y ? 1 : 0),
};

/** Broadcasting comparison → i32 0/1 (any dtype; both inputs the same dtype; NaN compares false except `ne`). */
export function compare(backend: Backend, a: Tensor, b: Tensor, cmp: CompareOp): CpuTensor<'i32'> {
  const op = 'compare';
  const f = COMPARE[cmp];
  if (!f) throw new ArgumentError(op, `comparison ${String(cmp)}`, Object.keys(COMPARE).join(' | '));
  const ta = use(op, 'a', a, backend);
  const tb = use(op, 'b', b, backend);
  checkSameDtype(op, ta, tb);
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  const out = output(backend, shape, 'i32');
  mapBinary(ta.data, ta.shape, tb.data, tb.shape, shape, out.data, f);
  return out;
}

/** cond ? a : b, broadcasting over all three (cond i32/u32, a and b one dtype). */
export function where(backend: Backend, cond: Tensor, a: Tensor, b: Tensor): CpuTensor {
  const op = 'where';
  const tc = use(op, 'cond', cond, backend);
  const ta = use(op, 'a', a, backend);
  const tb = use(op, 'b', b, backend);
  checkDtype(op, 'cond', tc, INDEX);
  checkSameDtype(op, ta, tb);
  const shape = broadcastShapes(op, tc.shape, broadcastShapes(op, ta.shape, tb.shape));
  const out = output(backend, shape, ta.dtype);
  mapSelect(tc.data, tc.shape, ta.data, ta.shape, tb.data, tb.shape, shape, out.data);
  return out;
}
