/**
 * WGSL for last-axis row ops: one workgroup per row, a strided loop per invocation, then a fixed-order tree
 * reduction in workgroup memory (deterministic: the same inputs always give the same bits).
 */
import tgpu, { d } from 'typegpu';
import type { KernelSpec, Scalar } from '../runtime';
import { nanCheck } from './gather';

export const ROW_WG = 128;

export const RowParams = d.struct({ rows: d.u32, n: d.u32, a: d.f32, b: d.f32 });

/** Workgroup scratch shared by the row kernels (each kernel declares what it uses). */
const redF = tgpu.workgroupVar(d.arrayOf(d.f32, ROW_WG));
const redF2 = tgpu.workgroupVar(d.arrayOf(d.f32, ROW_WG));
const redI = tgpu.workgroupVar(d.arrayOf(d.i32, ROW_WG));
const redU = tgpu.workgroupVar(d.arrayOf(d.u32, ROW_WG));
const hist = tgpu.workgroupVar(d.arrayOf(d.atomic(d.u32), 256));
const shared = tgpu.workgroupVar(d.arrayOf(d.u32, 4));

const SCRATCH = { redF, redF2, redI, redU, hist, shared };

const ROW_HEADER = /* wgsl */ `
  let P = L.$.params;
  if (group >= P.rows) { return; }
  let row = group;
  let n = P.n;
  let base = row * n;
  var negInfBits = 0xff800000u; // a var, so −∞ is made at run time (a constant −∞ is a WGSL error)
  let NEG_INF = bitcast<f32>(negInfBits);`;

/** Tree-reduces `arr` (ROW_WG entries) with the binary WGSL expression `combine(a, b)`; result in arr[0]. */
function treeReduce(arr: string, combine: (a: string, b: string) => string): string {
  return `
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { ${arr}[lid] = ${combine(`${arr}[lid]`, `${arr}[lid + s]`)}; }
    workgroupBarrier();
  }`;
}

/** Row max into `m` (f32), leaving the scratch free for the next reduction. */
const ROW_MAX = /* wgsl */ `
  var mx = NEG_INF;
  for (var j = lid; j < n; j += ${ROW_WG}u) { mx = max(mx, L.$.x[base + j]); }
  redF[lid] = mx;
  ${treeReduce('redF', (a, b) => `max(${a}, ${b})`)}
  let m = workgroupUniformLoad(&redF[0]);
  let shift = m;
  let infiniteMax = m == NEG_INF || m == -NEG_INF;
  workgroupBarrier();`;

/** Σ exp(x − shift) over the row into `se`. */
const ROW_SUMEXP = /* wgsl */ `
  var acc = 0.0;
  for (var j = lid; j < n; j += ${ROW_WG}u) { acc += exp(L.$.x[base + j] - shift); }
  redF[lid] = acc;
  ${treeReduce('redF', (a, b) => `${a} + ${b}`)}
  let se = redF[0];
  workgroupBarrier();`;

const io = (t: Scalar, outType: Scalar = t) => ({
  x: { type: t, access: 'readonly' as const },
  out: { type: outType, access: 'mutable' as const },
});

export function sumSpec(t: Scalar): Omit<KernelSpec, 'key'> {
  const arr = t === 'f32' ? 'redF' : t === 'i32' ? 'redI' : 'redU';
  return {
    storage: io(t),
    params: RowParams,
    workgroupSize: ROW_WG,
    uses: SCRATCH,
    body: `${ROW_HEADER}
  var acc = ${t}(0);
  for (var j = lid; j < n; j += ${ROW_WG}u) { acc += L.$.x[base + j]; }
  ${arr}[lid] = acc;
  ${treeReduce(arr, (a, b) => `${a} + ${b}`)}
  if (lid == 0u) { L.$.out[row] = ${arr}[0]; }`,
  };
}

