/** Checks of the elementwise ops (binary maps, unary float maps, compare, where), shared by every backend. */
import { ArgumentError } from '../errors';
import type { Backend, CompareOp, DType, Tensor } from '../types';
import {
  broadcastShapes,
  checkDtype,
  checkFinite,
  checkSameDtype,
  checkTensor,
  FLOAT,
  INDEX,
} from '../validate';

/** add/sub/mul (any dtype) and div (`allowed` = FLOAT): a and b of one dtype; returns the broadcast shape. */
export function validateBinary(
  backend: Backend,
  op: string,
  a: Tensor,
  b: Tensor,
  allowed?: readonly DType[],
): number[] {
  checkTensor(op, 'a', a, backend);
  checkTensor(op, 'b', b, backend);
  if (allowed) checkDtype(op, 'a', a, allowed);
  checkSameDtype(op, a, b);
  return broadcastShapes(op, a.shape, b.shape);
}

/** exp/log/geluTanh/silu/scale: a float tensor (the output has its shape and dtype). */
export function validateUnary(backend: Backend, op: string, a: Tensor): void {
  checkTensor(op, 'a', a, backend);
  checkDtype(op, 'a', a, FLOAT);
}

/** scale(a, s, shift): finite factor and shift, then a float tensor. */
export function validateScale(backend: Backend, a: Tensor, s: number, shift: number): void {
  checkFinite('scale', 'factor', s);
  checkFinite('scale', 'shift', shift);
  validateUnary(backend, 'scale', a);
}

export const COMPARE_OPS: readonly CompareOp[] = ['lt', 'le', 'gt', 'ge', 'eq', 'ne'];

/** compare(a, b, cmp): a known comparison, a and b of one dtype; returns the broadcast shape. */
export function validateCompare(backend: Backend, a: Tensor, b: Tensor, cmp: CompareOp): number[] {
  const op = 'compare';
  if (!COMPARE_OPS.includes(cmp)) {
    throw new ArgumentError(op, `comparison ${String(cmp)}`, COMPARE_OPS.join(' | '));
  }
  return validateBinary(backend, op, a, b);
}

/** where(cond, a, b): an integer cond, a and b of one dtype; returns the broadcast shape of all three. */
export function validateWhere(backend: Backend, cond: Tensor, a: Tensor, b: Tensor): number[] {
  const op = 'where';
  checkTensor(op, 'cond', cond, backend);
  checkTensor(op, 'a', a, backend);
  checkTensor(op, 'b', b, backend);
  checkDtype(op, 'cond', cond, INDEX);
  checkSameDtype(op, a, b);
  return broadcastShapes(op, cond.shape, broadcastShapes(op, a.shape, b.shape));
}
