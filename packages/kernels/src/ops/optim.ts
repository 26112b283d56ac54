/**
 * Optimiser ops: `globalNorm(tensors)` = √(Σₜ Σᵢ tᵢ²) (the total norm of `torch.nn.utils.clip_grad_norm_`), and
 * the fused, in-place `adamwUpdate` — torch.optim.AdamW (`_single_tensor_adam` with decoupled weight decay) in
 * torch's own order of operations, one pass over each parameter tensor (parameters and both moments updated
 * together, as llm.c's `gpt2_update`). With g = grad·clipCoef, bc₁ = 1 − β₁^step, bc₂ = 1 − β₂^step:
 *   p ← p·(1 − lr·wd)                          (param.mul_(1 − lr·weight_decay))
 *   m ← m + (1 − β₁)·(g − m)                    (exp_avg.lerp_(g, 1 − β₁); torch's lerp takes
 *                                                g − (g − m)·(1 − (1 − β₁)) when 1 − β₁ ≥ ½, and so do we)
 *   v ← v·β₂ + ((1 − β₂)·g)·g                   (exp_avg_sq.mul_(β₂).addcmul_(g, g, value = 1 − β₂))
 *   d ← √v / √bc₂ + eps                         (denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps))
 *   p ← p + ((−lr/bc₁)·m) / d                   (param.addcdiv_(exp_avg, denom, value = −lr/bc₁))
 * cpu: float64 arithmetic (f32 tensors round once per stored value); webgpu: f32, the scalars formed in float64
 * on the host and rounded to f32.
 */
import { ArgumentError, DTypeError, describeShape, ShapeError } from '../errors';
import type { Backend, Tensor } from '../types';
import { checkDtype, checkTensor, FLOAT } from '../validate';
import { type DefinedOp, defineOp, type WebGPUKernelContext } from './define';
import { checkDistinct, checkNotRecording, mutableBinding, mutableData } from './in-place';
import { checkBindable, freeing, gridOf, WG } from './kernel-utils';

// --- globalNorm --------------------------------------------------------------------------------------------

function checkNormInputs(ts: readonly Tensor[]): void {
  if (!Array.isArray(ts as unknown) || ts.length === 0)
    throw new ArgumentError('globalNorm', `tensors ${String(ts)}`, 'a non-empty array of tensors');
  for (const [i, t] of ts.entries()) {
    checkDtype('globalNorm', `tensors[${i}]`, t, FLOAT);
    if (t.dtype !== ts[0].dtype)
      throw new DTypeError(
        'globalNorm',
        `tensors[${i}] of dtype ${t.dtype} after ${ts[0].dtype}`,
        'one dtype',
      );
  }
}

const SUM_SQ_WG = 256;

/** Σ v² of one tensor by one workgroup (strided per-lane sums, then a fixed-order tree) into partial[slot]. */
const SUM_SQ_WGSL = /* wgsl */ `
struct Params { n: u32, slot: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
var<workgroup> lanes: array<f32, ${SUM_SQ_WG}>;
@compute @workgroup_size(${SUM_SQ_WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var i = lid; i < params.n; i += ${SUM_SQ_WG}u) { let v = x[i]; acc += v * v; }
  lanes[lid] = acc;
  workgroupBarrier();
  for (var s = ${SUM_SQ_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { lanes[lid] += lanes[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partial[params.slot] = lanes[0]; }
}`;

/** √(Σ partial) into out[0], in slot order. */
const SQRT_SUM_WGSL = /* wgsl */ `
struct Params { k: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(1)
fn main() {
  var s = 0.0;
  for (var i = 0u; i < params.k; i++) { s += partial[i]; }
  out[0] = sqrt(s);
}`;

function globalNormGpu(ctx: WebGPUKernelContext, ts: readonly Tensor[]): Tensor {
  checkNormInputs(ts);
  checkBindable('globalNorm', ctx, ...ts);
  const partial = ctx.backend.zeros([ts.length], 'f32');
  const out = ctx.output([], 'f32');
  return freeing([partial], () => {
    ts.forEach((t, slot) => {
      if (t.size === 0) return;
      ctx.run({
        name: 'globalNorm:sumSq',
        wgsl: SUM_SQ_WGSL,
        bindings: [
          { tensor: t, access: 'read' },
          { tensor: partial, access: 'read_write' },
          { uniform: new Uint32Array([t.size, slot, 0, 0]).buffer },
        ],
        workgroups: [1],
      });
    });
    ctx.run({
      name: 'globalNorm:sqrt',
      wgsl: SQRT_SUM_WGSL,
      bindings: [
        { tensor: partial, access: 'read' },
        { tensor: out, access: 'read_write' },
        { uniform: new Uint32Array([ts.length, 0, 0, 0]).buffer },
      ],
      workgroups: [1],
    });
    return out;
  });
}

/**
 * √(Σ over every element of every tensor of its square), a scalar [] in the tensors' (one) float dtype. cpu:
 * accumulated in float64 (one rounding for f32); webgpu: f32 (per tensor 256 lane sums and a tree, then the
 * tensors in order). Gradient: gy·t/‖·‖ for each tensor (0 when the norm is 0).
 */