export function maxSpec(t: Scalar): Omit<KernelSpec, 'key'> {
  const arr = t === 'f32' ? 'redF' : t === 'i32' ? 'redI' : 'redU';
  return {
    storage: io(t),
    params: RowParams,
    workgroupSize: ROW_WG,
    uses: SCRATCH,
    body: `${ROW_HEADER}
  var acc = L.$.x[base];
  for (var j = lid; j < n; j += ${ROW_WG}u) { acc = max(acc, L.$.x[base + j]); }
  ${arr}[lid] = acc;
  ${treeReduce(arr, (a, b) => `max(${a}, ${b})`)}
  if (lid == 0u) { L.$.out[row] = ${arr}[0]; }`,
  };
}

export type SoftOp = 'logsumexp' | 'softmax' | 'logSoftmax';

/**
 * Stable softmax family: shift by the row max. An infinite max passes through logsumexp (−∞ for a row of −∞) and
 * makes softmax NaN, like the cpu backend and torch.
 */
export function softSpec(op: SoftOp): Omit<KernelSpec, 'key'> {
  const tail: Record<SoftOp, string> = {
    // log Σ exp x = m + log Σ exp(x − m); an infinite max passes through
    logsumexp: 'if (lid == 0u) { L.$.out[row] = select(shift + log(se), m, infiniteMax); }',
    softmax: `let inv = 1.0 / se;
  for (var j = lid; j < n; j += ${ROW_WG}u) { L.$.out[base + j] = exp(L.$.x[base + j] - shift) * inv; }`,
    logSoftmax: `let lse = select(shift + log(se), m, infiniteMax);
  for (var j = lid; j < n; j += ${ROW_WG}u) { L.$.out[base + j] = L.$.x[base + j] - lse; }`,
  };
  return {
    storage: io('f32'),
    params: RowParams,
    workgroupSize: ROW_WG,
    uses: SCRATCH,
    body: `${ROW_HEADER}${ROW_MAX}${ROW_SUMEXP}
  ${tail[op]}`,
  };
}

/** Weight-only LayerNorm (biased variance, two passes): (x − mean)/√(var + eps) · w; params.a = eps. */
export function layerNormSpec(): Omit<KernelSpec, 'key'> {
  return {
    storage: {
      x: { type: 'f32', access: 'readonly' },
      w: { type: 'f32', access: 'readonly' },
      out: { type: 'f32', access: 'mutable' },
    },
    params: RowParams,
    workgroupSize: ROW_WG,
    uses: SCRATCH,
    body: `${ROW_HEADER}
  var acc = 0.0;
  for (var j = lid; j < n; j += ${ROW_WG}u) { acc += L.$.x[base + j]; }
  redF[lid] = acc;
  ${treeReduce('redF', (a, b) => `${a} + ${b}`)}
  let mean = redF[0] / f32(n);
  workgroupBarrier();
  var sq = 0.0;
  for (var j = lid; j < n; j += ${ROW_WG}u) { let c = L.$.x[base + j] - mean; sq += c * c; }
  redF[lid] = sq;
  ${treeReduce('redF', (a, b) => `${a} + ${b}`)}
  let inv = 1.0 / sqrt(redF[0] / f32(n) + P.a);
  for (var j = lid; j < n; j += ${ROW_WG}u) { L.$.out[base + j] = (L.$.x[base + j] - mean) * inv * L.$.w[j]; }`,
  };
}

/**
 * (value, index) argmax with the first index on ties: each invocation keeps the first max of its strided
 * elements; the tree prefers the larger value, then the smaller index. Index 0xffffffff marks "none".
 */
function argmaxReduce(valueArr: string): string {
  return `
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      let vi = ${valueArr}[lid];
      let ii = redU[lid];
      let vo = ${valueArr}[lid + s];
      let io = redU[lid + s];
      let take = io != 0xffffffffu && (ii == 0xffffffffu || vo > vi || (vo == vi && io < ii));
      if (take) { ${valueArr}[lid] = vo; redU[lid] = io; }
    }
    workgroupBarrier();
  }`;
}

