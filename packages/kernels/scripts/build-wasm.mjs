#!/usr/bin/env node
/**
 * Generates the WebAssembly SIMD kernels of the cpu backend and embeds them in a TS module.
 *
 *   node packages/kernels/scripts/build-wasm.mjs
 *
 * Writes src/cpu/wasm/generated/kernels.wat (the readable text) and src/cpu/wasm/generated/kernels-wasm.ts
 * (the module bytes, base64), assembled with `wabt` (pinned dev dependency). The WAT is generated from the
 * templates below so that the unrolled parts (micro-kernel tile, Philox rounds) stay in one place.
 *
 * Exports of the module:
 *   memory                       growable linear memory (each thread instantiates its own)
 *   gemm(a, as, b, bs, c, mp, np, kc, acc)
 *                                C[mp, np] (+)= Apack · Bpack over kc, MR×NR register tiles; A panels (MR rows,
 *                                layout [k][MR]) every `as` bytes, B panels (NR cols, [k][NR]) every `bs` bytes
 *   pack(src, rs, cs, rows, cols, R, dst)
 *                                packs a strided matrix into R-row panels [col][R] (zero-padded), for gemm
 *   gumbelReset(cand, cap, t0)   starts a new row: no candidates, running best −∞, slack constant t0
 *   gumbelSawNaN() → 1 if a NaN logit went through gumbel since the last reset (fused NaN check)
 *   gumbel(lp, groups, blo, bhi, k0, k1, invT, colBase) → candidate count or −1 (overflow)
 *                                Gumbel-max candidates over `groups`·16 logits at lp whose Philox stream starts at
 *                                block (bhi·2^32 + blo) (16-aligned); slot j is column colBase + j
 *   gumbelNoise(wp, gp, count)   g = −ln(−ln u(w)) for count words (count multiple of 4), the f32 approximation
 *   gumbelUpper(wp, gp, count)   the cheap upper bound of g that lets `gumbel` skip both logarithms
 *   uniformF32 / uniformF64 / normalF32 / normalF64 (dst, groups, blo, bhi, k0, k1)
 *                                stream elements of `groups` (even) groups of four Philox blocks from block
 *                                (bhi·2^32 + blo) on, in element order at dst: uniforms ((w >>> 9) + 0.5)·2^-23, or
 *                                the normals of src/rng/normal.ts (same f32 operation sequence, same bits; the
 *                                constants are read from its NORMAL_CONSTANT_BITS table), as f32 or f64
 *   normalOfWords(src, dst, groups)
 *                                the same normal transform on given words (16 per group), f32 (for tests)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

export const MR = Number(process.env.GEMM_MR ?? 4);
export const NV = Number(process.env.GEMM_NV ?? 2); // NR = 4·NV columns per micro-tile
const NR = 4 * NV;
/** k steps per iteration of the micro-kernel loop (kc must then be a multiple of KU: the caller pads K). */
export const KU = Number(process.env.GEMM_KU ?? 1);

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, '..', 'src', 'cpu', 'wasm', 'generated');

const f32 = (x) => `(f32.const ${x})`;
const splatF = (x) => `(v128.const f32x4 ${x} ${x} ${x} ${x})`;
const splatI = (x) => `(v128.const i32x4 ${x} ${x} ${x} ${x})`;
const get = (name) => `(local.get $${name})`;
const set = (name, expr) => `(local.set $${name} ${expr})`;

