/**
 * topK and topP on the device: one workgroup per row (radix select / radix search of the cut, then an ordered
 * pass for ties), over row windows when the logits exceed one binding. A NaN logit (and, for topP, a row of all
 * −∞) is recorded as a fault and thrown at the next read()/sync() with the cpu backend's ArgumentError.
 */
import { validateTopK, validateTopP } from '../checks/filter';
import type { Tensor } from '../types';
import type { GpuContext } from './context';
import { topKSpec, topPSpec } from './kernels/rows';
import { runRows } from './reduce';
import type { GpuTensor } from './tensor';

/** Keeps exactly the k largest logits of each row (ties toward the lower index), the rest −∞. */
export function topK(g: GpuContext, logits: Tensor, k: number): GpuTensor {
  const op = 'topK';
  g.alive(op);
  const { rows, n } = validateTopK(g.backend, logits, k);
  const tl = logits as GpuTensor;
  const run = { extra: { a: k, mode: 'group' as const }, more: { fault: g.faultBuffer() } };
  return runRows(g, op, tl, rows, n, tl.shape, 'f32', op, topKSpec, run);
}

/** Nucleus filtering: keeps the shortest descending prefix whose softmax mass reaches p, the rest −∞. */
export function topP(g: GpuContext, logits: Tensor, p: number): GpuTensor {
  const op = 'topP';
  g.alive(op);
  const { rows, n } = validateTopP(g.backend, logits, p);
  const tl = logits as GpuTensor;
  const run = { extra: { a: p, mode: 'group' as const }, more: { fault: g.faultBuffer() } };
  return runRows(g, op, tl, rows, n, tl.shape, 'f32', op, topPSpec, run);
}
