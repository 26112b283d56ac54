/**
 * Float64 reference maths, one probability row at a time. These are the formulas every batched path (generic
 * tensors, fused cpu loops, WGSL) is tested against. No validation here: callers validate once per call.
 */

/** A row-level view of a noise process whose marginals interpolate between x0 and a prior. */
export interface RowProcess {
  readonly kind: string;
  readonly vocabSize: number;
  readonly maskId?: number;
  /** q_alpha(· | x0) for a probability vector x0. */
  marginal(x0: ArrayLike<number>, alpha: number): Float64Array;
  /** q(x_s | x_t = xt, x0) at alphaS ≥ alphaT; alphaS = 1 gives q(x_0 | x_t, x̂0). */
  bridge(x0: ArrayLike<number>, xt: number, alphaS: number, alphaT: number): Float64Array;
}

/** onehot(xt) over k ids. */
function oneHotRow(k: number, xt: number): Float64Array {
  const out = new Float64Array(k);
  out[xt] = 1;
  return out;
}

/** Uniform forward marginal q_a(x | x0) = a·x0 + (1 − a)/K (Duo §2, UDLM). */
export function uniformMarginal(x0: ArrayLike<number>, alpha: number): Float64Array {
  const k = x0.length;
  const out = new Float64Array(k);
  const floor = (1 - alpha) / k;
  for (let j = 0; j < k; j++) out[j] = alpha * x0[j] + floor;
  return out;
}

/**
 * Uniform posterior q(x_s | x_t, x0) (Duo eq. 5, UDLM closed form, the mean parameterisation for soft x̂0):
 * num_j = K a_t x0_j [j = xt] + (a_t/a_s − a_t)[j = xt] + (a_s − a_t) x0_j + (1 − a_t/a_s)(1 − a_s)/K,
 * den = K a_t x0[xt] + 1 − a_t.
 */
export function uniformBridge(
  x0: ArrayLike<number>,
  xt: number,
  alphaS: number,
  alphaT: number,
): Float64Array {
  const k = x0.length;
  if (alphaS === alphaT) return oneHotRow(k, xt); // s = t: the identity (EQUAL_ALPHAS), also at a = 0 and 1
  const out = new Float64Array(k);
  const alphaTS = alphaT / alphaS;
  const dAlpha = alphaS - alphaT;
  const floor = ((1 - alphaTS) * (1 - alphaS)) / k;
  const den = alphaT * k * x0[xt] + (1 - alphaT);
  for (let j = 0; j < k; j++) out[j] = (dAlpha * x0[j] + floor) / den;
  out[xt] = (alphaT * k * x0[xt] + (alphaTS - alphaT) + dAlpha * x0[xt] + floor) / den;
  return out;
}

/** Masked forward marginal a·x0 + (1 − a)·e_mask (MDLM eq. 2). */
export function maskedMarginal(x0: ArrayLike<number>, alpha: number, maskId: number): Float64Array {
  const k = x0.length;
  const out = new Float64Array(k);
  for (let j = 0; j < k; j++) out[j] = alpha * x0[j];
  out[maskId] += 1 - alpha;
  return out;
}

/**
 * Masked posterior (MDLM eq. 7). xt = mask: q_j = (a_s − a_t) x0_j / den for j ≠ mask and
 * q_mask = (a_s x0_mask + 1 − a_s) / den with den = a_t x0_mask + 1 − a_t (the Bayes rule, which reduces to
 * (1 − a_s)/(1 − a_t) when x̂0 has no mass on the mask); xt ≠ mask: one-hot at xt (the token is final).
 */
export function maskedBridge(
  x0: ArrayLike<number>,
  xt: number,
  alphaS: number,
  alphaT: number,
  maskId: number,
): Float64Array {
  const k = x0.length;
  if (xt !== maskId || alphaT === 1) return oneHotRow(k, xt); // unmasked: final; a_t = 1 = a_s: identity
  const out = new Float64Array(k);
  const den = alphaT * x0[maskId] + (1 - alphaT);
  const dAlpha = alphaS - alphaT;
  for (let j = 0; j < k; j++) out[j] = (dAlpha * x0[j]) / den;
  out[maskId] = (alphaS * x0[maskId] + (1 - alphaS)) / den;
  return out;
}

export function uniformRows(vocabSize: number): RowProcess {
  return {
    kind: 'uniform',
    vocabSize,
    marginal: uniformMarginal,
    bridge: uniformBridge,
  };
}

export function maskedRows(vocabSize: number, maskId = vocabSize - 1): RowProcess {
  return {
    kind: 'masked',
    vocabSize,
    maskId,
    marginal: (x0, alpha) => maskedMarginal(x0, alpha, maskId),
    bridge: (x0, xt, alphaS, alphaT) => maskedBridge(x0, xt, alphaS, alphaT, maskId),
  };
}

/**
 * Ψ-posterior (Chapter II, Ψ-samplers): κ·q(x_s | x_t, x̂0) + (1 − κ)·q_s(· | q(x_0 | x_t, x̂0)), i.e. the
 * ancestral posterior mixed with the predictor-corrector move "denoise to x_0, then re-noise to s".
 */
export function psiRow(
  process: RowProcess,
  x0: ArrayLike<number>,
  xt: number,
  alphaS: number,
  alphaT: number,
  kappa: number,
): Float64Array {
  const posterior = process.bridge(x0, xt, alphaS, alphaT);
  const renoised = process.marginal(process.bridge(x0, xt, 1, alphaT), alphaS);
  const out = new Float64Array(posterior.length);
  for (let j = 0; j < out.length; j++) out[j] = kappa * posterior[j] + (1 - kappa) * renoised[j];
  return out;
}

/** KL(p ‖ q) in nats, with 0·log 0 = 0 (and +∞ where p > 0 = q). */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let kl = 0;
  for (let j = 0; j < p.length; j++) {
    if (p[j] > 0) kl += p[j] * (Math.log(p[j]) - Math.log(q[j]));
  }
  return kl;
}
