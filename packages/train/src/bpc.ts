/**
 * Bits per character and perplexity from a NELBO, and the unigram entropy of a token stream — the yardsticks
 * of the validation metrics. For the character tokenizers (brown8, brown-char) one token is one character, so
 * BPC = NELBO in nats per token / ln 2.
 */
import { ArgumentError } from '@duality/kernels';

/** nats → bits: x / ln 2. */
export const natsToBits = (nats: number): number => nats / Math.LN2;

/** Bits per character of a NELBO in nats per token (charsPerToken = 1 for the character tokenizers). */
export function bitsPerCharacter(natsPerToken: number, charsPerToken = 1): number {
  if (!(charsPerToken > 0)) {
    throw new ArgumentError('bitsPerCharacter', `charsPerToken ${charsPerToken}`, 'a positive number');
  }
  return natsToBits(natsPerToken) / charsPerToken; // BPC = NELBO / (ln 2 · chars per token)
}

/** Perplexity per token: exp(NELBO in nats per token). */
export const perplexity = (natsPerToken: number): number => Math.exp(natsPerToken);

/** Unigram entropy of a token stream in bits: −Σ p_v log₂ p_v over the ids' frequencies. */
export function unigramEntropyBits(tokens: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!Number.isInteger(t))
      throw new ArgumentError('unigramEntropyBits', `token ${t} at ${i}`, 'integer ids');
    counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  let h = 0;
  for (const c of counts.values()) {
    const p = c / tokens.length;
    h -= p * Math.log2(p);
  }
  return h;
}
