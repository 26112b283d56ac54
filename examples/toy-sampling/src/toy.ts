/**
 * The toy distribution: 20 strings of length 8 over the letters a–e with weights 1…4, and the exact denoiser that
 * knows it (the samplers package's string-set oracle), for the masked (5 letters + mask) and uniform processes.
 */
import type { Backend } from '@duality/kernels';
import { logLinear, masked, type NoiseProcess, uniform } from '@duality/noise';
import { type StringSetOracle, stringSetOracle } from '@duality/samplers';

export const LETTERS = 'abcde';
export const STRINGS = [
  'acbbdbdd',
  'ebdeadac',
  'aeadaebc',
  'bdaabace',
  'addceead',
  'baaecccb',
  'cccbbaaa',
  'aebeaaeb',
  'acebabcb',
  'addcedba',
  'dedabdba',
  'adcabebe',
  'ddcceadd',
  'dbeabbac',
  'caebaedd',
  'bbcbddeb',
  'ebddcaac',
  'dbccaaac',
  'babeecba',
  'cecdcaba',
];
export const WEIGHTS = STRINGS.map((_, i) => 1 + (i % 4));
export const LENGTH = 8;

export type ProcessName = 'masked' | 'uniform';

export interface Toy {
  name: ProcessName;
  process: NoiseProcess;
  oracle: StringSetOracle;
}

export function makeToy(backend: Backend, name: ProcessName): Toy {
  // log-linear with alpha(1) = 0, so the prior at t = 1 is exactly the process's stationary law
  const schedule = logLinear({ eps: 0 });
  const process =
    name === 'masked'
      ? masked(backend, { vocabSize: LETTERS.length + 1, schedule })
      : uniform(backend, { vocabSize: LETTERS.length, schedule });
  const ids = STRINGS.map((s) => Array.from(s, (c) => LETTERS.indexOf(c)));
  return { name, process, oracle: stringSetOracle(backend, process, ids, { weights: WEIGHTS }) };
}

/** Renders ids as letters; the mask as '·', not yet started positions as ' '. */
export function render(ids: ArrayLike<number>, start: number, length: number): string {
  let out = '';
  for (let i = start; i < start + length; i++) {
    const id = ids[i];
    out += id < 0 ? ' ' : id < LETTERS.length ? LETTERS[id] : '·';
  }
  return out;
}