export const globalNorm: DefinedOp<[readonly Tensor[]], Tensor> = defineOp({
  name: 'globalNorm',
  validate: (_b, ts: readonly Tensor[]) => checkNormInputs(ts),
  cpu(ctx, ts: readonly Tensor[]): Tensor {
    checkNormInputs(ts);
    let acc = 0;
    for (const t of ts) for (const v of ctx.data(t)) acc += v * v;
    const { tensor, data } = ctx.output([], ts[0].dtype);
    data[0] = Math.sqrt(acc);
    return tensor;
  },
  webgpu: globalNormGpu,
  gradient: {
    inputs: ([ts]) => ts,
    save: ([ts], out) => [...ts, out],
    backward: (gy: Tensor, { backend: b, args: [ts], output }) => {
      const zero = b.zeros([], gy.dtype);
      const positive = b.compare(output, zero, 'gt');
      const q = b.div(gy, output);
      const ratio = freeing([q], () => b.where(positive, q, zero));
      return freeing([zero, positive, ratio], () => ts.map((t) => b.mul(t, ratio)));
    },
  },
});

// --- adamwUpdate -------------------------------------------------------------------------------------------

export interface AdamWState {
  /** Parameters (updated in place). */
  readonly params: readonly Tensor[];
  /** Their gradients (read only; scaled by clipCoef inside the update). */
  readonly grads: readonly Tensor[];
  /** First moments exp_avg (updated in place; start at zeros). */
  readonly m: readonly Tensor[];
  /** Second moments exp_avg_sq (updated in place; start at zeros). */
  readonly v: readonly Tensor[];
}

export interface AdamWHyper {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** 1-based step count of this update (the bias corrections use it). */
  readonly step: number;
  /** Gradient scale (the clip coefficient min(1, maxNorm/(norm + 1e-6))); default 1. */
  readonly clipCoef?: number;
}

/** The scalars of one update, formed once in float64 exactly as torch forms them. */
interface AdamWScalars {
  readonly decay: number;
  readonly oneMinusBeta1: number;
  /** 1 − (1 − β₁): the lerp's weight complement, formed as torch forms it. */
  readonly lerpRest: number;
  readonly beta2: number;
  readonly oneMinusBeta2: number;
  readonly bc2Sqrt: number;
  readonly eps: number;
  readonly negStepSize: number;
  readonly clipCoef: number;
}

function scalarsOf(h: AdamWHyper): AdamWScalars {
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  return {
    decay: 1 - h.lr * h.weightDecay,
    oneMinusBeta1: 1 - h.beta1,
    lerpRest: 1 - (1 - h.beta1),
    beta2: h.beta2,
    oneMinusBeta2: 1 - h.beta2,
    bc2Sqrt: Math.sqrt(bc2),
    eps: h.eps,
    negStepSize: -(h.lr / bc1),
    clipCoef: h.clipCoef ?? 1,
  };
}

function checkHyper(h: AdamWHyper): void {
  const op = 'adamwUpdate';
  if (h === null || typeof h !== 'object')
    throw new ArgumentError(
      op,
      `hyperparameters ${String(h)}`,
      'an object { lr, beta1, beta2, eps, weightDecay, step }',
    );
  const num = (name: string, v: unknown, ok: (x: number) => boolean, want: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
      throw new ArgumentError(op, `${name} ${String(v)}`, want);
  };
  num('lr', h.lr, (x) => x >= 0, 'a finite lr ≥ 0');
  num('beta1', h.beta1, (x) => x >= 0 && x < 1, 'beta1 in [0, 1)');
  num('beta2', h.beta2, (x) => x >= 0 && x < 1, 'beta2 in [0, 1)');
  num('eps', h.eps, (x) => x >= 0, 'a finite eps ≥ 0');
  num('weightDecay', h.weightDecay, (x) => x >= 0, 'a finite weightDecay ≥ 0');
  num('step', h.step, (x) => Number.isInteger(x) && x >= 1, 'an integer step ≥ 1');
  num('clipCoef', h.clipCoef ?? 1, (x) => x >= 0, 'a finite clipCoef ≥ 0');
}

