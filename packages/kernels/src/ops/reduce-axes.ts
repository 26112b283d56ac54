/**
 * Reductions over any set of axes: `sumAxes` (Σ), `meanAxes` (Σ/count) and `maxAxes` (max, NaN propagates), with
 * `keepDims` keeping reduced axes as size 1 (NumPy `keepdims`). Axes may be negative; omitted = every axis.
 * cpu: one row-major pass over x accumulating in float64 (f32 rounds once when stored; i32/u32 sums wrap modulo
 * 2³² like a typed-array store). webgpu: one invocation per output element walking its reduced elements in
 * row-major order (f32 accumulation; i32/u32 sums wrap). Gradients: gy broadcast back (÷ count for the mean);
 * for the max, gy goes to the FIRST maximal element (row-major over the reduced axes) and 0 elsewhere.
 */

import { rangeKernel, runRange } from '../cpu/parallel';
import { allocate } from '../cpu/storage';
import { ArgumentError, describeShape, ShapeError } from '../errors';
import type { DType, Shape, Tensor } from '../types';
import { checkDtype, FLOAT, shapeSize } from '../validate';
import { type CpuKernelContext, type DefinedOp, defineOp, type WebGPUKernelContext } from './define';
import { checkBindable, gridOf, isNanWgsl, normAxis, stridesOf, u32Table, WG } from './kernel-utils';
import { broadcastTo } from './sum-to-shape';

/** Axes argument: one axis, a list, or undefined (all axes). */
export type Axes = number | readonly number[] | undefined;

export type Kind = 'sum' | 'mean' | 'max';

export interface Plan {
  /** Reduced axes, sorted, non-negative. */
  readonly axes: readonly number[];
  /** Output shape with size-1 reduced axes (keepDims) and without them. */
  readonly kept: readonly number[];
  readonly out: readonly number[];
  /** Elements reduced into each output element. */
  readonly count: number;
}

/** Checks the axes (in range, no repeats) and lays out the output. */
export function planAxes(op: string, shape: Shape, axes: Axes, keepDims = false): Plan {
  const rank = shape.length;
  const list = axes === undefined ? shape.map((_, a) => a) : typeof axes === 'number' ? [axes] : axes;
  if (!Array.isArray(list))
    throw new ArgumentError(op, `axes ${String(axes)}`, 'an axis, a list of axes or undefined');
  const norm = list.map((a) => normAxis(op, a, rank, 'axes entry'));
  if (new Set(norm).size !== norm.length)
    throw new ArgumentError(op, `axes [${list.join(', ')}]`, 'distinct axes');
  if (typeof keepDims !== 'boolean') throw new ArgumentError(op, `keepDims ${String(keepDims)}`, 'a boolean');
  const sorted = [...norm].sort((a, b) => a - b);
  const kept = shape.map((d, a) => (sorted.includes(a) ? 1 : d));
  const out = shape.filter((_, a) => !sorted.includes(a));
  const count = sorted.reduce((acc, a) => acc * shape[a], 1);
  return { axes: sorted, kept, out: keepDims ? kept : out, count };
}

/** Per input axis: the output stride it moves (0 on reduced axes). */
function keptStrides(shape: Shape, plan: Plan): number[] {
  const ks = stridesOf(plan.kept);
  return shape.map((_, a) => (plan.axes.includes(a) ? 0 : ks[a]));
}

function checkReduce(op: string, x: Tensor, axes: Axes, keepDims: boolean | undefined, kind: Kind): Plan {
  if (kind === 'mean') checkDtype(op, 'x', x, FLOAT);
  const plan = planAxes(op, x.shape, axes, keepDims);
  if (kind !== 'sum' && plan.count === 0 && shapeSize(plan.kept) > 0)
    throw new ShapeError(
      op,
      `x of shape ${describeShape(x.shape)} reduced over empty axes`,
      'non-empty reduced axes',
    );
  return plan;
}

/**
 * Row-major pass over x: acc[o] ← acc[o] ⊕ x[i] (o = the kept part of i); the max keeps the first maximum. Walks
 * x one innermost row at a time (the odometer steps once per row, not per element): a reduced last axis folds
 * the row into one accumulator, a kept one adds it elementwise — each output sees its terms in row-major order
 * either way, so the float64 sums are those of the element-by-element loop.
 */
