/**
 * Per-token loss rows and their gradients with respect to the network's logits z, float64, one row of K logits
 * at a time: the cpu kernels of losses.ts run these; the WGSL kernels mirror them in f32. The values reuse the
 * NELBO integrands of maths/nelbo.ts (one formula in one place); the gradients are derived beside each.
 */
import { apply, type Code, code } from '@duality/kernels';
import { DUO_INTEGRAND_UNCHECKED, duoIntegrand } from '../maths/nelbo';

type LogSoftmaxRow = (z: ArrayLike<number>, lo: number, k: number, out: Float64Array) => number;
/** A Duo row's arguments: logits z[lo, lo + k), xt, x0, α, α′ and a scratch row for log p. */
type DuoRowArgs = [
  z: ArrayLike<number>,
  lo: number,
  k: number,
  xt: number,
  x0: number,
  alpha: number,
  dalpha: number,
  logp: Float64Array,
];
type DuoGradRow = (...args: [...DuoRowArgs, grad: Float64Array]) => void;
type DuoValueRow = (...args: DuoRowArgs) => number;
type KlRow = (
  s: ArrayLike<number>,
  t: ArrayLike<number>,
  lo: number,
  k: number,
  direction: KlDirection,
  ls: Float64Array,
  lt: Float64Array,
  grad: Float64Array | undefined,
) => number;

/** log-softmax of z[lo, lo + k) into out (max-shifted); returns the log-normaliser. */
export function logSoftmaxRow(z: ArrayLike<number>, lo: number, k: number, out: Float64Array): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < k; j++) if (z[lo + j] > m) m = z[lo + j];
  let s = 0;
  for (let j = 0; j < k; j++) s += Math.exp(z[lo + j] - m);
  const lse = m + Math.log(s);
  for (let j = 0; j < k; j++) out[j] = z[lo + j] - lse;
  return lse;
}

/**
 * MDLM under SUBS (MDLM eq. 10): w·log x_θ[x0] with log x_θ = z − logsumexp_{j≠mask} z, at xt = mask (0
 * elsewhere); w = α'/(1 − α) ≤ 0. Gradient: w·(onehot(x0) − softmax_{j≠mask}(z)), 0 at the mask column.
 */
export function mdlmRow(
  z: ArrayLike<number>,
  lo: number,
  k: number,
  xt: number,
  x0: number,
  w: number,
  maskId: number,
  grad: Float64Array | undefined,
): number {
  if (grad) grad.fill(0);
  if (xt !== maskId) return 0;
  let m = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < k; j++) if (j !== maskId && z[lo + j] > m) m = z[lo + j];
  let s = 0;
  for (let j = 0; j < k; j++) if (j !== maskId) s += Math.exp(z[lo + j] - m);
  const lse = m + Math.log(s);
  if (grad) {
    for (let j = 0; j < k; j++) if (j !== maskId) grad[j] = -w * Math.exp(z[lo + j] - lse);
    grad[x0] += w;
  }
  return w * (z[lo + x0] - lse);
}

/**
 * UDLM / Duo integrand (Duo eq. 8) on log x_θ = log_softmax(z) (logp receives it); with `grad`, also its
 * gradient (duoGradRow).
 */
export function duoRow(
  z: ArrayLike<number>,
  lo: number,
  k: number,
  xt: number,
  x0: number,
  alpha: number,
  dalpha: number,
  logp: Float64Array,
  grad: Float64Array | undefined,
): number {
  if (grad) duoGradRow(z, lo, k, xt, x0, alpha, dalpha, logp, grad); // uses logp as scratch
  logSoftmaxRow(z, lo, k, logp);
  return duoIntegrand(logp.subarray(0, k), xt, x0, alpha, dalpha);
}

/**
 * ∂/∂z of the UDLM / Duo integrand (Duo eq. 8), into grad (logp is scratch of K). With p = softmax(z), i = xt,
 * x̄ = Kα e + 1 − α, x̄θ = Kα p + 1 − α, r = x̄/x̄_i: ∂ℓ/∂p_m = α'·[r_m/x̄θ_m + δ_mi K²α(e_i − p_i)/(x̄_i x̄θ_i²)],
 * and ∂ℓ/∂z = p ⊙ (∂ℓ/∂p − ⟨p, ∂ℓ/∂p⟩).
 */
