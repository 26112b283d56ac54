/**
 * Fast forms of the Diffusion Transformation Operator over a curriculum's gamma range [gammaMin, gammaMax]:
 *  - `operatorTable`: a dense table of exact (alpha, dalpha/dgamma) with cubic Hermite interpolation
 *    (the Duo reference keeps a 1e5-point nearest-neighbour table; Duo Sec. 4.1).
 *  - `operatorPolyFit`: alpha as a polynomial of the curriculum time t ∈ [0, 1], gamma = gammaMin + t·Δγ, fitted
 *    by least squares to the exact operator (Chapter II, arXiv 2602.21185, Sec. "efficient curriculum": poly3…9).
 * Each reports its max error against the exact operator on a validation grid that the fit never saw.
 */
import { ArgumentError } from '@duality/kernels';
import { assertFinite, assertPositiveInteger, assertUnitTime, assertVocabSize } from './errors';
import { diffusionTransform } from './operator';

export type PolyDegree = 3 | 5 | 7 | 9;
export type OperatorApprox = 'exact' | 'table' | 'poly3' | 'poly5' | 'poly7' | 'poly9';
export const OPERATOR_APPROXIMATIONS: readonly OperatorApprox[] = [
  'exact',
  'table',
  'poly3',
  'poly5',
  'poly7',
  'poly9',
];

/** Max errors of an approximation against the exact operator, over its validation grid. */
export interface ApproxError {
  /** max |alpha_approx − alpha_exact|. */
  readonly alphaAbs: number;
  /** max |alpha_approx − alpha_exact| / alpha_exact. */
  readonly alphaRel: number;
  /** max |dalpha/dgamma approx − exact|. */
  readonly dalphaDgammaAbs: number;
  /** max of that over |exact dalpha/dgamma|. */
  readonly dalphaDgammaRel: number;
  /** Number of validation points. */
  readonly points: number;
}

/** An approximation of T over [gammaMin, gammaMax]. */
export interface OperatorApproximation {
  readonly kind: OperatorApprox;
  readonly vocabSize: number;
  readonly gammaMin: number;
  readonly gammaMax: number;
  /** alpha and dalpha/dgamma at gamma ∈ [gammaMin, gammaMax] (ArgumentError outside: no silent clipping). */
  evaluate(gamma: number): { alpha: number; dalphaDgamma: number };
  /** Max error against the exact operator (computed when the approximation is built). */
  readonly maxError: ApproxError;
}

export interface RangeOptions {
  vocabSize: number;
  gammaMin?: number;
  gammaMax?: number;
}

function checkRange(
  op: string,
  { vocabSize, gammaMin = -3.5, gammaMax = -1.75 }: RangeOptions,
): [number, number, number] {
  assertVocabSize(op, vocabSize);
  assertFinite(op, 'gammaMin', gammaMin);
  assertFinite(op, 'gammaMax', gammaMax);
  if (!(gammaMax > gammaMin))
    throw new ArgumentError(op, `gammaMin = ${gammaMin}, gammaMax = ${gammaMax}`, 'gammaMin < gammaMax');
  return [vocabSize, gammaMin, gammaMax];
}

function checkInRange(op: string, gamma: number, gammaMin: number, gammaMax: number): void {
  assertFinite(op, 'gamma', gamma);
  // A few ulps of slack so that gamma(t) at t = 0 or 1 never trips on rounding.
  const slack = 1e-12 * (gammaMax - gammaMin);
  if (gamma < gammaMin - slack || gamma > gammaMax + slack) {
    throw new ArgumentError(
      op,
      `gamma = ${gamma}`,
      `gamma in the approximation's range [${gammaMin}, ${gammaMax}]`,
    );
  }
}

