import type { Backend, RandomStream, Shape, Tensor } from '@duality/kernels';
import type { NoiseProcess, Schedule, Times } from '@duality/noise';

/** alpha(t) = 1 − t: times and alphas are interchangeable in tests. */
export const linearSchedule: Schedule = { name: 'linear', alpha: (t) => 1 - t, dalpha: () => -1 };

/**
 * A noise process written the way a researcher would, from backend ops only: the forward marginal interpolates
 * between x0 and a prior π, q_a(·|x0) = a·x0 + (1 − a)·π, and the posterior is Bayes' rule with the two-step
 * transition q(x_t | x_s) = (a_t/a_s)[x_t = x_s] + (1 − a_t/a_s)·π(x_t). π = uniform gives the uniform process,
 * π = m·e_mask + (1 − m)·uniform(non-mask) a hybrid of masking and uniform noise.
 */
export function interpolatingProcess(
  backend: Backend,
  options: { kind: string; prior: Float64Array; maskId?: number; schedule?: Schedule },
): NoiseProcess {
  const k = options.prior.length;
  const schedule = options.schedule ?? linearSchedule;
  const priorOf = (dtype: 'f32' | 'f64') => backend.tensor(options.prior, [k], dtype);

  /** A per-batch scalar as a tensor broadcasting over [B, …, K]. */
  const perRow = (value: Times, like: Tensor): Tensor => {
    const batch = like.shape[0];
    const values = typeof value === 'number' ? new Array(batch).fill(value) : Array.from(value);
    return backend.tensor(values, [batch, ...like.shape.slice(1).map(() => 1)], like.dtype);
  };

  const marginalAt = (x0Probs: Tensor, alpha: Times): Tensor => {
    const a = perRow(alpha, x0Probs);
    const oneMinus = backend.scale(a, -1, 1);
    const prior = priorOf(x0Probs.dtype as 'f32' | 'f64');
    const signal = backend.mul(x0Probs, a);
    const noise = backend.mul(oneMinus, prior);
    const out = backend.add(signal, noise);
    for (const t of [a, oneMinus, prior, signal, noise]) t.dispose();
    return out;
  };

  const bridgeAt = (x0Probs: Tensor, xt: Tensor, alphaS: Times, alphaT: Times): Tensor => {
    const dtype = x0Probs.dtype as 'f32' | 'f64';
    const qs = marginalAt(x0Probs, alphaS);
    const aS = perRow(alphaS, x0Probs);
    const aT = perRow(alphaT, x0Probs);
    const ratio = backend.div(aT, aS);
    const oneMinusRatio = backend.scale(ratio, -1, 1);
    const stay = backend.oneHot(xt, k, dtype);
    const prior = priorOf(dtype);
    const stayPrior = backend.mul(stay, prior);
    const priorAtXt = backend.reshape(backend.sum(stayPrior), [...xt.shape, 1]); // π(x_t)
    // likelihood q(x_t | x_s = j) = ratio·[j = x_t] + (1 − ratio)·π(x_t)
    const lik = backend.add(backend.mul(stay, ratio), backend.mul(oneMinusRatio, priorAtXt));
    const joint = backend.mul(lik, qs);
    const evidence = backend.reshape(backend.sum(joint), [...xt.shape, 1]);
    const out = backend.div(joint, evidence);
    for (const t of [
      qs,
      aS,
      aT,
      ratio,
      oneMinusRatio,
      stay,
      prior,
      stayPrior,
      priorAtXt,
      lik,
      joint,
      evidence,
    ])
      t.dispose();
    return out;
  };

  const alphas = (t: Times): Times =>
    typeof t === 'number' ? schedule.alpha(t) : Array.from(t, schedule.alpha);

  return {
    kind: options.kind,
    vocabSize: k,
    schedule,
    backend,
    maskId: options.maskId,
    marginalAt,
    bridgeAt,
    forward: (x0Probs, t) => marginalAt(x0Probs, alphas(t)),
    posterior: (x0Probs, xt, s, t) => bridgeAt(x0Probs, xt, alphas(s), alphas(t)),
    sample(x0: Tensor, t: Times, rng: RandomStream): Tensor {
      const probs = marginalAt(backend.oneHot(x0, k, 'f64'), alphas(t));
      const ids = backend.sampleCategorical(backend.log(probs), rng);
      probs.dispose();
      return ids;
    },
    prior(shape: Shape, rng: RandomStream): Tensor {
      const size = shape.reduce((a, b) => a * b, 1);
      const logits = backend.log(
        backend.tensor(
          Array.from({ length: size * k }, (_, i) => options.prior[i % k]),
          [...shape, k],
          'f64',
        ),
      );
      return backend.sampleCategorical(logits, rng);
    },
  };
}

export const uniformPrior = (k: number) => new Float64Array(k).fill(1 / k);

/** π = m·e_mask + (1 − m)·uniform over the other ids (mask = last id). */
export const hybridPrior = (k: number, m: number) =>
  Float64Array.from({ length: k }, (_, j) => (j === k - 1 ? m : (1 - m) / (k - 1)));
