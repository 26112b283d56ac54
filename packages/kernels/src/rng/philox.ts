/**
 * Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the counter-based
 * generator behind every random stream in Duality.
 *
 * Stream layout (identical on every backend):
 *   key      = (seed mod 2^32, floor(seed / 2^32) mod 2^32)
 *   element e of a stream at `offset` lives in block b = floor((offset + e) / 4), word (offset + e) mod 4,
 *   counter  = (b mod 2^32, floor(b / 2^32), 0, 0).
 * Everything here is exact integer arithmetic, so the WGSL twin produces the same bits.
 */

import { ArgumentError } from '../errors';
import { checkSeed, checkStreamRange } from '../validate';

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product a·b of two u32, exact in doubles (16-bit split). */
export function mulhi32(a: number, b: number): number {
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const t = a * bl; // < 2^48, exact
  const u = a * bh + Math.floor(t / 65536); // < 2^49, exact
  return Math.floor(u / 65536) >>> 0;
}

/** One Philox-4x32-10 block: writes the 4 output words of counter (c0..c3) under key (k0, k1) into out. */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
  at = 0,
): void {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  let key0 = k0 >>> 0;
  let key1 = k1 >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi32(M0, x0);
    const lo0 = Math.imul(M0, x0) >>> 0;
    const hi1 = mulhi32(M1, x2);
    const lo1 = Math.imul(M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ key0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ key1) >>> 0;
    x3 = lo0;
    key0 = (key0 + W0) >>> 0;
    key1 = (key1 + W1) >>> 0;
  }
  out[at] = x0;
  out[at + 1] = x1;
  out[at + 2] = x2;
  out[at + 3] = x3;
}

export interface PhiloxKey {
  k0: number;
  k1: number;
}

/** Splits a seed (non-negative safe integer or bigint below 2^64) into the Philox key. */
export function philoxKey(seed: number | bigint): PhiloxKey {
  checkSeed('philoxKey', seed);
  const s = typeof seed === 'bigint' ? seed : BigInt(seed);
  return { k0: Number(s & 0xffffffffn), k1: Number((s >> 32n) & 0xffffffffn) };
}

/** u32 words offset … offset + count − 1 of the stream with this key. */
export function philoxWords(key: PhiloxKey, offset: number, count: number): Uint32Array {
  checkKey('philoxWords', key);
  checkSeed('philoxWords', 0, offset);
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new ArgumentError('philoxWords', `count ${String(count)}`, 'a non-negative safe integer');
  }
  checkStreamRange('philoxWords', offset, count);
  const out = new Uint32Array(count);
  const block = new Uint32Array(4);
  let e = offset;
  let i = 0;
  while (i < count) {
    const b = Math.floor(e / 4);
    philox4x32(b % 4294967296, Math.floor(b / 4294967296), 0, 0, key.k0, key.k1, block);
    for (let w = e % 4; w < 4 && i < count; w++, i++, e++) out[i] = block[w];
  }
  return out;
}

const isWord = (w: unknown) => Number.isInteger(w) && (w as number) >= 0 && (w as number) < 4294967296;

/** A key is two u32 words (as philoxKey returns them). */
function checkKey(op: string, key: PhiloxKey): void {
  if (key === null || typeof key !== 'object' || !isWord(key.k0) || !isWord(key.k1)) {
    const got = key === null || typeof key !== 'object' ? String(key) : `{ k0: ${key.k0}, k1: ${key.k1} }`;
    throw new ArgumentError(op, `key ${got}`, 'a key { k0, k1 } of two u32 words (from philoxKey)');
  }
}

/** Uniform in (0, 1) from one word: ((x >>> 9) + 0.5)·2^-23, exact in f32 (2^23 values, never 0 or 1). */
export function wordToUniform(x: number): number {
  return ((x >>> 9) + 0.5) * 1.1920928955078125e-7;
}

/**
 * Word e of the stream with this key (block floor(e/4), word e mod 4), for loops that draw single elements at
 * scattered positions; `scratch` (4 words) is reused between calls. Unchecked: e must be a safe integer ≥ 0.
 */
export function streamWordAt(key: PhiloxKey, e: number, scratch: Uint32Array): number {
  const b = Math.floor(e / 4);
  philox4x32(b % 4294967296, Math.floor(b / 4294967296), 0, 0, key.k0, key.k1, scratch);
  return scratch[e % 4];
}

/** The uniform at element e of the stream of `seed`: wordToUniform of word e (what `backend.uniform` gives there). */
export function streamUniform(seed: number | bigint, e: number): number {
  if (!(Number.isSafeInteger(e) && e >= 0))
    throw new ArgumentError('streamUniform', `element ${String(e)}`, 'a non-negative safe integer');
  return wordToUniform(streamWordAt(philoxKey(seed), e, new Uint32Array(4)));
}
