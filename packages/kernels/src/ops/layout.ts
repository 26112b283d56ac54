/**
 * Layout ops: `transpose` (axis permutation), `slice` (a box of any axes), `padSlice` (its adjoint: a box written
 * into zeros) and `concat` (joining along one axis). All four are one strided copy,
 *   dst[dBase + Σₐ iₐ·dStrideₐ] = src[sBase + Σₐ iₐ·sStrideₐ]  over the multi-index i of the copied box,
 * on cpu (any dtype) and in one WGSL kernel that moves 32-bit words (f32, i32 and u32 alike, bit for bit).
 * Gradients: transpose → the inverse permutation, slice → padSlice, padSlice → slice, concat → slices.
 */
import { ArgumentError, DTypeError, describeShape, ShapeError } from '../errors';
import type { Shape, Tensor, TypedArray } from '../types';
import { shapeSize } from '../validate';
import { type CpuKernelContext, type DefinedOp, defineOp, type WebGPUKernelContext } from './define';
import { checkBindable, checkIntList, gridOf, normAxis, stridesOf, u32Table, WG } from './kernel-utils';

/** One strided copy: the box `shape`, source and destination offsets and per-axis strides. */
interface Copy {
  readonly shape: Shape;
  readonly sBase: number;
  readonly sStrides: readonly number[];
  readonly dBase: number;
  readonly dStrides: readonly number[];
}

/** The cpu strided copy (innermost axis in a tight loop, an odometer over the others). */
function copyCpu(src: TypedArray, dst: TypedArray, c: Copy): void {
  const r = c.shape.length;
  const n = shapeSize(c.shape);
  if (n === 0) return;
  if (r === 0) {
    dst[c.dBase] = src[c.sBase];
    return;
  }
  const last = c.shape[r - 1];
  const ss = c.sStrides[r - 1];
  const ds = c.dStrides[r - 1];
  const idx = new Array<number>(r).fill(0);
  let so = c.sBase;
  let dof = c.dBase;
  for (let k = n / last; k > 0; k--) {
    for (let i = 0; i < last; i++) dst[dof + i * ds] = src[so + i * ss];
    for (let a = r - 2; a >= 0; a--) {
      idx[a]++;
      so += c.sStrides[a];
      dof += c.dStrides[a];
      if (idx[a] < c.shape[a]) break;
      so -= c.sStrides[a] * c.shape[a];
      dof -= c.dStrides[a] * c.shape[a];
      idx[a] = 0;
    }
  }
}

const COPY_WGSL = /* wgsl */ `
struct Params { rank: u32, n: u32, sBase: u32, dBase: u32, gridX: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<storage, read> axes: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;
// axes[4a..4a+2] = (dim, source stride, destination stride) of box axis a
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x + gid.y * params.gridX * ${WG}u;
  if (o >= params.n) { return; }
  var rem = o;
  var s = params.sBase;
  var d = params.dBase;
  for (var b = params.rank; b > 0u; b--) {
    let a = b - 1u;
    let i = rem % axes[4u * a];
    rem = rem / axes[4u * a];
    s += i * axes[4u * a + 1u];
    d += i * axes[4u * a + 2u];
  }
  dst[d] = src[s];
}`;

/** The webgpu strided copy from `src` into `dst` (both bound whole). */
function copyGpu(ctx: WebGPUKernelContext, src: Tensor, dst: Tensor, c: Copy): void {
  const n = shapeSize(c.shape);
  if (n === 0) return;
  const table = u32Table(
    ctx,
    c.shape.flatMap((d, a) => [d, c.sStrides[a], c.dStrides[a], 0]),
  );
  const [gx, gy] = gridOf(ctx, n);
  try {
    ctx.run({
      name: 'stridedCopy',
      wgsl: COPY_WGSL,
      bindings: [
        { tensor: src, access: 'read' },
        { tensor: dst, access: 'read_write' },
        { tensor: table, access: 'read' },
        { uniform: new Uint32Array([c.shape.length, n, c.sBase, c.dBase, gx, 0, 0, 0]).buffer },
      ],
      workgroups: [gx, gy],
    });
  } finally {
    table.dispose();
  }
}

/** Output and copies of a layout op, then the backend-specific execution. */
function runCopies(
  ctx: CpuKernelContext | WebGPUKernelContext,
  op: string,
  srcs: readonly Tensor[],
  outShape: Shape,
  copies: readonly Copy[],
  zeroFill: boolean,
): Tensor {
  const dtype = srcs[0].dtype;
  if (ctx.backend.name === 'cpu') {
    const c = ctx as CpuKernelContext;
    const out = c.output(outShape, dtype);
    copies.forEach((cp, i) => {
      copyCpu(c.data(srcs[i]), out.data, cp);
    });
    return out.tensor;
  }
  const g = ctx as WebGPUKernelContext;
  checkBindable(op, g, ...srcs);
  const out = zeroFill ? g.backend.zeros(outShape, dtype) : g.output(outShape, dtype);
  checkBindable(op, g, out);
  copies.forEach((cp, i) => {
    copyGpu(g, srcs[i], out, cp);
  });
  return out;
}

