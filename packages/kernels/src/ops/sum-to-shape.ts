/**
 * `sumToShape(x, shape)`: sums x over the axes along which `shape` was broadcast to x's shape (leading axes that
 * `shape` lacks and axes where it has 1) — what a broadcasting op's backward needs to give an operand its own
 * shape back: reduce-axes' sum over those axes, kept as 1s. `broadcastTo(x, shape)` is its adjoint.
 */
import { describeShape, ShapeError } from '../errors';
import type { Shape, Tensor } from '../types';
import { broadcastShapes, broadcastStrides, checkDtype, checkShape, FLOAT, shapeSize } from '../validate';
import { type DefinedOp, defineOp } from './define';
import { checkBindable, gridOf, sameShape, u32Table, WG } from './kernel-utils';
import { type Plan, planAxes, reduceCpu, runReduceGpu } from './reduce-axes';

/**
 * Calls `f(i, at)` for every innermost row of a row-major `shape` (i: the row's flat start; at: Σ idx·strides
 * over the outer axes, the matching offset in the other tensor).
 */
function forEachBlock(shape: Shape, strides: readonly number[], f: (i: number, at: number) => void): void {
  const r = shape.length;
  const inner = r === 0 ? 1 : shape[r - 1];
  const rows = inner === 0 ? 0 : shapeSize(shape) / inner;
  const idx = new Array<number>(Math.max(0, r - 1)).fill(0);
  let at = 0;
  for (let row = 0; row < rows; row++) {
    f(row * inner, at);
    for (let a = r - 2; a >= 0; a--) {
      idx[a]++;
      at += strides[a];
      if (idx[a] < shape[a]) break;
      at -= strides[a] * idx[a];
      idx[a] = 0;
    }
  }
}

/** The axes of x that the target shape was broadcast along: leading axes it lacks, and its 1s where x is not 1. */
function broadcastAxes(xShape: Shape, shape: Shape): number[] {
  const lead = xShape.length - shape.length;
  return xShape.flatMap((d, a) => (a < lead || (shape[a - lead] === 1 && d !== 1) ? [a] : []));
}

/** The reduce-axes plan of sumToShape: Σ over the broadcast axes, kept as 1s (row-major order of the target). */
function planSumTo(x: Tensor, shape: Shape): Plan {
  return planAxes('sumToShape', x.shape, broadcastAxes(x.shape, shape), true);
}

function checkTarget(op: string, x: Tensor, shape: Shape): void {
  checkDtype(op, 'x', x, FLOAT);
  const back = broadcastShapes(op, shape, x.shape);
  if (!sameShape(back, x.shape))
    throw new ShapeError(
      op,
      `target ${describeShape(shape)} for ${describeShape(x.shape)}`,
      'a shape that broadcasts to x',
    );
}

/** Σ over broadcast axes: x of shape broadcast(shape) → shape. */
export const sumToShape: DefinedOp<[Tensor, Shape], Tensor> = defineOp({
  name: 'sumToShape',
  validate: (_b, x: Tensor, shape: Shape) => checkTarget('sumToShape', x, shape),
  cpu(ctx, x: Tensor, shape: Shape): Tensor {
    const { tensor, data } = ctx.output(shape, x.dtype);
    data.set(reduceCpu(ctx.data(x), x.shape, planSumTo(x, shape), 'sum'));
    return tensor;
  },
  webgpu(ctx, x: Tensor, shape: Shape): Tensor {
    checkBindable('sumToShape', ctx, x);
    const out = ctx.output(shape, 'f32');
    runReduceGpu(ctx, 'sumToShape', 'sum', x, planSumTo(x, shape), [x, out]);
    return out;
  },
  gradient: {
    inputs: ([x]) => [x],
    save: () => [],
    backward: (gy: Tensor, { args: [x] }): Tensor[] => [broadcastTo(gy, x.shape)],
  },
});

const BROADCAST_WGSL = /* wgsl */ `
struct Params { rank: u32, outSize: u32, gridX: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<storage, read> axes: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;
// copies 32-bit words (any dtype, bit-exact); axes[2a] = output dim of axis a, axes[2a + 1] = x's stride along it (0 where broadcast)
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x + gid.y * params.gridX * ${WG}u;
  if (o >= params.outSize) { return; }
  var rem = o;
  var src = 0u;
  for (var b = params.rank; b > 0u; b--) {
    let a = b - 1u;
    src += (rem % axes[2u * a]) * axes[2u * a + 1u];
    rem = rem / axes[2u * a];
  }
  out[o] = x[src];
}`;

/** x repeated along broadcast axes to `shape` (NumPy broadcast_to, materialised in one pass; any dtype). */
export const broadcastTo: DefinedOp<[Tensor, Shape], Tensor> = defineOp({
  name: 'broadcastTo',
  validate(_b, x: Tensor, shape: Shape) {
    checkShape('broadcastTo', shape);
    const out = broadcastShapes('broadcastTo', x.shape, shape);
    if (!sameShape(out, shape))
      throw new ShapeError(
        'broadcastTo',
        `${describeShape(x.shape)} to ${describeShape(shape)}`,
        'a shape x broadcasts to',
      );
  },
  cpu(ctx, x: Tensor, shape: Shape): Tensor {
    const src = ctx.data(x);
    const { tensor, data } = ctx.output(shape, x.dtype);
    if (data.length === 0) return tensor;
    const inner = shape.length === 0 ? 1 : shape[shape.length - 1];
    const innerStride = x.shape.length === 0 ? 0 : broadcastStrides(x.shape, shape)[shape.length - 1];
    // one block per innermost row: a copy when x has that axis, a fill when it is broadcast
    forEachBlock(shape, broadcastStrides(x.shape, shape), (o, at) => {
      if (innerStride === 0) data.fill(src[at] as never, o, o + inner);
      else data.set(src.subarray(at, at + inner) as never, o);
    });
    return tensor;
  },
  webgpu(ctx, x: Tensor, shape: Shape): Tensor {
    const out = ctx.output(shape, x.dtype);
    try {
      checkBindable('broadcastTo', ctx, out);
    } catch (error) {
      out.dispose();
      throw error;
    }
    const outSize = shapeSize(shape);
    if (outSize === 0) return out;
    const strides = broadcastStrides(x.shape, shape);
    const table = u32Table(
      ctx,
      shape.flatMap((d, a) => [d, strides[a]]),
    );
    const [gx, gy] = gridOf(ctx, outSize);
    ctx.run({
      name: 'broadcastTo',
      wgsl: BROADCAST_WGSL,
      bindings: [
        { tensor: x, access: 'read' },
        { tensor: out, access: 'read_write' },
        { tensor: table, access: 'read' },
        { uniform: new Uint32Array([shape.length, outSize, gx, 0]).buffer },
      ],
      workgroups: [gx, gy],
    });
    table.dispose();
    return out;
  },
  gradient: {
    inputs: ([x]) => [x],
    save: () => [],
    backward: (gy: Tensor, { args: [x] }): Tensor[] => [sumToShape(gy, x.shape)],
  },
});

/** sumToShape, or the tensor itself when the shapes already agree (no copy). */
export function reduceToShape(g: Tensor, shape: Shape): Tensor {
  return sameShape(g.shape, shape) ? g : sumToShape(g, shape);
}
