/**
 * `sumToShape(x, shape)`: sums x over the axes along which `shape` was broadcast to x's shape (leading axes that
 * `shape` lacks and axes where it has 1) — what a broadcasting op's backward needs to give an operand its own
 * shape back. `broadcastTo(x, shape)` is its adjoint.
 */
import { describeShape, ShapeError } from '../errors';
import type { Shape, Tensor } from '../types';
import { broadcastShapes, broadcastStrides, checkDtype, FLOAT, shapeSize } from '../validate';
import { type DefinedOp, defineOp } from './define';

const WG = 64;

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Per input axis: dim, input stride, kept (1/0), output stride along that axis (0 when reduced). */
function axisTable(inShape: Shape, outShape: Shape): Uint32Array {
  const r = inShape.length;
  const inStrides = broadcastStrides(inShape, inShape);
  const outStrides = broadcastStrides(outShape, inShape);
  const table = new Uint32Array(Math.max(4, 4 * r));
  for (let a = 0; a < r; a++) {
    const kept = outStrides[a] !== 0 || (inShape[a] === 1 && a >= r - outShape.length);
    table[4 * a] = inShape[a];
    table[4 * a + 1] = inStrides[a];
    table[4 * a + 2] = kept ? 1 : 0;
    table[4 * a + 3] = outStrides[a];
  }
  return table;
}

const SUM_TO_SHAPE_WGSL = /* wgsl */ `
struct Params { rank: u32, outSize: u32, redCount: u32, gridX: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> axes: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x + gid.y * params.gridX * ${WG}u;
  if (o >= params.outSize) { return; }
  var base = 0u;
  for (var a = 0u; a < params.rank; a++) {
    if (axes[4u * a + 2u] == 1u && axes[4u * a + 3u] != 0u) {
      base += ((o / axes[4u * a + 3u]) % axes[4u * a]) * axes[4u * a + 1u];
    }
  }
  var acc = 0.0;
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
    acc += x[off];
  }
  out[o] = acc;
}`;

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
    const src = ctx.data(x);
    const { tensor, data } = ctx.output(shape, x.dtype);
    const acc = new Float64Array(data.length);
    const r = x.shape.length;
    const strides = broadcastStrides(shape, x.shape);
    const idx = new Array<number>(r).fill(0);
    let o = 0;
    for (let i = 0; i < src.length; i++) {
      acc[o] += src[i];
      // advance the multi-index of x, keeping o = Σ idx·strides
      for (let a = r - 1; a >= 0; a--) {
        idx[a]++;
        o += strides[a];
        if (idx[a] < x.shape[a]) break;
        o -= strides[a] * idx[a];
        idx[a] = 0;
      }
    }
    data.set(acc);
    return tensor;
  },
  webgpu(ctx, x: Tensor, shape: Shape): Tensor {
    const out = ctx.output(shape, 'f32');
    const outSize = shapeSize(shape);
    if (outSize === 0) return out;
    const table = ctx.backend.tensor(axisTable(x.shape, shape), [Math.max(4, 4 * x.shape.length)], 'u32');
    const groups = Math.ceil(outSize / WG);
    const gridX = Math.min(groups, ctx.limits.maxWorkgroupsPerDimension);
    const params = new Uint32Array([x.shape.length, outSize, outSize === 0 ? 0 : x.size / outSize, gridX]);
    ctx.run({
      name: 'sumToShape',
      wgsl: SUM_TO_SHAPE_WGSL,
      bindings: [
        { tensor: x, access: 'read' },
        { tensor: out, access: 'read_write' },
        { tensor: table, access: 'read' },
        { uniform: params.buffer },
      ],
      workgroups: [gridX, Math.ceil(groups / gridX)],
    });
    table.dispose();
    return out;
  },
  gradient: {
    inputs: ([x]) => [x],
    save: () => [],
    backward: (gy: Tensor, { args: [x] }): Tensor[] => [broadcastTo(gy, x.shape)],
  },
});

/** x repeated along broadcast axes to `shape` (NumPy broadcast_to, materialised). */
export const broadcastTo: DefinedOp<[Tensor, Shape], Tensor> = defineOp({
  name: 'broadcastTo',
  validate(_b, x: Tensor, shape: Shape) {
    const out = broadcastShapes('broadcastTo', x.shape, shape);
    if (!sameShape(out, shape))
      throw new ShapeError(
        'broadcastTo',
        `${describeShape(x.shape)} to ${describeShape(shape)}`,
        'a shape x broadcasts to',
      );
  },
  cpu: (ctx, x: Tensor, shape: Shape) => viaAdd(ctx.backend, x, shape),
  webgpu: (ctx, x: Tensor, shape: Shape) => viaAdd(ctx.backend, x, shape),
  gradient: {
    inputs: ([x]) => [x],
    save: () => [],
    backward: (gy: Tensor, { args: [x] }): Tensor[] => [sumToShape(gy, x.shape)],
  },
});

/** x + 0 over the target shape: the elementwise add's broadcasting materialises it on either backend. */
function viaAdd(backend: Tensor['backend'], x: Tensor, shape: Shape): Tensor {
  if (sameShape(x.shape, shape)) return backend.scale(x, 1);
  const zeros = backend.zeros(shape, x.dtype);
  try {
    return backend.add(zeros, x);
  } finally {
    zeros.dispose();
  }
}

/** sumToShape, or the tensor itself when the shapes already agree (no copy). */
export function reduceToShape(g: Tensor, shape: Shape): Tensor {
  return sameShape(g.shape, shape) ? g : sumToShape(g, shape);
}