// --- transpose ---------------------------------------------------------------------------------------------

/** The permutation a transpose uses: `perm` checked, or all axes reversed (for 2-D: the swap). */
export function resolvePerm(op: string, rank: number, perm?: readonly number[]): number[] {
  if (perm === undefined) return Array.from({ length: rank }, (_, a) => rank - 1 - a);
  const p = checkIntList(op, 'perm', perm).map((a) => (a < 0 ? a + rank : a));
  const seen = new Set(p);
  if (p.length !== rank || seen.size !== rank || p.some((a) => a < 0 || a >= rank))
    throw new ArgumentError(
      op,
      `perm [${perm.join(', ')}]`,
      `a permutation of the ${rank} axes 0…${rank - 1}`,
    );
  return p;
}

function inversePerm(p: readonly number[]): number[] {
  const inv = new Array<number>(p.length);
  p.forEach((a, i) => {
    inv[a] = i;
  });
  return inv;
}

function transposeCopy(x: Tensor, p: readonly number[]): { shape: number[]; copy: Copy } {
  const xs = stridesOf(x.shape);
  const shape = p.map((a) => x.shape[a]);
  return {
    shape,
    copy: { shape, sBase: 0, sStrides: p.map((a) => xs[a]), dBase: 0, dStrides: stridesOf(shape) },
  };
}

function transposeKernel(ctx: CpuKernelContext | WebGPUKernelContext, x: Tensor, perm?: readonly number[]) {
  const { shape, copy } = transposeCopy(x, resolvePerm('transpose', x.shape.length, perm));
  return runCopies(ctx, 'transpose', [x], shape, [copy], false);
}

/**
 * Axis permutation (NumPy `transpose`): out[i₀…iᵣ₋₁] = x[j] with j[perm[a]] = iₐ, i.e. out.shape[a] =
 * x.shape[perm[a]]. `perm` omitted reverses the axes (the matrix transpose for 2-D); negative axes count from the
 * end. Any dtype. Gradient: the transpose of gy by the inverse permutation.
 */
export const transpose: DefinedOp<[Tensor, (readonly number[])?], Tensor> = defineOp({
  name: 'transpose',
  validate: (_b, x: Tensor, perm?: readonly number[]) => {
    resolvePerm('transpose', x.shape.length, perm);
  },
  cpu: transposeKernel,
  webgpu: transposeKernel,
  gradient: {
    inputs: ([x]) => [x],
    save: () => [],
    backward: (gy: Tensor, { args: [x, perm] }) => [
      transpose(gy, inversePerm(resolvePerm('transpose', x.shape.length, perm))),
    ],
  },
});

// --- slice and padSlice ------------------------------------------------------------------------------------

/** begin and size of a slice of `shape`, checked; a size of −1 runs to the end of its axis. */
export function resolveSlice(
  op: string,
  shape: Shape,
  begin: readonly number[],
  size: readonly number[],
): number[] {
  checkIntList(op, 'begin', begin);
  checkIntList(op, 'size', size);
  if (begin.length !== shape.length || size.length !== shape.length)
    throw new ShapeError(
      op,
      `begin [${begin.join(', ')}] and size [${size.join(', ')}] for shape ${describeShape(shape)}`,
      `one begin and one size per axis (${shape.length})`,
    );
  return shape.map((d, a) => {
    const s = size[a] === -1 ? d - begin[a] : size[a];
    if (begin[a] < 0 || s < 0 || begin[a] + s > d)
      throw new ArgumentError(
        op,
        `begin ${begin[a]} and size ${size[a]} on axis ${a} of ${describeShape(shape)}`,
        `0 ≤ begin, 0 ≤ size (or −1) and begin + size ≤ ${d}`,
      );
    return s;
  });
}

function sliceKernel(
  ctx: CpuKernelContext | WebGPUKernelContext,
  x: Tensor,
  begin: readonly number[],
  size: readonly number[],
) {
  const shape = resolveSlice('slice', x.shape, begin, size);
  const xs = stridesOf(x.shape);
  const sBase = begin.reduce((acc, b, a) => acc + b * xs[a], 0);
  const copy = { shape, sBase, sStrides: xs, dBase: 0, dStrides: stridesOf(shape) };
  return runCopies(ctx, 'slice', [x], shape, [copy], false);
}

/**
 * The box x[begin₀ : begin₀ + size₀, …] of every axis (tf.slice): `begin` and `size` give one entry per axis, a
 * size of −1 takes the rest of the axis. Any dtype. Gradient: `padSlice(gy, x.shape, begin)`.
 */
export const slice: DefinedOp<[Tensor, readonly number[], readonly number[]], Tensor> = defineOp({
  name: 'slice',
  validate: (_b, x: Tensor, begin: readonly number[], size: readonly number[]) => {
    resolveSlice('slice', x.shape, begin, size);
  },
  cpu: sliceKernel,
  webgpu: sliceKernel,
  gradient: {
    inputs: ([x]) => [x],
    save: () => [],
    backward: (gy: Tensor, { args: [x, begin] }) => [padSlice(gy, x.shape, begin)],
  },
});