function checkState(s: AdamWState): Backend {
  const op = 'adamwUpdate';
  if (s === null || typeof s !== 'object')
    throw new ArgumentError(op, `state ${String(s)}`, 'an object { params, grads, m, v }');
  const lists = { params: s.params, grads: s.grads, m: s.m, v: s.v };
  for (const [name, list] of Object.entries(lists))
    if (!Array.isArray(list as unknown))
      throw new ArgumentError(op, `${name} ${String(list)}`, 'an array of tensors');
  const n = s.params.length;
  for (const [name, list] of Object.entries(lists))
    if (list.length !== n)
      throw new ArgumentError(
        op,
        `${list.length} ${name} for ${n} params`,
        'one gradient and moment per parameter',
      );
  if (n === 0) throw new ArgumentError(op, 'no parameters', 'at least one parameter tensor');
  const backend = s.params[0]?.backend;
  for (const [name, list] of Object.entries(lists))
    list.forEach((t, i) => {
      checkTensor(op, `${name}[${i}]`, t, backend);
      checkDtype(op, `${name}[${i}]`, t, FLOAT);
      const p = s.params[i];
      if (
        t.dtype !== p.dtype ||
        t.shape.length !== p.shape.length ||
        t.shape.some((d, k) => d !== p.shape[k])
      )
        throw new ShapeError(
          op,
          `${name}[${i}] ${describeShape(t.shape)} ${t.dtype} for params[${i}] ${describeShape(p.shape)} ${p.dtype}`,
          'the shape and dtype of its parameter',
        );
    });
  checkDistinct(op, lists);
  return backend;
}

const ADAMW_WGSL = /* wgsl */ `
struct Params { n: u32, gridX: u32, smallWeight: u32, p1: u32,
  decay: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
  bc2Sqrt: f32, eps: f32, negStepSize: f32, clipCoef: f32,
  lerpRest: f32, p2: f32, p3: f32, p4: f32 }
@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
// torch.optim.AdamW, one element per invocation (the formulas of ops/optim.ts, in their order)
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.gridX * ${WG}u;
  if (i >= params.n) { return; }
  let P = params;
  let g = grad[i] * P.clipCoef;
  let pd = p[i] * P.decay;
  var mi = g - (g - m[i]) * P.lerpRest;
  if (P.smallWeight == 1u) { mi = m[i] + P.oneMinusBeta1 * (g - m[i]); }
  let vi = v[i] * P.beta2 + (P.oneMinusBeta2 * g) * g;
  let d = sqrt(vi) / P.bc2Sqrt + P.eps;
  p[i] = pd + (P.negStepSize * mi) / d;
  m[i] = mi;
  v[i] = vi;
}`;

/** torch's lerp(m, g, w) with w = 1 − β₁: m + w(g − m) for w < ½, else g − (g − m)(1 − w). */
function lerp(m: number, g: number, s: AdamWScalars): number {
  return s.oneMinusBeta1 < 0.5 ? m + s.oneMinusBeta1 * (g - m) : g - (g - m) * s.lerpRest;
}

/** One parameter tensor's update (the module doc's formulas), in place. */
const adamwStep: DefinedOp<[Tensor, Tensor, Tensor, Tensor, AdamWScalars], void> = defineOp({
  name: 'adamwUpdate',
  cpu(ctx, p: Tensor, g: Tensor, m: Tensor, v: Tensor, s: AdamWScalars): void {
    const ps = mutableData(ctx, p);
    const gs = ctx.data(g);
    const ms = mutableData(ctx, m);
    const vs = mutableData(ctx, v);
    for (let i = 0; i < ps.length; i++) {
      const gi = gs[i] * s.clipCoef;
      const pd = ps[i] * s.decay;
      const mi = lerp(ms[i], gi, s);
      const vi = vs[i] * s.beta2 + s.oneMinusBeta2 * gi * gi;
      const d = Math.sqrt(vi) / s.bc2Sqrt + s.eps;
      ps[i] = pd + (s.negStepSize * mi) / d;
      ms[i] = mi;
      vs[i] = vi;
    }
  },
  webgpu(ctx, p: Tensor, g: Tensor, m: Tensor, v: Tensor, s: AdamWScalars): void {
    if (p.size === 0) return;
    checkBindable('adamwUpdate', ctx, p);
    const [gx, gy] = gridOf(ctx, p.size);
    const params = new ArrayBuffer(64);
    new Uint32Array(params, 0, 3).set([p.size, gx, s.oneMinusBeta1 < 0.5 ? 1 : 0]);
    new Float32Array(params, 16, 9).set([
      s.decay,
      s.oneMinusBeta1,
      s.beta2,
      s.oneMinusBeta2,
      s.bc2Sqrt,
      s.eps,
      s.negStepSize,
      s.clipCoef,
      s.lerpRest,
    ]);
    ctx.run({
      name: 'adamwUpdate',
      wgsl: ADAMW_WGSL,
      bindings: [
        mutableBinding(p),
        { tensor: g, access: 'read' },
        mutableBinding(m),
        mutableBinding(v),
        { uniform: params },
      ],
      workgroups: [gx, gy],
    });
  },
});

/**
 * One fused, in-place AdamW step over every parameter tensor (torch.optim.AdamW semantics: see the module doc),
 * after scaling the gradients by `clipCoef`. params, m and v are overwritten; grads are read. Refused inside a
 * gradient scope (an in-place write could corrupt what the tape saved) and when tensors alias each other.
 */
export function adamwUpdate(state: AdamWState, hyper: AdamWHyper): void {
  checkNotRecording('adamwUpdate');
  checkState(state);
  checkHyper(hyper);
  const s = scalarsOf(hyper);
  state.params.forEach((p, i) => {
    adamwStep(p, state.grads[i], state.m[i], state.v[i], s);
  });
}
