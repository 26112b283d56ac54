/**
 * The Diffusion Transformation Operator T (Duo, arXiv 2506.10892, Sec. 3 / Eq. 10): the uniform-state alpha
 * that the argmax of Gaussian latents z = α̃·e_x0 + σ̃·ε realises, as a function of gamma.
 *
 *   mu = α̃/σ̃ = exp(−gamma/2),  p = ∫ N(z; mu, 1) Φ(z)^(K−1) dz = P(argmax z = x0),  alpha = (K p − 1)/(K − 1)
 *   dp/dgamma = (−mu/2)(K−1) ∫ N(z; mu, 1) φ(z) Φ(z)^(K−2) dz     (integration by parts: no cancellation)
 *
 * Method: composite Gauss–Legendre on a fixed lattice of panels of width h, over
 * [min(mu, z_med, 0) − 14, max(mu, z_med) + 14] (z_med = Φ⁻¹(0.5^(1/(K−1))), the median of the max of K−1
 * normals), every integrand in log space. The Φ-dependent factors Φ^(K−1), 1 − Φ^(K−1) and φ·Φ^(K−2) depend
 * only on (K, z), so they are cached per K and per panel; each gamma then costs one exp per node.
 * 1 − p is integrated directly (−expm1((K−1) log Φ)), so the tail keeps full relative precision when p → 1.
 */
import { assertFinite, assertVocabSize } from './errors';
import { gaussLegendre } from './quadrature';
import { LOG_SQRT_2PI, logNdtr, logNormPdf, ndtr, ndtri } from './special';

/** Everything the operator computes at one (gamma, K). */
export interface OperatorValue {
  /** alpha = T(gamma) = (K p − 1)/(K − 1). */
  readonly alpha: number;
  /** d alpha / d gamma (negative). */
  readonly dalphaDgamma: number;
  /** 1 − alpha = K(1 − p)/(K − 1), at full relative precision. */
  readonly oneMinusAlpha: number;
  /** p = P(argmax z = x0). */
  readonly p: number;
  /** 1 − p, integrated directly. */
  readonly oneMinusP: number;
  /** dp / d gamma. */
  readonly dpDgamma: number;
}

const ORDER = 16;
const PANEL_WIDTH = 1 / 4;
const MARGIN = 14;
/** Below this log-weight a term is < 1e-300 of the integral's scale and is skipped. */
const LOG_UNDERFLOW = -745;
/** |z − mu| beyond which log N(z; mu, 1) < LOG_UNDERFLOW. */
const GAUSS_REACH = 38.6;
/** Panels are cached per K only inside |z| ≤ this (the range gamma ≥ −6.4 reaches); farther ones are recomputed. */
const CACHE_REACH = 64;
/** mu above which 1 − p ≤ (K − 1)·Φ(−mu/√2) underflows double precision for every K ≤ 2^31: p = 1 exactly. */
const MU_SATURATED = 60;

/** Per-K cached factors at the nodes of one panel: Φ^(K−1), 1 − Φ^(K−1), φ·Φ^(K−2). */
interface PanelFactors {
  readonly z: Float64Array;
  readonly phiPow: Float64Array;
  readonly oneMinusPhiPow: Float64Array;
  readonly derivFactor: Float64Array;
  /** φ(z)·Φ(z)^(K−1): the x0-free density, for the small-alpha form. */
  readonly nullDensity: Float64Array;
}

interface VocabCache {
  readonly zMedian: number;
  readonly panels: Map<number, PanelFactors>;
}

const MAX_CACHED_VOCABS = 16;
const vocabCaches = new Map<number, VocabCache>();