function checkPad(op: string, g: Tensor, shape: Shape, begin: readonly number[]): void {
  checkIntList(op, 'shape', shape);
  if (shape.some((d) => d < 0))
    throw new ShapeError(op, `shape ${describeShape(shape)}`, 'non-negative dims');
  resolveSlice(op, shape, begin, g.shape);
}

function padKernel(
  ctx: CpuKernelContext | WebGPUKernelContext,
  g: Tensor,
  shape: Shape,
  begin: readonly number[],
) {
  const ds = stridesOf(shape);
  const dBase = begin.reduce((acc, b, a) => acc + b * ds[a], 0);
  const copy = { shape: g.shape, sBase: 0, sStrides: stridesOf(g.shape), dBase, dStrides: ds };
  return runCopies(ctx, 'padSlice', [g], shape, [copy], true);
}

/**
 * The adjoint of `slice`: a zero tensor of `shape` with g written at the box starting at `begin`
 * (out[begin + i] = g[i], 0 elsewhere). Any dtype. Gradient: `slice(gy, begin, g.shape)`.
 */
export const padSlice: DefinedOp<[Tensor, Shape, readonly number[]], Tensor> = defineOp({
  name: 'padSlice',
  validate: (_b, g: Tensor, shape: Shape, begin: readonly number[]) => checkPad('padSlice', g, shape, begin),
  cpu: padKernel,
  webgpu: padKernel,
  gradient: {
    inputs: ([g]) => [g],
    save: () => [],
    backward: (gy: Tensor, { args: [g, , begin] }) => [slice(gy, begin, g.shape)],
  },
});

// --- concat ------------------------------------------------------------------------------------------------

function checkConcat(op: string, xs: readonly Tensor[], axis: number): { axis: number; shape: number[] } {
  const isList = Array.isArray(xs as unknown);
  if (!isList || xs.length === 0)
    throw new ArgumentError(op, `xs ${isList ? '[]' : String(xs)}`, 'a non-empty array of tensors');
  for (const [i, x] of xs.entries())
    if (x === null || typeof x !== 'object' || !Array.isArray((x as Partial<Tensor>).shape))
      throw new ArgumentError(op, `xs[${i}] = ${String(x)}`, 'a Tensor');
  const first = xs[0];
  const rank = first.shape.length;
  if (rank === 0) throw new ShapeError(op, 'scalar tensors', 'tensors of rank ≥ 1');
  const ax = normAxis(op, axis, rank);
  let total = 0;
  for (const [i, x] of xs.entries()) {
    if (x.dtype !== first.dtype)
      throw new DTypeError(
        op,
        `xs[${i}] of dtype ${x.dtype} after ${first.dtype}`,
        'one dtype for all inputs',
      );
    const fits = x.shape.length === rank && x.shape.every((d, a) => a === ax || d === first.shape[a]);
    if (!fits)
      throw new ShapeError(
        op,
        `xs[${i}] of shape ${describeShape(x.shape)} with xs[0] of ${describeShape(first.shape)}`,
        `equal shapes except on axis ${ax}`,
      );
    total += x.shape[ax];
  }
  const shape = [...first.shape];
  shape[ax] = total;
  return { axis: ax, shape };
}

/** Where each input starts along the concatenation axis. */
function concatOffsets(xs: readonly Tensor[], axis: number): number[] {
  let at = 0;
  return xs.map((x) => {
    const o = at;
    at += x.shape[axis];
    return o;
  });
}

function concatKernel(ctx: CpuKernelContext | WebGPUKernelContext, xs: readonly Tensor[], axis: number) {
  const { axis: ax, shape } = checkConcat('concat', xs, axis);
  const ds = stridesOf(shape);
  const offsets = concatOffsets(xs, ax);
  const copies = xs.map((x, i) => ({
    shape: x.shape,
    sBase: 0,
    sStrides: stridesOf(x.shape),
    dBase: offsets[i] * ds[ax],
    dStrides: ds,
  }));
  return runCopies(ctx, 'concat', xs, shape, copies, false);
}

/**
 * Joins tensors of one dtype along `axis` (negative counts from the end); every other dim must agree. Any
 * dtype. Gradient: input i gets the slice of gy at its offset along the axis (a split).
 */
export const concat: DefinedOp<[readonly Tensor[], number], Tensor> = defineOp({
  name: 'concat',
  validate: (_b, xs: readonly Tensor[], axis: number) => {
    checkConcat('concat', xs, axis);
  },
  cpu: concatKernel,
  webgpu: concatKernel,
  gradient: {
    inputs: ([xs]) => xs,
    save: () => [],
    backward: (gy: Tensor, { args: [xs, axis] }) => {
      const ax = normAxis('concat', axis, gy.shape.length);
      const offsets = concatOffsets(xs, ax);
      return xs.map((x, i) => {
        const begin = x.shape.map((_, a) => (a === ax ? offsets[i] : 0));
        return slice(gy, begin, x.shape);
      });
    },
  },
});