export function argmaxSpec(t: Scalar): Omit<KernelSpec, 'key'> {
  const arr = t === 'u32' ? 'redF2' : t === 'f32' ? 'redF' : 'redI';
  const load = t === 'u32' ? 'f32(L.$.x[base + j])' : 'L.$.x[base + j]';
  // u32 values compare exactly as f32 only below 2^24; compare u32 keys through the i32 scratch instead.
  const body =
    t === 'u32'
      ? `
  var best = 0u;
  var bi = 0xffffffffu;
  for (var j = lid; j < n; j += ${ROW_WG}u) {
    let v = L.$.x[base + j];
    if (bi == 0xffffffffu || v > best) { best = v; bi = j; }
  }
  redI[lid] = bitcast<i32>(best ^ 0x80000000u);
  redU[lid] = bi;
  ${argmaxReduce('redI')}`
      : `
  var best = ${t}(0);
  var bi = 0xffffffffu;
  for (var j = lid; j < n; j += ${ROW_WG}u) {
    let v = ${load};
    if (bi == 0xffffffffu || v > best) { best = v; bi = j; }
  }
  ${arr}[lid] = best;
  redU[lid] = bi;
  ${argmaxReduce(arr)}`;
  return {
    storage: io(t, 'i32'),
    params: RowParams,
    workgroupSize: ROW_WG,
    uses: SCRATCH,
    body: `${ROW_HEADER}${body}
  if (lid == 0u) { L.$.out[row] = select(i32(redU[0]), 0, redU[0] == 0xffffffffu); }`,
  };
}

/** Order-preserving map of an f32 to a u32 key (larger float ↔ larger key). */
export const F32_KEY = tgpu.fn([d.f32], d.u32)`(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  return select(b | 0x80000000u, ~b, (b >> 31u) == 1u);
}`;

/** Inverse of F32_KEY. */
export const KEY_F32 = tgpu.fn([d.u32], d.f32)`(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k >> 31u) == 1u));
}`;

/**
 * Writes the row keeping every entry with key > tau and the first `keepTies` entries (by index) with key == tau,
 * −∞ elsewhere: each invocation owns a contiguous chunk, counts its ties, and an exclusive scan over the chunks
 * (by invocation 0, in order) tells it how many earlier ties there are.
 */
function keepWithTies(tau: string, keepTies: string): string {
  return `
  let chunk = (n + ${ROW_WG - 1}u) / ${ROW_WG}u;
  let chunkStart = min(n, lid * chunk);
  let chunkEnd = min(n, chunkStart + chunk);
  var ties = 0u;
  for (var j = chunkStart; j < chunkEnd; j++) { if (key(L.$.x[base + j]) == ${tau}) { ties++; } }
  workgroupBarrier();
  redU[lid] = ties;
  workgroupBarrier();
  if (lid == 0u) {
    var runningTies = 0u;
    for (var q = 0u; q < ${ROW_WG}u; q++) { let c = redU[q]; redU[q] = runningTies; runningTies += c; }
  }
  workgroupBarrier();
  var before = redU[lid];
  for (var j = chunkStart; j < chunkEnd; j++) {
    let v = L.$.x[base + j];
    let kv = key(v);
    var keep = kv > ${tau};
    if (kv == ${tau}) { keep = before < ${keepTies}; before++; }
    L.$.out[base + j] = select(NEG_INF, v, keep);
  }`;
}

/**
 * Top-k: a radix select (four 8-bit digits, most significant first) finds the key of the k-th largest value and
 * how many of its ties still fit; keeps exactly k entries (ties toward the lower index, as the cpu backend),
 * sets the rest to −∞. params.a = k.
 */