/** Max errors of `evaluate` against the exact operator at the given gammas. */
export function measureError(
  vocabSize: number,
  gammas: ArrayLike<number>,
  evaluate: (gamma: number) => { alpha: number; dalphaDgamma: number },
): ApproxError {
  let alphaAbs = 0;
  let alphaRel = 0;
  let dAbs = 0;
  let dRel = 0;
  for (let i = 0; i < gammas.length; i++) {
    const exact = diffusionTransform(gammas[i], vocabSize);
    const approx = evaluate(gammas[i]);
    const ea = Math.abs(approx.alpha - exact.alpha);
    const ed = Math.abs(approx.dalphaDgamma - exact.dalphaDgamma);
    alphaAbs = Math.max(alphaAbs, ea);
    alphaRel = Math.max(alphaRel, ea / Math.abs(exact.alpha));
    dAbs = Math.max(dAbs, ed);
    dRel = Math.max(dRel, ed / Math.abs(exact.dalphaDgamma));
  }
  return { alphaAbs, alphaRel, dalphaDgammaAbs: dAbs, dalphaDgammaRel: dRel, points: gammas.length };
}

export interface TableOptions extends RangeOptions {
  /** Table points over [gammaMin, gammaMax] (default 1025). */
  points?: number;
}

/**
 * Dense table of exact (alpha, dalpha/dgamma) at `points` equally spaced gammas, cubic Hermite interpolation
 * in between (value error O(h⁴), derivative O(h³)). The error is measured at every interval midpoint.
 */
export function operatorTable(options: TableOptions): OperatorApproximation {
  const op = 'operatorTable';
  const [K, gammaMin, gammaMax] = checkRange(op, options);
  const points = options.points ?? 1025;
  assertPositiveInteger(op, 'points', points, 2);
  const h = (gammaMax - gammaMin) / (points - 1);
  const alpha = new Float64Array(points);
  const slope = new Float64Array(points);
  for (let i = 0; i < points; i++) {
    const v = diffusionTransform(gammaMin + i * h, K);
    alpha[i] = v.alpha;
    slope[i] = v.dalphaDgamma;
  }
  const evaluate = (gamma: number) => {
    checkInRange(op, gamma, gammaMin, gammaMax);
    const x = Math.min(Math.max((gamma - gammaMin) / h, 0), points - 1);
    const i = Math.min(Math.floor(x), points - 2);
    return hermite(x - i, h, alpha[i], alpha[i + 1], slope[i], slope[i + 1]);
  };
  const midpoints = Float64Array.from({ length: points - 1 }, (_, i) => gammaMin + (i + 0.5) * h);
  const maxError = measureError(K, midpoints, evaluate);
  return { kind: 'table', vocabSize: K, gammaMin, gammaMax, evaluate, maxError };
}

/** Cubic Hermite interpolation on one interval (s ∈ [0, 1], width h) and its derivative. */
function hermite(s: number, h: number, y0: number, y1: number, d0: number, d1: number) {
  const s2 = s * s;
  const s3 = s2 * s;
  const alpha =
    (2 * s3 - 3 * s2 + 1) * y0 + (s3 - 2 * s2 + s) * h * d0 + (-2 * s3 + 3 * s2) * y1 + (s3 - s2) * h * d1;
  const dalphaDgamma =
    ((6 * s2 - 6 * s) * y0 + (-6 * s2 + 6 * s) * y1) / h + (3 * s2 - 4 * s + 1) * d0 + (3 * s2 - 2 * s) * d1;
  return { alpha, dalphaDgamma };
}

export interface PolyFitOptions extends RangeOptions {
  degree: PolyDegree;
  /** Least-squares sample points, equally spaced in t ∈ [0, 1] (default 1001). */
  samples?: number;
}

