/**
 * Fused backward kernels of the activations and of LayerNorm: each is one pass, so a backward costs what its
 * forward costs (they are the adjoints the tape calls, not ops users need).
 */

import { EXP_NON_POSITIVE } from '../cpu/fast-math';
import {
  apply,
  type RangeKernel,
  type RangeLoop,
  rangeKernel,
  rangeKernelOf,
  runRange,
} from '../cpu/parallel';
import { ArgumentError } from '../errors';
import type { Tensor, TypedArray } from '../types';
import { checkDtype, checkRank, checkSameDtype, checkSameShape, FLOAT, shapeSize } from '../validate';
import { defineOp, type WebGPUKernelContext } from './define';
import { checkBindable } from './kernel-utils';

const WG = 64;

function gridOf(ctx: WebGPUKernelContext, n: number): [number, number] {
  const groups = Math.max(1, Math.ceil(n / WG));
  const x = Math.min(groups, ctx.limits.maxWorkgroupsPerDimension);
  return [x, Math.ceil(groups / x)];
}

function pointwiseGradWgsl(name: string, body: string): string {
  return /* wgsl */ `
struct Params { n: u32, gridX: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
// ${name}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.gridX * ${WG}u;
  if (i >= params.n) { return; }
  let v = x[i];
  ${body}
}`;
}

/** Arguments of the cpu loops: x (or y) and gy in, out = gx; rows of n for the row kernels. */
interface GradArgs {
  x: TypedArray;
  gy: TypedArray;
  out: TypedArray;
  n: number;
}

/** A pointwise backward out[i] = gy[i]·f′(x[i]): its cpu loop over elements (`cost` per element) and WGSL body. */
function pointwiseGrad(
  name: string,
  loop: RangeKernel<GradArgs>,
  cost: number,
  wgslBody: string,
  f32?: { loop: RangeKernel<GradArgs>; cost: number },
) {
  const wgsl = pointwiseGradWgsl(name, wgslBody);
  return defineOp({
    name,
    validate(_b, x: Tensor, gy: Tensor) {
      checkDtype(name, 'x', x, FLOAT);
      checkSameDtype(name, x, gy);
      checkSameShape(name, 'x and gy', x.shape, gy.shape);
    },
    cpu(ctx, x: Tensor, gy: Tensor): Tensor {
      const { tensor, data } = ctx.output(x.shape, x.dtype);
      const k = x.dtype === 'f32' && f32 ? f32 : { loop, cost };
      runRange(k.loop, { x: ctx.data(x), gy: ctx.data(gy), out: data, n: 1 }, x.size, x.size * k.cost);
      return tensor;
    },
    webgpu(ctx, x: Tensor, gy: Tensor): Tensor {
      checkBindable(name, ctx, x);
      const out = ctx.output(x.shape, 'f32');
      const [gx, gyy] = gridOf(ctx, x.size);
      ctx.run({
        name,
        wgsl,
        bindings: [
          { tensor: x, access: 'read' },
          { tensor: gy, access: 'read' },
          { tensor: out, access: 'read_write' },
          { uniform: new Uint32Array([x.size, gx, 0, 0]).buffer },
        ],
        workgroups: [gx, gyy],
      });
      return out;
    },
  });
}

const C = Math.sqrt(2 / Math.PI);

/** f32 GELU-tanh gradient: s and 1 − s from e = exp(−2|u|) ≤ 1 (fast-math.ts), 1/(1 + e) and e/(1 + e). */
function geluGradF32Loop(expNonPositive: (x: number) => number): RangeLoop<GradArgs> {
  return ({ x: xs, gy, out }, i0, i1) => {
    const c = 0.7978845608028654;
    for (let i = i0; i < i1; i++) {
      const x = xs[i];
      const u = c * (x + 0.044715 * x * x * x);
      const e = expNonPositive(-2 * Math.abs(u));
      const s = (u >= 0 ? 1 : e) / (1 + e);
      const r = (u >= 0 ? e : 1) / (1 + e);
      const d = s === 0 || s === 1 ? s : s * (1 + 2 * x * r * c * (1 + 3 * 0.044715 * x * x));
      out[i] = gy[i] * d;
    }
  };
}

