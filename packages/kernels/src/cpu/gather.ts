import {
  validateEmbedding,
  validateEmbeddingBag,
  validateGatherLast,
  validateOneHot,
  validateScatterAdd,
} from '../checks/gather';
import { IndexOutOfRangeError } from '../errors';
import type { Backend, FloatDType, Tensor, TypedArray } from '../types';
import { type CpuTensor, output } from './tensor';

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
  const { v, dim: d } = validateEmbedding(backend, table, ids);
  const [tt, ti] = [table as CpuTensor, ids as CpuTensor];
  checkIds('embedding', 'id', ti.data, v);
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
  const { v, dim: d, k } = validateEmbeddingBag(backend, table, indices, weights);
  const [tt, ti, tw] = [table as CpuTensor, indices as CpuTensor, weights as CpuTensor];
  checkIds('embeddingBag', 'index', ti.data, v);
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
  const { rows, n, outer } = validateGatherLast(backend, x, ids);
  const [tx, ti] = [x as CpuTensor, ids as CpuTensor];
  checkIds('gatherLast', 'id', ti.data, n);
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
  validateOneHot(backend, ids, depth, dtype);
  const ti = ids as CpuTensor;
  checkIds('oneHot', 'id', ti.data, depth);
  const out = output(backend, [...ti.shape, depth], dtype);
  for (let i = 0; i < ti.size; i++) out.data[i * depth + ti.data[i]] = 1;
  return out;
}

/** A copy of target [V, D] with src[i] added to row indices[i] (repeated indices accumulate). */
export function scatterAdd(backend: Backend, target: Tensor, indices: Tensor, src: Tensor): CpuTensor {
  const { v, dim: d, n } = validateScatterAdd(backend, target, indices, src);
  const [tt, ti, ts] = [target as CpuTensor, indices as CpuTensor, src as CpuTensor];
  checkIds('scatterAdd', 'index', ti.data, v);
  const acc = Float64Array.from(tt.data);
  for (let i = 0; i < n; i++) {
    const row = ti.data[i] * d;
    for (let c = 0; c < d; c++) acc[row + c] += ts.data[i * d + c];
  }
  const out = output(backend, tt.shape, tt.dtype);
  out.data.set(acc);
  return out;
}
