/**
 * Fused softmax cross-entropy: per row of logits z [..., V] with target y (i32/u32 [...], in [0, V)) and an
 * optional weight w [...],
 *   loss = (logsumexp(z) − z_y)·w = −log softmax(z)_y · w,   logsumexp(z) = m + log Σⱼ exp(zⱼ − m), m = maxⱼ zⱼ,
 * and its backward in one pass per row,
 *   ∂/∂zⱼ = (softmax(z)ⱼ − [j = y])·w·gy,   ∂/∂w = (logsumexp(z) − z_y)·gy,
 * so the [..., V] probabilities are never stored. cpu: float64 arithmetic, rounded once for f32. webgpu: one
 * invocation per row (f32; three passes over the row: max, Σ exp, write). Targets out of range throw
 * IndexOutOfRangeError (cpu: at the call; webgpu: at the next read or sync, reported by the gather of z_y).
 */
import { describeShape, IndexOutOfRangeError, ShapeError } from '../errors';
import type { Tensor } from '../types';
import { checkDtype, checkSameDtype, checkSameShape, FLOAT, INDEX, lastAxis } from '../validate';
import { type DefinedOp, defineOp, type WebGPUKernelContext } from './define';
import { checkBindable, gridOf, perRowMain } from './kernel-utils';

export interface SoftmaxCrossEntropyOptions {
  /** Per-row weights [...] (the shape of targets), in the logits' dtype; differentiable. */
  readonly weights?: Tensor;
}

const OP = 'softmaxCrossEntropy';

function check(z: Tensor, y: Tensor, o?: SoftmaxCrossEntropyOptions) {
  checkDtype(OP, 'logits', z, FLOAT);
  checkDtype(OP, 'targets', y, INDEX);
  const plan = lastAxis(OP, 'logits', z);
  checkSameShape(OP, 'logits without its last axis and targets', plan.outer, y.shape);
  if (o !== undefined && (o === null || typeof o !== 'object'))
    throw new ShapeError(OP, `options ${String(o)}`, 'an options object { weights? }');
  const w = o?.weights;
  if (w) {
    checkSameDtype(OP, z, w);
    if (w.shape.length !== y.shape.length || w.shape.some((d, i) => d !== y.shape[i]))
      throw new ShapeError(
        OP,
        `weights of shape ${describeShape(w.shape)}`,
        `the targets' shape ${describeShape(y.shape)}`,
      );
  }
  return plan;
}

/** m, log Σ exp(z − m) of one row (float64). */
function rowLse(zs: ArrayLike<number>, start: number, n: number): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let j = start; j < start + n; j++) if (zs[j] > m || Number.isNaN(zs[j])) m = zs[j];
  let s = 0;
  for (let j = start; j < start + n; j++) s += Math.exp(zs[j] - m);
  return m + Math.log(s);
}

function targetAt(ys: ArrayLike<number>, r: number, n: number): number {
  const t = ys[r];
  if (!(t >= 0 && t < n))
    throw new IndexOutOfRangeError(OP, `target ${t} at row ${r}`, `targets in [0, ${n})`);
  return t;
}

