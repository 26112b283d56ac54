/**
 * Noise schedules { alpha(t), dalpha(t) } on t ∈ [0, 1]; dalpha is d alpha / dt (negative), exact.
 */
import { ArgumentError } from '@duality/kernels';
import { type OperatorApprox, type OperatorApproximation, operatorApproximation } from './approx';
import { assertAlpha, assertFinite, assertUnitTime, assertVocabSize } from './errors';
import type { Schedule } from './types';

export interface EpsOptions {
  /** alpha(1) = eps: the time is squeezed to t' = (1 − eps)·t (default 1e-3, as in the reference). */
  eps?: number;
}

function checkEps(op: string, eps: number): number {
  if (!(eps >= 0 && eps < 1)) throw new ArgumentError(op, `eps = ${String(eps)}`, 'eps in [0, 1)');
  return eps;
}

/**
 * sigma = −log alpha: the time conditioning a Duo/MDLM network receives (reference `_sigma_from_alphat`).
 * alpha in [0, 1]; alpha = 0 gives +∞ (pure noise).
 */
export function sigmaFromAlpha(alpha: number): number {
  assertAlpha('sigmaFromAlpha', 'alpha', alpha);
  return -Math.log(alpha);
}

/** Log-linear schedule (MDLM Sec. 3.5): alpha = 1 − (1 − eps)·t, dalpha/dt = −(1 − eps). */
export function logLinear(options: EpsOptions = {}): Schedule {
  const eps = checkEps('logLinear', options.eps ?? 1e-3);
  return {
    name: 'logLinear',
    alpha(t) {
      assertUnitTime('logLinear.alpha', 't', t);
      return 1 - (1 - eps) * t;
    },
    dalpha(t) {
      assertUnitTime('logLinear.dalpha', 't', t);
      return -(1 - eps);
    },
  };
}

export interface CosineSchedule extends Schedule {
  /** What the reference's `trainer_base.Cosine` returns: d alpha / dt' without the (1 − eps) factor. */
  dalphaReference(t: number): number;
}

/**
 * Cosine schedule: t' = (1 − eps)·t, alpha = 1 − cos(π/2·(1 − t')), and the exact
 * dalpha/dt = −(1 − eps)·(π/2)·sin(π/2·(1 − t')). (The reference drops the (1 − eps) chain-rule factor;
 * `dalphaReference` reproduces its value.)
 */
export function cosine(options: EpsOptions = {}): CosineSchedule {
  const eps = checkEps('cosine', options.eps ?? 1e-3);
  const reference = (t: number) => -(Math.PI / 2) * Math.sin((Math.PI / 2) * (1 - (1 - eps) * t));
  return {
    name: 'cosine',
    alpha(t) {
      assertUnitTime('cosine.alpha', 't', t);
      return 1 - Math.cos((Math.PI / 2) * (1 - (1 - eps) * t));
    },
    dalpha(t) {
      assertUnitTime('cosine.dalpha', 't', t);
      return (1 - eps) * reference(t);
    },
    dalphaReference(t) {
      assertUnitTime('cosine.dalphaReference', 't', t);
      return reference(t);
    },
  };
}

export interface GaussianCurriculumOptions {
  vocabSize: number;
  /** gamma at t = 0 (default −3.5, the papers' OWT runs). */
  gammaMin?: number;
  /** gamma at t = 1 (default −1.75). */
  gammaMax?: number;
  /** How T is evaluated: the exact operator (default), the dense table, or a Chapter II polynomial fit. */
  approx?: OperatorApprox;
}

/** The Duo curriculum schedule: alpha(t) = T(gamma(t)) with gamma(t) = gammaMin + t·(gammaMax − gammaMin). */
export interface GaussianCurriculumSchedule extends Schedule {
  readonly vocabSize: number;
  readonly gammaMin: number;
  readonly gammaMax: number;
  readonly approx: OperatorApprox;
  /** The approximation in use, with its measured maxError. */
  readonly approximation: OperatorApproximation;
  /** gamma(t) = gammaMin + t·(gammaMax − gammaMin) (Duo Sec. 4.1). */
  gamma(t: number): number;
}

const approximationCache = new Map<string, OperatorApproximation>();

/** The approximation for (kind, K, range), built once per process and reused. */
export function cachedApproximation(
  kind: OperatorApprox,
  vocabSize: number,
  gammaMin: number,
  gammaMax: number,
) {
  const key = `${kind}:${vocabSize}:${gammaMin}:${gammaMax}`;
  let approximation = approximationCache.get(key);
  if (!approximation) {
    approximation = operatorApproximation(kind, { vocabSize, gammaMin, gammaMax });
    approximationCache.set(key, approximation);
  }
  return approximation;
}

/** Gaussian curriculum schedule (Duo Sec. 4.1; Chapter II for the poly approximations). */
export function gaussianCurriculum(options: GaussianCurriculumOptions): GaussianCurriculumSchedule {
  const op = 'gaussianCurriculum';
  const { vocabSize, gammaMin = -3.5, gammaMax = -1.75, approx = 'exact' } = options;
  assertVocabSize(op, vocabSize);
  assertFinite(op, 'gammaMin', gammaMin);
  assertFinite(op, 'gammaMax', gammaMax);
  if (!(gammaMax > gammaMin))
    throw new ArgumentError(op, `gammaMin = ${gammaMin}, gammaMax = ${gammaMax}`, 'gammaMin < gammaMax');
  const approximation = cachedApproximation(approx, vocabSize, gammaMin, gammaMax);
  const span = gammaMax - gammaMin;
  const gamma = (t: number) => {
    assertUnitTime(`${op}.gamma`, 't', t);
    return gammaMin + t * span;
  };
  return {
    name: `gaussianCurriculum(${approx})`,
    vocabSize,
    gammaMin,
    gammaMax,
    approx,
    approximation,
    gamma,
    alpha(t) {
      assertUnitTime(`${op}.alpha`, 't', t);
      return approximation.evaluate(gammaMin + t * span).alpha;
    },
    dalpha(t) {
      assertUnitTime(`${op}.dalpha`, 't', t);
      // Chain rule: dalpha/dt = (dalpha/dgamma)·(gammaMax − gammaMin).
      return approximation.evaluate(gammaMin + t * span).dalphaDgamma * span;
    },
  };
}
