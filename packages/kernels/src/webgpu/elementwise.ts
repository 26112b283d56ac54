/** Elementwise ops on the device: broadcast maps (add, sub, mul, div, compare, where) and unary float maps. */
import {
  validateBinary,
  validateCompare,
  validateScale,
  validateUnary,
  validateWhere,
} from '../checks/elementwise';
import type { CompareOp, DType, Shape, Tensor } from '../types';
import { type GpuContext, groupsOf, type SpecOf } from './context';
import {
  type BinaryOp,
  binarySpec,
  broadcastParams,
  compareSpec,
  EW_WG,
  planBroadcast,
  type UnaryOp,
  unarySpec,
  whereSpec,
} from './kernels/elementwise';
import type { Scalar } from './runtime';
import type { GpuTensor } from './tensor';
import { broadcastWindows, elementWindows } from './windows';

/** Runs a broadcast map kernel over `operands` (bound as a, b, c) into a new [shape] tensor of `dtype`. */
function broadcastMap(
  g: GpuContext,
  op: string,
  shape: Shape,
  dtype: DType,
  operands: Array<{ name: string; t: GpuTensor }>,
  spec: SpecOf,
  key: string,
): GpuTensor {
  const out = g.output(shape, dtype);
  const run = (params: ReturnType<typeof broadcastParams>, buffers: Record<string, GPUBuffer>) =>
    g.run(op, spec, key, buffers, params, groupsOf(params.size, EW_WG));
  if (broadcastWindows(g, op, out, operands, run)) return out;
  const plan = planBroadcast(
    op,
    shape,
    operands.map((o) => o.t.shape),
  );
  const buffers: Record<string, GPUBuffer> = { out: out.buffer };
  for (const o of operands) buffers[o.name] = o.t.buffer;
  run(broadcastParams(plan), buffers);
  return out;
}

/** add/sub/mul (any dtype) and div (floats), broadcasting. */
export function binary(
  g: GpuContext,
  op: BinaryOp,
  a: Tensor,
  b: Tensor,
  allowed?: readonly DType[],
): GpuTensor {
  g.alive(op);
  const shape = validateBinary(g.backend, op, a, b, allowed);
  const [ta, tb] = [a as GpuTensor, b as GpuTensor];
  const t = ta.dtype as Scalar;
  const operands = [
    { name: 'a', t: ta },
    { name: 'b', t: tb },
  ];
  return broadcastMap(g, op, shape, ta.dtype, operands, () => binarySpec(op, t), `${op}_${t}`);
}

/** exp, log, geluTanh, silu of a float tensor. */
export function unary(g: GpuContext, op: Exclude<UnaryOp, 'scale'>, a: Tensor): GpuTensor {
  g.alive(op);
  validateUnary(g.backend, op, a);
  return floatMap(g, op, a as GpuTensor);
}

/** a·s + shift. */
export function scale(g: GpuContext, a: Tensor, s: number, shift = 0): GpuTensor {
  g.alive('scale');
  validateScale(g.backend, a, s, shift);
  return floatMap(g, 'scale', a as GpuTensor, s, shift);
}

/** The unary float map kernel (element windows when an operand exceeds one binding). */
function floatMap(g: GpuContext, op: UnaryOp, ta: GpuTensor, s = 1, shift = 0): GpuTensor {
  const out = g.output(ta.shape, 'f32');
  const run = (size: number, buffers: Record<string, GPUBuffer>) =>
    g.run(op, () => unarySpec(op), `unary_${op}`, buffers, { size, s, shift }, groupsOf(size, EW_WG));
  if (!elementWindows(g, op, ta, out, (count, _first, buffers) => run(count, buffers))) {
    run(ta.size, { a: ta.buffer, out: out.buffer });
  }
  return out;
}

/** Broadcasting comparison → i32 0/1. */
export function compare(g: GpuContext, a: Tensor, b: Tensor, cmp: CompareOp): GpuTensor<'i32'> {
  const op = 'compare';
  g.alive(op);
  const shape = validateCompare(g.backend, a, b, cmp);
  const [ta, tb] = [a as GpuTensor, b as GpuTensor];
  const t = ta.dtype as Scalar;
  const operands = [
    { name: 'a', t: ta },
    { name: 'b', t: tb },
  ];
  const spec = () => compareSpec(cmp, t);
  return broadcastMap(g, op, shape, 'i32', operands, spec, `compare_${cmp}_${t}`) as GpuTensor<'i32'>;
}

/** cond ? a : b, broadcasting over all three. */
export function where(g: GpuContext, cond: Tensor, a: Tensor, b: Tensor): GpuTensor {
  const op = 'where';
  g.alive(op);
  const shape = validateWhere(g.backend, cond, a, b);
  const [tc, ta, tb] = [cond as GpuTensor, a as GpuTensor, b as GpuTensor];
  const [c, t] = [tc.dtype as Scalar, ta.dtype as Scalar];
  const operands = [
    { name: 'a', t: ta },
    { name: 'b', t: tb },
    { name: 'c', t: tc },
  ];
  return broadcastMap(g, op, shape, ta.dtype, operands, () => whereSpec(c, t), `where_${c}_${t}`);
}
