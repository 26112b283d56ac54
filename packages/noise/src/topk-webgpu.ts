/**
 * The memory-efficient top-k relaxation (Chapter II, arXiv 2602.21185) as one WGSL kernel — the webgpu kernel of
 * the `topKRelax` op (topk-op.ts): one invocation per position, f32 arithmetic, the same Philox words as the host
 * loop in relax.ts (position n reads words offset + n·W … with W = topKWordsPerPosition(k); uniform j of the host
 * is words 2j, 2j + 1 there, here the f32 uniform of word 2j, and ids come from mulhi(word, range), which equals
 * the host's floor(u·range) except with probability ~range·2^-32). So the GPU draws the same ids and, up to f32
 * rounding, the same latents as the host. Outputs beyond one storage binding run in windows of positions.
 */
import {
  checkBindable,
  forRowWindows,
  gridOf,
  philoxKey,
  type RandomStream,
  STREAM_WGSL,
  type Tensor,
  type WebGPUKernelContext,
} from '@duality/kernels';

/** Largest k the kernel's private arrays hold. */
export const WGSL_MAX_K = 128;
const WORKGROUP = 64;

const TOPK_WGSL = /* wgsl */ `
struct Params { positions: u32, length: u32, vocab: u32, k: u32, key0: u32, key1: u32, offLo: u32, offHi: u32,
                beta: f32, gridX: u32, wordsPer: u32, base: u32 }
@group(0) @binding(0) var<storage, read> x0: array<i32>;
@group(0) @binding(1) var<storage, read> scales: array<f32>;
@group(0) @binding(2) var<storage, read_write> outIdx: array<i32>;
@group(0) @binding(3) var<storage, read_write> outW: array<f32>;
@group(0) @binding(4) var<storage, read_write> outXt: array<i32>;
@group(0) @binding(5) var<uniform> params: Params;

${STREAM_WGSL}// Word e of the stream (e = offset + local, 64-bit as lo/hi).
fn word(local: u32) -> u32 {
  let e = add64(params.offLo, params.offHi, local);
  return streamWord(e.x, e.y, vec2<u32>(params.key0, params.key1));
}
fn uniformOf(w: u32) -> f32 { return wordToUniform(w); }
fn expm1f(x: f32) -> f32 {
  if (abs(x) < 1e-2) { return x * (1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + x * 0.25))); }
  return exp(x) - 1.0;
}
// Acklam's Φ⁻¹ for p ≤ 0.5 (relative error 1.15e-9 before f32 rounding).
fn ndtriLower(p: f32) -> f32 {
  if (p < 0.02425) {
    let q = sqrt(-2.0 * log(p));
    return (((((-0.007784894002430293 * q - 0.3223964580411365) * q - 2.400758277161838) * q - 2.549732539343734) * q
      + 4.374664141464968) * q + 2.938163982698783)
      / ((((0.007784695709041462 * q + 0.3224671290700398) * q + 2.445134137142996) * q + 3.754408661907416) * q + 1.0);
  }
  let q = p - 0.5;
  let r = q * q;
  return (((((-39.69683028665376 * r + 220.9460984245205) * r - 275.9285104469687) * r + 138.357751867269) * r
    - 30.66479806614716) * r + 2.506628277459239) * q
    / (((((-54.47609879822406 * r + 161.5858368580409) * r - 155.6989798598866) * r + 66.80131188771972) * r
    - 13.28068155288572) * r + 1.0);
}
// z with 1 − Φ(z) = q.
fn ndtriUpper(q: f32) -> f32 {
  if (q <= 0.5) { return -ndtriLower(q); }
  return ndtriLower(1.0 - q);
}
// Numerical Recipes erfc for x ≥ 0 (fractional error < 1.2e-7).
fn erfcPos(x: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * x);
  return t * exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
}
fn logNdtr(z: f32) -> f32 {
  if (z < -10.0) {
    let z2 = z * z;
    return -0.5 * z2 - log(-z) - 0.9189385332 + log(1.0 - 1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2));
  }
  if (z < 0.0) { return log(0.5 * erfcPos(-z * 0.70710678)); }
  return log(1.0 - 0.5 * erfcPos(z * 0.70710678));
}
// log E[exp(βX) | X < c], X ~ N(0, σ²); deep in the tail written without the β²σ²/2 − a²/2 cancellation.
fn logMeanExpTrunc(c: f32, sigma: f32, beta: f32) -> f32 {
  let a = (c - beta * sigma * sigma) / sigma;
  let lowerTerm = logNdtr(c / sigma);
  if (a < -10.0) {
    let a2 = a * a;
    let series = log(1.0 - 1.0 / a2 + 3.0 / (a2 * a2) - 15.0 / (a2 * a2 * a2));
    return c * beta - 0.5 * (c / sigma) * (c / sigma) - log(-a) - 0.9189385332 + series - lowerTerm;
  }
  return 0.5 * beta * beta * sigma * sigma + logNdtr(a) - lowerTerm;
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  // position n of the whole tensor; the window's outputs hold positions base … base + positions − 1
  let local = gid.x + gid.y * params.gridX * ${WORKGROUP}u;
  if (local >= params.positions) { return; }
  let n = params.base + local;
  let k = params.k;
  let b = n / params.length;
  let alphaT = scales[2u * b];
  let sigma = scales[2u * b + 1u];
  let others = params.vocab - 1u;
  let base = n * params.wordsPer;
  let truth = x0[local];
  var g: array<f32, ${WGSL_MAX_K}>;
  var ids: array<i32, ${WGSL_MAX_K}>;
  var swapKey: array<u32, ${WGSL_MAX_K}>;
  var swapVal: array<u32, ${WGSL_MAX_K}>;
  var keptV: array<f32, ${WGSL_MAX_K}>;
  var logU = 0.0;
  for (var j = 0u; j < k; j++) {
    logU += log(uniformOf(word(base + 2u * j))) / f32(others - j);
    g[j] = sigma * ndtriUpper(min(-expm1f(logU), 0.99999994));
  }
  let u1 = uniformOf(word(base + 2u * k));
  let u2 = uniformOf(word(base + 2u * k + 2u));
  let extra = alphaT + sigma * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
  // Partial Fisher–Yates over the K − 1 ids ≠ x0, swaps kept in a small table.
  var swaps = 0u;
  for (var j = 0u; j < k; j++) {
    let r = j + mulhilo(word(base + 2u * (k + 2u + j)), others - j).x;
    var atR = r;
    var atJ = j;
    var slotR = swaps;
    for (var s = 0u; s < swaps; s++) {
      if (swapKey[s] == r) { atR = swapVal[s]; slotR = s; }
      if (swapKey[s] == j) { atJ = swapVal[s]; }
    }
    if (slotR == swaps) { swapKey[swaps] = r; swaps++; }
    swapVal[slotR] = atJ;
    ids[j] = select(i32(atR), i32(atR) + 1, i32(atR) >= truth);
  }
  let threshold = g[k - 1u];
  let extraKept = extra > threshold;
  let othersKept = select(k, k - 1u, extraKept);
  var extraPlaced = !extraKept;
  var jj = 0u;
  for (var w = 0u; w < k; w++) {
    if (!extraPlaced && (jj >= othersKept || extra > g[jj])) {
      keptV[w] = extra;
      outIdx[local * k + w] = truth;
      extraPlaced = true;
    } else {
      keptV[w] = g[jj];
      outIdx[local * k + w] = ids[jj];
      jj++;
    }
  }
  outXt[local] = outIdx[local * k];
  let beta = params.beta;
  let dropped = select(extra, g[k - 1u], extraKept);
  let tailCount = others - k;
  var tailLog = -3.0e38;
  if (tailCount > 0u) { tailLog = log(f32(tailCount)) + logMeanExpTrunc(threshold, sigma, beta); }
  let maxLogit = max(beta * max(keptV[0], dropped), tailLog);
  var total = exp(beta * dropped - maxLogit) + exp(tailLog - maxLogit);
  for (var j = 0u; j < k; j++) { total += exp(beta * keptV[j] - maxLogit); }
  let logDenom = maxLogit + log(total);
  var kept = 0.0;
  for (var j = 0u; j < k; j++) {
    let wj = exp(beta * keptV[j] - logDenom);
    outW[local * k + j] = wj;
    kept += wj;
  }
  if (kept == 0.0) { outW[local * k] = 1.0; }
}
`;