function vocabCache(K: number): VocabCache {
  let cache = vocabCaches.get(K);
  if (cache) return cache;
  // z_med solves Φ(z)^(K−1) = 1/2, i.e. 1 − Φ(z) = −expm1(−ln 2/(K−1)).
  const zMedian = K === 2 ? 0 : ndtri(-Math.expm1(-Math.LN2 / (K - 1)), true);
  cache = { zMedian, panels: new Map() };
  if (vocabCaches.size >= MAX_CACHED_VOCABS) vocabCaches.delete(vocabCaches.keys().next().value as number);
  vocabCaches.set(K, cache);
  return cache;
}

function panelFactors(K: number, cache: VocabCache, index: number): PanelFactors {
  const cached = cache.panels.get(index);
  if (cached) return cached;
  const cacheable = Math.abs(index * PANEL_WIDTH) <= CACHE_REACH;
  const { nodes } = gaussLegendre(ORDER);
  const z = new Float64Array(ORDER);
  const phiPow = new Float64Array(ORDER);
  const oneMinusPhiPow = new Float64Array(ORDER);
  const derivFactor = new Float64Array(ORDER);
  const nullDensity = new Float64Array(ORDER);
  const center = (index + 0.5) * PANEL_WIDTH;
  for (let i = 0; i < ORDER; i++) {
    const zi = center + 0.5 * PANEL_WIDTH * nodes[i];
    const logPhi = logNdtr(zi);
    z[i] = zi;
    phiPow[i] = Math.exp((K - 1) * logPhi);
    oneMinusPhiPow[i] = -Math.expm1((K - 1) * logPhi);
    derivFactor[i] = Math.exp(logNormPdf(zi) + (K - 2) * logPhi);
    nullDensity[i] = Math.exp(logNormPdf(zi) + (K - 1) * logPhi);
  }
  const factors = { z, phiPow, oneMinusPhiPow, derivFactor, nullDensity };
  if (cacheable) cache.panels.set(index, factors);
  return factors;
}

/** Panel indices [first, last) covering the integration window for this mu. */
function panelRange(cache: VocabCache, mu: number): [number, number] {
  // Outside mu ± GAUSS_REACH the Gaussian factor underflows (< e^-745): those nodes add exactly nothing.
  const lo = Math.max(Math.min(mu, cache.zMedian, 0) - MARGIN, mu - GAUSS_REACH);
  const hi = Math.min(Math.max(mu, cache.zMedian) + MARGIN, mu + GAUSS_REACH);
  return [Math.floor(lo / PANEL_WIDTH), Math.ceil(hi / PANEL_WIDTH)];
}

/**
 * p − 1/K = ∫ φ(z)·expm1(mu·z − mu²/2)·Φ(z)^(K−1) dz (since ∫φΦ^(K−1) = 1/K and N(z; mu, 1) = φ(z)e^(mu z − mu²/2)):
 * alpha without the cancellation of K p − 1 when alpha is small.
 */
function pMinusUniform(K: number, mu: number): number {
  const cache = vocabCache(K);
  const [first, last] = panelRange(cache, mu);
  const { weights } = gaussLegendre(ORDER);
  let total = 0;
  for (let index = first; index < last; index++) {
    const panel = panelFactors(K, cache, index);
    let sum = 0;
    for (let i = 0; i < ORDER; i++) {
      if (panel.nullDensity[i] === 0) continue;
      sum += weights[i] * panel.nullDensity[i] * Math.expm1(mu * panel.z[i] - 0.5 * mu * mu);
    }
    total += sum;
  }
  return total * 0.5 * PANEL_WIDTH;
}