// ---------------------------------------------------------------------------------------------------------------
// gemm: register-tiled micro-kernel looped over packed panels
// ---------------------------------------------------------------------------------------------------------------
function gemm() {
  const accs = [];
  for (let r = 0; r < MR; r++) for (let v = 0; v < NV; v++) accs.push(`c${r}_${v}`);
  const locals = [
    ...accs.map((c) => `(local $${c} v128)`),
    ...Array.from({ length: NV }, (_, v) => `(local $b${v} v128)`),
    '(local $av v128) (local $jr i32) (local $ir i32) (local $ap i32) (local $bp i32) (local $kend i32)',
    '(local $cp i32) (local $apanel i32) (local $bpanel i32) (local $ldc i32)',
  ];
  const kstep = [];
  for (let u = 0; u < KU; u++) {
    for (let v = 0; v < NV; v++)
      kstep.push(set(`b${v}`, `(v128.load offset=${16 * v + NR * 4 * u} ${get('bp')})`));
    for (let r = 0; r < MR; r++) {
      kstep.push(set('av', `(v128.load32_splat offset=${4 * r + MR * 4 * u} ${get('ap')})`));
      for (let v = 0; v < NV; v++) {
        const c = `c${r}_${v}`;
        kstep.push(set(c, `(f32x4.add ${get(c)} (f32x4.mul ${get('av')} ${get(`b${v}`)}))`));
      }
    }
  }
  const zero = accs.map((c) => set(c, '(v128.const i32x4 0 0 0 0)'));
  const store = [];
  for (let r = 0; r < MR; r++) {
    for (let v = 0; v < NV; v++) {
      const c = `c${r}_${v}`;
      store.push(
        `(if ${get('acc')} (then ${set(c, `(f32x4.add ${get(c)} (v128.load offset=${16 * v} ${get('cp')}))`)}))`,
        `(v128.store offset=${16 * v} ${get('cp')} ${get(c)})`,
      );
    }
    store.push(set('cp', `(i32.add ${get('cp')} ${get('ldc')})`));
  }
  return `
  (func $gemm (export "gemm") (param $a i32) (param $as i32) (param $b i32) (param $bs i32) (param $c i32)
      (param $mp i32) (param $np i32) (param $kc i32) (param $acc i32)
    ${locals.join('\n    ')}
    ${set('ldc', `(i32.shl ${get('np')} (i32.const 2))`)}
    ${set('jr', '(i32.const 0)')}
    ${set('bpanel', get('b'))}
    (loop $LJ
      ${set('ir', '(i32.const 0)')}
      ${set('apanel', get('a'))}
      (loop $LI
        ${zero.join('\n        ')}
        ${set('ap', get('apanel'))}
        ${set('bp', get('bpanel'))}
        ${set('kend', `(i32.add ${get('ap')} (i32.mul ${get('kc')} (i32.const ${MR * 4})))`)}
        (loop $LK
          ${kstep.join('\n          ')}
          ${set('ap', `(i32.add ${get('ap')} (i32.const ${MR * 4 * KU}))`)}
          ${set('bp', `(i32.add ${get('bp')} (i32.const ${NR * 4 * KU}))`)}
          (br_if $LK (i32.lt_u ${get('ap')} ${get('kend')})))
        ${set('cp', `(i32.add ${get('c')} (i32.shl (i32.add (i32.mul ${get('ir')} ${get('np')}) ${get('jr')}) (i32.const 2)))`)}
        ${store.join('\n        ')}
        ${set('apanel', `(i32.add ${get('apanel')} ${get('as')})`)}
        ${set('ir', `(i32.add ${get('ir')} (i32.const ${MR}))`)}
        (br_if $LI (i32.lt_u ${get('ir')} ${get('mp')})))
      ${set('bpanel', `(i32.add ${get('bpanel')} ${get('bs')})`)}
      ${set('jr', `(i32.add ${get('jr')} (i32.const ${NR}))`)}
      (br_if $LJ (i32.lt_u ${get('jr')} ${get('np')}))))`;
}

// ---------------------------------------------------------------------------------------------------------------
// ln(x) for positive normal f32 lanes: frexp, then ln(1 + f) = f − f²/2 + f³·P(f) on [√½ − 1, √2 − 1] (the
// classic Cephes single-precision minimax polynomial), which keeps relative accuracy near x = 1.
// ---------------------------------------------------------------------------------------------------------------
const LN_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
];
function lnInto(target, x) {
  const out = [];
  out.push(set('lb', x));
  // exponent e (as for frexp, mantissa in [0.5, 1)) and mantissa m
  out.push(set('le', `(i32x4.sub (i32x4.shr_u ${get('lb')} (i32.const 23)) ${splatI(126)})`));
  out.push(set('lm', `(v128.or (v128.and ${get('lb')} ${splatI(0x007fffff)}) ${splatI(0x3f000000)})`));
  // m < √½: e −= 1, f = 2m − 1; else f = m − 1
  out.push(set('lk', `(f32x4.lt ${get('lm')} ${splatF(Math.SQRT1_2)})`));
  out.push(set('le', `(i32x4.add ${get('le')} ${get('lk')})`));
  out.push(
    set('lf', `(f32x4.sub (f32x4.add ${get('lm')} (v128.and ${get('lm')} ${get('lk')})) ${splatF(1)})`),
  );
  out.push(set('lz', `(f32x4.mul ${get('lf')} ${get('lf')})`));
  let poly = splatF(LN_P[0]);
  for (let i = 1; i < LN_P.length; i++)
    poly = `(f32x4.add (f32x4.mul ${poly} ${get('lf')}) ${splatF(LN_P[i])})`;
  out.push(set('ly', `(f32x4.mul (f32x4.mul ${poly} ${get('lf')}) ${get('lz')})`));
  out.push(set('lef', `(f32x4.convert_i32x4_s ${get('le')})`));
  out.push(set('ly', `(f32x4.add ${get('ly')} (f32x4.mul ${get('lef')} ${splatF(-2.1219444e-4)}))`));
  out.push(set('ly', `(f32x4.add ${get('ly')} (f32x4.mul ${get('lz')} ${splatF(-0.5)}))`));
  out.push(
    set(
      target,
      `(f32x4.add (f32x4.add ${get('lf')} ${get('ly')}) (f32x4.mul ${get('lef')} ${splatF(0.693359375)}))`,
    ),
  );
  return out;
}
const LN_LOCALS =
  '(local $lb v128) (local $le v128) (local $lm v128) (local $lk v128) (local $lf v128) (local $lz v128) (local $ly v128) (local $lef v128)';

/** g = −ln(−ln u), u = ((w >>> 9) + 0.5)·2^-23, for the word vector in local `w`, into local `g`. */
function gumbelOf() {
  return [
    set(
      'u',
      `(f32x4.mul (f32x4.add (f32x4.convert_i32x4_s (i32x4.shr_u ${get('w')} (i32.const 9))) ${splatF(0.5)}) ${splatF(1.1920928955078125e-7)})`,
    ),
    ...lnInto('e', get('u')),
    ...lnInto('g', `(f32x4.neg ${get('e')})`),
    set('g', `(f32x4.neg ${get('g')})`),
  ];
}

