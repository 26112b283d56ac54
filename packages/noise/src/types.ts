import type { Backend, RandomStream, Shape, Tensor } from '@duality/kernels';

/** A noise schedule: alpha(t) falls from ≈1 at t = 0 to ≈0 at t = 1; dalpha(t) = d alpha / dt (negative). */
export interface Schedule {
  readonly name: string;
  alpha(t: number): number;
  dalpha(t: number): number;
}

/**
 * Times for a batched call: one number for the whole batch, or one per batch row (length B).
 */
export type Times = number | readonly number[] | Float64Array;

/**
 * A discrete noise process over a vocabulary of `vocabSize` ids (the masked process counts its mask id in it).
 * t-level methods read alpha from `schedule`; the alpha-level methods (`marginalAt`, `bridgeAt`) take alphas
 * directly, so the same process serves any schedule and `bridgeAt(x0Probs, xt, 1, alphaT)` is q(x0 | xt, x̂0).
 *
 * Tensors: x0Probs [B, L, K] float (probability vectors over the last axis), ids i32 [B, L]. The output dtype
 * follows x0Probs (f64 on the cpu backend for reference maths).
 */
export interface NoiseProcess {
  /**
   * 'masked' | 'uniform' | 'gaussian' for the built-in processes (anything for a user's). The 'gaussian'
   * process' token marginals and posteriors are the uniform-state ones at alpha = T(gamma(t)).
   */
  readonly kind: string;
  readonly vocabSize: number;
  readonly schedule: Schedule;
  readonly backend: Backend;
  /** The mask id for absorbing processes, undefined otherwise. */
  readonly maskId?: number;

  /** q_t(· | x0) for probability vectors x0Probs [B, L, K]. */
  forward(x0Probs: Tensor, t: Times): Tensor;
  /** q_alpha(· | x0): the same marginal at a given alpha (scalar or one per row). */
  marginalAt(x0Probs: Tensor, alpha: Times): Tensor;
  /** Draw x_t ~ q_t(· | x0) for ids x0 [B, L]. */
  sample(x0: Tensor, t: Times, rng: RandomStream): Tensor;
  /** Draw from the prior (t = 1): all-mask for masked, uniform ids for uniform. */
  prior(shape: Shape, rng: RandomStream): Tensor;
  /** q(x_s | x_t, x0) with x0 ~ x0Probs (exact for one-hot, the approximate posterior for soft x̂0), s < t. */
  posterior(x0Probs: Tensor, xt: Tensor, s: Times, t: Times): Tensor;
  /** The same posterior at alphas alphaS > alphaT. */
  bridgeAt(x0Probs: Tensor, xt: Tensor, alphaS: Times, alphaT: Times): Tensor;
}
