/** WGSL for elementwise ops: broadcasting n-ary maps, unary float maps, casts and fills. */
import { d } from 'typegpu';
import { describeShape, ShapeError } from '../../errors';
import type { CompareOp, Shape } from '../../types';
import { broadcastStrides, shapeSize } from '../../validate';
import type { KernelSpec, Scalar } from '../runtime';

export const EW_WG = 64;
/** Broadcast index arithmetic supports this many (coalesced) axes. */
export const MAX_RANK = 8;

export const BroadcastParams = d.struct({
  size: d.u32,
  rank: d.u32,
  shape: d.arrayOf(d.vec4u, 2),
  sa: d.arrayOf(d.vec4u, 2),
  sb: d.arrayOf(d.vec4u, 2),
  sc: d.arrayOf(d.vec4u, 2),
});

export interface BroadcastPlan {
  size: number;
  rank: number;
  shape: number[];
  strides: number[][];
}

/**
 * Row-major strides of each input inside the output shape, with adjacent axes merged wherever every input is
 * contiguous across them (so same-shape inputs become one axis) and size-1 axes dropped.
 */
export function planBroadcast(op: string, outShape: Shape, inputs: Shape[]): BroadcastPlan {
  const all = inputs.map((s) => broadcastStrides(s, outShape));
  const shape: number[] = [];
  const strides: number[][] = inputs.map(() => []);
  for (let axis = 0; axis < outShape.length; axis++) {
    const dim = outShape[axis];
    if (dim === 1) continue;
    const last = shape.length - 1;
    const mergeable = last >= 0 && all.every((s, k) => strides[k][last] === s[axis] * dim);
    if (mergeable) {
      shape[last] *= dim;
      all.forEach((s, k) => {
        strides[k][last] = s[axis];
      });
    } else {
      shape.push(dim);
      all.forEach((s, k) => {
        strides[k].push(s[axis]);
      });
    }
  }
  if (shape.length > MAX_RANK) {
    throw new ShapeError(
      op,
      `a broadcast over ${shape.length} non-mergeable axes (${describeShape(outShape)})`,
      `at most ${MAX_RANK}`,
    );
  }
  return { size: shapeSize(outShape), rank: shape.length, shape, strides };
}

const vec8 = (v: number[]) => {
  const p = [...v, ...new Array(8 - v.length).fill(0)];
  return [d.vec4u(p[0], p[1], p[2], p[3]), d.vec4u(p[4], p[5], p[6], p[7])];
};

export function broadcastParams(plan: BroadcastPlan) {
  const [sa, sb, sc] = [plan.strides[0] ?? [], plan.strides[1] ?? [], plan.strides[2] ?? []];
  return {
    size: plan.size,
    rank: plan.rank,
    shape: vec8(plan.shape),
    sa: vec8(sa),
    sb: vec8(sb),
    sc: vec8(sc),
  };
}

/** Element index `i` and the source offsets ia, ib, ic of a broadcast map (row-major, last axis fastest). */
const BROADCAST_INDEX = /* wgsl */ `
  let i = group * ${EW_WG}u + lid;
  let P = L.$.params;
  if (i >= P.size) { return; }
  var rem = i;
  var ia = 0u;
  var ib = 0u;
  var ic = 0u;
  for (var k = i32(P.rank) - 1; k >= 0; k--) {
    let q = u32(k) / 4u;
    let r = u32(k) % 4u;
    let dim = P.shape[q][r];
    let c = rem % dim;
    rem = rem / dim;
    ia += c * P.sa[q][r];
    ib += c * P.sb[q][r];
    ic += c * P.sc[q][r];
  }`;

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';
const BINARY_EXPR: Record<BinaryOp, string> = { add: 'x + y', sub: 'x - y', mul: 'x * y', div: 'x / y' };
const COMPARE_EXPR: Record<CompareOp, string> = {
  lt: 'x < y',
  le: 'x <= y',
  gt: 'x > y',
  ge: 'x >= y',
  eq: 'x == y',
  ne: 'x != y',
};

export function binarySpec(op: BinaryOp, t: Scalar): Omit<KernelSpec, 'key'> {
  return {
    storage: {
      a: { type: t, access: 'readonly' },
      b: { type: t, access: 'readonly' },
      out: { type: t, access: 'mutable' },
    },
    params: BroadcastParams,
    workgroupSize: EW_WG,
    body: `${BROADCAST_INDEX}
  let x = L.$.a[ia];
  let y = L.$.b[ib];
  L.$.out[i] = ${BINARY_EXPR[op]};`,
  };
}