// Philox-4x32-10 constants (Salmon et al. 2011)
const M0 = 0xd2511f53 | 0;
const M1 = 0xcd9e8d57 | 0;
const W0 = 0x9e3779b9 | 0;
const W1 = 0xbb67ae85 | 0;
const HI_WORDS = '4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31';

/** Ten Philox rounds on four blocks at once (lane = block): products of the old x0/x2 first, then the new state. */
function philoxRounds() {
  return philoxRoundsOf(['x']);
}

/**
 * Philox rounds on several independent states at once (state v in locals v0 … v3, its temporaries suffixed by
 * v), their steps interleaved so that the multiply chains overlap; the round keys are shared.
 */
function philoxRoundsOf(states) {
  const out = [set('kv0', `(i32x4.splat ${get('k0')})`), set('kv1', `(i32x4.splat ${get('k1')})`)];
  const names = (v) => (v === 'x' ? ['x', ''] : [v, v]);
  for (let round = 0; round < 10; round++) {
    const perState = states.map((state) => {
      const [x, t] = names(state);
      return [
        set(
          `hi0${t}`,
          `(i8x16.shuffle ${HI_WORDS} (i64x2.extmul_low_i32x4_u ${get(`${x}0`)} ${splatI(M0)}) (i64x2.extmul_high_i32x4_u ${get(`${x}0`)} ${splatI(M0)}))`,
        ),
        set(
          `hi1${t}`,
          `(i8x16.shuffle ${HI_WORDS} (i64x2.extmul_low_i32x4_u ${get(`${x}2`)} ${splatI(M1)}) (i64x2.extmul_high_i32x4_u ${get(`${x}2`)} ${splatI(M1)}))`,
        ),
        set(`lo0${t}`, `(i32x4.mul ${get(`${x}0`)} ${splatI(M0)})`),
        set(`lo1${t}`, `(i32x4.mul ${get(`${x}2`)} ${splatI(M1)})`),
        set(`${x}0`, `(v128.xor (v128.xor ${get(`hi1${t}`)} ${get(`${x}1`)}) ${get('kv0')})`),
        set(`${x}2`, `(v128.xor (v128.xor ${get(`hi0${t}`)} ${get(`${x}3`)}) ${get('kv1')})`),
        set(`${x}1`, get(`lo1${t}`)),
        set(`${x}3`, get(`lo0${t}`)),
      ];
    });
    for (let i = 0; i < perState[0].length; i++) for (const steps of perState) out.push(steps[i]);
    if (round < 9) {
      out.push(
        set('kv0', `(i32x4.add ${get('kv0')} ${splatI(W0)})`),
        set('kv1', `(i32x4.add ${get('kv1')} ${splatI(W1)})`),
      );
    }
  }
  return out;
}

const PHILOX_LOCALS =
  '(local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $kv0 v128) (local $kv1 v128) (local $hi0 v128) (local $hi1 v128) (local $lo0 v128) (local $lo1 v128)';
/** The second state of the two-group stream kernels. */
const PHILOX_LOCALS_Y =
  '(local $y0 v128) (local $y1 v128) (local $y2 v128) (local $y3 v128) (local $hi0y v128) (local $hi1y v128) (local $lo0y v128) (local $lo1y v128)';

// 4×4 transpose of the Philox output (rows = word index, lanes = block) into element order
const lanes = (a, b, c, d) =>
  [a, b, c, d].map((l) => `${4 * l} ${4 * l + 1} ${4 * l + 2} ${4 * l + 3}`).join(' ');
function transpose() {
  return [
    set('t0', `(i8x16.shuffle ${lanes(0, 4, 1, 5)} ${get('x0')} ${get('x1')})`),
    set('t1', `(i8x16.shuffle ${lanes(0, 4, 1, 5)} ${get('x2')} ${get('x3')})`),
    set('t2', `(i8x16.shuffle ${lanes(2, 6, 3, 7)} ${get('x0')} ${get('x1')})`),
    set('t3', `(i8x16.shuffle ${lanes(2, 6, 3, 7)} ${get('x2')} ${get('x3')})`),
    set('w0', `(i8x16.shuffle ${lanes(0, 1, 4, 5)} ${get('t0')} ${get('t1')})`),
    set('w1', `(i8x16.shuffle ${lanes(2, 3, 6, 7)} ${get('t0')} ${get('t1')})`),
    set('w2', `(i8x16.shuffle ${lanes(0, 1, 4, 5)} ${get('t2')} ${get('t3')})`),
    set('w3', `(i8x16.shuffle ${lanes(2, 3, 6, 7)} ${get('t2')} ${get('t3')})`),
  ];
}

/**
 * Cheap upper bound of g = −ln(−ln u): −ln u ≥ 1 − u, so g ≤ −ln(1 − u) ≤ −⌊log2(1 − u)⌋·ln 2, and 1 − u is the
 * uniform of the complemented word. Plus a margin that covers the f32 rounding of g and of ln 2 (checked over all
 * 2^23 words by the tests), so an element whose bound cannot beat the threshold is skipped without any logarithm.
 */
