/**
 * Small helpers shared by the training ops (layout, reductions, pointwise maps, losses, optimiser): axis
 * normalisation, row-major strides, 2-D dispatch grids, binding-size checks and u32 table tensors for WGSL.
 */
import { AllocationError, ArgumentError, describeShape } from '../errors';
import type { Shape, Tensor } from '../types';
import type { WebGPUKernelContext } from './define';

/** Invocations per workgroup of the 1-D kernels here. */
export const WG = 64;

/** A 2-D grid of `WG`-wide workgroups covering n invocations (x capped at the device limit). */
export function gridOf(ctx: WebGPUKernelContext, n: number, wg = WG): [number, number] {
  const groups = Math.max(1, Math.ceil(n / wg));
  const x = Math.min(groups, ctx.limits.maxWorkgroupsPerDimension);
  return [x, Math.ceil(groups / x)];
}

/**
 * A WGSL entry point running `body` once per row (`row` < `params.rows`, which must have `rows` and `gridX`):
 * 1-D workgroups of WG invocations on the 2-D grid of `gridOf`.
 */
export function perRowMain(body: string): string {
  return /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x + gid.y * params.gridX * ${WG}u;
  if (row >= params.rows) { return; }
${body}
}`;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let a = shape.length - 1; a >= 0; a--) {
    s[a] = acc;
    acc *= shape[a];
  }
  return s;
}

/** An axis in [−rank, rank) as a non-negative axis (−1 = last). */
export function normAxis(op: string, axis: number, rank: number, name = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank)
    throw new ArgumentError(op, `${name} ${String(axis)}`, `an integer axis in [${-rank}, ${rank})`);
  return axis < 0 ? axis + rank : axis;
}

/** The tensors a webgpu kernel binds whole must each fit one storage binding. */
export function checkBindable(op: string, ctx: WebGPUKernelContext, ...ts: Tensor[]): void {
  const limit = ctx.limits.maxStorageBufferBindingSize;
  for (const t of ts)
    if (t.size * 4 > limit)
      throw new AllocationError(
        op,
        `a tensor of shape ${describeShape(t.shape)} (${t.size * 4} bytes) bound whole`,
        `at most maxStorageBufferBindingSize = ${limit} bytes (this op runs in one binding)`,
      );
}

/** A u32 tensor holding a small integer table for a kernel (at least 4 words, so it is never empty). */
export function u32Table(ctx: WebGPUKernelContext, values: readonly number[]): Tensor<'u32'> {
  const data = new Uint32Array(Math.max(4, values.length));
  data.set(values);
  return ctx.backend.tensor(data, [data.length], 'u32');
}

/** Runs `f`, then frees the temporaries (also when it throws). */
export function freeing<T>(temps: ReadonlyArray<Tensor | undefined>, f: () => T): T {
  try {
    return f();
  } finally {
    for (const t of temps) t?.dispose();
  }
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A list argument of integers (`perm`, `begin`, `axes`): refuses anything that is not an array of integers. */
export function checkIntList(op: string, name: string, v: unknown): readonly number[] {
  if (!Array.isArray(v) || v.some((d) => !Number.isInteger(d)))
    throw new ArgumentError(op, `${name} ${JSON.stringify(v) ?? String(v)}`, `an array of integers`);
  return v;
}

/**
 * WGSL `isNan(v)` for an element type: a test on the f32 bits (robust against compilers that assume no NaNs,
 * where `v != v` may fold to false), constant false for integers.
 */
export function isNanWgsl(t: string): string {
  return t === 'f32'
    ? 'fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }'
    : `fn isNan(v: ${t}) -> bool { return false; }`;
}