/**
 * d/dx of ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³), written with s = σ(2u) = ½(1 + tanh u) and
 * 1 − tanh²u = 4s(1 − s): s·(1 + 2x(1 − s)·√(2/π)(1 + 3·0.044715x²)). No 1 + tanh u cancellation in the
 * negative tail (where the tanh form loses all relative precision) and no tanh (WGSL's overflows on some
 * drivers). cpu: s = 0 or 1 returns the limit (what the formula gives then), so huge |x| cannot make 0·∞.
 * WGSL (no infinities allowed): x is clamped to ±10, where the derivative already is 1, or 0 to 1e-35.
 */
export const geluTanhGrad = pointwiseGrad(
  'geluTanhGrad',
  rangeKernel<GradArgs>(({ x: xs, gy, out }, i0, i1) => {
    const c = 0.7978845608028654; // √(2/π) = Math.sqrt(2 / Math.PI)
    for (let i = i0; i < i1; i++) {
      const x = xs[i];
      const s = 1 / (1 + Math.exp(-2 * c * (x + 0.044715 * x * x * x)));
      const d = s === 0 || s === 1 ? s : s * (1 + 2 * x * (1 - s) * c * (1 + 3 * 0.044715 * x * x));
      out[i] = gy[i] * d;
    }
  }),
  30,
  `let c = clamp(v, -10.0, 10.0);
  let s = 1.0 / (1.0 + exp(-2.0 * ${C} * (c + 0.044715 * c * c * c)));
  gx[i] = gy[i] * (s * (1.0 + 2.0 * c * (1.0 - s) * ${C} * (1.0 + 3.0 * 0.044715 * c * c)));`,
  // f32: s and 1 − s from e = exp(−2|u|) ≤ 1 (fast-math.ts): 1/(1 + e) and e/(1 + e), swapped for u < 0
  {
    loop: rangeKernelOf(apply(geluGradF32Loop, EXP_NON_POSITIVE)),
    cost: 15,
  },
);

/** d/dx of x·σ(x): σ(x)(1 + x(1 − σ(x))). WGSL clamps x to ±80 so exp stays finite (beyond: 1, or 0 to 1e-33). */
export const siluGrad = pointwiseGrad(
  'siluGrad',
  rangeKernel<GradArgs>(({ x: xs, gy, out }, i0, i1) => {
    for (let i = i0; i < i1; i++) {
      const s = 1 / (1 + Math.exp(-xs[i]));
      out[i] = gy[i] * s * (1 + xs[i] * (1 - s));
    }
  }),
  25,
  `let c = clamp(v, -80.0, 80.0);
  let s = 1.0 / (1.0 + exp(-c));
  gx[i] = gy[i] * (s * (1.0 + c * (1.0 - s)));`,
);

/**
 * Row-wise backward of the last-axis normalisations, one workgroup per row: the row's sum t = Σ_j term_j is
 * reduced in workgroup memory, then every element's gradient is written from it. `term` and `grad` are WGSL
 * expressions of `yv` (the saved output) and `g` (the incoming gradient); `grad` also reads `t`.
 */
function rowGradWgsl(name: string, term: string, grad: string): string {
  return /* wgsl */ `
struct Params { rows: u32, n: u32, gridX: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
var<workgroup> part: array<f32, ${WG}>;
// ${name}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * params.gridX;
  if (row >= params.rows) { return; }
  let base = row * params.n;
  var acc = 0.0;
  for (var j = lid; j < params.n; j += ${WG}u) {
    let yv = y[base + j];
    let g = gy[base + j];
    acc += ${term};
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  let t = part[0];
  for (var j = lid; j < params.n; j += ${WG}u) {
    let yv = y[base + j];
    let g = gy[base + j];
    gx[base + j] = ${grad};
  }
}`;
}

/**
 * A fused last-axis backward (y, gy) → gx: the cpu loop over rows (x = y; `cost` per element) and the WGSL
 * `term`/`grad` (see rowGradWgsl).
 */
