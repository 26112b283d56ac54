/**
 * Standard normals from Philox words, BIT-IDENTICAL on every backend (the WGSL twin mirrors this file step by
 * step).
 *
 * Layout. Element p = offset + e of a normal stream sits in Philox block floor(p / 4), word j = p mod 4 (the same
 * addressing as the uniform stream). The block's words (w0, w1) give the normals of j = 0 (r·cos θ) and j = 1
 * (r·sin θ); (w2, w3) give j = 2 (r·cos θ) and j = 3 (r·sin θ). Box–Muller: u1 = wordToUniform(w_even),
 * u2 = wordToUniform(w_odd), r = √(−2 ln u1), θ = 2π·u2.
 *
 * Arithmetic. Every value is an f32 and every step is ONE f32 operation among +, −, × (emulated here with
 * Math.fround after each operation; no division, no library log/sqrt/cos/sin, no fused multiply-add — a WGSL twin
 * must keep the compiler from contracting a·b + c), plus exact bit manipulation and floor():
 *
 *   ln u (u in (0, 1)):  bits = bitcast<u32>(u); e = i32(bits >> 23) − 127;
 *                        m = bitcast<f32>((bits & 0x7fffff) | 0x3f800000)            (m in [1, 2))
 *                        if m ≥ SQRT2 { m = m × 0.5; e = e + 1 }                    (m in [√½, √2), exact)
 *                        f = m − 1                                                   (exact)
 *                        lnm = f × Q(f)          Q = Horner with LN_Q[9] … LN_Q[0]
 *                        ef = f32(e);  ln u = ef × LN2_HI + (ef × LN2_LO + lnm)   (ef × LN2_HI is exact)
 *   r:                   x = ln u × −2;  y = bitcast<f32>(0x5f3759df − (bitcast<u32>(x) >> 1));
 *                        h = x × 0.5;  3 × { t = h × y; t = t × y; t = 1.5 − t; y = y × t };  r = x × y
 *   cos θ, sin θ:        v = u2 × 4 (exact); q = floor(v) in {0, 1, 2, 3}; t = v − q (exact); z = t × t
 *                        s = t × S(z) ≈ sin(πt/2),  c = C(z) ≈ cos(πt/2)  (Horner from the highest coefficient)
 *                        q = 0: (cos, sin) = (c, s);   q = 1: (−s, c);   q = 2: (−c, −s);   q = 3: (s, −c)
 *   normals:             n_even = r × cos θ,  n_odd = r × sin θ
 *
 * Horner, for coefficients P[0..d] and argument z: p = P[d]; for k = d − 1 down to 0: p = (p × z) + P[k]
 * (two roundings per step).
 *
 * Constants (f32 bit patterns; exact decimal values in the comments below):
 *   SQRT2  0x3fb504f3   LN2_HI 0x3f317180   LN2_LO 0x3717f7d1   RSQRT_MAGIC 0x5f3759df (integer)
 *   LN_Q   0x3f800000 0xbefffffc 0x3eaaaaa8 0xbe800214 0x3e4cd1f6 0xbe2a1387 0x3e1138da 0xbe079cfd 0x3e0424b1
 *          0xbd9c1420        (ln(1 + f)/f on [√½ − 1, √2 − 1], degree 9, near-minimax relative error)
 *   SIN_S  0x3fc90fdb 0xbf255de7 0x3da335e0 0xbb996898 0x39280a11 0xb6664f12     (sin(πt/2)/t in z = t², deg 5)
 *   COS_C  0x3f800000 0xbf9de9e6 0x3e81e0f2 0xbcaae83b 0x3a709379 0xb7c7db9f     (cos(πt/2) in z = t², deg 5)
 *
 * Accuracy, checked exhaustively over all 2^23 uniforms (f32 emulation in NumPy, test/fixtures/normal_accuracy.py):
 * |ln u error| ≤ 5.1e-7 (relative 1.3e-7), |r error| ≤ 7.1e-7, |cos/sin error| ≤ 2.2e-7; hence every normal is
 * within 1.99e-6 of the float64 Box–Muller on the same words (bound |Δr| + r·|Δtrig| + ½ ulp, maximised over u1;
 * the largest error found is 1.88e-6; |n| ≤ 5.77, the largest r the uniforms allow). The coefficients are
 * near-minimax fits (Lawson-weighted least squares) rounded to f32.
 */
import { wordToUniform } from './philox';

const F = Math.fround;
const scratch = new DataView(new ArrayBuffer(4));

/** The f32 whose bit pattern is `bits`. */
export function f32FromBits(bits: number): number {
  scratch.setUint32(0, bits >>> 0);
  return scratch.getFloat32(0);
}

/** The bit pattern of the f32 nearest to x (x is already an f32 here). */
export function bitsOfF32(x: number): number {
  scratch.setFloat32(0, x);
  return scratch.getUint32(0);
}

