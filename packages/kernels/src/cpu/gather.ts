import { ArgumentError, describeShape, IndexOutOfRangeError, ShapeError } from '../errors';
import type { Backend, DType, FloatDType, Tensor, TypedArray } from '../types';
import {
  checkDtype,
  checkDtypeArg,
  checkRank,
  checkSameDtype,
  checkSameShape,
  FLOAT,
  INDEX,
  lastAxis,
} from '../validate';
import { type CpuTensor, output, use } from './tensor';

const ALL: readonly DType[] = ['f32', 'f64', 'i32', 'u32'];

/** Every id must lie in [0, limit). */
function checkIds(op: string, name: string, ids: TypedArray, limit: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id < 0 || id >= limit) {
      throw new IndexOutOfRangeError(op, `${name} ${id} at position ${i}`, `ids in [0, ${limit})`);
    }
  }
}

/** table [V, D], ids [...] → [..., D]: row ids[i] of the table. */
export function embedding(backend: Backend, table: Tensor, ids: Tensor): CpuTensor {
  const op = 'embedding';
  const tt = use(op, 'table', table, backend);
  const ti = use(op, 'ids', ids, backend);
  checkDtype(op, 'table', tt, FLOAT);
  checkRank(op, 'table', tt, 2, 2);
  checkDtype(op, 'ids', ti, INDEX);
  const [v, d] = tt.shape;
  checkIds(op, 'id', ti.data, v);
  const out = output(backend, [...ti.shape, d], tt.dtype);
  const src = tt.data;
  for (let i = 0; i < ti.size; i++) {
    const row = ti.data[i] * d;
    out.data.set(src.subarray(row, row + d), i * d);
  }
  return out;
}

/** Σ_k weights[..., k] · table[indices[..., k]]: table [V, D], indices/weights [..., k] → [..., D]. */
export function embeddingBag(backend: Backend, table: Tensor, indices: Tensor, weights: Tensor): CpuTensor {
  const op = 'embeddingBag';
  const tt = use(op, 'table', table, backend);
  const ti = use(op, 'indices', indices, backend);
  const tw = use(op, 'weights', weights, backend);
  checkDtype(op, 'table', tt, FLOAT);
  checkRank(op, 'table', tt, 2, 2);
  checkDtype(op, 'indices', ti, INDEX);
  checkSameDtype(op, tt, tw);
  checkRank(op, 'indices', ti, 1);
  checkSameShape(op, 'indices and weights', ti.shape, tw.shape);
  const [v, d] = tt.shape;
  checkIds(op, 'index', ti.data, v);
  const k = ti.shape[ti.shape.length - 1];
  const bags = k === 0 ? 0 : ti.size / k;
  const out = output(backend, [...ti.shape.slice(0, -1), d], tt.dtype);
  const acc = new Float64Array(d);
  for (let b = 0; b < bags; b++) {
    acc.fill(0);
    for (let j = b * k; j < (b + 1) * k; j++) {
      const w = tw.data[j];
      const row = ti.data[j] * d;
      for (let c = 0; c < d; c++) acc[c] += w * tt.data[row + c];
    }
    out.data.set(acc, b * d);
  }
  return out;
}

/** x [..., N] at ids [...] along the last axis → [...]. */
export function gatherLast(backend: Backend, x: Tensor, ids: Tensor): CpuTensor {
  const op = 'gatherLast';
  const tx = use(op, 'x', x, backend);
  const ti = use(op, 'ids', ids, backend);
  checkDtype(op, 'x', tx, ALL);
  checkDtype(op, 'ids', ti, INDEX);
  const { rows, n, outer } = lastAxis(op, 'x', tx);
  checkSameShape(op, 'x without its last axis and ids', outer, ti.shape);
  checkIds(op, 'id', ti.data, n);
  const out = output(backend, outer, tx.dtype);
  for (let r = 0; r < rows; r++) out.data[r] = tx.data[r * n + ti.data[r]];
  return out;
}

/** ids [...] → one-hot [..., depth] in a float dtype. */
export function oneHot<D extends FloatDType>(
  backend: Backend,
  ids: Tensor,
  depth: number,
  dtype: D,
): CpuTensor<D> {
  const op = 'oneHot';
  const ti = use(op, 'ids', ids, backend);
  checkDtype(op, 'ids', ti, INDEX);
  checkDtypeArg(op, dtype, FLOAT);
  if (!Number.isInteger(depth) || depth < 1) {
    throw new ArgumentError(op, `depth ${String(depth)}`, 'a positive integer depth');
  }
  checkIds(op, 'id', ti.data, depth);
  const out = output(backend, [...ti.shape, depth], dtype);
  for (let i = 0; i < ti.size; i++) out.data[i * depth + ti.data[i]] = 1;
  return out;
}

/** A copy of target [V, D] with src[i] added to row indices[i] (repeated indices accumulate). */
export function scatterAdd(backend: Backend, target: Tensor, indices: Tensor, src: Tensor): CpuTensor {
  const op = 'scatterAdd';
  const tt = use(op, 'target', target, backend);
  const ti = use(op, 'indices', indices, backend);
  const ts = use(op, 'src', src, backend);
  checkDtype(op, 'target', tt, FLOAT);
  checkRank(op, 'target', tt, 2, 2);
  checkDtype(op, 'indices', ti, INDEX);
  checkRank(op, 'indices', ti, 1, 1);
  checkSameDtype(op, tt, ts);
  const [v, d] = tt.shape;
  const n = ti.shape[0];
  if (ts.shape.length !== 2 || ts.shape[0] !== n || ts.shape[1] !== d) {
    throw new ShapeError(op, `src of shape ${describeShape(ts.shape)}`, `src of shape [${n}, ${d}]`);
  }
  checkIds(op, 'index', ti.data, v);
  const acc = Float64Array.from(tt.data);
  for (let i = 0; i < n; i++) {
    const row = ti.data[i] * d;
    for (let c = 0; c < d; c++) acc[row + c] += ts.data[i * d + c];
  }
  const out = output(backend, tt.shape, tt.dtype);
  out.data.set(acc);
  return out;
}