/** What the kernel needs besides x0: per-row latent scales (Duo Eq. 10) and the relaxation's settings. */
export interface TopKKernelArgs {
  alphaTilde: Float64Array;
  sigmaTilde: Float64Array;
  vocabSize: number;
  k: number;
  tau: number;
  rng: RandomStream;
  /** webgpu: at most this many bytes per binding (windows of positions beyond). */
  maxBindingBytes?: number;
}

/** The webgpu kernel: x0 i32 [B, L] → indices i32 [B, L, k], weights f32 [B, L, k], x_t i32 [B, L]. */
export function topKRelaxationWebGPU(
  ctx: WebGPUKernelContext,
  x0: Tensor,
  a: TopKKernelArgs,
): { indices: Tensor; weights: Tensor; xt: Tensor } {
  const [batch, length] = x0.shape;
  const { k } = a;
  const positions = batch * length;
  const indices = ctx.output([batch, length, k], 'i32');
  const weights = ctx.output([batch, length, k], 'f32');
  const xt = ctx.output([batch, length], 'i32');
  if (positions === 0) return { indices, weights, xt };
  const scales = new Float32Array(2 * batch);
  for (let b = 0; b < batch; b++) scales.set([a.alphaTilde[b], a.sigmaTilde[b]], 2 * b);
  const scalesT = ctx.backend.tensor(scales, [2 * batch], 'f32');
  const params = new Uint32Array(12);
  const key = philoxKey(a.rng.seed);
  const offset = a.rng.offset ?? 0;
  params.set([0, length, a.vocabSize, k, key.k0, key.k1, offset % 2 ** 32, Math.floor(offset / 2 ** 32)]);
  new Float32Array(params.buffer)[8] = 1 / a.tau;
  params[10] = 2 * (2 * k + 2);
  const spec = {
    op: 'topKRelaxation',
    rows: positions,
    inputs: [{ tensor: x0, rowSize: 1 }],
    outputs: [
      { tensor: indices, rowSize: k },
      { tensor: weights, rowSize: k },
      { tensor: xt, rowSize: 1 },
    ],
    maxBindingBytes: a.maxBindingBytes,
  };
  try {
    checkBindable('topKRelaxation', ctx, scalesT);
    forRowWindows(ctx, spec, (first, count, [x0w, iw, ww, xw]) => {
      const [gridX, gridY] = gridOf(ctx, count, WORKGROUP);
      params[0] = count;
      params[9] = gridX;
      params[11] = first;
      ctx.run({
        name: 'duality-noise-topk-relaxation',
        wgsl: TOPK_WGSL,
        bindings: [
          { tensor: x0w, access: 'read' },
          { tensor: scalesT, access: 'read' },
          { tensor: iw, access: 'read_write' },
          { tensor: ww, access: 'read_write' },
          { tensor: xw, access: 'read_write' },
          { uniform: params.buffer.slice(0) },
        ],
        workgroups: [gridX, gridY],
      });
    });
  } catch (error) {
    for (const t of [indices, weights, xt]) t.dispose();
    throw error;
  } finally {
    scalesT.dispose();
  }
  return { indices, weights, xt };
}
