import {
  validateBinary,
  validateCompare,
  validateScale,
  validateUnary,
  validateWhere,
} from '../checks/elementwise';
import type { Backend, CompareOp, DType, Tensor, TypedArray } from '../types';
import { type BinaryArgs, binaryKernel, mapBinary, mapSelect } from './broadcast';
import { FAST_EXP } from './fast-math';
import { type RangeKernel, rangeKernelSource, runRange } from './parallel';
import { type CpuTensor, output } from './tensor';

/** A broadcasting binary op; inputs share one dtype (from `allowed` when given), the output has it too. */
export function binary(
  backend: Backend,
  op: string,
  a: Tensor,
  b: Tensor,
  kernel: RangeKernel<BinaryArgs>,
  allowed?: readonly DType[],
): CpuTensor {
  const shape = validateBinary(backend, op, a, b, allowed);
  const out = output(backend, shape, (a as CpuTensor).dtype);
  mapBinary(a as CpuTensor, b as CpuTensor, shape, out.data, kernel, 1);
  return out;
}

/** Arguments of an elementwise map: dst[i] = f(src[i]) (and s, shift for scale). */
export interface MapArgs {
  src: TypedArray;
  out: TypedArray;
  s?: number;
  shift?: number;
}

/**
 * The elementwise kernel of one map, f an expression of the JS value x = src[i] (and of p.s, p.shift, and of
 * what `prelude` declares).
 */
export function mapKernel(expr: string, prelude = ''): RangeKernel<MapArgs> {
  return rangeKernelSource(`(p, i0, i1) => {${prelude}
    const { src, out } = p;
    for (let i = i0; i < i1; i++) {
      const x = src[i];
      out[i] = ${expr};
    }
  }`);
}

/**
 * A map kernel with its cost per element (~ns on one core: Math.exp/tanh ≈ 30, arithmetic ≈ 1), and optionally a
 * cheaper kernel for f32 tensors (fast-math.ts; error far below the f32 rounding).
 */
export interface MapOp {
  kernel: RangeKernel<MapArgs>;
  cost: number;
  f32?: { kernel: RangeKernel<MapArgs>; cost: number };
}

/** A float elementwise map, computed in float64 and stored in the input's dtype. */
export function unary(backend: Backend, op: string, a: Tensor, map: MapOp): CpuTensor {
  validateUnary(backend, op, a);
  return floatMap(backend, a as CpuTensor, map, {});
}

function floatMap(backend: Backend, ta: CpuTensor, map: MapOp, extra: Partial<MapArgs>): CpuTensor {
  const out = output(backend, ta.shape, ta.dtype);
  const size = out.data.length;
  const { kernel, cost } = (ta.dtype === 'f32' && map.f32) || map;
  runRange(kernel, { src: ta.data, out: out.data, ...extra }, size, size * cost);
  return out;
}

export const addRow = binaryKernel('a[ia] + b[ib]');
export const subRow = binaryKernel('a[ia] - b[ib]');
export const mulRow = binaryKernel('a[ia] * b[ib]');
export const divRow = binaryKernel('a[ia] / b[ib]');

export const expMap: MapOp = { kernel: mapKernel('Math.exp(x)'), cost: 20 };
export const logMap: MapOp = { kernel: mapKernel('Math.log(x)'), cost: 20 };
/**
 * f32 GELU: ½x(1 + tanh u) = x·σ(2u) with e = exp(−2|u|) ≤ 1: x/(1 + e) for u ≥ 0, x·e/(1 + e) below (no
 * cancellation in the negative tail; the exp of fast-math.ts).
 */
const GELU_F32 = `${FAST_EXP}
  function gelu(x) {
    const u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
    const e = expNonPositive(-2 * Math.abs(u));
    return (x * (u >= 0 ? 1 : e)) / (1 + e);
  }`;

/**
 * GELU, tanh approximation, exactly torch's approximate='tanh': ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
 * (0.7978845608028654 = √(2/π), the double Math.sqrt(2 / Math.PI)).
 */
export const geluTanhMap: MapOp = {
  kernel: mapKernel('0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))'),
  cost: 40,
  f32: { kernel: mapKernel('gelu(x)', GELU_F32), cost: 15 },
};
/** SiLU: x·σ(x). */
export const siluMap: MapOp = { kernel: mapKernel('x / (1 + Math.exp(-x))'), cost: 25 };
const scaleMap: MapOp = { kernel: mapKernel('x * p.s + p.shift'), cost: 1 };

/** a·s + shift. */
export function scale(backend: Backend, a: Tensor, s: number, shift = 0): CpuTensor {
  validateScale(backend, a, s, shift);
  return floatMap(backend, a as CpuTensor, scaleMap, { s, shift });
}

const COMPARE: Record<CompareOp, RangeKernel<BinaryArgs>> = {
  lt: binaryKernel('a[ia] < b[ib] ? 1 : 0'),
  le: binaryKernel('a[ia] <= b[ib] ? 1 : 0'),
  gt: binaryKernel('a[ia] > b[ib] ? 1 : 0'),
  ge: binaryKernel('a[ia] >= b[ib] ? 1 : 0'),
  eq: binaryKernel('a[ia] === b[ib] ? 1 : 0'),
  ne: binaryKernel('a[ia] !== b[ib] ? 1 : 0'),
};

/** Broadcasting comparison → i32 0/1 (any dtype; both inputs the same dtype; NaN compares false except `ne`). */
export function compare(backend: Backend, a: Tensor, b: Tensor, cmp: CompareOp): CpuTensor<'i32'> {
  const shape = validateCompare(backend, a, b, cmp);
  const out = output(backend, shape, 'i32');
  mapBinary(a as CpuTensor, b as CpuTensor, shape, out.data, COMPARE[cmp], 1);
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