function rowGrad(
  name: string,
  rows: RangeKernel<GradArgs>,
  cost: number,
  wgslTerm: string,
  wgslGrad: string,
) {
  const wgsl = rowGradWgsl(name, wgslTerm, wgslGrad);
  return defineOp({
    name,
    validate(_b, y: Tensor, gy: Tensor) {
      checkDtype(name, 'y', y, FLOAT);
      checkRank(name, 'y', y, 1);
      checkSameDtype(name, y, gy);
      checkSameShape(name, 'y and gy', y.shape, gy.shape);
    },
    cpu(ctx, y: Tensor, gy: Tensor): Tensor {
      const { tensor, data } = ctx.output(y.shape, y.dtype);
      const n = y.shape[y.shape.length - 1];
      const count = n === 0 ? 0 : y.size / n;
      runRange(rows, { x: ctx.data(y), gy: ctx.data(gy), out: data, n }, count, y.size * cost);
      return tensor;
    },
    webgpu(ctx, y: Tensor, gy: Tensor): Tensor {
      checkBindable(name, ctx, y);
      const out = ctx.output(y.shape, 'f32');
      const n = y.shape[y.shape.length - 1];
      const count = n === 0 ? 0 : y.size / n;
      if (count === 0) return out;
      const [gX, gY] = gridOf(ctx, count * WG);
      ctx.run({
        name,
        wgsl,
        bindings: [
          { tensor: y, access: 'read' },
          { tensor: gy, access: 'read' },
          { tensor: out, access: 'read_write' },
          { uniform: new Uint32Array([count, n, gX, 0]).buffer },
        ],
        workgroups: [gX, gY],
      });
      return out;
    },
  });
}

/** Backward of y = softmax(x) over the last axis from y itself: gx = y ⊙ (gy − Σ gy·y), one pass per row. */
export const softmaxGrad = rowGrad(
  'softmaxGrad',
  rangeKernel<GradArgs>(({ x: ys, gy, out, n }, r0, r1) => {
    for (let base = r0 * n; base < r1 * n; base += n) {
      let t = 0;
      for (let j = base; j < base + n; j++) t += ys[j] * gy[j];
      for (let j = base; j < base + n; j++) out[j] = ys[j] * (gy[j] - t);
    }
  }),
  4,
  'yv * g',
  'yv * (g - t)',
);

/**
 * Backward of y = logSoftmax(x) from y itself: gx = gy − exp(y)·Σ gy, one pass per row (a −∞ log-probability
 * takes no share; WGSL tests y < −87 instead of relying on exp(−∞)).
 */
export const logSoftmaxGrad = rowGrad(
  'logSoftmaxGrad',
  rangeKernel<GradArgs>(({ x: ys, gy, out, n }, r0, r1) => {
    for (let base = r0 * n; base < r1 * n; base += n) {
      let t = 0;
      for (let j = base; j < base + n; j++) t += gy[j];
      for (let j = base; j < base + n; j++) out[j] = gy[j] - Math.exp(ys[j]) * t;
    }
  }),
  20,
  'g',
  'g - select(exp(yv) * t, 0.0, yv < -87.0)',
);

const LN_GRAD_WGSL = /* wgsl */ `
struct Params { rows: u32, d: u32, gridX: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
@group(0) @binding(4) var<storage, read_write> gyxhat: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
// one row per invocation: xhat = (x − μ)·r, g = gy·w, gx = r(g − mean(g) − xhat·mean(g·xhat)), gyxhat = gy·xhat
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x + gid.y * params.gridX * ${WG}u;
  if (row >= params.rows) { return; }
  let d = params.d;
  let base = row * d;
  var mean = 0.0;
  for (var j = 0u; j < d; j++) { mean += x[base + j]; }
  mean = mean / f32(d);
  var varSum = 0.0;
  for (var j = 0u; j < d; j++) { let c = x[base + j] - mean; varSum += c * c; }
  let r = inverseSqrt(varSum / f32(d) + params.eps);
  var mg = 0.0;
  var mgx = 0.0;
  for (var j = 0u; j < d; j++) {
    let xh = (x[base + j] - mean) * r;
    let g = gy[base + j] * w[j];
    mg += g;
    mgx += g * xh;
    gyxhat[base + j] = gy[base + j] * xh;
  }
  mg = mg / f32(d);
  mgx = mgx / f32(d);
  for (var j = 0u; j < d; j++) {
    let xh = (x[base + j] - mean) * r;
    gx[base + j] = r * (gy[base + j] * w[j] - mg - xh * mgx);
  }
}`;

