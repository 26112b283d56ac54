/**
 * WGSL twin of rng/philox.ts: Philox-4x32-10 with a 16-bit-split mulhi (WGSL has no 64-bit integers), the same
 * stream layout (key = seed halves; element e of a stream at `offset` is word (offset + e) mod 4 of block
 * floor((offset + e)/4)), and the same word → uniform map, so uniforms are bit-identical to the cpu backend.
 * The 64-bit stream position is carried as (lo, hi) u32 pairs.
 */
import tgpu, { d } from 'typegpu';
import { NORMAL_CONSTANT_BITS } from '../../rng/normal';
import type { KernelSpec } from '../runtime';
import { emptyRowCheck, nanCheck } from './gather';
import { ROW_WG, type RowMode, THREAD_WG } from './rows';

/** High 32 bits of a·b from four 16×16-bit partial products (exact in u32). */
export const MULHI = tgpu.fn([d.u32, d.u32], d.u32)`(a: u32, b: u32) -> u32 {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let ll = al * bl;
  let lh = al * bh;
  let hl = ah * bl;
  let hh = ah * bh;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}`;

/** Philox-4x32-10 block of counter (c0, c1, 0, 0) under key (k0, k1) (Salmon et al. 2011). */
export const PHILOX = tgpu.fn(
  [d.u32, d.u32, d.u32, d.u32],
  d.vec4u,
)`(c0: u32, c1: u32, k0: u32, k1: u32) -> vec4u {
  var x = vec4u(c0, c1, 0u, 0u);
  var k = vec2u(k0, k1);
  for (var round = 0u; round < 10u; round++) {
    let hi0 = mulhi(0xd2511f53u, x.x);
    let lo0 = 0xd2511f53u * x.x;
    let hi1 = mulhi(0xcd9e8d57u, x.z);
    let lo1 = 0xcd9e8d57u * x.z;
    x = vec4u(hi1 ^ x.y ^ k.x, lo1, hi0 ^ x.w ^ k.y, lo0);
    k = k + vec2u(0x9e3779b9u, 0xbb67ae85u);
  }
  return x;
}`.$uses({ mulhi: MULHI });

/** Uniform in (0, 1) from one word: ((x >> 9) + 0.5)·2^-23, exact in f32. */
export const WORD_TO_UNIFORM = tgpu.fn([d.u32], d.f32)`(w: u32) -> f32 {
  return (f32(w >> 9u) + 0.5) * 1.1920928955078125e-7;
}`;

/** (lo, hi) + v with carry. */
export const ADD64 = tgpu.fn([d.vec2u, d.u32], d.vec2u)`(a: vec2u, v: u32) -> vec2u {
  let lo = a.x + v;
  return vec2u(lo, a.y + select(0u, 1u, lo < a.x));
}`;

export const StreamParams = d.struct({
  size: d.u32,
  k0: d.u32,
  k1: d.u32,
  /** First block of the window: floor(offset / 4) as (lo, hi). */
  block: d.vec2u,
  /** offset mod 4: element e sits at word e + skip of the window. */
  skip: d.u32,
});

/** One invocation per Philox block of the window; writes the block's (up to) 4 words in the output range. */
export function uniformSpec(words: boolean): Omit<KernelSpec, 'key'> {
  return {
    storage: { out: { type: words ? 'u32' : 'f32', access: 'mutable' } },
    params: StreamParams,
    workgroupSize: 64,
    uses: { philox: PHILOX, add64: ADD64, toUniform: WORD_TO_UNIFORM },
    body: /* wgsl */ `
  let P = L.$.params;
  let t = group * 64u + lid;
  let firstWord = t * 4u;
  if (firstWord >= P.size + P.skip) { return; }
  let b = add64(P.block, t);
  let w = philox(b.x, b.y, P.k0, P.k1);
  for (var j = 0u; j < 4u; j++) {
    let pos = firstWord + j;
    if (pos >= P.skip && pos - P.skip < P.size) {
      L.$.out[pos - P.skip] = ${words ? 'w[j]' : 'toUniform(w[j])'};
    }
  }`,
  };
}

