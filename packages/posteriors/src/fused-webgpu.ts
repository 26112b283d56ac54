import type { Backend, RandomStream, Tensor, WebGPUBackend } from '@duality/kernels';
import { PHILOX_WGSL, philoxKey } from '@duality/kernels';
import { rowPasses } from '@duality/noise';
import { idError, rowError, type StepLayout } from './validate';

/** What the WGSL kernel needs for one fused step (alphas and κ per batch row). */
export interface WebGPUStep {
  kind: 'masked' | 'uniform';
  mask: number;
  layout: StepLayout;
  alphaS: Float64Array;
  alphaT: Float64Array;
  kappa: Float64Array;
  x0Probs: Tensor;
  xt: Tensor;
  stream?: RandomStream;
  /** Bytes of x̂0 bound per dispatch (default: the device's maxStorageBufferBindingSize). */
  maxBindingBytes?: number;
  /** Refuse rows whose Σ x̂0 is off by more than this, negative entries, NaN and ids out of range. */
  check?: { op: string; tolerance: number };
}

// 128 fits the compatibility-mode limits (maxComputeWorkgroupSizeX and invocations per workgroup) too.
const WORKGROUP = 128;
const MAX_GRID = 65535;

export function supportsWebGPUFused(backend: Backend, x0Probs: Tensor): backend is WebGPUBackend {
  return backend.name === 'webgpu' && 'runKernel' in backend && x0Probs.dtype === 'f32';
}