export function topKSpec(): Omit<KernelSpec, 'key'> {
  return {
    storage: { ...io('f32'), fault: { type: 'u32', access: 'mutable' } },
    params: RowParams,
    workgroupSize: ROW_WG,
    uses: { ...SCRATCH, key: F32_KEY },
    body: `${ROW_HEADER}
  for (var j = lid; j < n; j += ${ROW_WG}u) { ${nanCheck('topK', 'row', 'j', 'L.$.x[base + j]')} }
  var remaining = u32(P.a);
  var prefix = 0u;
  for (var digitPass = 0u; digitPass < 4u; digitPass++) {
    let shiftBits = 24u - digitPass * 8u;
    let known = select(0u, 0xffffffffu << ((shiftBits + 8u) % 32u), digitPass > 0u);
    for (var h = lid; h < 256u; h += ${ROW_WG}u) { atomicStore(&hist[h], 0u); }
    workgroupBarrier();
    for (var j = lid; j < n; j += ${ROW_WG}u) {
      let kv = key(L.$.x[base + j]);
      if ((kv & known) == prefix) { atomicAdd(&hist[(kv >> shiftBits) & 255u], 1u); }
    }
    workgroupBarrier();
    if (lid == 0u) {
      var above = 0u;
      var digit = 255u;
      loop {
        let c = atomicLoad(&hist[digit]);
        if (above + c >= remaining || digit == 0u) { break; }
        above += c;
        digit -= 1u;
      }
      shared[0] = prefix | (digit << shiftBits);
      shared[1] = remaining - above;
    }
    prefix = workgroupUniformLoad(&shared[0]);
    remaining = workgroupUniformLoad(&shared[1]);
  }
  ${keepWithTies('prefix', 'remaining')}`,
  };
}

/**
 * Top-p (nucleus), the cpu backend's rule: in descending order (ties toward the lower index) keep the shortest
 * prefix whose softmax mass reaches p. With e_i = exp(x_i − m) and Z = Σ e_i, a bitwise search finds the largest
 * key τ with Σ_{key ≥ τ} e_i ≥ p·Z (the key of the last kept entry); all entries above τ are kept and the first
 * c ties at τ, c = ⌈(p·Z − Σ_{key > τ} e_i) / e_τ⌉. A row whose max is +∞ keeps its first +∞. params.a = p.
 */
export function topPSpec(): Omit<KernelSpec, 'key'> {
  return {
    storage: { ...io('f32'), fault: { type: 'u32', access: 'mutable' } },
    params: RowParams,
    workgroupSize: ROW_WG,
    uses: { ...SCRATCH, key: F32_KEY, keyToF32: KEY_F32 },
    body: `${ROW_HEADER}
  for (var j = lid; j < n; j += ${ROW_WG}u) { ${nanCheck('topP', 'row', 'j', 'L.$.x[base + j]')} }${ROW_MAX}${ROW_SUMEXP}
  let goal = P.a * se;
  var tau = 0u;
  var keepTies = 1u;
  if (m == -NEG_INF) {
    tau = key(m);
  } else {
    for (var bit = 31i; bit >= 0i; bit--) {
      let cand = tau | (1u << u32(bit));
      var mass = 0.0;
      for (var j = lid; j < n; j += ${ROW_WG}u) {
        let v = L.$.x[base + j];
        if (key(v) >= cand) { mass += exp(v - shift); }
      }
      redF[lid] = mass;
      ${treeReduce('redF', (a, b) => `${a} + ${b}`)}
      if (lid == 0u) { shared[0] = select(0u, 1u, redF[0] >= goal); }
      let ok = workgroupUniformLoad(&shared[0]);
      if (ok == 1u) { tau = cand; }
    }
    var above = 0.0;
    for (var j = lid; j < n; j += ${ROW_WG}u) {
      let v = L.$.x[base + j];
      if (key(v) > tau) { above += exp(v - shift); }
    }
    redF[lid] = above;
    ${treeReduce('redF', (a, b) => `${a} + ${b}`)}
    let need = (goal - redF[0]) / exp(keyToF32(tau) - shift);
    keepTies = u32(clamp(ceil(need), 1.0, 4294967040.0));
  }
  ${keepWithTies('tau', 'keepTies')}`,
  };
}