export function compareSpec(op: CompareOp, t: Scalar): Omit<KernelSpec, 'key'> {
  return {
    storage: {
      a: { type: t, access: 'readonly' },
      b: { type: t, access: 'readonly' },
      out: { type: 'i32', access: 'mutable' },
    },
    params: BroadcastParams,
    workgroupSize: EW_WG,
    body: `${BROADCAST_INDEX}
  let x = L.$.a[ia];
  let y = L.$.b[ib];
  L.$.out[i] = select(0, 1, ${COMPARE_EXPR[op]});`,
  };
}

export function whereSpec(cond: Scalar, t: Scalar): Omit<KernelSpec, 'key'> {
  return {
    storage: {
      a: { type: t, access: 'readonly' },
      b: { type: t, access: 'readonly' },
      c: { type: cond, access: 'readonly' },
      out: { type: t, access: 'mutable' },
    },
    params: BroadcastParams,
    workgroupSize: EW_WG,
    body: `${BROADCAST_INDEX}
  L.$.out[i] = select(L.$.b[ib], L.$.a[ia], L.$.c[ic] != 0);`,
  };
}

export const UnaryParams = d.struct({ size: d.u32, s: d.f32, shift: d.f32 });

export type UnaryOp = 'exp' | 'log' | 'geluTanh' | 'silu' | 'scale';
/** f32 expressions of x; `s`/`shift` come from params. tanh's argument is clamped where it is ±1 in f32. */
const UNARY_EXPR: Record<UnaryOp, string> = {
  exp: 'exp(x)',
  // log 0 = −∞ and log(x < 0) = NaN explicitly (SwiftShader returns −88 and 0 there)
  log: 'select(select(log(x), -bitcast<f32>(infBits), x == 0.0), bitcast<f32>(infBits | 0x400000u), !(x >= 0.0))',
  // GELU, tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
  geluTanh: '0.5 * x * (1.0 + tanh(clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0)))',
  // SiLU: x·σ(x)
  silu: 'x / (1.0 + exp(-x))',
  scale: 'x * P.s + P.shift',
};

export function unarySpec(op: UnaryOp): Omit<KernelSpec, 'key'> {
  return {
    storage: { a: { type: 'f32', access: 'readonly' }, out: { type: 'f32', access: 'mutable' } },
    params: UnaryParams,
    workgroupSize: EW_WG,
    body: `
  let i = group * ${EW_WG}u + lid;
  let P = L.$.params;
  if (i >= P.size) { return; }
  var infBits = 0x7f800000u; // a var: a constant ∞ is a WGSL error
  let x = L.$.a[i];
  L.$.out[i] = ${UNARY_EXPR[op]};`,
  };
}

export const SizeParams = d.struct({ size: d.u32, value: d.u32 });

/**
 * Conversions like the cpu backend's typed-array stores: float → integer truncates toward zero, then wraps modulo
 * 2^32 (WGSL's own conversions saturate), exactly for floats in (−2^31, 2^32); integer ↔ integer reinterprets bits.
 */
const CAST_EXPR: Record<string, string> = {
  f32_i32: 'select(i32(x), bitcast<i32>(u32(x)), x >= 2147483648.0)',
  f32_u32: 'select(bitcast<u32>(i32(x)), u32(x), x >= 2147483648.0)',
};

export function castSpec(from: Scalar, to: Scalar): Omit<KernelSpec, 'key'> {
  const expr = CAST_EXPR[`${from}_${to}`] ?? `${to}(x)`;
  return {
    storage: { a: { type: from, access: 'readonly' }, out: { type: to, access: 'mutable' } },
    params: SizeParams,
    workgroupSize: EW_WG,
    body: `
  let i = group * ${EW_WG}u + lid;
  if (i >= L.$.params.size) { return; }
  let x = L.$.a[i];
  L.$.out[i] = ${expr};`,
  };
}

/** Fills with a 32-bit pattern (the value's bits in the tensor's dtype). */
export function fillSpec(): Omit<KernelSpec, 'key'> {
  return {
    storage: { out: { type: 'u32', access: 'mutable' } },
    params: SizeParams,
    workgroupSize: EW_WG,
    body: `
  let i = group * ${EW_WG}u + lid;
  if (i >= L.$.params.size) { return; }
  L.$.out[i] = L.$.params.value;`,
  };
}
