/** Checks of the last-axis reductions and row maps (sum, max, logsumexp, softmax, logSoftmax, layerNorm, argmax). */
import { describeShape, ShapeError } from '../errors';
import type { Backend, DType, Tensor } from '../types';
import { checkDtype, checkEps, checkSameDtype, checkTensor, FLOAT, lastAxis } from '../validate';

export interface Rows {
  rows: number;
  n: number;
  /** The shape without the last axis (the shape of a reduction's output). */
  outer: number[];
}

/** A row op on a [..., n] with n > 0, of a dtype in `allowed` (default FLOAT; 'any' for argmax). */
export function validateRows(
  backend: Backend,
  op: string,
  a: Tensor,
  allowed: readonly DType[] | 'any' = FLOAT,
): Rows {
  checkTensor(op, 'a', a, backend);
  if (allowed !== 'any') checkDtype(op, 'a', a, allowed);
  return lastAxis(op, 'a', a);
}

/** layerNorm(x, weight, eps): eps ≥ 0, float x, weight [n] of x's dtype. */
export function validateLayerNorm(backend: Backend, x: Tensor, weight: Tensor, eps: number): Rows {
  const op = 'layerNorm';
  checkEps(op, eps);
  checkTensor(op, 'x', x, backend);
  checkTensor(op, 'weight', weight, backend);
  checkDtype(op, 'x', x, FLOAT);
  checkSameDtype(op, x, weight);
  const rows = lastAxis(op, 'x', x);
  if (weight.shape.length !== 1 || weight.shape[0] !== rows.n) {
    throw new ShapeError(op, `weight of shape ${describeShape(weight.shape)}`, `weight of shape [${rows.n}]`);
  }
  return rows;
}
