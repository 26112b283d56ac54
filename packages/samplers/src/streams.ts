import type { RandomStream } from '@duality/kernels';

/** What a random draw is for; each purpose gets its own Philox key so streams never overlap. */
export const Purpose = { prior: 1, step: 2, guidance: 3, noiseRemoval: 4 } as const;
export type PurposeName = keyof typeof Purpose;

const MASK64 = (1n << 64n) - 1n;

/** SplitMix64 finaliser: a bijective 64-bit mix. */
function mix64(x: bigint): bigint {
  let z = (x + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/**
 * The Philox stream of one draw: key = mix(seed, window, step, purpose), offset 0. The same (seed, window, step,
 * purpose) gives the same key on every backend, so cpu and webgpu draw the same ids.
 */
export function drawStream(
  seed: number | bigint,
  window: number,
  step: number,
  purpose: PurposeName,
): RandomStream {
  let key = mix64(BigInt(seed) & MASK64);
  for (const part of [window, step, Purpose[purpose]]) key = mix64(key ^ BigInt(part));
  return { seed: key, offset: 0 };
}