/**
 * −log(u) for u in (0, 1), accurate in relative terms near u = 1 too (WGSL's log has only an absolute error
 * bound near 1, which could make −log(u) ≤ 0): a series in t = 1 − u (exact in f32) for t < 1/16.
 */
export const NEG_LOG = tgpu.fn([d.f32], d.f32)`(u: f32) -> f32 {
  let t = 1.0 - u;
  if (t < 0.0625) {
    // −log(1 − t) = t + t²/2 + t³/3 + …  (8 terms: relative error < (1/16)^8)
    return t * (1.0 + t * (0.5 + t * (0.33333334 + t * (0.25 + t * (0.2 + t * (0.16666667 + t * (0.14285715 + t * 0.125)))))));
  }
  return -log(u);
}`;

export const SampleParams = d.struct({
  rows: d.u32,
  n: d.u32,
  k0: d.u32,
  k1: d.u32,
  /** Stream position of row 0's first element, as (lo, hi). */
  start: d.vec2u,
  invT: d.f32,
  /** Index of this dispatch's first row in the whole tensor (faults name rows of the whole tensor). */
  first: d.u32,
});

/**
 * Whether score v (of logit x) beats the best so far (score b, of logit bx): the larger score; when both scores
 * are the same infinity (x/T overflowed f32), the larger logit, as the unrounded scores order (the cpu rule).
 */
const BEATS = tgpu.fn([d.f32, d.f32, d.f32, d.f32], d.bool)`(v: f32, x: f32, b: f32, bx: f32) -> bool {
  let infinite = (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u;
  return v > b || (v == b && infinite && x > bx);
}`;

/** Writes the row's id; a row whose best logit is −∞ (all −∞: no distribution) gets 0 and records a fault. */
const finishRow = (id: string, bestLogit: string) => /* wgsl */ `
  L.$.out[row] = select(i32(${id}), 0, ${id} == 0xffffffffu);${emptyRowCheck('sampleCategorical', 'P.first + row', bestLogit)}`;

/**
 * Fused Gumbel-max: id = argmax_i (x_i/T + G_i), G_i = −log(−log u_i), u_i the uniform at stream position
 * offset + r·n + i (the cpu backend's layout). Each invocation walks whole Philox blocks of its row keeping the
 * first max; in the `group` layout (one workgroup per long row) a tree then keeps the larger score, then the
 * smaller index; in the `thread` layout one invocation walks a whole short row. Scores that overflow f32 (tiny T)
 * are ordered by their logits (BEATS); a row of all −∞ records a fault.
 */