const GUMBEL_BOUND_MARGIN = 1e-4;
function gumbelUpperOf() {
  return [
    set(
      'x',
      `(f32x4.mul (f32x4.add (f32x4.convert_i32x4_s (i32x4.shr_u (v128.not ${get('w')}) (i32.const 9))) ${splatF(0.5)}) ${splatF(1.1920928955078125e-7)})`,
    ),
    set(
      'gu',
      `(f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (i32x4.sub ${splatI(127)} (i32x4.shr_u ${get('x')} (i32.const 23)))) ${splatF(0.6931471824645996)}) ${splatF(GUMBEL_BOUND_MARGIN)})`,
    ),
  ];
}

function gumbel() {
  const body = [];
  for (let j = 0; j < 4; j++) {
    body.push(
      set('w', get(`w${j}`)),
      set('l', `(v128.load offset=${16 * j} ${get('lp')})`),
      set('nan', `(v128.or ${get('nan')} (f32x4.ne ${get('l')} ${get('l')}))`),
      set('a', `(f32x4.mul ${get('l')} ${get('inv')})`),
      ...gumbelUpperOf(),
      `(if (v128.any_true (f32x4.gt (f32x4.add ${get('a')} ${get('gu')}) ${get('thrv')})) (then`,
      ...gumbelOf(),
      set('v', `(f32x4.add ${get('a')} ${get('g')})`),
      `(if (v128.any_true (f32x4.gt ${get('v')} ${get('thrv')})) (then`,
    );
    for (let lane = 0; lane < 4; lane++) {
      body.push(
        `  ${set('s', `(f32x4.extract_lane ${lane} ${get('v')})`)}`,
        `  (if (f32.gt ${get('s')} (global.get $thr)) (then (call $push (i32.add ${get('col')} (i32.const ${4 * j + lane})) ${get('s')})))`,
      );
    }
    body.push(`  ${set('thrv', '(f32x4.splat (global.get $thr))')}))))`);
  }
  return `
  (func $gumbel (export "gumbel") (param $lp i32) (param $groups i32) (param $blo i32) (param $bhi i32)
      (param $k0 i32) (param $k1 i32) (param $invT f32) (param $colBase i32) (result i32)
    (local $cnt v128) (local $chi v128) (local $inv v128) (local $thrv v128) (local $end i32) (local $col i32)
    (local $w v128) (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local $u v128) (local $e v128) (local $g v128) (local $v v128) (local $s f32) (local $a v128) (local $x v128) (local $gu v128) (local $l v128) (local $nan v128)
    ${PHILOX_LOCALS}
    ${LN_LOCALS}
    (if (i32.eqz ${get('groups')}) (then (return (global.get $ncand))))
    ${set('cnt', `(i32x4.add (i32x4.splat ${get('blo')}) (v128.const i32x4 0 1 2 3))`)}
    ;; lanes whose block counter wrapped past 2^32 carry into the high word
    ${set('chi', `(i32x4.sub (i32x4.splat ${get('bhi')}) (i32x4.lt_u ${get('cnt')} (i32x4.splat ${get('blo')})))`)}
    ${set('inv', `(f32x4.splat ${get('invT')})`)}
    ${set('thrv', '(f32x4.splat (global.get $thr))')}
    ${set('col', get('colBase'))}
    ${set('end', `(i32.add ${get('lp')} (i32.shl ${get('groups')} (i32.const 6)))`)}
    (loop $G
      ${set('x0', get('cnt'))}
      ${set('x1', get('chi'))}
      ${set('x2', '(v128.const i32x4 0 0 0 0)')}
      ${set('x3', '(v128.const i32x4 0 0 0 0)')}
      ${philoxRounds().join('\n      ')}
      ${transpose().join('\n      ')}
      ${body.join('\n      ')}
      ${set('cnt', `(i32x4.add ${get('cnt')} ${splatI(4)})`)}
      ${set('chi', `(i32x4.sub ${get('chi')} (i32x4.lt_u ${get('cnt')} ${splatI(4)}))`)}
      ${set('col', `(i32.add ${get('col')} (i32.const 16))`)}
      ${set('lp', `(i32.add ${get('lp')} (i32.const 64))`)}
      (br_if $G (i32.lt_u ${get('lp')} ${get('end')})))
    (if (v128.any_true ${get('nan')}) (then (global.set $sawNaN (i32.const 1))))
    (if (result i32) (global.get $overflow) (then (i32.const -1)) (else (global.get $ncand))))`;
}

function gumbelUpper() {
  return `
  (func $gumbelUpper (export "gumbelUpper") (param $wp i32) (param $gp i32) (param $count i32)
    (local $end i32) (local $w v128) (local $x v128) (local $gu v128)
    ${set('end', `(i32.add ${get('wp')} (i32.shl ${get('count')} (i32.const 2)))`)}
    (block $done (loop $L
      (br_if $done (i32.ge_u ${get('wp')} ${get('end')}))
      ${set('w', `(v128.load ${get('wp')})`)}
      ${gumbelUpperOf().join('\n      ')}
      (v128.store ${get('gp')} ${get('gu')})
      ${set('wp', `(i32.add ${get('wp')} (i32.const 16))`)}
      ${set('gp', `(i32.add ${get('gp')} (i32.const 16))`)}
      (br $L))))`;
}