export function reduceCpu(src: ArrayLike<number>, shape: Shape, plan: Plan, kind: Kind): Float64Array {
  const outSize = shapeSize(plan.kept);
  const strides = keptStrides(shape, plan);
  const r = shape.length;
  const inner = r === 0 ? 1 : shape[r - 1];
  const step = r === 0 ? 0 : strides[r - 1]; // 0: the last axis is reduced; 1: kept (innermost kept stride)
  const rows = inner === 0 ? 0 : src.length / inner;
  if (kind !== 'max' && step === 1 && inner > 1) {
    // a kept last axis: split over its columns (each output still sees its terms in row order)
    const acc = allocate('f64', outSize) as Float64Array;
    const args = {
      src,
      outAcc: acc,
      shape: Int32Array.from(shape),
      strides: Int32Array.from(strides),
      rows,
      inner,
    };
    runRange(sumColumns, args, inner, src.length);
    if (kind === 'mean') for (let j = 0; j < outSize; j++) acc[j] /= plan.count;
    return acc;
  }
  const acc = new Float64Array(outSize).fill(kind === 'max' ? Number.NEGATIVE_INFINITY : 0);
  const idx = new Array<number>(Math.max(0, r - 1)).fill(0);
  let o = 0;
  for (let row = 0, i = 0; row < rows; row++, i += inner) {
    if (kind === 'max') {
      for (let j = 0, q = o; j < inner; j++, q += step) {
        const v = src[i + j];
        if (v > acc[q] || (Number.isNaN(v) && !Number.isNaN(acc[q]))) acc[q] = v;
      }
    } else if (step === 0) {
      let t = acc[o];
      for (let j = i, end = i + inner; j < end; j++) t += src[j];
      acc[o] = t;
    } else for (let j = 0; j < inner; j++) acc[o + j] += src[i + j];
    for (let a = r - 2; a >= 0; a--) {
      idx[a]++;
      o += strides[a];
      if (idx[a] < shape[a]) break;
      o -= strides[a] * idx[a];
      idx[a] = 0;
    }
  }
  if (kind === 'mean') for (let j = 0; j < outSize; j++) acc[j] /= plan.count;
  return acc;
}

interface ColumnArgs {
  src: ArrayLike<number>;
  outAcc: Float64Array;
  shape: Int32Array;
  strides: Int32Array;
  rows: number;
  inner: number;
}

/** acc[o(row) + j] += x[row·inner + j] for columns j in c0 … c1 − 1, rows in row-major order (o: the odometer). */
const sumColumns = rangeKernel<ColumnArgs>(({ src, outAcc, shape, strides, rows, inner }, c0, c1) => {
  const r = shape.length;
  const idx = new Int32Array(Math.max(0, r - 1));
  let o = 0;
  for (let row = 0, i = 0; row < rows; row++, i += inner) {
    for (let j = c0; j < c1; j++) outAcc[o + j] += src[i + j];
    for (let a = r - 2; a >= 0; a--) {
      idx[a]++;
      o += strides[a];
      if (idx[a] < shape[a]) break;
      o -= strides[a] * idx[a];
      idx[a] = 0;
    }
  }
});

/** Flat index in x of the first maximal element of each output's reduced set (cpu). */
function firstMaxCpu(src: ArrayLike<number>, shape: Shape, plan: Plan): Int32Array {
  const outSize = shapeSize(plan.kept);
  const best = new Float64Array(outSize).fill(Number.NEGATIVE_INFINITY);
  const at = new Int32Array(outSize).fill(-1);
  const strides = keptStrides(shape, plan);
  const r = shape.length;
  const idx = new Array<number>(r).fill(0);
  let o = 0;
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    const nanBest = at[o] >= 0 && Number.isNaN(best[o]);
    if (at[o] < 0 || (!nanBest && (v > best[o] || Number.isNaN(v)))) {
      best[o] = v;
      at[o] = i;
    }
    for (let a = r - 1; a >= 0; a--) {
      idx[a]++;
      o += strides[a];
      if (idx[a] < shape[a]) break;
      o -= strides[a] * idx[a];
      idx[a] = 0;
    }
  }
  return at;
}

const WGSL_TYPE: Record<string, string> = { f32: 'f32', i32: 'i32', u32: 'u32' };

/**
 * One invocation per output element o: base = its offset in x (kept axes), then j over the reduced elements in
 * row-major order (last reduced axis fastest). `grad` mode writes gy[o] at the first maximum into a zeroed gx.
 */
