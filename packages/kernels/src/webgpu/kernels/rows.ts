/**
 * WGSL for last-axis row ops, in two layouts: `group` — one workgroup per row, a strided loop per invocation,
 * then a fixed-order tree reduction in workgroup memory (long rows); `thread` — one invocation per row walking it
 * in order (short rows: a workgroup per row would leave most invocations idle, and on software adapters costs
 * a barrier-heavy workgroup per row). Both are deterministic: the same inputs always give the same bits.
 */
import tgpu, { d } from 'typegpu';
import type { KernelSpec, Scalar } from '../runtime';
import { emptyRowCheck, nanCheck } from './gather';

export const ROW_WG = 128;
/** Rows up to this long take the one-invocation-per-row layout. */
export const SHORT_ROW = 256;
/** With this many rows (of moderate length) there are enough invocations to fill a device one row each. */
export const MANY_ROWS = 2048;
export const MODERATE_ROW = 4096;
export const THREAD_WG = 64;

export type RowMode = 'group' | 'thread';
/**
 * One invocation per row for short rows, and for many rows of moderate length (on SwiftShader layerNorm over
 * [4096, 768] takes 163 ms this way against 1 057 ms with a workgroup per row); a workgroup per row otherwise.
 */
export const rowMode = (n: number, rows: number): RowMode =>
  n <= SHORT_ROW || (rows >= MANY_ROWS && n <= MODERATE_ROW) ? 'thread' : 'group';
/** Workgroups for `rows` rows in a layout. */
export const rowGroups = (mode: RowMode, rows: number) =>
  mode === 'group' ? rows : Math.ceil(rows / THREAD_WG);

/** rows and n of this dispatch, two scalar arguments, and the first row's index in the whole tensor (for faults). */
export const RowParams = d.struct({ rows: d.u32, n: d.u32, a: d.f32, b: d.f32, first: d.u32 });

/** Workgroup scratch shared by the row kernels (each kernel declares what it uses). */
const redF = tgpu.workgroupVar(d.arrayOf(d.f32, ROW_WG));
const redF2 = tgpu.workgroupVar(d.arrayOf(d.f32, ROW_WG));
const redI = tgpu.workgroupVar(d.arrayOf(d.i32, ROW_WG));
const redU = tgpu.workgroupVar(d.arrayOf(d.u32, ROW_WG));
const hist = tgpu.workgroupVar(d.arrayOf(d.atomic(d.u32), 256));
const shared = tgpu.workgroupVar(d.arrayOf(d.u32, 4));

const SCRATCH = { redF, redF2, redI, redU, hist, shared };

/** NaN test on the bits (robust against compilers that assume no NaNs). */
export const IS_NAN = tgpu.fn([d.f32], d.bool)`(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}`;

/** max that propagates NaN, like the cpu backend (WGSL's max leaves NaN implementation-defined). */
export const MAX_NAN = tgpu.fn([d.f32, d.f32], d.f32)`(a: f32, b: f32) -> f32 {
  if (isNan(a)) { return a; }
  if (isNan(b)) { return b; }
  return max(a, b);
}`.$uses({ isNan: IS_NAN });

const HELPERS = { isNan: IS_NAN, maxNaN: MAX_NAN };

const NEG_INF_DECL = /* wgsl */ `
  var negInfBits = 0xff800000u; // a var, so −∞ is made at run time (a constant −∞ is a WGSL error)
  let NEG_INF = bitcast<f32>(negInfBits);`;

const ROW_HEADER = /* wgsl */ `
  let P = L.$.params;
  if (group >= P.rows) { return; }
  let row = group;
  let n = P.n;
  let base = row * n;${NEG_INF_DECL}`;

const THREAD_HEADER = /* wgsl */ `
  let P = L.$.params;
  let row = group * ${THREAD_WG}u + lid;
  if (row >= P.rows) { return; }
  let n = P.n;
  let base = row * n;${NEG_INF_DECL}`;