const FORWARD_WGSL = /* wgsl */ `
struct Params { rows: u32, n: u32, gridX: u32, hasW: u32 }
@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> zy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
// loss[row] = (m + log Σ exp(z − m) − z_y)·w
${perRowMain(`
  let base = row * params.n;
  var m = z[base];
  for (var j = 1u; j < params.n; j++) { m = max(m, z[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < params.n; j++) { s += exp(z[base + j] - m); }
  var l = m + log(s) - zy[row];
  if (params.hasW == 1u) { l = l * w[row]; }
  loss[row] = l;`)}`;

const BACKWARD_WGSL = /* wgsl */ `
struct Params { rows: u32, n: u32, gridX: u32, hasW: u32 }
@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<u32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> gz: array<f32>;
@group(0) @binding(5) var<storage, read_write> gw: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
// gz = (softmax(z) − onehot(y))·w·gy;  gw = (logsumexp(z) − z_y)·gy
${perRowMain(`
  let n = params.n;
  let base = row * n;
  let t = y[row];
  var m = z[base];
  for (var j = 1u; j < n; j++) { m = max(m, z[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < n; j++) { s += exp(z[base + j] - m); }
  var g = gy[row];
  if (params.hasW == 1u) {
    let zt = select(0.0, z[base + min(t, n - 1u)], t < n);
    gw[row] = (m + log(s) - zt) * g;
    g = g * w[row];
  }
  let inv = 1.0 / s;
  for (var j = 0u; j < n; j++) {
    let p = exp(z[base + j] - m) * inv;
    gz[base + j] = (p - select(0.0, 1.0, j == t)) * g;
  }`)}`;

function forwardGpu(ctx: WebGPUKernelContext, z: Tensor, y: Tensor, o?: SoftmaxCrossEntropyOptions): Tensor {
  const { rows, n, outer } = check(z, y, o);
  const loss = ctx.output(outer, 'f32');
  if (rows === 0) return loss;
  checkBindable(OP, ctx, z);
  // z_y by the backend's gather, which also checks the targets on the device
  const zy = ctx.backend.gatherLast(z, y);
  const w = o?.weights;
  const [gx, gyy] = gridOf(ctx, rows);
  try {
    ctx.run({
      name: OP,
      wgsl: FORWARD_WGSL,
      bindings: [
        { tensor: z, access: 'read' },
        { tensor: zy, access: 'read' },
        { tensor: w ?? zy, access: 'read' },
        { tensor: loss, access: 'read_write' },
        { uniform: new Uint32Array([rows, n, gx, w ? 1 : 0]).buffer },
      ],
      workgroups: [gx, gyy],
    });
  } finally {
    zy.dispose();
  }
  return loss;
}

/** Per-row loss −log softmax(z)_y (· weight) with the fused backward (see the module doc). */
export const softmaxCrossEntropy: DefinedOp<[Tensor, Tensor, SoftmaxCrossEntropyOptions?], Tensor> = defineOp(
  {
    name: OP,
    validate: (_b, z: Tensor, y: Tensor, o?: SoftmaxCrossEntropyOptions) => {
      check(z, y, o);
    },
    cpu(ctx, z: Tensor, y: Tensor, o?: SoftmaxCrossEntropyOptions): Tensor {
      const { rows, n, outer } = check(z, y, o);
      const zs = ctx.data(z);
      const ys = ctx.data(y);
      const ws = o?.weights ? ctx.data(o.weights) : undefined;
      const { tensor, data } = ctx.output(outer, z.dtype);
      for (let r = 0; r < rows; r++) {
        const t = targetAt(ys, r, n);
        const l = rowLse(zs, r * n, n) - zs[r * n + t];
        data[r] = ws ? l * ws[r] : l;
      }
      return tensor;
    },
    webgpu: forwardGpu,
    gradient: {
      inputs: ([z, , o]) => [z, undefined, o?.weights],
      save: ([z, y, o]) => [z, y, o?.weights],
      backward: (gy: Tensor, { args: [z, y, o] }) => {
        const [gz, gw] = softmaxCrossEntropyGrad(z, y, gy, o?.weights);
        return [gz, undefined, gw];
      },
    },
  },
);

/** The fused backward: [∂/∂logits, ∂/∂weights (undefined without weights)]. */
const softmaxCrossEntropyGrad: DefinedOp<
  [Tensor, Tensor, Tensor, Tensor | undefined],
  [Tensor, Tensor | undefined]
> = defineOp({
  name: `${OP}Grad`,
  cpu(ctx, z: Tensor, y: Tensor, gy: Tensor, w: Tensor | undefined): [Tensor, Tensor | undefined] {
    const { rows, n, outer } = check(z, y, { weights: w });
    const zs = ctx.data(z);
    const ys = ctx.data(y);
    const gs = ctx.data(gy);
    const ws = w ? ctx.data(w) : undefined;
    const gz = ctx.output(z.shape, z.dtype);
    const gw = w ? ctx.output(outer, z.dtype) : undefined;
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      const t = targetAt(ys, r, n);
      const lse = rowLse(zs, base, n);
      if (gw) gw.data[r] = (lse - zs[base + t]) * gs[r];
      const g = ws ? gs[r] * ws[r] : gs[r];
      for (let j = 0; j < n; j++) gz.data[base + j] = (Math.exp(zs[base + j] - lse) - (j === t ? 1 : 0)) * g;
    }
    return [gz.tensor, gw?.tensor];
  },
  webgpu(ctx, z: Tensor, y: Tensor, gy: Tensor, w: Tensor | undefined): [Tensor, Tensor | undefined] {
    const { rows, n, outer } = check(z, y, { weights: w });
    const gz = ctx.output(z.shape, 'f32');
    const gw = ctx.output(w ? outer : [1], 'f32');
    if (rows > 0) {
      checkBindable(`${OP}Grad`, ctx, z, gz);
      const [gx, gyy] = gridOf(ctx, rows);
      ctx.run({
        name: `${OP}Grad`,
        wgsl: BACKWARD_WGSL,
        bindings: [
          { tensor: z, access: 'read' },
          { tensor: y, access: 'read' },
          { tensor: gy, access: 'read' },
          { tensor: w ?? gy, access: 'read' },
          { tensor: gz, access: 'read_write' },
          { tensor: gw, access: 'read_write' },
          { uniform: new Uint32Array([rows, n, gx, w ? 1 : 0]).buffer },
        ],
        workgroups: [gx, gyy],
      });
    }
    if (w) return [gz, gw];
    gw.dispose();
    return [gz, undefined];
  },
});
