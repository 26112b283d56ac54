/**
 * Checks of the gathers and scatters (embedding, embeddingBag, gatherLast, oneHot, scatterAdd), shared by every
 * backend. Ids themselves are checked where they live: the cpu scans them, webgpu kernels record a fault.
 */
import { ArgumentError, describeShape, ShapeError } from '../errors';
import type { Backend, DType, Tensor } from '../types';
import {
  checkDtype,
  checkDtypeArg,
  checkRank,
  checkSameDtype,
  checkSameShape,
  checkTensor,
  FLOAT,
  INDEX,
  lastAxis,
} from '../validate';
import { floatDtypesOf } from './dtypes';

/** embedding(table [V, D] float, ids integer): returns [V, D]. */
export function validateEmbedding(backend: Backend, table: Tensor, ids: Tensor): { v: number; dim: number } {
  const op = 'embedding';
  checkTensor(op, 'table', table, backend);
  checkTensor(op, 'ids', ids, backend);
  checkDtype(op, 'table', table, FLOAT);
  checkRank(op, 'table', table, 2, 2);
  checkDtype(op, 'ids', ids, INDEX);
  const [v, dim] = table.shape;
  return { v, dim };
}

/** embeddingBag(table [V, D], indices [..., k] integer, weights [..., k] of the table's dtype). */
export function validateEmbeddingBag(
  backend: Backend,
  table: Tensor,
  indices: Tensor,
  weights: Tensor,
): { v: number; dim: number; k: number } {
  const op = 'embeddingBag';
  checkTensor(op, 'table', table, backend);
  checkTensor(op, 'indices', indices, backend);
  checkTensor(op, 'weights', weights, backend);
  checkDtype(op, 'table', table, FLOAT);
  checkRank(op, 'table', table, 2, 2);
  checkDtype(op, 'indices', indices, INDEX);
  checkSameDtype(op, table, weights);
  checkRank(op, 'indices', indices, 1);
  checkSameShape(op, 'indices and weights', indices.shape, weights.shape);
  const [v, dim] = table.shape;
  return { v, dim, k: indices.shape[indices.shape.length - 1] };
}

/** gatherLast(x [..., N], ids [...] integer). */
export function validateGatherLast(
  backend: Backend,
  x: Tensor,
  ids: Tensor,
): { rows: number; n: number; outer: number[] } {
  const op = 'gatherLast';
  checkTensor(op, 'x', x, backend);
  checkTensor(op, 'ids', ids, backend);
  checkDtype(op, 'ids', ids, INDEX);
  const rows = lastAxis(op, 'x', x);
  checkSameShape(op, 'x without its last axis and ids', rows.outer, ids.shape);
  return rows;
}

/** oneHot(ids integer, depth ≥ 1, a float dtype of this backend). */
export function validateOneHot(backend: Backend, ids: Tensor, depth: number, dtype: DType): void {
  const op = 'oneHot';
  checkTensor(op, 'ids', ids, backend);
  checkDtype(op, 'ids', ids, INDEX);
  checkDtypeArg(op, dtype, floatDtypesOf(backend));
  if (!Number.isInteger(depth) || depth < 1) {
    throw new ArgumentError(op, `depth ${String(depth)}`, 'a positive integer depth');
  }
}

/** scatterAdd(target [V, D] float, indices [N] integer, src [N, D] of the target's dtype). */
export function validateScatterAdd(
  backend: Backend,
  target: Tensor,
  indices: Tensor,
  src: Tensor,
): { v: number; dim: number; n: number } {
  const op = 'scatterAdd';
  checkTensor(op, 'target', target, backend);
  checkTensor(op, 'indices', indices, backend);
  checkTensor(op, 'src', src, backend);
  checkDtype(op, 'target', target, FLOAT);
  checkRank(op, 'target', target, 2, 2);
  checkDtype(op, 'indices', indices, INDEX);
  checkRank(op, 'indices', indices, 1, 1);
  checkSameDtype(op, target, src);
  const [v, dim] = target.shape;
  const n = indices.shape[0];
  if (src.shape.length !== 2 || src.shape[0] !== n || src.shape[1] !== dim) {
    throw new ShapeError(op, `src of shape ${describeShape(src.shape)}`, `src of shape [${n}, ${dim}]`);
  }
  return { v, dim, n };
}
