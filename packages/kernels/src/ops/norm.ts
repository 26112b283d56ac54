/**
 * `layerNormStats(x, w, eps)`: the weight-only LayerNorm of the backends (biased variance, two passes) that also
 * returns its statistics,
 *   mean = Σⱼ xⱼ / n,  rstd = 1/√(Σⱼ (xⱼ − mean)²/n + eps),  y = (x − mean)·rstd·w,
 * over the last axis of x [..., n] with w [n]; mean and rstd have shape [..., 1] (they broadcast against x).
 * The same operation sequence as `Backend.layerNorm`, so y equals it bit for bit on cpu. Differentiable in x and
 * w through y (the fused layerNormGrad kernel); the mean and rstd outputs pass no gradient.
 */

import { rangeKernel, runRange } from '../cpu/parallel';
import { describeShape, ShapeError } from '../errors';
import type { Tensor, TypedArray } from '../types';
import { checkDtype, checkEps, checkSameDtype, FLOAT, lastAxis } from '../validate';
import { layerNormGrad } from './activation-grads';
import { type DefinedOp, defineOp } from './define';
import { checkBindable, gridOf, perRowMain } from './kernel-utils';
import { reduceToShape } from './sum-to-shape';

function check(x: Tensor, w: Tensor, eps: number): { rows: number; n: number; outer: number[] } {
  const op = 'layerNormStats';
  checkEps(op, eps);
  checkDtype(op, 'x', x, FLOAT);
  checkSameDtype(op, x, w);
  const plan = lastAxis(op, 'x', x);
  if (w.shape.length !== 1 || w.shape[0] !== plan.n)
    throw new ShapeError(op, `w of shape ${describeShape(w.shape)}`, `w of shape [${plan.n}]`);
  return plan;
}

const LN_STATS_WGSL = /* wgsl */ `
struct Params { rows: u32, n: u32, gridX: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> meanOut: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstdOut: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
// one row per invocation, in order: mean, Σ(x − mean)², rstd, then y
${perRowMain(`
  let n = params.n;
  let base = row * n;
  var acc = 0.0;
  for (var j = 0u; j < n; j++) { acc += x[base + j]; }
  let mean = acc / f32(n);
  var sq = 0.0;
  for (var j = 0u; j < n; j++) { let c = x[base + j] - mean; sq += c * c; }
  let inv = 1.0 / sqrt(sq / f32(n) + params.eps);
  for (var j = 0u; j < n; j++) { y[base + j] = (x[base + j] - mean) * inv * w[j]; }
  meanOut[row] = mean;
  rstdOut[row] = inv;`)}`;

interface StatsArgs {
  x: TypedArray;
  w: TypedArray;
  n: number;
  eps: number;
  out: TypedArray;
  outMean: TypedArray;
  outRstd: TypedArray;
}

/** Per row: mean, Σ(x − mean)², rstd, then y = (x − mean)·rstd·w (the order of Backend.layerNorm). */
const layerNormStatsRows = rangeKernel<StatsArgs>(
  ({ x: xs, w: ws, n, eps, out, outMean, outRstd }, r0, r1) => {
    for (let r = r0; r < r1; r++) {
      const start = r * n;
      let s = 0;
      for (let i = start; i < start + n; i++) s += xs[i];
      const m = s / n;
      let v = 0;
      for (let i = start; i < start + n; i++) v += (xs[i] - m) * (xs[i] - m);
      const inv = 1 / Math.sqrt(v / n + eps);
      for (let i = 0; i < n; i++) out[start + i] = (xs[start + i] - m) * inv * ws[i];
      outMean[r] = m;
      outRstd[r] = inv;
    }
  },
);

/** [y, mean, rstd] of the weight-only LayerNorm over the last axis (see the module doc). eps ≥ 0, default 1e-5. */
export const layerNormStats: DefinedOp<[Tensor, Tensor, number?], [Tensor, Tensor, Tensor]> = defineOp({
  name: 'layerNormStats',
  validate: (_b, x: Tensor, w: Tensor, eps = 1e-5) => {
    check(x, w, eps);
  },
  cpu(ctx, x: Tensor, w: Tensor, eps = 1e-5): [Tensor, Tensor, Tensor] {
    const { rows, n, outer } = check(x, w, eps);
    const y = ctx.output(x.shape, x.dtype);
    const mean = ctx.output([...outer, 1], x.dtype);
    const rstd = ctx.output([...outer, 1], x.dtype);
    const args = {
      x: ctx.data(x),
      w: ctx.data(w),
      n,
      eps,
      out: y.data,
      outMean: mean.data,
      outRstd: rstd.data,
    };
    runRange(layerNormStatsRows, args, rows, rows * n * 6);
    return [y.tensor, mean.tensor, rstd.tensor];
  },
  webgpu(ctx, x: Tensor, w: Tensor, eps = 1e-5): [Tensor, Tensor, Tensor] {
    const { rows, n, outer } = check(x, w, eps);
    const y = ctx.output(x.shape, 'f32');
    const mean = ctx.output([...outer, 1], 'f32');
    const rstd = ctx.output([...outer, 1], 'f32');
    if (rows === 0) return [y, mean, rstd];
    checkBindable('layerNormStats', ctx, x, y);
    const [gx, gy] = gridOf(ctx, rows);
    const params = new ArrayBuffer(16);
    new Uint32Array(params, 0, 3).set([rows, n, gx]);
    new Float32Array(params, 12, 1)[0] = eps;
    ctx.run({
      name: 'layerNormStats',
      wgsl: LN_STATS_WGSL,
      bindings: [
        { tensor: x, access: 'read' },
        { tensor: w, access: 'read' },
        { tensor: y, access: 'read_write' },
        { tensor: mean, access: 'read_write' },
        { tensor: rstd, access: 'read_write' },
        { uniform: params },
      ],
      workgroups: [gx, gy],
    });
    return [y, mean, rstd];
  },
  gradient: {
    inputs: ([x, w]) => [x, w],
    save: ([x, w]) => [x, w],
    backward: (gys: Array<Tensor | undefined>, { args: [x, w, eps] }) => {
      const gy = gys[0];
      if (!gy) return [undefined, undefined];
      const [gx, gyxhat] = layerNormGrad(x, w, gy, eps ?? 1e-5);
      const gw = reduceToShape(gyxhat, w.shape);
      if (gw !== gyxhat) gyxhat.dispose();
      return [gx, gw];
    },
  },
});
