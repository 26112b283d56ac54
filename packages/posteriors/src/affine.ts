/**
 * The Ψ-posterior of the masked and uniform processes is affine in x̂0 on every row:
 *   Ψ_j = a·x̂0_j + b   for j outside at most two special ids, and explicit values at those ids.
 * The fused kernels (cpu and WGSL) evaluate, mix and sample from this form in one pass per row; the posterior
 * (κ = 1) and q(x0 | xt, x̂0) are special cases. Derived from the closed forms in maths/rows.ts.
 */
export interface AffineRow {
  a: number;
  b: number;
  /** First special id and its value (−1 when absent). */
  i1: number;
  v1: number;
  /** Second special id and its value (−1 when absent). */
  i2: number;
  v2: number;
}

export const emptyAffine = (): AffineRow => ({ a: 0, b: 0, i1: -1, v1: 0, i2: -1, v2: 0 });

/**
 * onehot(xt): every Ψ row at a_s = a_t = 1, where the closed forms are 0/0. A bridge from a time to itself is the
 * identity (EQUAL_ALPHAS in @duality/noise), so both of Ψ's terms are onehot(xt) there.
 */
function identityRow(out: AffineRow, xt: number): void {
  out.a = 0;
  out.b = 0;
  out.i1 = xt;
  out.v1 = 1;
  out.i2 = -1;
  out.v2 = 0;
}

/**
 * Uniform Ψ row (Duo eq. 5 mixed as in Chapter II): with den = K α_t x_i + 1 − α_t (i = xt),
 *   a = [κ(α_s − α_t) + (1 − κ) α_s (1 − α_t)] / den,
 *   b = κ (1 − α_t/α_s)(1 − α_s)/(K den) + (1 − κ)(1 − α_s)/K,
 *   Ψ_i = a x_i + b + [κ(K α_t x_i + α_t/α_s − α_t) + (1 − κ) α_s K α_t x_i] / den.
 */
export function uniformAffine(
  out: AffineRow,
  k: number,
  xi: number,
  xt: number,
  alphaS: number,
  alphaT: number,
  kappa: number,
): void {
  out.i2 = -1;
  out.v2 = 0;
  if (alphaT === 1) {
    identityRow(out, xt); // so alphaS = 1 too
    return;
  }
  const den = k * alphaT * xi + (1 - alphaT);
  const ratio = alphaS === alphaT ? 1 : alphaT / alphaS; // a_s = a_t: 1, also at a = 0
  out.a = (kappa * (alphaS - alphaT) + (1 - kappa) * alphaS * (1 - alphaT)) / den;
  out.b = (kappa * (1 - ratio) * (1 - alphaS)) / (k * den) + ((1 - kappa) * (1 - alphaS)) / k;
  const extra = (kappa * (k * alphaT * xi + ratio - alphaT) + (1 - kappa) * alphaS * k * alphaT * xi) / den;
  out.i1 = xt;
  out.v1 = out.a * xi + out.b + extra;
}

/**
 * Masked Ψ row (MDLM eq. 7 mixed as in Chapter II). xt = mask: den = α_t x_m + 1 − α_t,
 *   a = [κ(α_s − α_t) + (1 − κ) α_s (1 − α_t)] / den, b = 0,
 *   Ψ_m = κ(α_s x_m + 1 − α_s)/den + (1 − κ)(α_s x_m/den + 1 − α_s).
 * xt ≠ mask: Ψ_xt = κ + (1 − κ) α_s, Ψ_m = (1 − κ)(1 − α_s), 0 elsewhere.
 */
export function maskedAffine(
  out: AffineRow,
  xm: number,
  xt: number,
  mask: number,
  alphaS: number,
  alphaT: number,
  kappa: number,
): void {
  out.b = 0;
  out.i2 = -1;
  out.v2 = 0;
  if (xt !== mask) {
    out.a = 0;
    out.i1 = xt;
    out.v1 = kappa + (1 - kappa) * alphaS;
    out.i2 = mask;
    out.v2 = (1 - kappa) * (1 - alphaS);
    return;
  }
  if (alphaT === 1) {
    identityRow(out, mask); // so alphaS = 1 too
    return;
  }
  const den = alphaT * xm + (1 - alphaT);
  out.a = (kappa * (alphaS - alphaT) + (1 - kappa) * alphaS * (1 - alphaT)) / den;
  out.i1 = mask;
  out.v1 = (kappa * (alphaS * xm + 1 - alphaS)) / den + (1 - kappa) * ((alphaS * xm) / den + 1 - alphaS);
}