function reduceWgsl(kind: Kind | 'maxGrad', t: string): string {
  const init = kind === 'max' || kind === 'maxGrad' ? 'x[base]' : `${t}(0)`;
  const step =
    kind === 'max' || kind === 'maxGrad'
      ? `if (!isNan(acc) && (v > acc || isNan(v))) { acc = v; at = off; }`
      : 'acc += v;';
  const finish =
    kind === 'maxGrad'
      ? 'gx[at] = gy[o];'
      : kind === 'mean'
        ? 'out[o] = acc / f32(params.redCount);'
        : 'out[o] = acc;';
  const io =
    kind === 'maxGrad'
      ? `@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;`
      : `@group(0) @binding(1) var<storage, read> unused: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<${t}>;`;
  return /* wgsl */ `
${isNanWgsl(t)}
struct Params { rank: u32, outSize: u32, redCount: u32, gridX: u32 }
@group(0) @binding(0) var<storage, read> x: array<${t}>;
${io}
@group(0) @binding(3) var<storage, read> axes: array<u32>;
@group(0) @binding(4) var<uniform> params: Params;
// axes[4a..4a+3] = (dim, stride in x, kept 1/0, output stride) of input axis a
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x + gid.y * params.gridX * ${WG}u;
  if (o >= params.outSize) { return; }
  var base = 0u;
  for (var a = 0u; a < params.rank; a++) {
    if (axes[4u * a + 2u] == 1u) { base += ((o / axes[4u * a + 3u]) % axes[4u * a]) * axes[4u * a + 1u]; }
  }
  var acc = ${init};
  var at = base;
  for (var j = 0u; j < params.redCount; j++) {
    var rem = j;
    var off = base;
    for (var b = params.rank; b > 0u; b--) {
      let a = b - 1u;
      if (axes[4u * a + 2u] == 0u) {
        off += (rem % axes[4u * a]) * axes[4u * a + 1u];
        rem = rem / axes[4u * a];
      }
    }
    let v = x[off];
    ${step}
  }
  ${finish}
}`;
}

function axisTable(shape: Shape, plan: Plan): number[] {
  const xs = stridesOf(shape);
  const ks = stridesOf(plan.kept);
  return shape.flatMap((d, a) => {
    const kept = !plan.axes.includes(a);
    return [d, xs[a], kept ? 1 : 0, kept ? ks[a] : 0];
  });
}

export function runReduceGpu(
  ctx: WebGPUKernelContext,
  op: string,
  kind: Kind | 'maxGrad',
  x: Tensor,
  plan: Plan,
  io: [Tensor, Tensor],
): void {
  const outSize = shapeSize(plan.kept);
  if (outSize === 0) return;
  checkBindable(op, ctx, x, ...io);
  const table = u32Table(ctx, axisTable(x.shape, plan));
  const [gx, gy] = gridOf(ctx, outSize);
  try {
    ctx.run({
      name: `${op}:${kind}:${x.dtype}`,
      wgsl: reduceWgsl(kind, WGSL_TYPE[x.dtype]),
      bindings: [
        { tensor: x, access: 'read' },
        { tensor: io[0], access: 'read' },
        { tensor: io[1], access: 'read_write' },
        { tensor: table, access: 'read' },
        { uniform: new Uint32Array([x.shape.length, outSize, plan.count, gx]).buffer },
      ],
      workgroups: [gx, gy],
    });
  } finally {
    table.dispose();
  }
}

function reduceKernel(kind: Kind) {
  const op = `${kind}Axes`;
  return {
    cpu(ctx: CpuKernelContext, x: Tensor, axes?: Axes, keepDims?: boolean): Tensor {
      const plan = checkReduce(op, x, axes, keepDims, kind);
      const { tensor, data } = ctx.output(plan.out, x.dtype);
      data.set(reduceCpu(ctx.data(x), x.shape, plan, kind));
      return tensor;
    },
    webgpu(ctx: WebGPUKernelContext, x: Tensor, axes?: Axes, keepDims?: boolean): Tensor {
      const plan = checkReduce(op, x, axes, keepDims, kind);
      const out = ctx.output(plan.out, x.dtype);
      runReduceGpu(ctx, op, kind, x, plan, [x, out]);
      return out;
    },
  };
}

