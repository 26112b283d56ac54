/**
 * Gathers and scatters on the device. Ids live on the device, so a bad id is found by the kernel: it writes 0
 * for it and records a fault that the next read()/sync() turns into IndexOutOfRangeError. Operands bigger than
 * one storage binding run over windows (windows.ts): of vocab rows (an embedding table), of ids or bags (their
 * outputs), of rows (gatherLast) or of columns (scatterAdd); the table, ids or indices bound whole must fit.
 */
import {
  validateEmbedding,
  validateEmbeddingBag,
  validateGatherLast,
  validateOneHot,
  validateScatterAdd,
} from '../checks/gather';
import type { FloatDType, Tensor } from '../types';
import { type GpuContext, groupsOf, type SpecOf } from './context';
import { EW_WG } from './kernels/elementwise';
import type { FaultOp } from './kernels/gather';
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
import { operand, type WindowOperand, windowed } from './windows';

/**
 * Runs a gather kernel over `units` (ids, bags, rows or columns), `perUnit` invocations each: whole when every
 * split operand fits one binding, else window by window. `params(count)` gives the kernel's params for `count`
 * units; `whole` buffers are bound as they are in every window.
 */
function gatherWindows(
  g: GpuContext,
  op: FaultOp,
  key: string,
  spec: SpecOf,
  units: number,
  perUnit: number,
  split: { sliced: WindowOperand[]; outputs: WindowOperand[]; whole: Record<string, GPUBuffer> },
  params: (count: number) => { size: number; rows?: number; n?: number; k?: number; limit: number },
): void {
  const run = (count: number, buffers: Record<string, GPUBuffer>) =>
    g.gather(op, key, spec, { ...split.whole, ...buffers }, params(count), groupsOf(count * perUnit, EW_WG));
  const windows = windowed(g, op, units, split.sliced, split.outputs, (count, _first, buffers) =>
    run(count, buffers),
  );
  if (windows) return;
  const all: Record<string, GPUBuffer> = {};
  for (const x of [...split.sliced, ...split.outputs]) all[x.name] = x.buffer;
  run(units, all);
}

/** table [V, D], ids [...] → [..., D]: over vocab windows of a big table, else over windows of ids. */
export function embedding(g: GpuContext, table: Tensor, ids: Tensor): GpuTensor {
  const op = 'embedding';
  g.alive(op);
  const { v, dim } = validateEmbedding(g.backend, table, ids);
  const [tt, ti] = [table as GpuTensor, ids as GpuTensor];
  const out = g.output([...ti.shape, dim], tt.dtype);
  const it = ti.dtype as Scalar;
  // A table bigger than one binding: one dispatch per window of vocab rows, each copying the ids inside it.
  const tableWindows = windowed(g, op, v, [operand('table', tt, dim)], [], (count, first, buffers) =>
    g.gather(
      op,
      `embeddingWindow_${it}`,
      () => embeddingWindowSpec('f32', it),
      { ...buffers, ids: ti.buffer, out: out.buffer },
      { size: out.size, n: dim, limit: v, k: first, rows: count },
      groupsOf(out.size, EW_WG),
    ),
  );
  if (tableWindows) return out;
  const split = {
    sliced: [operand('ids', ti, 1)],
    outputs: [operand('out', out, dim)],
    whole: { table: tt.buffer },
  };
  const spec = () => embeddingSpec('f32', it);
  gatherWindows(g, op, `embedding_${it}`, spec, ti.size, dim, split, (count) => ({
    size: count * dim,
    n: dim,
    limit: v,
  }));
  return out;
}

/** Σ_k weights[..., k] · table[indices[..., k]] → [..., D], over windows of bags. */
export function embeddingBag(g: GpuContext, table: Tensor, indices: Tensor, weights: Tensor): GpuTensor {
  const op = 'embeddingBag';
  g.alive(op);
  const { v, dim, k } = validateEmbeddingBag(g.backend, table, indices, weights);
  const [tt, ti, tw] = [table as GpuTensor, indices as GpuTensor, weights as GpuTensor];
  const out = g.output([...ti.shape.slice(0, -1), dim], 'f32');
  const it = ti.dtype as Scalar;
  const split = {
    sliced: [operand('ids', ti, k), operand('weights', tw, k)],
    outputs: [operand('out', out, dim)],
    whole: { table: tt.buffer },
  };
  const bags = dim === 0 ? ti.size / Math.max(1, k) : out.size / dim;
  const spec = () => embeddingBagSpec(it);
  gatherWindows(g, op, `embeddingBag_${it}`, spec, bags, dim, split, (count) => ({
    size: count * dim,
    n: dim,
    k,
    limit: v,
  }));
  return out;
}

/** x [..., N] at ids [...] along the last axis → [...], over windows of rows. */
export function gatherLast(g: GpuContext, x: Tensor, ids: Tensor): GpuTensor {
  const op = 'gatherLast';
  g.alive(op);
  const { rows, n, outer } = validateGatherLast(g.backend, x, ids);
  const [tx, ti] = [x as GpuTensor, ids as GpuTensor];
  const out = g.output(outer, tx.dtype);
  const [t, it] = [tx.dtype as Scalar, ti.dtype as Scalar];
  const split = {
    sliced: [operand('x', tx, n), operand('ids', ti, 1)],
    outputs: [operand('out', out, 1)],
    whole: {},
  };
  const spec = () => gatherLastSpec(t, it);
  gatherWindows(g, op, `gatherLast_${t}_${it}`, spec, rows, 1, split, (count) => ({
    size: count,
    n,
    limit: n,
  }));
  return out;
}

/** ids [...] → one-hot [..., depth] (f32), over windows of ids. */
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
  const split = { sliced: [operand('ids', ti, 1)], outputs: [operand('out', out, depth)], whole: {} };
  gatherWindows(
    g,
    op,
    `oneHot_${it}`,
    () => oneHotSpec(it),
    ti.size,
    depth,
    split,
    (count) => ({
      size: count * depth,
      n: depth,
      limit: depth,
    }),
  );
  return out;
}

/**
 * A copy of target [V, D] with src[i] added to row indices[i], in index order (one invocation per column), over
 * windows of columns: the window's columns of the copy and of src are copied in, updated, and copied back.
 */
export function scatterAdd(g: GpuContext, target: Tensor, indices: Tensor, src: Tensor): GpuTensor {
  const op = 'scatterAdd';
  g.alive(op);
  const { v, dim, n } = validateScatterAdd(g.backend, target, indices, src);
  const [tt, ti, ts] = [target as GpuTensor, indices as GpuTensor, src as GpuTensor];
  const out = g.output(tt.shape, tt.dtype);
  g.copy(op, tt.buffer, out.buffer, tt.size);
  if (n === 0) return out;
  const it = ti.dtype as Scalar;
  const split = {
    sliced: [operand('src', ts, 1, { blocks: n, stride: dim })],
    outputs: [operand('out', out, 1, { blocks: v, stride: dim, inout: true })],
    whole: { ids: ti.buffer },
  };
  const spec = () => scatterAddSpec('f32', it);
  gatherWindows(g, op, `scatterAdd_${it}`, spec, dim, 1, split, (count) => ({
    size: count,
    n: count,
    k: n,
    limit: v,
  }));
  return out;
}