function gumbelNoise() {
  return `
  (func $gumbelNoise (export "gumbelNoise") (param $wp i32) (param $gp i32) (param $count i32)
    (local $end i32) (local $w v128) (local $u v128) (local $e v128) (local $g v128)
    ${LN_LOCALS}
    ${set('end', `(i32.add ${get('wp')} (i32.shl ${get('count')} (i32.const 2)))`)}
    (block $done (loop $L
      (br_if $done (i32.ge_u ${get('wp')} ${get('end')}))
      ${set('w', `(v128.load ${get('wp')})`)}
      ${gumbelOf().join('\n      ')}
      (v128.store ${get('gp')} ${get('g')})
      ${set('wp', `(i32.add ${get('wp')} (i32.const 16))`)}
      ${set('gp', `(i32.add ${get('gp')} (i32.const 16))`)}
      (br $L))))`;
}

/** Candidate bookkeeping: (column, approximate value) pairs; running best and threshold best − slack(best). */
function candidates() {
  return `
  (global $cand (mut i32) (i32.const 0))
  (global $cap (mut i32) (i32.const 0))
  (global $ncand (mut i32) (i32.const 0))
  (global $best (mut f32) (f32.const -inf))
  (global $thr (mut f32) (f32.const -inf))
  (global $t0 (mut f32) (f32.const 0))
  (global $overflow (mut i32) (i32.const 0))
  (global $sawNaN (mut i32) (i32.const 0))

  ;; whether a NaN logit went through gumbel since the last gumbelReset
  (func (export "gumbelSawNaN") (result i32) (global.get $sawNaN))

  (func $gumbelReset (export "gumbelReset") (param $cand i32) (param $cap i32) (param $t0 f32)
    (global.set $cand ${get('cand')}) (global.set $cap ${get('cap')}) (global.set $t0 ${get('t0')})
    (global.set $ncand (i32.const 0)) (global.set $overflow (i32.const 0)) (global.set $sawNaN (i32.const 0))
    (global.set $best ${f32('-inf')}) (global.set $thr ${f32('-inf')}))

  ;; threshold below which a value cannot be the row's maximum: best − (t0 + 2^-19·(|best| + 32)); for best = +∞
  ;; every further +∞ stays a candidate
  (func $setBest (param $b f32)
    (global.set $best ${get('b')})
    (if (f32.eq ${get('b')} ${f32('inf')})
      (then (global.set $thr ${f32('3.4028234663852886e38')}))
      (else (global.set $thr (f32.sub ${get('b')}
        (f32.add (global.get $t0) (f32.mul (f32.add (f32.abs ${get('b')}) ${f32(32)}) ${f32('1.9073486328125e-6')})))))))

  ;; keeps the candidates still above the threshold
  (func $compact (local $i i32) (local $n i32) (local $p i32) (local $q i32)
    ${set('p', '(global.get $cand)')}
    ${set('q', '(global.get $cand)')}
    ${set('i', '(i32.const 0)')}
    (block $done (loop $L
      (br_if $done (i32.ge_u ${get('i')} (global.get $ncand)))
      (if (f32.gt (f32.load offset=4 ${get('p')}) (global.get $thr)) (then
        (i64.store ${get('q')} (i64.load ${get('p')}))
        ${set('q', `(i32.add ${get('q')} (i32.const 8))`)}
        ${set('n', `(i32.add ${get('n')} (i32.const 1))`)}))
      ${set('p', `(i32.add ${get('p')} (i32.const 8))`)}
      ${set('i', `(i32.add ${get('i')} (i32.const 1))`)}
      (br $L)))
    (global.set $ncand ${get('n')}))

  (func $push (param $col i32) (param $v f32) (local $p i32)
    (if (global.get $overflow) (then (return)))
    (if (i32.ge_u (global.get $ncand) (global.get $cap)) (then (call $compact)))
    (if (i32.ge_u (global.get $ncand) (global.get $cap)) (then (global.set $overflow (i32.const 1)) (return)))
    ${set('p', '(i32.add (global.get $cand) (i32.shl (global.get $ncand) (i32.const 3)))')}
    (i32.store ${get('p')} ${get('col')})
    (f32.store offset=4 ${get('p')} ${get('v')})
    (global.set $ncand (i32.add (global.get $ncand) (i32.const 1)))
    (if (f32.gt ${get('v')} (global.get $best)) (then (call $setBest ${get('v')}))))`;
}

/**
 * pack(src, rs, cs, rows, cols, R, dst): panels of R rows, [col][R] inside a panel, zero-padded past `rows`:
 * dst[rp·cols + q·R + r] = src[(rp + r)·rs + q·cs] (strides in elements). A panels: rows of op(A); B panels:
 * columns of op(B).
 */
