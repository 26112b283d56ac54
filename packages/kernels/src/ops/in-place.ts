/**
 * KERNELS-INTERNAL: how a `defineOp` kernel of this package writes one of its INPUT tensors in place (the fused
 * optimiser update). Not exported from the package: ops of other packages must not write storage they did not
 * create (they return new tensors; see ops/define.ts).
 *
 * - cpu: `mutableData(ctx, t)` is the tensor's own row-major storage (writes are seen by every reshape view of it).
 * - webgpu: `mutableBinding(t)` binds the tensor's buffer as `read_write` storage; bind each such tensor once per
 *   dispatch (WebGPU refuses a writable binding that aliases another binding of the same buffer).
 *
 * An in-place op must refuse to run while a gradient tape records (`checkNotRecording`): the tape may have saved
 * the very tensor for a backward pass, which would then read overwritten values.
 */
import { isRecording } from '../autograd/tape';
import { ArgumentError } from '../errors';
import type { ArrayFor, DType, Tensor } from '../types';
import type { CpuKernelContext } from './define';

/** The writable storage of an input tensor on the cpu backend (kernels-internal). */
export function mutableData<D extends DType>(ctx: CpuKernelContext, t: Tensor<D>): ArrayFor<D> {
  return ctx.backend.dataOf(t);
}

/** A read-write binding of an input tensor for `WebGPUKernelContext.run` (kernels-internal). */
export function mutableBinding(t: Tensor): { tensor: Tensor; access: 'read_write' } {
  return { tensor: t, access: 'read_write' };
}

/** In-place ops run outside gradient scopes only. */
export function checkNotRecording(op: string): void {
  if (isRecording())
    throw new ArgumentError(
      op,
      'a call inside a gradient scope (valueAndGrad)',
      'an in-place update outside gradient scopes (after backward)',
    );
}

/** No tensor may appear twice among the tensors an in-place op writes or reads. */
export function checkDistinct(op: string, groups: Record<string, readonly Tensor[]>): void {
  const seen = new Map<Tensor, string>();
  for (const [name, ts] of Object.entries(groups))
    ts.forEach((t, i) => {
      const here = `${name}[${i}]`;
      const before = seen.get(t);
      if (before) throw new ArgumentError(op, `the same tensor as ${before} and ${here}`, 'distinct tensors');
      seen.set(t, here);
    });
}