/** Tree-reduces `arr` (ROW_WG entries) with the binary WGSL expression `combine(a, b)`; result in arr[0]. */
function treeReduce(arr: string, combine: (a: string, b: string) => string): string {
  return `
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { ${arr}[lid] = ${combine(`${arr}[lid]`, `${arr}[lid + s]`)}; }
    workgroupBarrier();
  }`;
}

/** What differs between the two layouts. */
interface Layout {
  wg: number;
  header: string;
  /** Loop header over the row's indices j owned by this invocation. */
  loop: string;
  /** Combines per-invocation partials `local` into `let name` (uniform: loaded with workgroupUniformLoad). */
  reduce(
    name: string,
    local: string,
    arr: string,
    combine: (a: string, b: string) => string,
    uniform?: boolean,
  ): string;
  /** Guard of one-per-row writes. */
  single: string;
}

const LAYOUTS: Record<RowMode, Layout> = {
  group: {
    wg: ROW_WG,
    header: ROW_HEADER,
    loop: `for (var j = lid; j < n; j += ${ROW_WG}u)`,
    reduce: (name, local, arr, combine, uniform = false) => `
  ${arr}[lid] = ${local};
  ${treeReduce(arr, combine)}
  let ${name} = ${uniform ? `workgroupUniformLoad(&${arr}[0])` : `${arr}[0]`};
  workgroupBarrier();`,
    single: 'lid == 0u',
  },
  thread: {
    wg: THREAD_WG,
    header: THREAD_HEADER,
    loop: 'for (var j = 0u; j < n; j++)',
    reduce: (name, local) => `
  let ${name} = ${local};`,
    single: 'true',
  },
};

/** Row max into `m` (NaN-propagating) and the shift of the softmax family. */
const rowMax = (l: Layout) => `
  var mx = NEG_INF;
  ${l.loop} { mx = maxNaN(mx, L.$.x[base + j]); }
  ${l.reduce('m', 'mx', 'redF', (a, b) => `maxNaN(${a}, ${b})`, true)}
  let shift = m;
  let infiniteMax = m == NEG_INF || m == -NEG_INF;`;

/** Σ exp(x − shift) over the row into `se`. */
const rowSumExp = (l: Layout) => `
  var acc = 0.0;
  ${l.loop} { acc += exp(L.$.x[base + j] - shift); }
  ${l.reduce('se', 'acc', 'redF', (a, b) => `${a} + ${b}`)}`;

const io = (t: Scalar, outType: Scalar = t) => ({
  x: { type: t, access: 'readonly' as const },
  out: { type: outType, access: 'mutable' as const },
});

const spec = (
  mode: RowMode,
  storage: KernelSpec['storage'],
  body: (l: Layout) => string,
): Omit<KernelSpec, 'key'> => ({
  storage,
  params: RowParams,
  workgroupSize: LAYOUTS[mode].wg,
  uses: mode === 'group' ? { ...SCRATCH, ...HELPERS } : HELPERS,
  body: `${LAYOUTS[mode].header}${body(LAYOUTS[mode])}`,
});

export function sumSpec(mode: RowMode): Omit<KernelSpec, 'key'> {
  return spec(
    mode,
    io('f32'),
    (l) => `
  var acc = 0.0;
  ${l.loop} { acc += L.$.x[base + j]; }
  ${l.reduce('total', 'acc', 'redF', (a, b) => `${a} + ${b}`)}
  if (${l.single}) { L.$.out[row] = total; }`,
  );
}

export function maxSpec(mode: RowMode): Omit<KernelSpec, 'key'> {
  return spec(
    mode,
    io('f32'),
    (l) => `${rowMax(l)}
  if (${l.single}) { L.$.out[row] = m; }`,
  );
}

export type SoftOp = 'logsumexp' | 'softmax' | 'logSoftmax';

/**
 * Stable softmax family: shift by the row max. An infinite max passes through logsumexp (−∞ for a row of −∞) and
 * makes softmax NaN, like the cpu backend and torch.
 */