function pack() {
  return `
  (func $pack (export "pack") (param $src i32) (param $rs i32) (param $cs i32) (param $rows i32) (param $cols i32)
      (param $R i32) (param $dst i32)
    (local $rp i32) (local $q i32) (local $r i32) (local $full i32) (local $p i32) (local $rsb i32) (local $csb i32)
    ${set('rsb', `(i32.shl ${get('rs')} (i32.const 2))`)}
    ${set('csb', `(i32.shl ${get('cs')} (i32.const 2))`)}
    (block $done (loop $LP
      (br_if $done (i32.ge_u ${get('rp')} ${get('rows')}))
      ${set('full', `(i32.le_u (i32.add ${get('rp')} ${get('R')}) ${get('rows')})`)}
      ${set('q', '(i32.const 0)')}
      (block $qdone (loop $LQ
        (br_if $qdone (i32.ge_u ${get('q')} ${get('cols')}))
        ${set('p', `(i32.add ${get('src')} (i32.add (i32.mul ${get('rp')} ${get('rsb')}) (i32.mul ${get('q')} ${get('csb')})))`)}
        ${set('r', '(i32.const 0)')}
        (loop $LR
          (f32.store ${get('dst')}
            (if (result f32) (i32.or ${get('full')} (i32.lt_u (i32.add ${get('rp')} ${get('r')}) ${get('rows')}))
              (then (f32.load ${get('p')})) (else (f32.const 0))))
          ${set('dst', `(i32.add ${get('dst')} (i32.const 4))`)}
          ${set('p', `(i32.add ${get('p')} ${get('rsb')})`)}
          ${set('r', `(i32.add ${get('r')} (i32.const 1))`)}
          (br_if $LR (i32.lt_u ${get('r')} ${get('R')})))
        ${set('q', `(i32.add ${get('q')} (i32.const 1))`)}
        (br $LQ)))
      ${set('rp', `(i32.add ${get('rp')} ${get('R')})`)}
      (br $LP))))`;
}

// ---------------------------------------------------------------------------------------------------------------
// Random streams: uniforms and the Box–Muller normals of src/rng/normal.ts, four Philox blocks per step
// ---------------------------------------------------------------------------------------------------------------
/** An f32 constant (all four lanes) given by its bit pattern: exact, no decimal round trip. */
const splatBits = (bits) => splatI(bits | 0);

/**
 * NORMAL_CONSTANT_BITS of src/rng/normal.ts, read from that file (its object literal is plain JavaScript), so
 * the JS reference, the WGSL twin and this kernel share one definition of the constants.
 */
function normalConstantBits() {
  const source = readFileSync(join(here, '..', 'src', 'rng', 'normal.ts'), 'utf8');
  const found = /export const NORMAL_CONSTANT_BITS = (\{[\s\S]*?\n\}) as const;/.exec(source);
  if (!found) throw new Error('build-wasm: NORMAL_CONSTANT_BITS not found in src/rng/normal.ts');
  return new Function(`return (${found[1]});`)();
}
const NC = normalConstantBits();

/** u = ((w >>> 9) + 0.5)·2^-23 (exact in f32) of the word vector `w`, as an expression. */
const uniformOf = (w) =>
  `(f32x4.mul (f32x4.add (f32x4.convert_i32x4_s (i32x4.shr_u ${w} (i32.const 9))) ${splatF(0.5)}) ${splatF(1.1920928955078125e-7)})`;

/** Horner in f32 lanes, p = P[d]; p = (p·z) + P[k] for k = d − 1 … 0 (rng/normal.ts horner32). */
function hornerOf(bits, z) {
  let p = splatBits(bits[bits.length - 1]);
  for (let k = bits.length - 2; k >= 0; k--) p = `(f32x4.add (f32x4.mul ${p} ${z}) ${splatBits(bits[k])})`;
  return p;
}

/** Accessors of locals whose names carry a suffix: [get, set]. */
const suffixed = (p) => [(n) => get(n + p), (n, e) => set(n + p, e)];

/** r = √(−2 ln u1) of the f32 lanes in local `u` into local `r` (names suffixed by p): ln32 then sqrt32 of rng/normal.ts, op for op. */
function boxMullerRadius(p) {
  const [g, st] = suffixed(p);
  const out = [
    st('nb', g('u')),
    st('ne', `(i32x4.sub (i32x4.shr_u ${g('nb')} (i32.const 23)) ${splatI(127)})`),
    st('nm', `(v128.or (v128.and ${g('nb')} ${splatI(0x7fffff)}) ${splatI(0x3f800000)})`),
    // m ≥ SQRT2: m = m × 0.5 (exact), e = e + 1 (the mask is −1 in those lanes)
    st('nk', `(f32x4.ge ${g('nm')} ${splatBits(NC.SQRT2)})`),
    st('nm', `(v128.bitselect (f32x4.mul ${g('nm')} ${splatF(0.5)}) ${g('nm')} ${g('nk')})`),
    st('ne', `(i32x4.sub ${g('ne')} ${g('nk')})`),
    st('nf', `(f32x4.sub ${g('nm')} ${splatF(1)})`),
    st('nf', `(f32x4.mul ${g('nf')} ${hornerOf(NC.LN_Q, g('nf'))})`), // lnm = f × Q(f)
    st('nef', `(f32x4.convert_i32x4_s ${g('ne')})`),
    st(
      'nx',
      `(f32x4.add (f32x4.mul ${g('nef')} ${splatBits(NC.LN2_HI)}) (f32x4.add (f32x4.mul ${g('nef')} ${splatBits(NC.LN2_LO)}) ${g('nf')}))`,
    ),
    st('nx', `(f32x4.mul ${g('nx')} ${splatF(-2)})`),
    // reciprocal-square-root seed, three Newton steps, r = x × y
    st('ny', `(i32x4.sub ${splatI(NC.RSQRT_MAGIC)} (i32x4.shr_u ${g('nx')} (i32.const 1)))`),
    st('nh', `(f32x4.mul ${g('nx')} ${splatF(0.5)})`),
  ];
  for (let i = 0; i < 3; i++) {
    out.push(
      st(
        'ny',
        `(f32x4.mul ${g('ny')} (f32x4.sub ${splatF(1.5)} (f32x4.mul (f32x4.mul ${g('nh')} ${g('ny')}) ${g('ny')})))`,
      ),
    );
  }
  out.push(st('r', `(f32x4.mul ${g('nx')} ${g('ny')})`));
  return out;
}