/** The three integrals ∫N(z;mu,1)·{Φ^(K−1), 1 − Φ^(K−1), φΦ^(K−2)} dz by composite Gauss–Legendre. */
function integrate(K: number, mu: number): { p: number; oneMinusP: number; derivIntegral: number } {
  const cache = vocabCache(K);
  const [first, last] = panelRange(cache, mu);
  const { weights } = gaussLegendre(ORDER);
  const halfWidth = 0.5 * PANEL_WIDTH;
  let p = 0;
  let oneMinusP = 0;
  let derivIntegral = 0;
  for (let index = first; index < last; index++) {
    const panel = panelFactors(K, cache, index);
    let sp = 0;
    let sq = 0;
    let sd = 0;
    for (let i = 0; i < ORDER; i++) {
      const d = panel.z[i] - mu;
      const logGauss = -0.5 * d * d - LOG_SQRT_2PI;
      if (logGauss < LOG_UNDERFLOW) continue;
      const w = weights[i] * Math.exp(logGauss);
      sp += w * panel.phiPow[i];
      sq += w * panel.oneMinusPhiPow[i];
      sd += w * panel.derivFactor[i];
    }
    p += sp;
    oneMinusP += sq;
    derivIntegral += sd;
  }
  return { p: p * halfWidth, oneMinusP: oneMinusP * halfWidth, derivIntegral: derivIntegral * halfWidth };
}

const clampUnit = (v: number): number => Math.min(1, Math.max(0, v));

/**
 * T(gamma) for a vocabulary of K ids (Duo Eq. 10), with its derivative, in float64 (≤ 1e-9 relative for
 * K in [2, 50257], gamma in [−6, 2]; see the fixture tests). Throws ArgumentError for non-finite gamma or K < 2.
 */
export function diffusionTransform(gamma: number, vocabSize: number): OperatorValue {
  assertFinite('diffusionTransform', 'gamma', gamma);
  assertVocabSize('diffusionTransform', vocabSize);
  const K = vocabSize;
  // mu = α̃/σ̃ = sqrt(sigmoid(−γ)/sigmoid(γ)) = exp(−γ/2) (Duo Sec. 3).
  const mu = Math.exp(-0.5 * gamma);
  if (mu > MU_SATURATED) {
    // gamma < −8.2: the true 1 − alpha and dalpha/dgamma are below the smallest double.
    return { alpha: 1, dalphaDgamma: 0, oneMinusAlpha: 0, p: 1, oneMinusP: 0, dpDgamma: 0 };
  }
  const integrals = integrate(K, mu);
  const { derivIntegral } = integrals;
  // p and 1 − p are probabilities: the panel sums can overshoot [0, 1] by a few ulps (large mu and K), so clamp
  const p = clampUnit(integrals.p);
  const oneMinusP = clampUnit(integrals.oneMinusP);
  // dp/dγ = (dp/dmu)(dmu/dγ), dp/dmu = (K−1)∫N(z;mu,1)φ(z)Φ^(K−2)dz by parts, dmu/dγ = −mu/2.
  const dpDgamma = -0.5 * mu * (K - 1) * derivIntegral;
  // alpha = (K p − 1)/(K − 1) (Duo Eq. 10); 1 − alpha = K(1 − p)/(K − 1).
  const scale = K / (K - 1);
  let oneMinusAlpha = scale * oneMinusP;
  // Near alpha = 1 take 1 − (1 − alpha), whose rounding is monotone; small alpha from p − 1/K integrated directly
  // (full relative precision where K p − 1 would cancel), and then 1 − alpha from it; in between (K p − 1)/(K − 1).
  let alpha = oneMinusAlpha < 0.5 ? 1 - oneMinusAlpha : (K * p - 1) / (K - 1);
  if (alpha < 0.25) {
    alpha = scale * pMinusUniform(K, mu);
    oneMinusAlpha = 1 - alpha;
  }
  return {
    alpha: clampUnit(alpha),
    dalphaDgamma: scale * dpDgamma,
    oneMinusAlpha: clampUnit(oneMinusAlpha),
    p,
    oneMinusP,
    dpDgamma,
  };
}

/** The K = 2 closed form alpha = erf(mu/2) = 1 − 2Φ(−mu/√2) (two-token check of Duo Eq. 10). */
export function binaryTransformClosedForm(gamma: number): number {
  assertFinite('binaryTransformClosedForm', 'gamma', gamma);
  const mu = Math.exp(-0.5 * gamma);
  return 1 - 2 * ndtr(-mu / Math.SQRT2);
}