export function softSpec(op: SoftOp, mode: RowMode): Omit<KernelSpec, 'key'> {
  const tail = (l: Layout): string =>
    ({
      // log Σ exp x = m + log Σ exp(x − m); an infinite max passes through
      logsumexp: `if (${l.single}) { L.$.out[row] = select(shift + log(se), m, infiniteMax); }`,
      softmax: `let inv = 1.0 / se;
  ${l.loop} { L.$.out[base + j] = exp(L.$.x[base + j] - shift) * inv; }`,
      logSoftmax: `let lse = select(shift + log(se), m, infiniteMax);
  ${l.loop} { L.$.out[base + j] = L.$.x[base + j] - lse; }`,
    })[op];
  return spec(
    mode,
    io('f32'),
    (l) => `${rowMax(l)}${rowSumExp(l)}
  ${tail(l)}`,
  );
}

/** Weight-only LayerNorm (biased variance, two passes): (x − mean)/√(var + eps) · w; params.a = eps. */
export function layerNormSpec(mode: RowMode): Omit<KernelSpec, 'key'> {
  const storage = { ...io('f32'), w: { type: 'f32' as const, access: 'readonly' as const } };
  return spec(
    mode,
    storage,
    (l) => `
  var acc = 0.0;
  ${l.loop} { acc += L.$.x[base + j]; }
  ${l.reduce('total', 'acc', 'redF', (a, b) => `${a} + ${b}`)}
  let mean = total / f32(n);
  var sq = 0.0;
  ${l.loop} { let c = L.$.x[base + j] - mean; sq += c * c; }
  ${l.reduce('sqTotal', 'sq', 'redF', (a, b) => `${a} + ${b}`)}
  let inv = 1.0 / sqrt(sqTotal / f32(n) + P.a);
  ${l.loop} { L.$.out[base + j] = (L.$.x[base + j] - mean) * inv * L.$.w[j]; }`,
  );
}

/**
 * Whether (vo, io) beats (vi, ii) in an argmax with the cpu backend's rules: NaN counts as the largest value, the
 * first index wins ties; index 0xffffffff marks "none yet".
 */
const beats = (t: Scalar, vo: string, io: string, vi: string, ii: string) => {
  const greater =
    t === 'f32'
      ? `(isNan(${vo}) && !isNan(${vi})) || (isNan(${vo}) == isNan(${vi}) && (${vo} > ${vi} || ((${vo} == ${vi} || isNan(${vo})) && ${io} < ${ii})))`
      : `${vo} > ${vi} || (${vo} == ${vi} && ${io} < ${ii})`;
  return `(${io} != 0xffffffffu && (${ii} == 0xffffffffu || ${greater}))`;
};