export function sampleSpec(mode: RowMode): Omit<KernelSpec, 'key'> {
  const redF = tgpu.workgroupVar(d.arrayOf(d.f32, ROW_WG));
  const redL = tgpu.workgroupVar(d.arrayOf(d.f32, ROW_WG));
  const redU = tgpu.workgroupVar(d.arrayOf(d.u32, ROW_WG));
  const group = mode === 'group';
  const rowOf = group ? 'group' : `group * ${THREAD_WG}u + lid`;
  const blockLoop = group
    ? `for (var t = lid; t < blocks; t += ${ROW_WG}u)`
    : 'for (var t = 0u; t < blocks; t++)';
  const finish = group
    ? `
  redF[lid] = best;
  redL[lid] = bestLogit;
  redU[lid] = bi;
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      let vi = redF[lid];
      let li = redL[lid];
      let ii = redU[lid];
      let vo = redF[lid + s];
      let lo = redL[lid + s];
      let io = redU[lid + s];
      let tieWon = vo == vi && !beats(vi, li, vo, lo) && io < ii;
      let take = io != 0xffffffffu && (ii == 0xffffffffu || beats(vo, lo, vi, li) || tieWon);
      if (take) { redF[lid] = vo; redL[lid] = lo; redU[lid] = io; }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {${finishRow('redU[0]', 'redL[0]')}
  }`
    : finishRow('bi', 'bestLogit');
  return {
    storage: {
      x: { type: 'f32', access: 'readonly' },
      out: { type: 'i32', access: 'mutable' },
      fault: { type: 'u32', access: 'mutable' },
    },
    params: SampleParams,
    workgroupSize: group ? ROW_WG : THREAD_WG,
    uses: {
      philox: PHILOX,
      mulhi: MULHI,
      add64: ADD64,
      toUniform: WORD_TO_UNIFORM,
      negLog: NEG_LOG,
      beats: BEATS,
      ...(group ? { redF, redL, redU } : {}),
    },
    body: /* wgsl */ `
  let P = L.$.params;
  let row = ${rowOf};
  if (row >= P.rows) { return; }
  let n = P.n;
  let base = row * n;
  // row start position = start + row·n (64-bit)
  let rowStart = add64(vec2u(P.start.x, P.start.y + mulhi(row, n)), row * n);
  let skip = rowStart.x & 3u;
  let firstBlock = vec2u((rowStart.x >> 2u) | (rowStart.y << 30u), rowStart.y >> 2u);
  let blocks = (n + skip + 3u) / 4u;
  var best = 0.0;
  var bestLogit = 0.0;
  var bi = 0xffffffffu;
  ${blockLoop} {
    let b = add64(firstBlock, t);
    let w = philox(b.x, b.y, P.k0, P.k1);
    for (var j = 0u; j < 4u; j++) {
      let pos = t * 4u + j;
      if (pos >= skip && pos - skip < n) {
        let i = pos - skip;
        let g = -log(negLog(toUniform(w[j])));
        let logit = L.$.x[base + i];
        ${nanCheck('sampleCategorical', 'P.first + row', 'i', 'logit')}
        let v = logit * P.invT + g;
        if (bi == 0xffffffffu || beats(v, logit, best, bestLogit)) { best = v; bestLogit = logit; bi = i; }
      }
    }
  }${finish}`,
  };
}

/**
 * Keeps a product rounded on its own: XOR with a run-time zero the compiler cannot see through, so a·b + c is
 * never contracted into an FMA (rng/normal.ts counts one rounding per operation).
 */
const opaqueZero = tgpu.privateVar(d.u32);

export const MUL_R = tgpu.fn([d.f32, d.f32], d.f32)`(a: f32, b: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(a * b) ^ opaqueZero);
}`.$uses({ opaqueZero });

const f32Bits = (bits: number) => `bitcast<f32>(0x${bits.toString(16).padStart(8, '0')}u)`;

/** Horner p = (p·z) + P[k] from the highest coefficient, one rounding per operation. */
const hornerWgsl = (name: string, coefficients: readonly number[]) => {
  const steps = coefficients
    .slice(0, -1)
    .map((_, k) => coefficients.length - 2 - k)
    .map((k) => `  p = mulR(p, z) + ${f32Bits(coefficients[k])};`)
    .join('\n');
  return tgpu.fn([d.f32], d.f32)`(z: f32) -> f32 {
  var p = ${f32Bits(coefficients[coefficients.length - 1])};
${steps}
  return p;
}`
    .$uses({ mulR: MUL_R })
    .$name(name);
};

/** The constants of rng/normal.ts, taken from its bit-pattern table (one set of numbers for both twins). */
const C = NORMAL_CONSTANT_BITS;

/** ln u in f32 with +, −, × and bit manipulation only (twin of ln32 in rng/normal.ts). */
const LN32 = tgpu.fn([d.f32], d.f32)`(u: f32) -> f32 {
  let bits = bitcast<u32>(u);
  var e = i32(bits >> 23u) - 127;
  var m = bitcast<f32>((bits & 0x7fffffu) | 0x3f800000u);
  if (m >= ${f32Bits(C.SQRT2)}) {
    m = mulR(m, 0.5);
    e = e + 1;
  }
  let f = m - 1.0;
  let lnm = mulR(f, lnQ(f));
  let ef = f32(e);
  return mulR(ef, ${f32Bits(C.LN2_HI)}) + (mulR(ef, ${f32Bits(C.LN2_LO)}) + lnm);
}`.$uses({ mulR: MUL_R, lnQ: hornerWgsl('lnQ', C.LN_Q) });

