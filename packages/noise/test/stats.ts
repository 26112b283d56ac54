/**
 * Chi-square goodness of fit with a bound from the statistic's own spread: under H0, X² has mean df and variance
 * 2·df (asymptotically), so X² ≤ df + 6·√(2·df) fails with probability well below 1e-6 for the sample sizes used.
 * Seeds are fixed, so a run is deterministic; the bound only says the fixed outcome is not an accident.
 */
export function chiSquare(
  counts: ArrayLike<number>,
  probs: ArrayLike<number>,
): { stat: number; df: number; bound: number } {
  let n = 0;
  for (let i = 0; i < counts.length; i++) n += counts[i];
  let stat = 0;
  let df = -1;
  for (let i = 0; i < counts.length; i++) {
    const expected = n * probs[i];
    if (expected === 0) {
      if (counts[i] !== 0) return { stat: Number.POSITIVE_INFINITY, df: 0, bound: 0 };
      continue;
    }
    stat += (counts[i] - expected) ** 2 / expected;
    df++;
  }
  return { stat, df, bound: df + 6 * Math.sqrt(2 * df) };
}

/** Binomial z-score of `hits` out of `n` against probability p. */
export function binomialZ(hits: number, n: number, p: number): number {
  return (hits - n * p) / Math.sqrt(n * p * (1 - p));
}

/** Probabilities of the uniform-state marginal around x0: alpha·δ(x0) + (1 − alpha)/K. */
export function uniformStateLaw(K: number, x0: number, alpha: number): Float64Array {
  const p = new Float64Array(K).fill((1 - alpha) / K);
  p[x0] += alpha;
  return p;
}
