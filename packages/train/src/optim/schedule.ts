/**
 * Pure schedules of the optimiser, in the reference's conventions (Lightning + transformers + models/ema.py),
 * all indexed by n = 1, 2, … the n-th optimiser update:
 *
 *   learning rate  lr_n = lr · f(n − 1): f(s) = s / W during warm-up (s < W), then 1 (constant, transformers'
 *                  get_constant_schedule_with_warmup) or r + (1 − r)·½(1 + cos(π·p)), p = (s − W)/(S − W)
 *                  (cosine, get_cosine_schedule_with_warmup with a floor ratio r). The scheduler steps after each
 *                  update, so the FIRST update has lr 0 when W > 0.
 *   EMA decay      d_n = min(decay, (1 + n)/(10 + n)), and ema ← ema − (1 − d_n)(ema − p).
 *   clipping       coef = min(1, maxNorm / (‖g‖ + 1e-6)) with ‖g‖ the global L2 norm over every gradient
 *                  (torch.nn.utils.clip_grad_norm_).
 */
import { ArgumentError } from '@duality/kernels';

export interface LrScheduleOptions {
  /** Peak learning rate. */
  lr: number;
  /** Warm-up updates W (0: none). */
  warmupSteps: number;
  schedule: 'constant' | 'cosine';
  /** Total updates S (the cosine's length). */
  totalSteps?: number;
  /** Cosine only: the floor as a fraction of lr (default 0). */
  minLrRatio?: number;
}

function checkUpdate(op: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new ArgumentError(op, `update n = ${n}`, 'an integer ≥ 1');
}

/** The learning-rate multiplier f(s) after s scheduler steps. */
export function lrFactor(s: number, options: LrScheduleOptions): number {
  const W = options.warmupSteps;
  if (s < W) return s / W; // linear warm-up
  if (options.schedule === 'constant') return 1;
  const S = options.totalSteps;
  if (S === undefined || !Number.isSafeInteger(S) || S < 1) {
    throw new ArgumentError('lrFactor', `totalSteps ${S}`, 'a positive integer for the cosine schedule');
  }
  const r = options.minLrRatio ?? 0;
  // progress through the decay; a warm-up as long as the run leaves no decay phase: past it, the minimum
  const p = S > W ? Math.min(1, (s - W) / (S - W)) : 1;
  return r + (1 - r) * 0.5 * (1 + Math.cos(Math.PI * p)); // half-cosine from 1 to r
}

/** lr of the n-th update (n = 1 first): lr · f(n − 1). */
export function learningRate(n: number, options: LrScheduleOptions): number {
  checkUpdate('learningRate', n);
  if (!(options.lr > 0)) throw new ArgumentError('learningRate', `lr ${options.lr}`, 'a positive number');
  if (!Number.isSafeInteger(options.warmupSteps) || options.warmupSteps < 0) {
    throw new ArgumentError('learningRate', `warmupSteps ${options.warmupSteps}`, 'an integer ≥ 0');
  }
  return options.lr * lrFactor(n - 1, options);
}

/** EMA decay at the n-th update (n = 1 first): min(decay, (1 + n)/(10 + n)). */
export function emaDecay(n: number, decay: number): number {
  checkUpdate('emaDecay', n);
  if (!(decay >= 0 && decay < 1)) throw new ArgumentError('emaDecay', `decay ${decay}`, 'a number in [0, 1)');
  return Math.min(decay, (1 + n) / (10 + n));
}

/** ema ← ema − (1 − d)(ema − p), in place over one tensor's values. */
export function emaUpdate(ema: Float32Array | Float64Array, param: ArrayLike<number>, d: number): void {
  if (ema.length !== param.length) {
    throw new ArgumentError(
      'emaUpdate',
      `${param.length} parameter values`,
      `${ema.length} (the EMA's size)`,
    );
  }
  const c = 1 - d;
  for (let i = 0; i < ema.length; i++) ema[i] -= c * (ema[i] - param[i]);
}

/** Global L2 norm over every gradient: √(Σ_tensors Σ g²), accumulated in float64. */
export function globalNorm(grads: Iterable<ArrayLike<number>>): number {
  let sum = 0;
  for (const g of grads) {
    let s = 0;
    for (let i = 0; i < g.length; i++) s += g[i] * g[i];
    sum += s;
  }
  return Math.sqrt(sum);
}

/** Clipping coefficient min(1, maxNorm / (total + 1e-6)); gradients are multiplied by it. */
export function clipCoefficient(totalNorm: number, maxNorm: number): number {
  if (!(totalNorm >= 0))
    throw new ArgumentError('clipCoefficient', `norm ${totalNorm}`, 'a number ≥ 0 (NaN: a bad gradient)');
  if (!(maxNorm > 0)) throw new ArgumentError('clipCoefficient', `maxNorm ${maxNorm}`, 'a positive number');
  return Math.min(1, maxNorm / (totalNorm + 1e-6));
}
