/**
 * `chunkLast(x, n)`: x [..., n·W] → n tensors [..., W] (torch's `.chunk(n, dim=-1)`), and its adjoint
 * `concatLast(parts)`: n tensors [..., W] → [..., n·W]. The DiT slices its adaLN projection W_ada c + b_ada
 * [B, 6D] (or [B, 2D]) with it, so the projection stays one tensor of the reference's shape and its gradient
 * has that shape too. A stand-in until the kernels' slice/concat ops land.
 */
import {
  type Backend,
  type CpuKernelContext,
  type DefinedOp,
  DTypeError,
  defineOp,
  ShapeError,
  type Tensor,
  type WebGPUKernelContext,
} from '@duality/kernels';

type FloatArray = Float32Array | Float64Array;

/** rows = product of the leading axes; width = last axis. */
const rowsOf = (t: Tensor) => (t.shape.length === 0 ? 1 : t.size / t.shape[t.shape.length - 1]);
const widthOf = (t: Tensor) => t.shape[t.shape.length - 1];

function checkFloat(op: string, t: Tensor): void {
  if (t.dtype !== 'f32' && t.dtype !== 'f64') throw new DTypeError(op, t.dtype, 'f32 or f64');
}

/** Copies a block of columns: dst[r, dstOff + j] = src[r, srcOff + j] for j < w (one loop, both ops). */
function copyColumns(
  src: FloatArray,
  srcW: number,
  srcOff: number,
  dst: FloatArray,
  dstW: number,
  dstOff: number,
  rows: number,
  w: number,
): void {
  for (let r = 0; r < rows; r++) {
    const from = r * srcW + srcOff;
    dst.set(src.subarray(from, from + w), r * dstW + dstOff);
  }
}

const WG = 64;
const COPY_WGSL = /* wgsl */ `
struct Params { rows: u32, w: u32, srcW: u32, srcOff: u32, dstW: u32, dstOff: u32, gridX: u32, pad: u32 };
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.gridX * ${WG}u;
  if (i >= p.rows * p.w) { return; }
  let r = i / p.w;
  let j = i % p.w;
  dst[r * p.dstW + p.dstOff + j] = src[r * p.srcW + p.srcOff + j];
}`;

function copyColumnsGpu(
  ctx: WebGPUKernelContext,
  src: Tensor,
  srcOff: number,
  dst: Tensor,
  dstOff: number,
  w: number,
): void {
  const rows = rowsOf(src);
  const groups = Math.max(1, Math.ceil((rows * w) / WG));
  const gridX = Math.min(groups, ctx.limits.maxWorkgroupsPerDimension);
  ctx.run({
    name: 'models.copyColumns',
    wgsl: COPY_WGSL,
    bindings: [
      { tensor: src, access: 'read' },
      { tensor: dst, access: 'read_write' },
      { uniform: new Uint32Array([rows, w, widthOf(src), srcOff, widthOf(dst), dstOff, gridX, 0]).buffer },
    ],
    workgroups: [gridX, Math.ceil(groups / gridX)],
  });
}

const data = (ctx: CpuKernelContext, t: Tensor) => ctx.data(t) as FloatArray;

/** x [..., n·W] → n tensors [..., W]. Backward: concatLast of the chunk gradients (zeros where none arrived). */
export const chunkLast: DefinedOp<[Tensor, number], Tensor[]> = defineOp<[Tensor, number], Tensor[]>({
  name: 'chunkLast',
  validate(_b, x, n) {
    checkFloat('chunkLast', x);
    if (!Number.isSafeInteger(n) || n < 1 || x.shape.length === 0 || widthOf(x) % n !== 0)
      throw new ShapeError('chunkLast', `[${x.shape}] into ${n} chunks`, 'a last axis divisible by n ≥ 1');
  },
  cpu(ctx, x, n) {
    const w = widthOf(x) / n;
    const shape = [...x.shape.slice(0, -1), w];
    return Array.from({ length: n }, (_, c) => {
      const out = ctx.output(shape, x.dtype as 'f32' | 'f64');
      copyColumns(data(ctx, x), widthOf(x), c * w, out.data as FloatArray, w, 0, rowsOf(x), w);
      return out.tensor;
    });
  },
  webgpu(ctx, x, n) {
    const w = widthOf(x) / n;
    const shape = [...x.shape.slice(0, -1), w];
    return Array.from({ length: n }, (_, c) => {
      const out = ctx.output(shape, 'f32');
      copyColumnsGpu(ctx, x, c * w, out, 0, w);
      return out;
    });
  },
  gradient: {
    inputs: ([x]) => [x],
    save: () => [],
    backward: (gys, { output }): Tensor[] => {
      const b: Backend = output[0].backend;
      const parts = gys.map((g, i) => g ?? b.zeros(output[i].shape, output[i].dtype));
      const gx = concatLast(parts);
      parts.forEach((t, i) => {
        if (t !== gys[i]) t.dispose();
      });
      return [gx];
    },
  },
});

/** n tensors [..., W] (equal shapes) → [..., n·W]. Backward: chunkLast. */
export const concatLast: DefinedOp<[Tensor[]], Tensor> = defineOp<[Tensor[]], Tensor>({
  name: 'concatLast',
  validate(_b, parts) {
    // an empty list has no tensor to take the backend from: defineOp refuses it (ArgumentError) before this
    const first = parts[0];
    for (const t of parts) {
      checkFloat('concatLast', t);
      if (t.dtype !== first.dtype)
        throw new DTypeError('concatLast', `${first.dtype} and ${t.dtype}`, 'one dtype');
      if (
        t.shape.length === 0 ||
        t.shape.length !== first.shape.length ||
        t.shape.some((d, i) => d !== first.shape[i])
      )
        throw new ShapeError('concatLast', `[${t.shape}]`, `[${first.shape}] like the first part (rank ≥ 1)`);
    }
  },
  cpu(ctx, parts) {
    const w = widthOf(parts[0]);
    const total = w * parts.length;
    const out = ctx.output([...parts[0].shape.slice(0, -1), total], parts[0].dtype as 'f32' | 'f64');
    parts.forEach((t, c) => {
      copyColumns(data(ctx, t), w, 0, out.data as FloatArray, total, c * w, rowsOf(t), w);
    });
    return out.tensor;
  },
  webgpu(ctx, parts) {
    const w = widthOf(parts[0]);
    const out = ctx.output([...parts[0].shape.slice(0, -1), w * parts.length], 'f32');
    parts.forEach((t, c) => {
      copyColumnsGpu(ctx, t, 0, out, c * w, w);
    });
    return out;
  },
  gradient: {
    inputs: ([parts]) => parts,
    save: () => [],
    backward: (gy, { args: [parts] }): Tensor[] => chunkLast(gy, parts.length),
  },
});