/** A polynomial fit of alpha(t) on the curriculum's time axis. */
export interface PolyFit extends OperatorApproximation {
  readonly degree: PolyDegree;
  /** Monomial coefficients a0…a_d of alpha(t) = Σ a_i t^i (the reference's `duo_to_alpha_dalpha_poly` layout). */
  readonly coefficients: Float64Array;
  /** alpha(t) and dalpha/dt at curriculum time t ∈ [0, 1]. */
  evaluateAt(t: number): { alpha: number; dalphaDt: number };
  /** Max errors of the same fit measured per unit t: dalpha/dt errors = dalpha/dgamma errors × Δγ. */
  readonly maxErrorDt: { alphaAbs: number; dalphaDtAbs: number };
}

/**
 * Least-squares fit of alpha(t) = T(gammaMin + t·Δγ) by a polynomial of the given degree in t (Chapter II,
 * arXiv 2602.21185: the poly3/5/7/9 curriculum). Solved by Householder QR on a Chebyshev basis in x = 2t − 1
 * (well conditioned), then converted to monomials in t. Validated at the midpoints of the sample grid.
 */
export function operatorPolyFit(options: PolyFitOptions): PolyFit {
  const op = 'operatorPolyFit';
  const [K, gammaMin, gammaMax] = checkRange(op, options);
  const { degree } = options;
  if (![3, 5, 7, 9].includes(degree))
    throw new ArgumentError(op, `degree = ${String(degree)}`, 'one of 3, 5, 7, 9');
  const samples = options.samples ?? 1001;
  assertPositiveInteger(op, 'samples', samples, degree + 1);
  const span = gammaMax - gammaMin;
  const ts = Float64Array.from({ length: samples }, (_, i) => i / (samples - 1));
  const ys = Float64Array.from(ts, (t) => diffusionTransform(gammaMin + t * span, K).alpha);
  const cheb = leastSquares(chebyshevDesign(ts, degree), ys, degree + 1);
  const coefficients = chebyshevToMonomialInT(cheb);
  const polynomial = (t: number) => {
    let alpha = 0;
    let dalphaDt = 0;
    for (let i = degree; i >= 0; i--) {
      if (i > 0) dalphaDt = dalphaDt * t + i * coefficients[i];
      alpha = alpha * t + coefficients[i];
    }
    return { alpha, dalphaDt };
  };
  // the fit is only meant (and validated) on t ∈ [0, 1]: outside, a polynomial runs away
  const evaluateAt = (t: number) => {
    assertUnitTime(`${op}.evaluateAt`, 't', t);
    return polynomial(t);
  };
  const evaluate = (gamma: number) => {
    checkInRange(op, gamma, gammaMin, gammaMax);
    const t = (gamma - gammaMin) / span;
    const { alpha, dalphaDt } = polynomial(t);
    return { alpha, dalphaDgamma: dalphaDt / span };
  };
  // Validation: every midpoint of the sample grid plus both ends (where a polynomial fit errs most).
  const validation = Float64Array.from({ length: samples + 1 }, (_, i) =>
    i === samples ? gammaMax : gammaMin + (Math.max(i - 0.5, 0) / (samples - 1)) * span,
  );
  const maxError = measureError(K, validation, evaluate);
  const maxErrorDt = { alphaAbs: maxError.alphaAbs, dalphaDtAbs: maxError.dalphaDgammaAbs * span };
  return {
    kind: `poly${degree}`,
    degree,
    vocabSize: K,
    gammaMin,
    gammaMax,
    coefficients,
    evaluate,
    evaluateAt,
    maxError,
    maxErrorDt,
  };
}

/** Row-major design matrix [n, d+1] of Chebyshev polynomials T_j(2t − 1). */
function chebyshevDesign(ts: Float64Array, degree: number): Float64Array {
  const cols = degree + 1;
  const a = new Float64Array(ts.length * cols);
  for (let r = 0; r < ts.length; r++) {
    const x = 2 * ts[r] - 1;
    a[r * cols] = 1;
    if (cols > 1) a[r * cols + 1] = x;
    for (let j = 2; j < cols; j++) a[r * cols + j] = 2 * x * a[r * cols + j - 1] - a[r * cols + j - 2];
  }
  return a;
}