/** The constants as f32 bit patterns: the single table both this file and the WGSL twin read. */
export const NORMAL_CONSTANT_BITS = {
  /** ln(1 + f)/f ≈ Σ LN_Q[k] f^k on [√½ − 1, √2 − 1]. */
  LN_Q: [
    0x3f800000, 0xbefffffc, 0x3eaaaaa8, 0xbe800214, 0x3e4cd1f6, 0xbe2a1387, 0x3e1138da, 0xbe079cfd,
    0x3e0424b1, 0xbd9c1420,
  ],
  /** sin(πt/2)/t ≈ Σ SIN_S[k] z^k, z = t², t in [0, 1]. */
  SIN_S: [0x3fc90fdb, 0xbf255de7, 0x3da335e0, 0xbb996898, 0x39280a11, 0xb6664f12],
  /** cos(πt/2) ≈ Σ COS_C[k] z^k, z = t², t in [0, 1]. */
  COS_C: [0x3f800000, 0xbf9de9e6, 0x3e81e0f2, 0xbcaae83b, 0x3a709379, 0xb7c7db9f],
  SQRT2: 0x3fb504f3, // 1.41421353816986083984375
  LN2_HI: 0x3f317180, // 0.69313812255859375
  LN2_LO: 0x3717f7d1, // 9.0580006144591607153415679931640625e-6
  /** An integer, not a float: the reciprocal-square-root seed is RSQRT_MAGIC − (bits(x) >> 1). */
  RSQRT_MAGIC: 0x5f3759df,
} as const;

const C = NORMAL_CONSTANT_BITS;
const SQRT2 = f32FromBits(C.SQRT2);
const LN2_HI = f32FromBits(C.LN2_HI);
const LN2_LO = f32FromBits(C.LN2_LO);
export const LN_Q = C.LN_Q.map(f32FromBits);
export const SIN_S = C.SIN_S.map(f32FromBits);
export const COS_C = C.COS_C.map(f32FromBits);

/** Horner in f32: p = P[d]; p = (p·z) + P[k] for k = d − 1 … 0. */
export function horner32(coefficients: readonly number[], z: number): number {
  let p = coefficients[coefficients.length - 1];
  for (let k = coefficients.length - 2; k >= 0; k--) p = F(F(p * z) + coefficients[k]);
  return p;
}

/** ln u for an f32 u in (0, 1), in f32 (+, −, × and bit manipulation only). */
export function ln32(u: number): number {
  const bits = bitsOfF32(u);
  let e = (bits >>> 23) - 127;
  let m = f32FromBits((bits & 0x7fffff) | 0x3f800000);
  if (m >= SQRT2) {
    m = F(m * 0.5);
    e += 1;
  }
  const f = F(m - 1);
  const lnm = F(f * horner32(LN_Q, f));
  return F(F(e * LN2_HI) + F(F(e * LN2_LO) + lnm));
}

/** √x for an f32 x > 0: reciprocal-sqrt bit-hack seed, three Newton steps y ← y·(1.5 − ½x·y·y), then x·y. */
export function sqrt32(x: number): number {
  let y = f32FromBits((C.RSQRT_MAGIC - (bitsOfF32(x) >>> 1)) >>> 0);
  const h = F(x * 0.5);
  for (let i = 0; i < 3; i++) {
    let t = F(h * y);
    t = F(t * y);
    t = F(1.5 - t);
    y = F(y * t);
  }
  return F(x * y);
}

/** (cos 2πu, sin 2πu) for an f32 u in (0, 1), by exact quadrant reduction of 4u and polynomials in t². */
export function cosSin2Pi32(u: number, out: Float64Array | number[]): void {
  const v = F(u * 4);
  const q = Math.floor(v);
  const t = F(v - q);
  const z = F(t * t);
  const s = F(t * horner32(SIN_S, z));
  const c = horner32(COS_C, z);
  if (q === 0) {
    out[0] = c;
    out[1] = s;
  } else if (q === 1) {
    out[0] = -s;
    out[1] = c;
  } else if (q === 2) {
    out[0] = -c;
    out[1] = -s;
  } else {
    out[0] = s;
    out[1] = -c;
  }
}

const trig = new Float64Array(2);

/** Box–Muller on one word pair, written to out[at] = r·cos θ and out[at + 1] = r·sin θ. */
function normalPairInto(w0: number, w1: number, out: Float64Array, at: number): void {
  const r = sqrt32(F(ln32(wordToUniform(w0)) * -2));
  cosSin2Pi32(wordToUniform(w1), trig);
  out[at] = F(r * trig[0]);
  out[at + 1] = F(r * trig[1]);
}

/** Box–Muller on one word pair: [r·cos θ, r·sin θ] with u1 = wordToUniform(w0), u2 = wordToUniform(w1). */
export function normalPair(w0: number, w1: number): [number, number] {
  const pair = new Float64Array(2);
  normalPairInto(w0, w1, pair, 0);
  return [pair[0], pair[1]];
}

/**
 * Normals of elements firstElement … firstElement + count − 1 of a stream, from `words` = the Philox words of
 * the whole blocks covering them (words[0] is word 0 of block floor(firstElement / 4)). Writes out[0 … count − 1].
 */
export function normalsFromWords(
  words: Uint32Array,
  firstElement: number,
  count: number,
  out: Float32Array | Float64Array,
): void {
  const skip = firstElement % 4;
  const pairs = new Float64Array(words.length);
  const firstPair = skip - (skip % 2);
  const lastWord = skip + count;
  for (let w = firstPair; w < lastWord; w += 2) normalPairInto(words[w], words[w + 1], pairs, w);
  out.set(pairs.subarray(skip, skip + count));
}
