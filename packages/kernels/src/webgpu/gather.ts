/**
 * Gathers and scatters on the device. Ids live on the device, so a bad id is found by the kernel: it writes 0
 * for it and records a fault that the next read()/sync() turns into IndexOutOfRangeError.
 */
import {
  validateEmbedding,
  validateEmbeddingBag,
  validateGatherLast,
  validateOneHot,
  validateScatterAdd,
} from '../checks/gather';
import type { FloatDType, Tensor } from '../types';
import { type GpuContext, groupsOf } from './context';
import { EW_WG } from './kernels/elementwise';
import {
  embeddingBagSpec,
  embeddingSpec,
  embeddingWindowSpec,
  gatherLastSpec,
  oneHotSpec,
  scatterAddSpec,
} from './kernels/gather';
import type { Scalar } from './runtime';
import type { GpuTensor } from './tensor';
import { windowed } from './windows';

/** table [V, D], ids [...] → [..., D]; a table bigger than one binding runs over windows of vocab rows. */
export function embedding(g: GpuContext, table: Tensor, ids: Tensor): GpuTensor {
  const op = 'embedding';
  g.alive(op);
  const { v, dim } = validateEmbedding(g.backend, table, ids);
  const [tt, ti] = [table as GpuTensor, ids as GpuTensor];
  const out = g.output([...ti.shape, dim], tt.dtype);
  const it = ti.dtype as Scalar;
  const groups = groupsOf(out.size, EW_WG);
  const sliced = [{ name: 'table', buffer: tt.buffer, unit: dim, dtype: 'f32' as const }];
  // One dispatch per window of vocab rows, each copying the ids inside it.
  const windows = windowed(g, op, v, sliced, [], (count, first, buffers) =>
    g.gather(
      op,
      `embeddingWindow_${it}`,
      () => embeddingWindowSpec('f32', it),
      { ...buffers, ids: ti.buffer, out: out.buffer },
      { size: out.size, n: dim, limit: v, k: first, rows: count },
      groups,
    ),
  );
  if (windows) return out;
  const buffers = { table: tt.buffer, ids: ti.buffer, out: out.buffer };
  const params = { size: out.size, n: dim, limit: v };
  g.gather(op, `embedding_${it}`, () => embeddingSpec('f32', it), buffers, params, groups);
  return out;
}

/** Σ_k weights[..., k] · table[indices[..., k]] → [..., D]. */
export function embeddingBag(g: GpuContext, table: Tensor, indices: Tensor, weights: Tensor): GpuTensor {
  const op = 'embeddingBag';
  g.alive(op);
  const { v, dim, k } = validateEmbeddingBag(g.backend, table, indices, weights);
  const [tt, ti, tw] = [table as GpuTensor, indices as GpuTensor, weights as GpuTensor];
  const out = g.output([...ti.shape.slice(0, -1), dim], 'f32');
  const it = ti.dtype as Scalar;
  const buffers = { table: tt.buffer, ids: ti.buffer, weights: tw.buffer, out: out.buffer };
  const params = { size: out.size, n: dim, k, limit: v };
  const groups = groupsOf(out.size, EW_WG);
  g.gather(op, `embeddingBag_${it}`, () => embeddingBagSpec(it), buffers, params, groups);
  return out;
}

/** x [..., N] at ids [...] along the last axis → [...]. */
export function gatherLast(g: GpuContext, x: Tensor, ids: Tensor): GpuTensor {
  const op = 'gatherLast';
  g.alive(op);
  const { rows, n, outer } = validateGatherLast(g.backend, x, ids);
  const [tx, ti] = [x as GpuTensor, ids as GpuTensor];
  const out = g.output(outer, tx.dtype);
  const [t, it] = [tx.dtype as Scalar, ti.dtype as Scalar];
  const buffers = { x: tx.buffer, ids: ti.buffer, out: out.buffer };
  const params = { size: rows, n, limit: n };
  g.gather(op, `gatherLast_${t}_${it}`, () => gatherLastSpec(t, it), buffers, params, groupsOf(rows, EW_WG));
  return out;
}

/** ids [...] → one-hot [..., depth] (f32). */
export function oneHot<D extends FloatDType>(
  g: GpuContext,
  ids: Tensor,
  depth: number,
  dtype: D,
): GpuTensor<D> {
  const op = 'oneHot';
  g.alive(op);
  validateOneHot(g.backend, ids, depth, dtype);
  const ti = ids as GpuTensor;
  const out = g.output([...ti.shape, depth], dtype);
  const it = ti.dtype as Scalar;
  const buffers = { ids: ti.buffer, out: out.buffer };
  const params = { size: out.size, n: depth, limit: depth };
  g.gather(op, `oneHot_${it}`, () => oneHotSpec(it), buffers, params, groupsOf(out.size, EW_WG));
  return out;
}

/** A copy of target [V, D] with src[i] added to row indices[i], in index order (one invocation per column). */
export function scatterAdd(g: GpuContext, target: Tensor, indices: Tensor, src: Tensor): GpuTensor {
  const op = 'scatterAdd';
  g.alive(op);
  const { v, dim, n } = validateScatterAdd(g.backend, target, indices, src);
  const [tt, ti, ts] = [target as GpuTensor, indices as GpuTensor, src as GpuTensor];
  const out = g.output(tt.shape, tt.dtype);
  g.copy(op, tt.buffer, out.buffer, tt.size);
  if (n === 0) return out;
  const it = ti.dtype as Scalar;
  const buffers = { ids: ti.buffer, src: ts.buffer, out: out.buffer };
  const params = { size: dim, n: dim, k: n, limit: v };
  g.gather(op, `scatterAdd_${it}`, () => scatterAddSpec('f32', it), buffers, params, groupsOf(dim, EW_WG));
  return out;
}
