/**
 * Sample metrics: generative perplexity under an autoregressive judge, unigram entropy of the samples (the
 * check on low-entropy degeneration, which lowers gen-PPL without better text), and a bootstrap interval.
 *
 *   gen-PPL = exp( Σ_rows Σ_{l ≥ 1} −log p_judge(x_l | x_<l) / (rows · (L − 1)) )
 *
 * (the first id of a row has no context and is not scored: the judge has no BOS). The entropy of a row is the
 * unigram entropy of its ids, H = −Σ_v p_v log₂ p_v, averaged over rows as the reference's `record_entropy`
 * does (it reports nats; these are bits).
 */
import type { Backend } from '@duality/kernels';
import { type DiT, nextTokenLogProbs } from '@duality/models';
import { unigramEntropyBits } from '../bpc';
import { streamWords, uniform53 } from '../rng';

/** Per-row sums of −log p_judge(x_l | x_<l) over l = 1 … L − 1 (nats). */
export async function judgeRowNll(
  judge: DiT,
  backend: Backend,
  ids: Int32Array,
  [rows, length]: readonly [number, number],
): Promise<Float64Array> {
  const tokens = backend.tensor(ids, [rows, length], 'i32');
  try {
    const logp = await nextTokenLogProbs(judge, tokens);
    const out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) for (let l = 0; l < length - 1; l++) out[r] -= logp[r * (length - 1) + l];
    return out;
  } finally {
    tokens.dispose();
  }
}

/** exp(Σ row NLL / (rows · scored tokens per row)): the generative perplexity. */
export function generativePerplexity(rowNll: ArrayLike<number>, tokensPerRow: number): number {
  let total = 0;
  for (let i = 0; i < rowNll.length; i++) total += rowNll[i];
  return Math.exp(total / (rowNll.length * tokensPerRow));
}

/** Unigram entropy (bits) of each row of ids [rows, length]. */
export function rowEntropyBits(ids: Int32Array, [rows, length]: readonly [number, number]): Float64Array {
  return Float64Array.from({ length: rows }, (_, r) =>
    unigramEntropyBits(ids.subarray(r * length, (r + 1) * length)),
  );
}

/** Stream domain of the bootstrap's resampling (disjoint from the trainer's shuffle/time/noise domains). */
export const BOOTSTRAP_DOMAIN = 0x424f4f54;

/**
 * Percentile bootstrap interval of gen-PPL over rows: `resamples` draws of rows with replacement from the Philox
 * stream (seed, BOOTSTRAP_DOMAIN, lane = resample), gen-PPL of each, the (1 − level)/2 and (1 + level)/2
 * quantiles. Deterministic for a seed.
 */
export function bootstrapPerplexity(
  rowNll: ArrayLike<number>,
  tokensPerRow: number,
  { seed = 0, resamples = 1000, level = 0.95 }: { seed?: number; resamples?: number; level?: number } = {},
): [number, number] {
  const n = rowNll.length;
  const values = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    const words = streamWords(seed, BOOTSTRAP_DOMAIN, r, 0, 2 * n);
    let total = 0;
    for (let i = 0; i < n; i++) total += rowNll[Math.floor(uniform53(words[2 * i], words[2 * i + 1]) * n)];
    values[r] = Math.exp(total / (n * tokensPerRow));
  }
  values.sort();
  const at = (q: number) => values[Math.min(resamples - 1, Math.max(0, Math.round(q * (resamples - 1))))];
  return [at((1 - level) / 2), at((1 + level) / 2)];
}

export const mean = (xs: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
};

/** Sample standard deviation (n − 1); 0 for one value. */
export function sd(xs: ArrayLike<number>): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i] - m) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}