export function makeDuoGradRow(logSoftmaxRow: LogSoftmaxRow): DuoGradRow {
  return (z, lo, k, xt, x0, alpha, dalpha, logp, grad) => {
    logSoftmaxRow(z, lo, k, logp);
    const beta = 1 - alpha;
    const kAlpha = k * alpha;
    const pI = Math.exp(logp[xt]);
    const eI = xt === x0 ? 1 : 0;
    // e_i − p_i without cancellation: 1 − p_i = −expm1(log p_i) when x0 = xt
    const eMinusP = eI === 1 ? -Math.expm1(logp[xt]) : -pI;
    const xbarI = beta + kAlpha * eI;
    const xbarThetaI = beta + kAlpha * pI;
    const p = logp; // log p_m is read once: p_m takes its place
    let mean = 0;
    for (let m = 0; m < k; m++) {
      const pM = Math.exp(logp[m]);
      p[m] = pM;
      const xbarM = beta + kAlpha * (m === x0 ? 1 : 0);
      let g = xbarM / xbarI / (beta + kAlpha * pM);
      if (m === xt) g += (k * kAlpha * eMinusP) / (xbarI * xbarThetaI * xbarThetaI);
      grad[m] = dalpha * g;
      mean += pM * grad[m];
    }
    for (let m = 0; m < k; m++) grad[m] = p[m] * (grad[m] - mean);
  };
}
export const duoGradRow: DuoGradRow = makeDuoGradRow(logSoftmaxRow);

/**
 * KL between the student's and the teacher's predictions (the DCD loss, Duo I Alg. 1), on logits s and t:
 * 'student-teacher' KL(S‖T) = Σ p_S (log p_S − log p_T), ∂/∂s = p_S ⊙ (log p_S − log p_T − KL);
 * 'teacher-student' KL(T‖S) = Σ p_T (log p_T − log p_S), ∂/∂s = p_S − p_T.
 */
export function makeKlRow(logSoftmaxRow: LogSoftmaxRow): KlRow {
  return (s, t, lo, k, direction, ls, lt, grad) => {
    logSoftmaxRow(s, lo, k, ls);
    logSoftmaxRow(t, lo, k, lt);
    let kl = 0;
    if (direction === 'student-teacher') {
      for (let j = 0; j < k; j++) {
        const p = Math.exp(ls[j]);
        if (p > 0) kl += p * (ls[j] - lt[j]);
      }
      if (grad) for (let j = 0; j < k; j++) grad[j] = Math.exp(ls[j]) * (ls[j] - lt[j] - kl);
    } else {
      for (let j = 0; j < k; j++) {
        const p = Math.exp(lt[j]);
        if (p > 0) kl += p * (lt[j] - ls[j]);
      }
      if (grad) for (let j = 0; j < k; j++) grad[j] = Math.exp(ls[j]) - Math.exp(lt[j]);
    }
    return kl;
  };
}
export const klRow: KlRow = makeKlRow(logSoftmaxRow);

/** The duo value row of the cpu kernel: duoRow's value on checked arguments (logp: scratch of exactly K). */
function makeDuoValueRow(
  logSoftmaxRow: LogSoftmaxRow,
  integrand: (logp: Float64Array, xt: number, x0: number, alpha: number, dalpha: number) => number,
): DuoValueRow {
  return (z, lo, k, xt, x0, alpha, dalpha, logp) => {
    logSoftmaxRow(z, lo, k, logp);
    return integrand(logp, xt, x0, alpha, dalpha);
  };
}

/** The row maths as Code (self-contained texts), for the cpu kernels of losses.ts on the worker pool. */
export const ROW_CODE: {
  mdlm: Code<typeof mdlmRow>;
  duoValue: Code<DuoValueRow>;
  duoGrad: Code<DuoGradRow>;
  kl: Code<KlRow>;
} = {
  mdlm: code(mdlmRow),
  duoValue: apply(makeDuoValueRow, code(logSoftmaxRow), DUO_INTEGRAND_UNCHECKED),
  duoGrad: apply(makeDuoGradRow, code(logSoftmaxRow)),
  kl: apply(makeKlRow, code(logSoftmaxRow)),
};

export type KlDirection = 'student-teacher' | 'teacher-student';
