/**
 * Per-token continuous-time NELBO integrands (nats), float64, one token at a time. The diffusion part of the bound
 * is ∫_0^1 E_{x_t ~ q_t(·|x0)}[integrand(t)] dt; add the prior and reconstruction terms for a full bound.
 */

import { ArgumentError, apply, type Code, code, IndexOutOfRangeError } from '@duality/kernels';

/**
 * Argument checks of the row helpers (cheap, O(1) per call): ids integers in [0, K), alpha in its domain, the
 * rate finite. The batched NELBOs validate once per call and call the unchecked cores below.
 */
function checkId(op: string, name: string, id: number, k: number): void {
  if (!(Number.isInteger(id) && id >= 0 && id < k)) {
    throw new IndexOutOfRangeError(op, `${name} = ${String(id)}`, `an integer id in [0, ${k})`);
  }
}

function checkRow(op: string, logXTheta: ArrayLike<number>): number {
  const k = (logXTheta as ArrayLike<number> | null)?.length;
  if (typeof k !== 'number' || k < 1) {
    throw new ArgumentError(op, 'logXTheta without entries', 'an array of K ≥ 1 log-probabilities');
  }
  return k;
}

function checkAlpha(op: string, name: string, alpha: number, low: '[' | '(', high: ']' | ')'): void {
  const ok =
    typeof alpha === 'number' &&
    (low === '[' ? alpha >= 0 : alpha > 0) &&
    (high === ']' ? alpha <= 1 : alpha < 1);
  if (!ok) throw new ArgumentError(op, `${name} = ${String(alpha)}`, `${name} in ${low}0, 1${high}`);
}

function checkRate(op: string, dalphaT: number): void {
  if (!Number.isFinite(dalphaT))
    throw new ArgumentError(op, `dalphaT = ${String(dalphaT)}`, 'a finite number');
}

/**
 * MDLM integrand (MDLM eq. 10): dalpha_t/(1 − alpha_t)·log x_θ[x0] when xt is the mask, 0 otherwise.
 * (The reference returns the first expression at every position and relies on SUBS to zero unmasked ones.)
 */
export function mdlmIntegrand(
  logXTheta: ArrayLike<number>,
  xt: number,
  x0: number,
  alphaT: number,
  dalphaT: number,
  maskId: number,
): number {
  const op = 'mdlmIntegrand';
  const k = checkRow(op, logXTheta);
  checkId(op, 'xt', xt, k);
  checkId(op, 'x0', x0, k);
  checkId(op, 'maskId', maskId, k);
  checkAlpha(op, 'alphaT', alphaT, '[', ')');
  checkRate(op, dalphaT);
  return mdlmIntegrandUnchecked(logXTheta, xt, x0, alphaT, dalphaT, maskId);
}

/** mdlmIntegrand on arguments the caller has checked. */
export function mdlmIntegrandUnchecked(
  logXTheta: ArrayLike<number>,
  xt: number,
  x0: number,
  alphaT: number,
  dalphaT: number,
  maskId: number,
): number {
  // a zero weight is 0 even where log x_θ[x0] = −∞ (else 0·∞ = NaN); a non-zero one gives +∞ there, as it should
  if (xt !== maskId || dalphaT === 0) return 0;
  return (dalphaT / (1 - alphaT)) * logXTheta[x0];
}

/**
 * φ(d) = d − log(1 + d) ≥ 0, given d and 1 + d each computed without cancellation (the series below |d| = 0.1,
 * log(onePlusD) near d = −1 where 1 + d itself would lose digits).
 */
export function dMinusLog1p(d: number, onePlusD = 1 + d): number {
  if (Math.abs(d) >= 0.1) return d - Math.log(onePlusD);
  // d²/2 − d³/3 + d⁴/4 − …; 18 terms reach 0.1^18/18 < 1e-19 relative to d²/2.
  let power = d * d;
  let sum = 0;
  for (let n = 2; n < 20; n++) {
    sum += (n % 2 === 0 ? power : -power) / n;
    power *= d;
  }
  return sum;
}

/**
 * UDLM / Duo integrand (Duo eq. 8; the closed form of the reference's DUO_BASE.nll_per_token):
 *   x̄ = Kα·x0 + 1 − α,  x̄θ = Kα·x_θ + 1 − α,  i = xt,
 *   loss = α'/(Kα)·[ K(1/x̄_i − 1/x̄θ_i) − Σ_j (x̄_j/x̄_i) log((x̄θ_i x̄_j)/(x̄θ_j x̄_i)) ].
 * Since Σ_j x̄_j = Σ_j x̄θ_j = K, the bracket is −Σ_j r_j φ(ρ_j/r_j − 1) with r = x̄/x̄_i, ρ = x̄θ/x̄θ_i and
 * φ(d) = d − log(1 + d): a sum of non-negative terms. With β = 1 − α, p = x_θ, e = onehot(x0), the numerator of
 * d_j is x̄θ_j x̄_i − x̄_j x̄θ_i = βKα(p_j + e_i − e_j − p_i) + K²α²(p_j e_i − e_j p_i), whose two parts never
 * have opposite signs, so nothing cancels at α → 0 or α → 1 (the literal form loses up to 1e-10 there).
 */