/** min ‖A c − y‖₂ by Householder QR (A row-major [n, m], n ≥ m). */
export function leastSquares(aIn: Float64Array, yIn: Float64Array, m: number): Float64Array {
  const n = yIn.length;
  const a = Float64Array.from(aIn);
  const y = Float64Array.from(yIn);
  for (let k = 0; k < m; k++) {
    let norm = 0;
    for (let i = k; i < n; i++) norm += a[i * m + k] ** 2;
    norm = Math.sqrt(norm);
    const alpha = a[k * m + k] > 0 ? -norm : norm;
    const v = new Float64Array(n - k);
    for (let i = k; i < n; i++) v[i - k] = a[i * m + k];
    v[0] -= alpha;
    let vv = 0;
    for (let i = 0; i < v.length; i++) vv += v[i] * v[i];
    if (vv === 0) continue;
    for (let j = k; j < m; j++) {
      let dot = 0;
      for (let i = k; i < n; i++) dot += v[i - k] * a[i * m + j];
      const f = (2 * dot) / vv;
      for (let i = k; i < n; i++) a[i * m + j] -= f * v[i - k];
    }
    let dot = 0;
    for (let i = k; i < n; i++) dot += v[i - k] * y[i];
    const f = (2 * dot) / vv;
    for (let i = k; i < n; i++) y[i] -= f * v[i - k];
  }
  const c = new Float64Array(m);
  for (let k = m - 1; k >= 0; k--) {
    let s = y[k];
    for (let j = k + 1; j < m; j++) s -= a[k * m + j] * c[j];
    c[k] = s / a[k * m + k];
  }
  return c;
}

/** Σ c_j T_j(2t − 1) → monomial coefficients in t. */
function chebyshevToMonomialInT(cheb: Float64Array): Float64Array {
  const m = cheb.length;
  // Monomial coefficients (in t) of T_j(2t − 1), by T_{j+1} = 2(2t − 1)T_j − T_{j−1}.
  let prev = new Float64Array(m);
  let curr = new Float64Array(m);
  prev[0] = 1; // T_0
  const out = new Float64Array(m);
  for (let i = 0; i < m; i++) out[i] += cheb[0] * prev[i];
  if (m === 1) return out;
  curr[0] = -1; // T_1 = 2t − 1
  curr[1] = 2;
  for (let i = 0; i < m; i++) out[i] += cheb[1] * curr[i];
  for (let j = 2; j < m; j++) {
    const next = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      next[i] = -2 * curr[i] - prev[i] + (i > 0 ? 4 * curr[i - 1] : 0);
    }
    for (let i = 0; i < m; i++) out[i] += cheb[j] * next[i];
    prev = curr;
    curr = next;
  }
  return out;
}

/** Builds the named approximation over the range (`exact` wraps the operator itself; its maxError is zero). */
export function operatorApproximation(kind: OperatorApprox, options: RangeOptions): OperatorApproximation {
  const op = 'operatorApproximation';
  switch (kind) {
    case 'exact': {
      const [K, gammaMin, gammaMax] = checkRange(op, options);
      const evaluate = (gamma: number) => {
        const v = diffusionTransform(gamma, K);
        return { alpha: v.alpha, dalphaDgamma: v.dalphaDgamma };
      };
      const maxError = { alphaAbs: 0, alphaRel: 0, dalphaDgammaAbs: 0, dalphaDgammaRel: 0, points: 0 };
      return { kind, vocabSize: K, gammaMin, gammaMax, evaluate, maxError };
    }
    case 'table':
      return operatorTable(options);
    case 'poly3':
    case 'poly5':
    case 'poly7':
    case 'poly9':
      return operatorPolyFit({ ...options, degree: Number(kind.slice(4)) as PolyDegree });
    default:
      throw new ArgumentError(
        op,
        `approx = ${String(kind)}`,
        `one of ${OPERATOR_APPROXIMATIONS.join(' | ')}`,
      );
  }
}
