/**
 * The trainer's own random streams, on the Philox-4x32-10 generator of @duality/kernels. A stream is named by
 * (seed, domain, lane): element e lives in block b = floor(e / 4), word e mod 4, of the counter
 * (b mod 2³², floor(b / 2³²), domain, lane) under the seed's key. The backends' streams ({ seed, offset }) use
 * domain 0, so a domain ≠ 0 never overlaps them; the lane is the epoch (shuffles) or the step (times), so a draw
 * depends on where it is used, not on how many draws came before it — resuming needs no offsets for these.
 */
import { ArgumentError, philox4x32, philoxKey, wordToUniform } from '@duality/kernels';

/** Stream domains (the third counter word): the data order and the diffusion times. */
export const STREAM_DOMAIN = { shuffle: 0x53485546, time: 0x54494d45 } as const;

const U32 = 4294967296;

function checkU32(op: string, what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0 || v >= U32) {
    throw new ArgumentError(op, `${what} ${v}`, 'an integer in [0, 2^32)');
  }
}

/** Checks a seed the way the kernels' streams take it (a non-negative safe integer or a bigint below 2⁶⁴). */
export function checkSeed(op: string, seed: number | bigint): void {
  const ok =
    typeof seed === 'bigint' ? seed >= 0n && seed < 1n << 64n : Number.isSafeInteger(seed) && seed >= 0;
  if (!ok)
    throw new ArgumentError(op, `seed ${String(seed)}`, 'a non-negative safe integer or a bigint < 2^64');
}

/** Words start … start + count − 1 of the stream (seed, domain, lane). */
export function streamWords(
  seed: number | bigint,
  domain: number,
  lane: number,
  start: number,
  count: number,
): Uint32Array {
  checkSeed('streamWords', seed);
  checkU32('streamWords', 'domain', domain);
  checkU32('streamWords', 'lane', lane);
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(count) || count < 0) {
    throw new ArgumentError('streamWords', `start ${start}, count ${count}`, 'non-negative integers');
  }
  const { k0, k1 } = philoxKey(seed);
  const out = new Uint32Array(count);
  const block = new Uint32Array(4);
  let e = start;
  for (let i = 0; i < count; ) {
    const b = Math.floor(e / 4);
    philox4x32(b % U32, Math.floor(b / U32), domain, lane, k0, k1, block);
    for (let w = e % 4; w < 4 && i < count; w++, i++, e++) out[i] = block[w];
  }
  return out;
}

/** Uniforms in (0, 1) of the stream, one word each (the kernels' wordToUniform: 2²³ values). */
export function streamUniforms(
  seed: number | bigint,
  domain: number,
  lane: number,
  start: number,
  count: number,
): Float64Array {
  const words = streamWords(seed, domain, lane, start, count);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = wordToUniform(words[i]);
  return out;
}

/** A uniform in [0, 1) with 53 random bits from two words (for unbiased integer draws). */
export const uniform53 = (hi: number, lo: number): number =>
  ((hi >>> 5) * 67108864 + (lo >>> 6)) / 9007199254740992;

/**
 * The Fisher–Yates permutation of 0 … n − 1 drawn from the stream (seed, domain, lane): for i = n − 1 down to 1,
 * j = floor(U_i · (i + 1)) with U_i the 53-bit uniform of words 2(n−1−i) and 2(n−1−i) + 1, then swap i and j.
 */
export function streamPermutation(
  seed: number | bigint,
  domain: number,
  lane: number,
  n: number,
): Uint32Array {
  if (!Number.isSafeInteger(n) || n < 0 || n >= U32) {
    throw new ArgumentError('streamPermutation', `n ${n}`, 'an integer in [0, 2^32)');
  }
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  if (n < 2) return perm;
  const words = streamWords(seed, domain, lane, 0, 2 * (n - 1));
  for (let i = n - 1, w = 0; i >= 1; i--, w += 2) {
    const j = Math.floor(uniform53(words[w], words[w + 1]) * (i + 1));
    const tmp = perm[i];
    perm[i] = perm[j];
    perm[j] = tmp;
  }
  return perm;
}