/** √x: reciprocal-sqrt seed, three Newton steps, then x·y (twin of sqrt32). */
const SQRT32 = tgpu.fn([d.f32], d.f32)`(x: f32) -> f32 {
  var y = bitcast<f32>(0x${C.RSQRT_MAGIC.toString(16)}u - (bitcast<u32>(x) >> 1u));
  let h = mulR(x, 0.5);
  for (var i = 0; i < 3; i++) {
    var t = mulR(h, y);
    t = mulR(t, y);
    t = 1.5 - t;
    y = mulR(y, t);
  }
  return mulR(x, y);
}`.$uses({ mulR: MUL_R });

/** (cos 2πu, sin 2πu) by exact quadrant reduction of 4u (twin of cosSin2Pi32). */
const COS_SIN_2PI = tgpu.fn([d.f32], d.vec2f)`(u: f32) -> vec2f {
  let v = mulR(u, 4.0);
  let qf = floor(v);
  let t = v - qf;
  let z = mulR(t, t);
  let s = mulR(t, sinS(z));
  let c = cosC(z);
  let q = u32(qf);
  if (q == 0u) { return vec2f(c, s); }
  if (q == 1u) { return vec2f(-s, c); }
  if (q == 2u) { return vec2f(-c, -s); }
  return vec2f(s, -c);
}`.$uses({
  mulR: MUL_R,
  sinS: hornerWgsl('sinS', C.SIN_S),
  cosC: hornerWgsl('cosC', C.COS_C),
});

/** Box–Muller on one word pair: (r·cos θ, r·sin θ), r = √(−2 ln u1), θ = 2π·u2. */
export const NORMAL_PAIR = tgpu.fn([d.u32, d.u32], d.vec2f)`(w0: u32, w1: u32) -> vec2f {
  let r = sqrt32(mulR(ln32(toUniform(w0)), -2.0));
  let cs = cosSin2Pi(toUniform(w1));
  return vec2f(mulR(r, cs.x), mulR(r, cs.y));
}`.$uses({ mulR: MUL_R, sqrt32: SQRT32, ln32: LN32, cosSin2Pi: COS_SIN_2PI, toUniform: WORD_TO_UNIFORM });

export const NormalParams = d.struct({
  size: d.u32,
  k0: d.u32,
  k1: d.u32,
  block: d.vec2u,
  skip: d.u32,
  /** Always 0; read at run time so products cannot be fused (see MUL_R). */
  zero: d.u32,
});

/** One invocation per Philox block: words (w0, w1) and (w2, w3) each give a Box–Muller pair. */
export function normalSpec(): Omit<KernelSpec, 'key'> {
  return {
    storage: { out: { type: 'f32', access: 'mutable' } },
    params: NormalParams,
    workgroupSize: 64,
    uses: { philox: PHILOX, add64: ADD64, normalPair: NORMAL_PAIR, opaqueZero },
    body: /* wgsl */ `
  let P = L.$.params;
  opaqueZero = P.zero;
  let t = group * 64u + lid;
  let firstWord = t * 4u;
  if (firstWord >= P.size + P.skip) { return; }
  let b = add64(P.block, t);
  let w = philox(b.x, b.y, P.k0, P.k1);
  let n01 = normalPair(w.x, w.y);
  let n23 = normalPair(w.z, w.w);
  let values = vec4f(n01.x, n01.y, n23.x, n23.y);
  for (var j = 0u; j < 4u; j++) {
    let pos = firstWord + j;
    if (pos >= P.skip && pos - P.skip < P.size) { L.$.out[pos - P.skip] = values[j]; }
  }`,
  };
}