export function duoIntegrand(
  logXTheta: ArrayLike<number>,
  xt: number,
  x0: number,
  alphaT: number,
  dalphaT: number,
): number {
  const op = 'duoIntegrand';
  const k = checkRow(op, logXTheta);
  checkId(op, 'xt', xt, k);
  checkId(op, 'x0', x0, k);
  checkAlpha(op, 'alphaT', alphaT, '(', ']');
  checkRate(op, dalphaT);
  return duoIntegrandUnchecked(logXTheta, xt, x0, alphaT, dalphaT);
}

type DuoIntegrand = (
  logXTheta: ArrayLike<number>,
  xt: number,
  x0: number,
  alphaT: number,
  dalphaT: number,
) => number;

/** duoIntegrand on arguments the caller has checked, over φ (self-contained, for range kernels' `apply`). */
export function makeDuoIntegrandUnchecked(
  dMinusLog1p: (d: number, onePlusD?: number) => number,
): DuoIntegrand {
  return (logXTheta, xt, x0, alphaT, dalphaT) => {
    const k = logXTheta.length;
    const alpha = alphaT;
    const beta = 1 - alpha;
    const kAlpha = k * alpha;
    const pI = Math.exp(logXTheta[xt]);
    const eI = xt === x0 ? 1 : 0;
    // p − e at xt, through expm1 so that a near-one-hot x_θ keeps its digits
    const gapI = eI === 1 ? Math.expm1(logXTheta[xt]) : pI;
    const xbarI = beta + kAlpha * eI;
    const xbarThetaI = beta + kAlpha * pI;
    let total = 0;
    for (let j = 0; j < k; j++) {
      if (j === xt) continue; // d = 0 there
      const pJ = Math.exp(logXTheta[j]);
      const eJ = j === x0 ? 1 : 0;
      const gapJ = eJ === 1 ? Math.expm1(logXTheta[j]) : pJ;
      const xbarJ = beta + kAlpha * eJ;
      const xbarThetaJ = beta + kAlpha * pJ;
      const numerator = beta * kAlpha * (gapJ - gapI) + kAlpha * kAlpha * (pJ * eI - eJ * pI);
      const den = xbarJ * xbarThetaI;
      total += (xbarJ / xbarI) * dMinusLog1p(numerator / den, (xbarThetaJ * xbarI) / den);
    }
    return -dalphaT * (total / kAlpha); // total/kAlpha first: dalphaT/kAlpha overflows for a denormal alpha
  };
}

/** duoIntegrand on arguments the caller has checked. */
export const duoIntegrandUnchecked: DuoIntegrand = makeDuoIntegrandUnchecked(dMinusLog1p);

/** duoIntegrandUnchecked as Code, for the cpu kernels of losses.ts. */
export const DUO_INTEGRAND_UNCHECKED: Code<DuoIntegrand> = apply(
  makeDuoIntegrandUnchecked,
  code(dMinusLog1p),
);

/** Reconstruction term −log p_θ(x0 | x_{t0}) from the denoiser's log-probabilities at the smallest time. */
export function reconstructionTerm(logXTheta0: ArrayLike<number>, x0: number): number {
  checkId('reconstructionTerm', 'x0', x0, checkRow('reconstructionTerm', logXTheta0));
  return -logXTheta0[x0];
}

/**
 * Prior term KL(q_1(· | x0) ‖ p_1) for the uniform process with alpha_1 = alpha at t = 1 against the uniform
 * prior: (α + (1 − α)/K) log(Kα + 1 − α) + (K − 1)(1 − α)/K · log(1 − α) (closed form of the KL).
 */
export function uniformPriorTerm(vocabSize: number, alpha1: number): number {
  if (!(Number.isSafeInteger(vocabSize) && vocabSize >= 2)) {
    throw new ArgumentError('uniformPriorTerm', `vocabSize = ${String(vocabSize)}`, 'an integer K ≥ 2');
  }
  checkAlpha('uniformPriorTerm', 'alpha1', alpha1, '[', ']');
  const k = vocabSize;
  const onTop = alpha1 + (1 - alpha1) / k;
  const rest = (1 - alpha1) / k;
  const top = onTop * Math.log(k * onTop);
  return rest > 0 ? top + (k - 1) * rest * Math.log(k * rest) : top;
}

/**
 * Prior term for the masked process against the all-mask prior: 0 when alpha_1 = 0, +∞ otherwise (q_1 then
 * keeps mass alpha_1 on x0 where the prior has none).
 */
export function maskedPriorTerm(alpha1: number): number {
  checkAlpha('maskedPriorTerm', 'alpha1', alpha1, '[', ']');
  return alpha1 === 0 ? 0 : Number.POSITIVE_INFINITY;
}

export const LN2 = Math.LN2;
