/**
 * The WGSL kernel of the fused Ψ step (`psiStep` in fused.ts): one workgroup per row (or one invocation per row
 * for small vocabularies) computes the affine Ψ row, writes Ψ or draws one id by inverse CDF, and records the
 * row's Σ x̂0, min x̂0 and id validity for the host's input checks. x̂0 larger than one storage binding runs in row
 * windows (`forRowWindows` of @duality/kernels).
 */
import {
  checkBindable,
  forRowWindows,
  gridOf,
  philoxKey,
  STREAM_WGSL,
  type Tensor,
  type WebGPUKernelContext,
} from '@duality/kernels';
import { rowPasses } from '@duality/noise';
import type { PsiStepParams, PsiStepResult } from './fused';
import { idError, rowError } from './validate';

// 128 fits the compatibility-mode limits (maxComputeWorkgroupSizeX and invocations per workgroup) too.
const WORKGROUP = 128;

/** The kernels' WGSL stream plus the uniform of stream element (lo, hi) = offset + e of this file's kernels. */
const STREAM_UNIFORM_WGSL = /* wgsl */ `
${STREAM_WGSL}
fn streamUniform(lo: u32, hi: u32) -> f32 {
  return wordToUniform(streamWord(lo, hi, vec2<u32>(params.key0, params.key1)));
}
`;

/** The affine Ψ row of src/affine.ts (same formulas, in f32). */
const AFFINE_WGSL = /* wgsl */ `
struct Params { rows: u32, k: u32, rowsPerBatch: u32, mask: i32, kind: u32, gridX: u32,
                key0: u32, key1: u32, offLo: u32, offHi: u32, rowBase: u32, pad1: u32 }
struct Affine { a: f32, b: f32, i1: i32, v1: f32, i2: i32, v2: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> coef: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
fn idValid(r: u32) -> bool { return ids[r] >= 0 && u32(ids[r]) < params.k; }
// Out-of-range ids are reported through stats and read as 0 meanwhile (no out-of-bounds reads).
fn clampedId(r: u32) -> i32 { return select(0, ids[r], idValid(r)); }
fn affineRow(r: u32) -> Affine {
  let batch = r / params.rowsPerBatch;
  // x holds rows rowBase … (a chunk of x̂0 when the whole tensor exceeds the storage binding limit)
  let aS = coef[batch * 3u]; let aT = coef[batch * 3u + 1u]; let kap = coef[batch * 3u + 2u];
  let start = (r - params.rowBase) * params.k;
  let xt = clampedId(r);
  var o: Affine;
  o.i2 = -1; o.v2 = 0.0; o.b = 0.0;
  if (params.kind == 0u && aT >= 1.0) {
    o.a = 0.0; o.i1 = xt; o.v1 = 1.0; // a_s = a_t = 1: the identity (EQUAL_ALPHAS in @duality/noise)
  } else if (params.kind == 0u) {
    let kf = f32(params.k);
    let xi = x[start + u32(xt)];
    let den = kf * aT * xi + (1.0 - aT);
    let ratio = select(aT / aS, 1.0, aS == aT); // a_s = a_t: a_t/a_s = 1, also at 0
    o.a = (kap * (aS - aT) + (1.0 - kap) * aS * (1.0 - aT)) / den;
    o.b = kap * (1.0 - ratio) * (1.0 - aS) / (kf * den) + (1.0 - kap) * (1.0 - aS) / kf;
    let extra = (kap * (kf * aT * xi + ratio - aT) + (1.0 - kap) * aS * kf * aT * xi) / den;
    o.i1 = xt; o.v1 = o.a * xi + o.b + extra;
  } else if (xt != params.mask) {
    o.a = 0.0; o.i1 = xt; o.v1 = kap + (1.0 - kap) * aS; o.i2 = params.mask; o.v2 = (1.0 - kap) * (1.0 - aS);
  } else if (aT >= 1.0) {
    o.a = 0.0; o.i1 = params.mask; o.v1 = 1.0; // a_s = a_t = 1: the identity
  } else {
    let xm = x[start + u32(params.mask)];
    let den = aT * xm + (1.0 - aT);
    o.a = (kap * (aS - aT) + (1.0 - kap) * aS * (1.0 - aT)) / den;
    o.i1 = params.mask;
    o.v1 = kap * (aS * xm + 1.0 - aS) / den + (1.0 - kap) * (aS * xm / den + 1.0 - aS);
  }
  return o;
}
fn valueAt(o: Affine, start: u32, j: u32) -> f32 {
  if (i32(j) == o.i1) { return o.v1; }
  if (i32(j) == o.i2) { return o.v2; }
  return o.a * x[start + j] + o.b;
}
`;

const STATS_WGSL = /* wgsl */ `
var<workgroup> sumX: array<f32, ${WORKGROUP}>;
var<workgroup> minX: array<f32, ${WORKGROUP}>;
// Σ x̂0 and min x̂0 of the row, and whether x_t is in range: the input checks, read back by the host.
fn writeStats(r: u32, t: u32, s: f32, m: f32) {
  sumX[t] = s;
  minX[t] = m;
  workgroupBarrier();
  if (t == 0u) {
    var total = 0.0;
    var least = minX[0];
    for (var c = 0u; c < ${WORKGROUP}u; c++) { total += sumX[c]; least = min(least, minX[c]); }
    stats[r * 3u] = total;
    stats[r * 3u + 1u] = least;
    stats[r * 3u + 2u] = select(0.0, 1.0, idValid(r));
  }
}
`;