interface LayerNormGradArgs {
  x: TypedArray;
  w: TypedArray;
  gy: TypedArray;
  out: TypedArray;
  outXhat: TypedArray;
  d: number;
  eps: number;
}

/** xhat = (x − μ)·r, g = gy·w, gx = r(g − mean(g) − xhat·mean(g·xhat)), gy·xhat, per row of d. */
const layerNormGradRows = rangeKernel<LayerNormGradArgs>(
  ({ x: xs, w: ws, gy: gs, out, outXhat, d, eps }, r0, r1) => {
    for (let r = r0; r < r1; r++) {
      const base = r * d;
      let mean = 0;
      for (let j = 0; j < d; j++) mean += xs[base + j];
      mean /= d;
      let v = 0;
      for (let j = 0; j < d; j++) v += (xs[base + j] - mean) ** 2;
      const rstd = 1 / Math.sqrt(v / d + eps);
      let mg = 0;
      let mgx = 0;
      for (let j = 0; j < d; j++) {
        const xh = (xs[base + j] - mean) * rstd;
        const g = gs[base + j] * ws[j];
        mg += g;
        mgx += g * xh;
        outXhat[base + j] = gs[base + j] * xh;
      }
      mg /= d;
      mgx /= d;
      for (let j = 0; j < d; j++) {
        const xh = (xs[base + j] - mean) * rstd;
        out[base + j] = rstd * (gs[base + j] * ws[j] - mg - xh * mgx);
      }
    }
  },
);

/**
 * Backward of the weight-only LayerNorm y = xhat·w (xhat = (x − μ)/√(var + eps), biased var): returns
 * [gx, gy·xhat] (the second summed over rows is the weight's gradient; the caller sums it).
 */
export const layerNormGrad = defineOp({
  name: 'layerNormGrad',
  validate(_b, x: Tensor, w: Tensor, gy: Tensor, eps: number) {
    const op = 'layerNormGrad';
    checkDtype(op, 'x', x, FLOAT);
    checkRank(op, 'x', x, 1);
    checkSameDtype(op, x, w);
    checkSameDtype(op, x, gy);
    checkSameShape(op, 'weight and the last axis of x', w.shape, x.shape.slice(-1));
    checkSameShape(op, 'x and gy', x.shape, gy.shape);
    if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps))
      throw new ArgumentError(op, `eps = ${String(eps)}`, 'a finite number ≥ 0');
  },
  cpu(ctx, x: Tensor, w: Tensor, gy: Tensor, eps: number): [Tensor, Tensor] {
    const d = x.shape[x.shape.length - 1];
    const rows = d === 0 ? 0 : x.size / d;
    const gx = ctx.output(x.shape, x.dtype);
    const gxh = ctx.output(x.shape, x.dtype);
    const args = {
      x: ctx.data(x),
      w: ctx.data(w),
      gy: ctx.data(gy),
      out: gx.data,
      outXhat: gxh.data,
      d,
      eps,
    };
    runRange(layerNormGradRows, args, rows, x.size * 10);
    return [gx.tensor, gxh.tensor];
  },
  webgpu(ctx, x: Tensor, w: Tensor, gy: Tensor, eps: number): [Tensor, Tensor] {
    checkBindable('layerNormGrad', ctx, x);
    const d = x.shape[x.shape.length - 1];
    const rows = d === 0 ? 0 : shapeSize(x.shape) / d;
    const gx = ctx.output(x.shape, 'f32');
    const gxh = ctx.output(x.shape, 'f32');
    if (rows === 0) return [gx, gxh];
    const [gX, gY] = gridOf(ctx, rows);
    const params = new ArrayBuffer(16);
    new Uint32Array(params, 0, 3).set([rows, d, gX]);
    new Float32Array(params, 12, 1)[0] = eps;
    ctx.run({
      name: 'layerNormGrad',
      wgsl: LN_GRAD_WGSL,
      bindings: [
        { tensor: x, access: 'read' },
        { tensor: w, access: 'read' },
        { tensor: gy, access: 'read' },
        { tensor: gx, access: 'read_write' },
        { tensor: gxh, access: 'read_write' },
        { uniform: params },
      ],
      workgroups: [gX, gY],
    });
    return [gx, gxh];
  },
});
