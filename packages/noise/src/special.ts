/**
 * Float64 special functions for the standard normal distribution.
 *
 * erfc and erfcx come from the stdlib packages (`@stdlib/math-base-special-erfc`: the FreeBSD msun erfc,
 * < 1 ulp; `@stdlib/math-base-special-erfcx`: S. G. Johnson's Faddeeva erfcx, ~1e-15 relative). On top of them:
 * log Φ without underflow for any finite z, and Φ⁻¹ refined to full double precision.
 */
import erfc from '@stdlib/math-base-special-erfc';
import erfcx from '@stdlib/math-base-special-erfcx';

const SQRT1_2 = Math.SQRT1_2;
/** log √(2π). */
export const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** Φ(z), the standard normal CDF (relative accuracy ~1 ulp in both tails). */
export function ndtr(z: number): number {
  return z < 0 ? 0.5 * erfc(-z * SQRT1_2) : 1 - 0.5 * erfc(z * SQRT1_2);
}

/** log Φ(z) for every finite z: log(erfcx(−z/√2)/2) − z²/2 in the lower tail, log1p(−Φ(−z)) above. */
export function logNdtr(z: number): number {
  if (z < -1) {
    const x = -z * SQRT1_2;
    return Math.log(0.5 * erfcx(x)) - x * x;
  }
  return Math.log1p(-0.5 * erfc(z * SQRT1_2));
}

/** log φ(z), the standard normal log-density. */
export function logNormPdf(z: number): number {
  return -0.5 * z * z - LOG_SQRT_2PI;
}

// Acklam's rational approximation of Φ⁻¹ (relative error 1.15e-9), refined by one Halley step below.
const A = [
  -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
  2.506628277459239,
];
const B = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
const C = [
  -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
  2.938163982698783,
];
const D = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];

function acklamLower(p: number): number {
  // p ≤ 0.5: the lower half, written so that tiny p keeps full range.
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
      ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) /
    (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1)
  );
}

/**
 * Φ⁻¹(p) for p ≤ 0.5 to full double precision: Acklam's approximation (1.15e-9 relative) plus one Halley step
 * (cubic convergence: (1e-9)³ is far below an ulp).
 */
function ndtriLowerHalf(p: number): number {
  const x = acklamLower(p);
  const e = ndtr(x) - p;
  const u = e * Math.exp(0.5 * x * x + LOG_SQRT_2PI);
  return x - u / (1 + 0.5 * x * u);
}

/**
 * Φ⁻¹(p) for p in (0, 1) to full double precision. With `upper = true`, p is the upper-tail probability
 * q = 1 − Φ(z) and the result is z = Φ⁻¹(1 − q), exact for tiny q (no rounding of 1 − q).
 */
export function ndtri(p: number, upper = false): number {
  if (upper) return p <= 0.5 ? -ndtriLowerHalf(p) : ndtriLowerHalf(1 - p);
  return p <= 0.5 ? ndtriLowerHalf(p) : -ndtriLowerHalf(1 - p);
}