const PROBS_WGSL = /* wgsl */ `
${AFFINE_WGSL}
${STATS_WGSL}
@group(0) @binding(3) var<storage, read_write> outp: array<f32>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let r = params.rowBase + wg.x + wg.y * params.gridX;
  if (r >= params.rows) { return; }
  let o = affineRow(r);
  let start = (r - params.rowBase) * params.k;
  var s = 0.0;
  var m = 3.0e38;
  for (var j = t; j < params.k; j += ${WORKGROUP}u) {
    let v = x[start + j];
    s += v;
    m = min(m, v);
    outp[start + j] = valueAt(o, start, j);
  }
  writeStats(r, t, s, m);
}
`;

const WALK_WGSL = /* wgsl */ `
// The inverse-CDF walk over ids lo … hi − 1: the first id whose running mass passes the threshold, or −1.
fn walk(o: Affine, start: u32, lo: u32, hi: u32, threshold: f32, cum: ptr<function, f32>, last: ptr<function, i32>) -> i32 {
  for (var j = lo; j < hi; j++) {
    let p = valueAt(o, start, j);
    if (p > 0.0) {
      *cum = *cum + p;
      *last = i32(j);
      if (*cum > threshold) { return i32(j); }
    }
  }
  return -1;
}
`;

// Inverse CDF per row: chunk sums in parallel, then one invocation scans the chunk sums and walks one chunk.
const SAMPLE_WGSL = /* wgsl */ `
${AFFINE_WGSL}
${STATS_WGSL}
${STREAM_UNIFORM_WGSL}
${WALK_WGSL}
@group(0) @binding(3) var<storage, read_write> outp: array<i32>;
var<workgroup> partial: array<f32, ${WORKGROUP}>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let r = params.rowBase + wg.x + wg.y * params.gridX;
  if (r >= params.rows) { return; }
  let o = affineRow(r);
  let start = (r - params.rowBase) * params.k;
  let chunk = (params.k + ${WORKGROUP - 1}u) / ${WORKGROUP}u;
  let lo = min(t * chunk, params.k);
  let hi = min(lo + chunk, params.k);
  var s = 0.0;
  var sx = 0.0;
  var m = 3.0e38;
  for (var j = lo; j < hi; j++) {
    s += max(valueAt(o, start, j), 0.0);
    let v = x[start + j];
    sx += v;
    m = min(m, v);
  }
  partial[t] = s;
  writeStats(r, t, sx, m);
  if (t != 0u) { return; }
  var total = 0.0;
  for (var c = 0u; c < ${WORKGROUP}u; c++) { total += partial[c]; }
  let eLo = params.offLo + r * params.k;
  let eHi = params.offHi + select(0u, 1u, eLo < params.offLo);
  let threshold = streamUniform(eLo, eHi) * total;
  var cum = 0.0;
  var last = -1;
  var lastChunk = 0u;
  var pick = -1;
  for (var c = 0u; c < ${WORKGROUP}u; c++) {
    if (partial[c] <= 0.0) { continue; }
    lastChunk = c;
    if (cum + partial[c] > threshold) {
      let cLo = min(c * chunk, params.k);
      pick = walk(o, start, cLo, min(cLo + chunk, params.k), threshold, &cum, &last);
      if (pick >= 0) { break; }
    } else {
      cum += partial[c];
    }
  }
  if (pick < 0) {
    // rounding left the threshold unreached: the last id with positive mass
    let cLo = min(lastChunk * chunk, params.k);
    var dummy = 0.0;
    _ = walk(o, start, cLo, min(cLo + chunk, params.k), 3.0e38, &dummy, &last);
    pick = last;
  }
  outp[r] = pick;
}
`;

/** Rows of at most this many ids run one row per invocation (workgroup-per-row would leave most lanes idle). */
const NARROW_K = 256;

// One row per invocation, for small vocabularies: checks, Ψ and (sample mode) the inverse-CDF draw.
const narrowWgsl = (mode: 'probs' | 'sample') => /* wgsl */ `
${AFFINE_WGSL}
${mode === 'sample' ? STREAM_UNIFORM_WGSL + WALK_WGSL : ''}
@group(0) @binding(3) var<storage, read_write> outp: array<${mode === 'probs' ? 'f32' : 'i32'}>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let r = params.rowBase + (wg.x + wg.y * params.gridX) * ${WORKGROUP}u + t;
  if (r >= params.rows) { return; }
  let o = affineRow(r);
  let start = (r - params.rowBase) * params.k;
  var sx = 0.0;
  var m = 3.0e38;
  var total = 0.0;
  for (var j = 0u; j < params.k; j++) {
    let v = x[start + j];
    sx += v;
    m = min(m, v);
    ${mode === 'probs' ? 'outp[start + j] = valueAt(o, start, j);' : 'total += max(valueAt(o, start, j), 0.0);'}
  }
  stats[r * 3u] = sx;
  stats[r * 3u + 1u] = m;
  stats[r * 3u + 2u] = select(0.0, 1.0, idValid(r));
  ${
    mode === 'probs'
      ? ''
      : `let eLo = params.offLo + r * params.k;
  let eHi = params.offHi + select(0u, 1u, eLo < params.offLo);
  var cum = 0.0;
  var last = -1;
  let pick = walk(o, start, 0u, params.k, streamUniform(eLo, eHi) * total, &cum, &last);
  outp[r] = select(last, pick, pick >= 0);`
  }
}
`;
const NARROW_PROBS_WGSL = narrowWgsl('probs');
const NARROW_SAMPLE_WGSL = narrowWgsl('sample');

