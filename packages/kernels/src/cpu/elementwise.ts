import {
  validateBinary,
  validateCompare,
  validateScale,
  validateUnary,
  validateWhere,
} from '../checks/elementwise';
import type { Backend, CompareOp, DType, Tensor, TypedArray } from '../types';
import { type BinaryArgs, binaryKernel, mapBinary, mapSelect } from './broadcast';
import { EXP_NON_POSITIVE } from './fast-math';
import {
  apply,
  type Code,
  code,
  type RangeKernel,
  type RangeLoop,
  rangeKernelOf,
  runRange,
} from './parallel';
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

/** The loop of an elementwise map: out[i] = f(src[i], p) (f computes in float64; p holds s and shift). */
function mapLoop(f: (x: number, p: MapArgs) => number): RangeLoop<MapArgs> {
  return (p, i0, i1) => {
    const { src, out } = p;
    for (let i = i0; i < i1; i++) out[i] = f(src[i], p);
  };
}

/** The elementwise kernel of one map f (Code: a self-contained function, or one built by `apply`). */
export function mapKernel(f: Code<(x: number, p: MapArgs) => number>): RangeKernel<MapArgs> {
  return rangeKernelOf(apply(mapLoop, f));
}

/** The elementwise kernel of a self-contained function of x = src[i] (and of p.s, p.shift). */
const mapOf = (f: (x: number, p: MapArgs) => number): RangeKernel<MapArgs> => mapKernel(code(f));

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

export const addRow = binaryKernel((x, y) => x + y);
export const subRow = binaryKernel((x, y) => x - y);
export const mulRow = binaryKernel((x, y) => x * y);
export const divRow = binaryKernel((x, y) => x / y);

export const expMap: MapOp = { kernel: mapOf((x) => Math.exp(x)), cost: 20 };
export const logMap: MapOp = { kernel: mapOf((x) => Math.log(x)), cost: 20 };

/**
 * f32 GELU: ½x(1 + tanh u) = x·σ(2u) with e = exp(−2|u|) ≤ 1: x/(1 + e) for u ≥ 0, x·e/(1 + e) below (no
 * cancellation in the negative tail; the exp of fast-math.ts).
 */
function geluF32(expNonPositive: (x: number) => number): (x: number) => number {
  return (x) => {
    const u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
    const e = expNonPositive(-2 * Math.abs(u));
    return (x * (u >= 0 ? 1 : e)) / (1 + e);
  };
}

/**
 * GELU, tanh approximation, exactly torch's approximate='tanh': ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
 * (0.7978845608028654 = √(2/π), the double Math.sqrt(2 / Math.PI)).
 */
export const geluTanhMap: MapOp = {
  kernel: mapOf((x) => 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))),
  cost: 40,
  f32: { kernel: mapKernel(apply(geluF32, EXP_NON_POSITIVE)), cost: 15 },
};
/** SiLU: x·σ(x). */
export const siluMap: MapOp = { kernel: mapOf((x) => x / (1 + Math.exp(-x))), cost: 25 };
const scaleMap: MapOp = { kernel: mapOf((x, p) => x * (p.s as number) + (p.shift as number)), cost: 1 };

/** a·s + shift. */
export function scale(backend: Backend, a: Tensor, s: number, shift = 0): CpuTensor {
  validateScale(backend, a, s, shift);
  return floatMap(backend, a as CpuTensor, scaleMap, { s, shift });
}

const COMPARE: Record<CompareOp, RangeKernel<BinaryArgs>> = {
  lt: binaryKernel((x, y) => (x < y ? 1 : 0)),
  le: binaryKernel((x, y) => (x <= y ? 1 : 0)),
  gt: binaryKernel((x, y) => (x > y ? 1 : 0)),
  ge: binaryKernel((x, y) => (x >= y ? 1 : 0)),
  eq: binaryKernel((x, y) => (x === y ? 1 : 0)),
  ne: binaryKernel((x, y) => (x !== y ? 1 : 0)),
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