/** (cos 2πu2, sin 2πu2) of the f32 lanes in local `u` into locals `c`, `s` (names suffixed by p) (cosSin2Pi32 of rng/normal.ts). */
function boxMullerAngle(p) {
  const [g, st] = suffixed(p);
  return [
    st('nv', `(f32x4.mul ${g('u')} ${splatF(4)})`),
    st('nt', `(f32x4.floor ${g('nv')})`),
    st('nq', `(i32x4.trunc_sat_f32x4_s ${g('nt')})`),
    st('nt', `(f32x4.sub ${g('nv')} ${g('nt')})`),
    st('nz', `(f32x4.mul ${g('nt')} ${g('nt')})`),
    st('s', `(f32x4.mul ${g('nt')} ${hornerOf(NC.SIN_S, g('nz'))})`),
    st('c', hornerOf(NC.COS_C, g('nz'))),
    // quadrants 1 and 3 swap (c, s); cos is negated in quadrants 1, 2 and sin in 2, 3 (sign-bit flips)
    st('nk', `(i32x4.ne (v128.and ${g('nq')} ${splatI(1)}) ${splatI(0)})`),
    st('nv', `(v128.bitselect ${g('s')} ${g('c')} ${g('nk')})`),
    st('s', `(v128.bitselect ${g('c')} ${g('s')} ${g('nk')})`),
    st(
      'c',
      `(v128.xor ${g('nv')} (i32x4.shl (v128.and (i32x4.add ${g('nq')} ${splatI(1)}) ${splatI(2)}) (i32.const 30)))`,
    ),
    st('s', `(v128.xor ${g('s')} (i32x4.shl (v128.and ${g('nq')} ${splatI(2)}) (i32.const 30)))`),
  ];
}

const NORMAL_NAMES = 'u r c s nb ne nm nk nf nef nx ny nh nv nt nq nz'.split(' ');
const NORMAL_LOCALS = ['a', 'b'].flatMap((p) => NORMAL_NAMES.map((n) => `(local $${n}${p} v128)`)).join(' ');

/** Box–Muller on word vectors (even, odd) → the normals of those words, into locals `even`, `odd`. */
function normalPairOf(even, odd, p) {
  const [g, st] = suffixed(p);
  return [
    st('u', uniformOf(get(even))),
    ...boxMullerRadius(p),
    st('u', uniformOf(get(odd))),
    ...boxMullerAngle(p),
    set(even, `(f32x4.mul ${g('r')} ${g('c')})`),
    set(odd, `(f32x4.mul ${g('r')} ${g('s')})`),
  ];
}

/**
 * Normals of the word vectors x0 … x3 (lane = block, vector = word index), in place. The two pairs (x0, x1) and
 * (x2, x3) are independent: their steps are interleaved so that their long dependency chains (Horner, Newton)
 * overlap.
 */
function normalTransform() {
  const first = normalPairOf('x0', 'x1', 'a');
  const second = normalPairOf('x2', 'x3', 'b');
  return first.flatMap((step, i) => [step, second[i]]);
}

/** Stores the element-ordered vectors w0 … w3 (f32 lanes) at dst, as f32 or promoted to f64. */
function storeElements(f64) {
  const out = [];
  for (let j = 0; j < 4; j++) {
    const w = get(`w${j}`);
    if (!f64) out.push(`(v128.store offset=${16 * j} ${get('dst')} ${w})`);
    else {
      out.push(
        `(v128.store offset=${32 * j} ${get('dst')} (f64x2.promote_low_f32x4 ${w}))`,
        `(v128.store offset=${32 * j + 16} ${get('dst')} (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${w} ${w})))`,
      );
    }
  }
  return out;
}

/**
 * One stream kernel: pairs of groups of four Philox blocks (lane = block; the two groups' rounds interleaved),
 * transform, transpose, store. `groups` must be even.
 */