/**
 * The webgpu kernel of `psiStep`: 'probs' writes Ψ [B, …, K] (f32); 'inverse-cdf' draws one id per row with the
 * uniform at stream element offset + r·K, the same layout as the cpu kernel. The kernel also writes Σ x̂0,
 * min x̂0 and id validity per row into `stats` [rows, 3], which `checkStepStats` reads back.
 */
export function psiStepWebGPU(
  ctx: WebGPUKernelContext,
  x0Probs: Tensor,
  xt: Tensor,
  p: PsiStepParams,
): PsiStepResult {
  const k = x0Probs.shape[x0Probs.shape.length - 1];
  const rows = xt.size;
  const batch = xt.shape[0];
  const rowsPerBatch = batch === 0 ? 0 : rows / batch;
  const probs = p.mode === 'probs';
  const out = probs ? ctx.output(x0Probs.shape, 'f32') : ctx.output(xt.shape, 'i32');
  const stats = ctx.output([Math.max(1, rows) * 3], 'f32');
  if (rows === 0) return { out, stats };
  const coefData = new Float32Array(batch * 3);
  for (let b = 0; b < batch; b++) coefData.set([p.alphaS[b], p.alphaT[b], p.kappa[b]], b * 3);
  const coef = ctx.backend.tensor(coefData, [batch * 3], 'f32');
  try {
    checkBindable(p.op, ctx, xt, coef, stats, ...(probs ? [] : [out]));
    const params = new Uint32Array(12);
    const offset = p.stream?.offset ?? 0;
    const key = philoxKey(p.stream?.seed ?? 0);
    params.set([0, k, rowsPerBatch, 0, p.closedForm.kind === 'uniform' ? 0 : 1, 0, key.k0, key.k1]);
    new Int32Array(params.buffer)[3] = p.closedForm.kind === 'masked' ? p.closedForm.maskId : -1;
    params[8] = offset % 4294967296;
    params[9] = Math.floor(offset / 4294967296);
    const narrow = k <= NARROW_K;
    const wgsl = narrow ? (probs ? NARROW_PROBS_WGSL : NARROW_SAMPLE_WGSL) : probs ? PROBS_WGSL : SAMPLE_WGSL;
    const spec = {
      op: p.op,
      rows,
      inputs: [{ tensor: x0Probs, rowSize: k }],
      outputs: probs ? [{ tensor: out, rowSize: k }] : [],
      maxBindingBytes: p.maxBindingBytes,
    };
    forRowWindows(ctx, spec, (rowBase, count, [x, target = out]) => {
      // narrow: one row per invocation; wide: one workgroup per row
      const [gridX, gridY] = gridOf(ctx, count, narrow ? WORKGROUP : 1);
      params[0] = rowBase + count;
      params[5] = gridX;
      params[10] = rowBase;
      ctx.run({
        name: `duality-posteriors-${probs ? 'probs' : 'sample'}${narrow ? '-narrow' : ''}`,
        wgsl,
        bindings: [
          { tensor: x, access: 'read' },
          { tensor: xt, access: 'read' },
          { tensor: coef, access: 'read' },
          { tensor: target, access: 'read_write' },
          { uniform: params.buffer.slice(0) },
          { tensor: stats, access: 'read_write' },
        ],
        workgroups: [gridX, gridY],
      });
    });
  } catch (error) {
    out.dispose();
    stats.dispose();
    throw error;
  } finally {
    coef.dispose();
  }
  return { out, stats };
}

/**
 * The input checks of the WGSL path: reads the [rows, 3] stats back and throws the first bad row (id out of
 * range, bad sum, negative entry or NaN) as the same typed error as the cpu kernel.
 */
export async function checkStepStats(
  check: { op: string; tolerance: number },
  stats: Tensor,
  xt: Tensor,
  k: number,
): Promise<void> {
  const rows = xt.size;
  if (rows === 0) return;
  const values = await stats.read();
  const tol = check.tolerance;
  for (let r = 0; r < rows; r++) {
    if (values[r * 3 + 2] !== 1) throw idError(check.op, r, (await xt.read())[r], k);
    const sum = values[r * 3];
    const min = values[r * 3 + 1];
    if (!rowPasses(sum, min, tol)) throw rowError(check.op, r, sum, min, tol);
  }
}