/** gy of the reduced shape back over x's shape (÷ count for the mean). */
function spread(gy: Tensor, x: Tensor, plan: Plan, scale: number): Tensor {
  const b = gy.backend;
  const g = b.reshape(gy, plan.kept);
  try {
    if (scale === 1) return broadcastTo(g, x.shape);
    const s = b.scale(g, scale);
    try {
      return broadcastTo(s, x.shape);
    } finally {
      s.dispose();
    }
  } finally {
    g.dispose();
  }
}

type ReduceOp = DefinedOp<[Tensor, Axes?, boolean?], Tensor>;

/** Σ of x over `axes` (all if omitted); any dtype. Gradient: gy broadcast back over the reduced axes. */
export const sumAxes: ReduceOp = defineOp({
  name: 'sumAxes',
  validate: (_b, x: Tensor, axes?: Axes, keepDims?: boolean) => {
    checkReduce('sumAxes', x, axes, keepDims, 'sum');
  },
  ...reduceKernel('sum'),
  gradient: {
    inputs: ([x]) => [x],
    save: () => [],
    backward: (gy: Tensor, { args: [x, axes] }) => [spread(gy, x, planAxes('sumAxes', x.shape, axes), 1)],
  },
});

/** (1/count)·Σ of x over `axes` (count = product of the reduced dims); float dtypes. Gradient: gy/count broadcast back. */
export const meanAxes: ReduceOp = defineOp({
  name: 'meanAxes',
  validate: (_b, x: Tensor, axes?: Axes, keepDims?: boolean) => {
    checkReduce('meanAxes', x, axes, keepDims, 'mean');
  },
  ...reduceKernel('mean'),
  gradient: {
    inputs: ([x]) => [x],
    save: () => [],
    backward: (gy: Tensor, { args: [x, axes] }) => {
      const plan = planAxes('meanAxes', x.shape, axes);
      return [spread(gy, x, plan, 1 / plan.count)];
    },
  },
});

/**
 * max of x over `axes`; any dtype; NaN propagates (a NaN counts as the maximum, the first one on cpu).
 * Gradient: gy to the first maximal element of each reduced set (row-major order), 0 elsewhere — a subgradient,
 * as torch's `amax` would split ties evenly instead.
 */
export const maxAxes: ReduceOp = defineOp({
  name: 'maxAxes',
  validate: (_b, x: Tensor, axes?: Axes, keepDims?: boolean) => {
    checkReduce('maxAxes', x, axes, keepDims, 'max');
  },
  ...reduceKernel('max'),
  gradient: {
    inputs: ([x]) => [x],
    save: ([x]) => [x],
    backward: (gy: Tensor, { args: [x, axes] }) => [maxAxesGrad(x, gy, axes)],
  },
});

/** Adjoint of maxAxes: a zero tensor of x's shape holding gy[o] at the first maximum of output o's set. */
const maxAxesGrad: DefinedOp<[Tensor, Tensor, Axes], Tensor> = defineOp({
  name: 'maxAxesGrad',
  validate: (_b, x: Tensor, gy: Tensor, axes: Axes) => {
    checkDtype('maxAxesGrad', 'x', x, FLOAT);
    const plan = planAxes('maxAxesGrad', x.shape, axes);
    if (gy.size !== shapeSize(plan.kept) || gy.dtype !== x.dtype)
      throw new ShapeError(
        'maxAxesGrad',
        `gy of shape ${describeShape(gy.shape)} and dtype ${gy.dtype}`,
        `${shapeSize(plan.kept)} elements of dtype ${x.dtype}`,
      );
  },
  cpu(ctx, x: Tensor, gy: Tensor, axes: Axes): Tensor {
    const plan = planAxes('maxAxesGrad', x.shape, axes);
    const at = firstMaxCpu(ctx.data(x), x.shape, plan);
    const g = ctx.data(gy);
    const { tensor, data } = ctx.output(x.shape, x.dtype);
    for (let o = 0; o < at.length; o++) if (at[o] >= 0) data[at[o]] = g[o];
    return tensor;
  },
  webgpu(ctx, x: Tensor, gy: Tensor, axes: Axes): Tensor {
    const plan = planAxes('maxAxesGrad', x.shape, axes);
    const gx = ctx.backend.zeros(x.shape, x.dtype as DType);
    runReduceGpu(ctx, 'maxAxesGrad', 'maxGrad', x, plan, [gy, gx]);
    return gx;
  },
});