/** Argmax: each invocation keeps the first best of its elements; the tree then prefers the better (value, index). */
export function argmaxSpec(t: Scalar, mode: RowMode): Omit<KernelSpec, 'key'> {
  // u32 values are carried through the i32 scratch as order-preserving keys (f32 is exact only below 2^24).
  const arr = t === 'f32' ? 'redF' : 'redI';
  const toScratch = t === 'u32' ? 'bitcast<i32>(best ^ 0x80000000u)' : 'best';
  const st = t === 'u32' ? 'i32' : t;
  return spec(mode, io(t, 'i32'), (l) => {
    const scan = `
  var best = ${t}(0);
  var bi = 0xffffffffu;
  ${l.loop} {
    let v = L.$.x[base + j];
    if (${beats(t, 'v', 'j', 'best', 'bi')}) { best = v; bi = j; }
  }`;
    if (mode === 'thread')
      return `${scan}
  L.$.out[row] = select(i32(bi), 0, bi == 0xffffffffu);`;
    return `${scan}
  ${arr}[lid] = ${toScratch};
  redU[lid] = bi;
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      let vi = ${arr}[lid];
      let ii = redU[lid];
      let vo = ${arr}[lid + s];
      let io = redU[lid + s];
      if (${beats(st as Scalar, 'vo', 'io', 'vi', 'ii')}) { ${arr}[lid] = vo; redU[lid] = io; }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { L.$.out[row] = select(i32(redU[0]), 0, redU[0] == 0xffffffffu); }`;
  });
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
    uses: { ...SCRATCH, ...HELPERS, key: F32_KEY },
    body: `${ROW_HEADER}
  for (var j = lid; j < n; j += ${ROW_WG}u) { ${nanCheck('topK', 'P.first + row', 'j', 'L.$.x[base + j]')} }
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

const binMass = tgpu.workgroupVar(d.arrayOf(d.f32, ROW_WG * 16));
const sharedF = tgpu.workgroupVar(d.f32);

/**
 * Top-p (nucleus), the cpu backend's rule: in descending order (ties toward the lower index) keep the shortest
 * prefix whose softmax mass reaches p. With e_i = exp(x_i − m) and Z = Σ e_i, a radix search (eight 4-bit digits
 * of the f32 keys, most significant first, with the mass of each digit's bin) finds the largest key τ with
 * Σ_{key ≥ τ} e_i ≥ p·Z (the key of the last kept entry) and the mass above it; all entries above τ are kept and
 * the first c ties at τ, c = ⌈(p·Z − Σ_{key > τ} e_i) / e_τ⌉. A row whose max is +∞ keeps its first +∞; a row
 * of all −∞ records a fault (ArgumentError at the next read, as the cpu backend refuses it). params.a = p.
 */
export function topPSpec(): Omit<KernelSpec, 'key'> {
  return {
    storage: { ...io('f32'), fault: { type: 'u32', access: 'mutable' } },
    params: RowParams,
    workgroupSize: ROW_WG,
    uses: { ...SCRATCH, ...HELPERS, key: F32_KEY, keyToF32: KEY_F32, binMass, sharedF },
    body: `${ROW_HEADER}
  for (var j = lid; j < n; j += ${ROW_WG}u) { ${nanCheck('topP', 'P.first + row', 'j', 'L.$.x[base + j]')} }${rowMax(LAYOUTS.group)}
  if (lid == 0u) {${emptyRowCheck('topP', 'P.first + row', 'm')}
  }${rowSumExp(LAYOUTS.group)}
  let goal = P.a * se;
  var tau = 0u;
  var keepTies = 1u;
  if (m == -NEG_INF) {
    tau = key(m);
  } else {
    var above = 0.0;
    for (var digitPass = 0u; digitPass < 8u; digitPass++) {
      let shiftBits = 28u - digitPass * 4u;
      let known = select(0u, 0xffffffffu << ((shiftBits + 4u) % 32u), digitPass > 0u);
      var bins: array<f32, 16>;
      for (var b = 0u; b < 16u; b++) { bins[b] = 0.0; }
      for (var j = lid; j < n; j += ${ROW_WG}u) {
        let v = L.$.x[base + j];
        let kv = key(v);
        if ((kv & known) == tau) { bins[(kv >> shiftBits) & 15u] += exp(v - shift); }
      }
      for (var b = 0u; b < 16u; b++) { binMass[lid * 16u + b] = bins[b]; }
      workgroupBarrier();
      for (var s = ${ROW_WG / 2}u; s > 0u; s = s >> 1u) {
        if (lid < s) {
          for (var b = 0u; b < 16u; b++) { binMass[lid * 16u + b] += binMass[(lid + s) * 16u + b]; }
        }
        workgroupBarrier();
      }
      if (lid == 0u) {
        var cum = above;
        var digit = 15u;
        loop {
          let c = binMass[digit];
          if (cum + c >= goal || digit == 0u) { break; }
          cum += c;
          digit -= 1u;
        }
        shared[0] = tau | (digit << shiftBits);
        sharedF = cum;
      }
      tau = workgroupUniformLoad(&shared[0]);
      above = workgroupUniformLoad(&sharedF);
    }
    let need = (goal - above) / exp(keyToF32(tau) - shift);
    keepTies = u32(clamp(ceil(need), 1.0, 4294967040.0));
  }
  ${keepWithTies('tau', 'keepTies')}`,
  };
}