function streamKernel(name, normal, f64) {
  const transform = normal
    ? normalTransform()
    : [0, 1, 2, 3].map((j) => set(`x${j}`, uniformOf(get(`x${j}`))));
  const groupBytes = f64 ? 128 : 64;
  const finishGroup = [...transform, ...transpose(), ...storeElements(f64)];
  return `
  (func $${name} (export "${name}") (param $dst i32) (param $groups i32) (param $blo i32) (param $bhi i32)
      (param $k0 i32) (param $k1 i32)
    (local $cnt v128) (local $chi v128) (local $cnt4 v128) (local $chi4 v128) (local $end i32)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    ${PHILOX_LOCALS}
    ${PHILOX_LOCALS_Y}
    ${normal ? NORMAL_LOCALS : ''}
    (if (i32.eqz ${get('groups')}) (then (return)))
    ${set('cnt', `(i32x4.add (i32x4.splat ${get('blo')}) (v128.const i32x4 0 1 2 3))`)}
    ;; lanes whose block counter wrapped past 2^32 carry into the high word
    ${set('chi', `(i32x4.sub (i32x4.splat ${get('bhi')}) (i32x4.lt_u ${get('cnt')} (i32x4.splat ${get('blo')})))`)}
    ${set('end', `(i32.add ${get('dst')} (i32.mul ${get('groups')} (i32.const ${groupBytes})))`)}
    (loop $G
      ${set('x0', get('cnt'))}
      ${set('x1', get('chi'))}
      ${set('x2', '(v128.const i32x4 0 0 0 0)')}
      ${set('x3', '(v128.const i32x4 0 0 0 0)')}
      ${set('cnt4', `(i32x4.add ${get('cnt')} ${splatI(4)})`)}
      ${set('y0', get('cnt4'))}
      ${set('chi4', `(i32x4.sub ${get('chi')} (i32x4.lt_u ${get('cnt4')} ${splatI(4)}))`)}
      ${set('y1', get('chi4'))}
      ${set('y2', '(v128.const i32x4 0 0 0 0)')}
      ${set('y3', '(v128.const i32x4 0 0 0 0)')}
      ${philoxRoundsOf(['x', 'y']).join('\n      ')}
      ${finishGroup.join('\n      ')}
      ${[0, 1, 2, 3].map((j) => set(`x${j}`, get(`y${j}`))).join('\n      ')}
      ${set('dst', `(i32.add ${get('dst')} (i32.const ${groupBytes}))`)}
      ${finishGroup.join('\n      ')}
      ${set('cnt', `(i32x4.add ${get('cnt4')} ${splatI(4)})`)}
      ${set('chi', `(i32x4.sub ${get('chi4')} (i32x4.lt_u ${get('cnt')} ${splatI(4)}))`)}
      ${set('dst', `(i32.add ${get('dst')} (i32.const ${groupBytes}))`)}
      (br_if $G (i32.lt_u ${get('dst')} ${get('end')}))))`;
}

/**
 * normalOfWords(src, dst, groups): the normals of given Philox words (16 per group, element order: block after
 * block), f32 — the transform of the stream kernels on words a test chooses (edge words, exhaustive sweeps).
 */
function normalOfWords() {
  const load = [0, 1, 2, 3].map((j) => set(`x${j}`, `(v128.load offset=${16 * j} ${get('src')})`));
  const relabel = [0, 1, 2, 3].map((j) => set(`x${j}`, get(`w${j}`)));
  return `
  (func $normalOfWords (export "normalOfWords") (param $src i32) (param $dst i32) (param $groups i32)
    (local $end i32) (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    ${NORMAL_LOCALS}
    (if (i32.eqz ${get('groups')}) (then (return)))
    ${set('end', `(i32.add ${get('dst')} (i32.mul ${get('groups')} (i32.const 64)))`)}
    (loop $G
      ${load.join('\n      ')}
      ;; element order → lane = block (a 4×4 transpose is its own inverse)
      ${transpose().join('\n      ')}
      ${relabel.join('\n      ')}
      ${normalTransform().join('\n      ')}
      ${transpose().join('\n      ')}
      ${storeElements(false).join('\n      ')}
      ${set('src', `(i32.add ${get('src')} (i32.const 64))`)}
      ${set('dst', `(i32.add ${get('dst')} (i32.const 64))`)}
      (br_if $G (i32.lt_u ${get('dst')} ${get('end')}))))`;
}

export function wat() {
  return `;; Generated by packages/kernels/scripts/build-wasm.mjs — do not edit.
(module
  (memory (export "memory") 1)
  ${candidates()}
  ${gemm()}
  ${pack()}
  ${gumbel()}
  ${gumbelNoise()}
  ${gumbelUpper()}
  ${streamKernel('uniformF32', false, false)}
  ${streamKernel('uniformF64', false, true)}
  ${streamKernel('normalF32', true, false)}
  ${streamKernel('normalF64', true, true)}
  ${normalOfWords()}
)
`;
}

async function main() {
  const wabt = await wabtInit();
  const text = wat();
  const mod = wabt.parseWat('kernels.wat', text, { simd: true });
  mod.resolveNames();
  mod.validate();
  const { buffer } = mod.toBinary({ log: false, write_debug_names: false });
  mod.destroy();
  const bytes = Buffer.from(buffer);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'kernels.wat'), text);
  const b64 = bytes.toString('base64');
  const lines = b64.match(/.{1,100}/g) ?? [];
  writeFileSync(
    join(outDir, 'kernels-wasm.ts'),
    `// Generated by packages/kernels/scripts/build-wasm.mjs from kernels.wat (${bytes.length} bytes) — do not edit.
/** Micro-tile of the wasm gemm: MR rows × NR columns. */
export const GEMM_MR = ${MR};
export const GEMM_NR = ${NR};
/** The kernels module, base64. */
export const KERNELS_WASM_BASE64 =
${lines.map((l) => `  '${l}'`).join(' +\n')};
`,
  );
  console.log(`kernels.wasm: ${bytes.length} bytes → ${join(outDir, 'kernels-wasm.ts')}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