/** The kernels' WGSL Philox plus the stream uniform of this file's kernels. */
const STREAM_WGSL = /* wgsl */ `
${PHILOX_WGSL}
// Uniform of stream element (lo, hi) = offset + e, as wordToUniform: ((w >> 9) + 0.5)·2^-23.
fn streamUniform(lo: u32, hi: u32) -> f32 {
  let block = philox(vec4<u32>((lo >> 2u) | (hi << 30u), hi >> 2u, 0u, 0u), vec2<u32>(params.key0, params.key1));
  let w = block[lo & 3u];
  return (f32(w >> 9u) + 0.5) * 1.1920928955078125e-7;
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
${STREAM_WGSL}
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
${mode === 'sample' ? STREAM_WGSL + WALK_WGSL : ''}
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
 * Runs the fused WGSL kernel: 'probs' writes Ψ [B, …, K] (f32); 'sample' draws one id per row by inverse CDF
 * with the uniform at stream element offset + r·K, the same layout as the cpu kernel. The kernel also writes
 * Σ x̂0, min x̂0 and id validity per row; with `check`, those [rows, 3] numbers are read back and a bad row
 * throws the same typed errors as the cpu path (the output is disposed, never returned).
 */
export async function fusedWebGPU(
  backend: WebGPUBackend,
  step: WebGPUStep,
  mode: 'probs' | 'sample',
): Promise<Tensor> {
  const { rows, k, rowsPerBatch, batch } = step.layout;
  const coefData = new Float32Array(batch * 3);
  for (let b = 0; b < batch; b++) coefData.set([step.alphaS[b], step.alphaT[b], step.kappa[b]], b * 3);
  const coef = backend.tensor(coefData, [batch * 3], 'f32');
  const stats = backend.zeros([Math.max(1, rows) * 3], 'f32');
  const out =
    mode === 'probs' ? backend.zeros(step.x0Probs.shape, 'f32') : backend.zeros(step.xt.shape, 'i32');
  const params = new Uint32Array(12);
  const offset = step.stream?.offset ?? 0;
  const key = philoxKey(step.stream?.seed ?? 0);
  params.set([0, k, rowsPerBatch, 0, step.kind === 'uniform' ? 0 : 1, 0, key.k0, key.k1]);
  new Int32Array(params.buffer)[3] = step.mask;
  params[8] = offset % 4294967296;
  params[9] = Math.floor(offset / 4294967296);
  const narrow = k <= NARROW_K;
  const wgsl = narrow
    ? mode === 'probs'
      ? NARROW_PROBS_WGSL
      : NARROW_SAMPLE_WGSL
    : mode === 'probs'
      ? PROBS_WGSL
      : SAMPLE_WGSL;
  const dispatch = (x: Tensor, target: Tensor, rowBase: number, count: number) => {
    const groups = narrow ? Math.ceil(count / WORKGROUP) : count;
    const gridX = Math.min(groups, MAX_GRID);
    params[0] = rowBase + count;
    params[5] = gridX;
    params[10] = rowBase;
    backend.runKernel({
      name: `duality-posteriors-${mode}${narrow ? '-narrow' : ''}`,
      wgsl,
      bindings: [
        { tensor: x, access: 'read' },
        { tensor: step.xt, access: 'read' },
        { tensor: coef, access: 'read' },
        { tensor: target, access: 'read_write' },
        { uniform: params.buffer.slice(0) },
        { tensor: stats, access: 'read_write' },
      ],
      workgroups: [gridX, Math.ceil(groups / gridX)],
    });
  };
  const rowBytes = k * 4;
  const bindable = Math.min(
    step.maxBindingBytes ?? Number.POSITIVE_INFINITY,
    backend.device.limits.maxStorageBufferBindingSize,
  );
  const chunkRows = Math.max(1, Math.floor(bindable / rowBytes));
  if (rows > 0 && rows <= chunkRows) dispatch(step.x0Probs, out, 0, rows);
  else if (rows > 0) dispatchInChunks(backend, step.x0Probs, out, mode, rows, chunkRows, rowBytes, dispatch);
  coef.dispose();
  try {
    if (step.check && rows > 0) await checkStats(step.check, await stats.read(), step.xt, rows, k);
  } catch (error) {
    out.dispose();
    throw error;
  } finally {
    stats.dispose();
  }
  return out;
}

/** The first bad row (id out of range, bad sum, negative entry or NaN) as its typed error. */
async function checkStats(
  check: { op: string; tolerance: number },
  stats: ArrayLike<number>,
  xt: Tensor,
  rows: number,
  k: number,
): Promise<void> {
  const tol = check.tolerance;
  for (let r = 0; r < rows; r++) {
    if (stats[r * 3 + 2] !== 1) throw idError(check.op, r, (await xt.read())[r], k);
    const sum = stats[r * 3];
    const min = stats[r * 3 + 1];
    if (!rowPasses(sum, min, tol)) throw rowError(check.op, r, sum, min, tol);
  }
}

/**
 * x̂0 larger than one storage binding (maxStorageBufferBindingSize, 128 MiB on compatibility adapters): rows are
 * copied chunk by chunk into one reused buffer and the kernel runs on it; in 'probs' mode its output goes through
 * a chunk buffer copied back into place. Each dispatch is submitted at once, so the copies stay in order.
 */
function dispatchInChunks(
  backend: WebGPUBackend,
  x0Probs: Tensor,
  out: Tensor,
  mode: 'probs' | 'sample',
  rows: number,
  chunkRows: number,
  rowBytes: number,
  dispatch: (x: Tensor, target: Tensor, rowBase: number, count: number) => void,
): void {
  const device = backend.device;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const chunkTensor = () =>
    backend.fromBuffer(
      device.createBuffer({ size: chunkRows * rowBytes, usage }),
      [(chunkRows * rowBytes) / 4],
      'f32',
    );
  const xChunk = chunkTensor();
  const outChunk = mode === 'probs' ? chunkTensor() : undefined;
  const copy = (from: Tensor, fromOffset: number, to: Tensor, toOffset: number, bytes: number) => {
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(backend.bufferOf(from), fromOffset, backend.bufferOf(to), toOffset, bytes);
    device.queue.submit([encoder.finish()]);
  };
  for (let base = 0; base < rows; base += chunkRows) {
    const count = Math.min(chunkRows, rows - base);
    copy(x0Probs, base * rowBytes, xChunk, 0, count * rowBytes);
    dispatch(xChunk, outChunk ?? out, base, count);
    if (outChunk) copy(outChunk, 0, out, base * rowBytes, count * rowBytes);
  }
  xChunk.dispose();
  outChunk?.dispose();
}
