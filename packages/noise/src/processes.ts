/**
 * The masked (absorbing), uniform-state and Gaussian noise processes on the kernel layer, batched over [B, L].
 * Marginals and posteriors are written with backend ops (broadcasting per-row alphas [B, 1, 1] over [B, L, K]),
 * so they run on cpu (f64 or f32) and webgpu (f32) alike.
 */
import {
  ArgumentError,
  type Backend,
  describeShape,
  type FloatDType,
  type RandomStream,
  type Shape,
  type Tensor,
  tidy,
} from '@duality/kernels';
import type { OperatorApprox } from './approx';
import { assertAlpha, assertVocabSize } from './errors';
import { markFusedPsi } from './fused-psi';
import { gaussianLatents } from './latents';
import {
  type RelaxationOptions,
  type TemperedRelaxation,
  type TopKOptions,
  type TopKRelaxation,
  temperedSoftmaxRelaxation,
  topKRelaxation,
} from './relax';
import { type GaussianCurriculumSchedule, gaussianCurriculum, logLinear } from './schedules';
import { checkBackend, checkIds, checkOptions, checkProbs, perRow, rowTensor, uniformIds } from './tensors';
import type { NoiseProcess, Schedule, Times } from './types';

export interface ProcessOptions {
  vocabSize: number;
  /** Default: logLinear() for masked and uniform. */
  schedule?: Schedule;
}

export interface MaskedOptions extends ProcessOptions {
  /** The absorbing id (default vocabSize − 1, the last id). */
  maskId?: number;
}

/** alpha(t) per batch row. */
function alphasAt(schedule: Schedule, op: string, t: Times, batch: number): Float64Array {
  const ts = perRow(op, 't', t, batch);
  return ts.map((ti) => schedule.alpha(ti));
}

/**
 * EQUAL_ALPHAS: a bridge with alphaS = alphaT (s = t) is the identity, q(x_s | x_t) = onehot(x_t), as the
 * transition of any Markov process from a time to itself. The closed forms reach it continuously along
 * a_s = a_t < 1 and are 0/0 at the end points (a = 1 for both processes, a = 0 for the uniform one), where it is
 * therefore taken as the definition. In particular bridgeAt(x̂0, xt, 1, 1) = onehot(xt): with no noise,
 * x_t = x_0.
 */

/** One alpha in [0, 1] per batch row. */
function marginalAlphas(op: string, alpha: Times, batch: number): Float64Array {
  const a = perRow(op, 'alpha', alpha, batch);
  for (let b = 0; b < batch; b++) assertAlpha(op, `alpha[${b}]`, a[b]);
  return a;
}

/** Checks alphas and the bridge ordering alphaS ≥ alphaT per row (s ≤ t). */
function bridgeAlphas(op: string, alphaS: Times, alphaT: Times, batch: number): [Float64Array, Float64Array] {
  const as = perRow(op, 'alphaS', alphaS, batch);
  const at = perRow(op, 'alphaT', alphaT, batch);
  for (let b = 0; b < batch; b++) {
    assertAlpha(op, `alphaS[${b}]`, as[b]);
    assertAlpha(op, `alphaT[${b}]`, at[b]);
    if (!(as[b] >= at[b])) {
      throw new ArgumentError(
        op,
        `alphaS[${b}] = ${as[b]} < alphaT[${b}] = ${at[b]}`,
        'alphaS ≥ alphaT (s < t)',
      );
    }
  }
  return [as, at];
}

/** Times s < t per row, mapped to alphas. */
function posteriorAlphas(schedule: Schedule, op: string, s: Times, t: Times, batch: number) {
  const ss = perRow(op, 's', s, batch);
  const ts = perRow(op, 't', t, batch);
  for (let b = 0; b < batch; b++) {
    if (!(ss[b] < ts[b])) throw new ArgumentError(op, `s[${b}] = ${ss[b]}, t[${b}] = ${ts[b]}`, 's < t');
  }
  return { alphaS: ss.map((x) => schedule.alpha(x)), alphaT: ts.map((x) => schedule.alpha(x)) };
}

function streamAt(rng: RandomStream, extra: number): RandomStream {
  return { seed: rng.seed, offset: (rng.offset ?? 0) + extra };
}

function checkShapeArg(op: string, shape: Shape): void {
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    const got = Array.isArray(shape) ? `shape ${describeShape(shape)}` : `shape ${String(shape)}`;
    throw new ArgumentError(op, got, '[B, L] with non-negative integer sizes');
  }
}

/** Shared by the uniform-state processes (uniform and Gaussian): marginal and posterior. */
abstract class UniformStateBase implements NoiseProcess {
  abstract readonly kind: string;
  abstract readonly schedule: Schedule;
  readonly maskId = undefined;
  constructor(
    readonly backend: Backend,
    readonly vocabSize: number,
  ) {}

  forward(x0Probs: Tensor, t: Times): Tensor {
    const op = `${this.kind}.forward`;
    const [batch] = checkProbs(op, x0Probs, this.vocabSize);
    return this.marginal(x0Probs, marginalAlphas(op, alphasAt(this.schedule, op, t, batch), batch));
  }

  marginalAt(x0Probs: Tensor, alpha: Times): Tensor {
    const op = `${this.kind}.marginalAt`;
    const [batch] = checkProbs(op, x0Probs, this.vocabSize);
    return this.marginal(x0Probs, marginalAlphas(op, alpha, batch));
  }

  /** q_alpha(x | x0) = alpha·x0 + (1 − alpha)/K (Duo Eq. 2, uniform prior), on checked inputs. */
  private marginal(x0Probs: Tensor, a: Float64Array): Tensor {
    const K = this.vocabSize;
    const be = this.backend;
    const dt = x0Probs.dtype as FloatDType;
    return tidy(() => {
      const A = rowTensor(be, a, dt);
      const C = rowTensor(
        be,
        a.map((v) => (1 - v) / K),
        dt,
      );
      return be.add(be.mul(x0Probs, A), C);
    });
  }

  abstract sample(x0: Tensor, t: Times, rng: RandomStream): Tensor;

  /** Uniform ids: element i takes words offset + 2i, offset + 2i + 1 (53-bit uniforms). */
  prior(shape: Shape, rng: RandomStream): Tensor {
    checkShapeArg(`${this.kind}.prior`, shape);
    const n = shape[0] * shape[1];
    return this.backend.tensor(uniformIds(rng, n, this.vocabSize), shape, 'i32');
  }

  posterior(x0Probs: Tensor, xt: Tensor, s: Times, t: Times): Tensor {
    const op = `${this.kind}.posterior`;
    const [batch, length] = checkProbs(op, x0Probs, this.vocabSize);
    checkIds(op, 'xt', xt, this.vocabSize, [batch, length]);
    const { alphaS, alphaT } = posteriorAlphas(this.schedule, op, s, t, batch);
    return this.bridge(x0Probs, xt, ...bridgeAlphas(op, alphaS, alphaT, batch), [batch, length]);
  }

  bridgeAt(x0Probs: Tensor, xt: Tensor, alphaS: Times, alphaT: Times): Tensor {
    const op = `${this.kind}.bridgeAt`;
    const [batch, length] = checkProbs(op, x0Probs, this.vocabSize);
    checkIds(op, 'xt', xt, this.vocabSize, [batch, length]);
    return this.bridge(x0Probs, xt, ...bridgeAlphas(op, alphaS, alphaT, batch), [batch, length]);
  }

  /**
   * q(x_s | x_t, x0) for the uniform prior (Duo / UDLM posterior, Duo Eq. 5), on checked inputs:
   * num_j = K a_t x0_j [j=xt] + (a_t/a_s − a_t)[j=xt] + (a_s − a_t) x0_j + (1 − a_t/a_s)(1 − a_s)/K,
   * den = K a_t x0[xt] + 1 − a_t. With alphaS = 1 it is q(x0 | x_t, x̂0). A row with a_s = a_t (s = t, which
   * includes a_t = 1 and a_s = a_t = 0) is the identity onehot(xt): see EQUAL_ALPHAS.
   */
  private bridge(
    x0Probs: Tensor,
    xt: Tensor,
    as: Float64Array,
    at: Float64Array,
    [batch, length]: [number, number],
  ): Tensor {
    const K = this.vocabSize;
    const be = this.backend;
    const dt = x0Probs.dtype as FloatDType;
    return tidy(() => {
      // rows with a_s = a_t take the identity's coefficients: num = onehot(xt), den = 1
      const row = (f: (s: number, t: number) => number, identity: number) =>
        rowTensor(
          be,
          as.map((s, b) => (s === at[b] ? identity : f(s, at[b]))),
          dt,
        );
      const cKat = row((_, t) => K * t, 0);
      const cR = row((s, t) => t / s - t, 1);
      const cD = row((s, t) => s - t, 0);
      const c0 = row((s, t) => ((1 - t / s) * (1 - s)) / K, 0);
      const cOne = row((_, t) => 1 - t, 1);
      const oneHot = be.oneHot(xt, K, dt);
      const atXt = be.mul(oneHot, be.add(be.mul(x0Probs, cKat), cR));
      const num = be.add(atXt, be.add(be.mul(x0Probs, cD), c0));
      const x0AtXt = be.reshape(be.gatherLast(x0Probs, xt), [batch, length, 1]);
      const den = be.add(be.mul(x0AtXt, cKat), cOne);
      return be.div(num, den);
    });
  }
}

/** Uniform-state process (UDLM / Duo's discrete side) with any alpha schedule. */
export class UniformProcess extends UniformStateBase {
  readonly kind: string = 'uniform';
  readonly schedule: Schedule;
  constructor(backend: Backend, options: ProcessOptions) {
    checkBackend('uniform', backend);
    checkOptions('uniform', options);
    assertVocabSize('uniform', options.vocabSize);
    super(backend, options.vocabSize);
    this.schedule = options.schedule ?? logLinear();
    // the uniform closed form of Ψ, for this class itself only (a subclass may override the maths)
    if (new.target === UniformProcess) markFusedPsi(this, { kind: 'uniform' });
  }

  /**
   * x_t = x0 with probability alpha_t, else a uniform id. Stream layout: keep-uniforms at offset … offset + n − 1
   * (backend.uniform), replacement ids from words offset + n … offset + 3n − 1 (n = B·L).
   */
  sample(x0: Tensor, t: Times, rng: RandomStream): Tensor {
    const op = 'uniform.sample';
    const [batch, length] = checkIds(op, 'x0', x0, this.vocabSize);
    const a = alphasAt(this.schedule, op, t, batch);
    const n = batch * length;
    const be = this.backend;
    return tidy(() => {
      const u = be.uniform([batch, length], rng, 'f32');
      const keep = be.compare(u, rowTensor(be, a, 'f32', 2), 'lt');
      const replacement = be.tensor(uniformIds(streamAt(rng, n), n, this.vocabSize), [batch, length], 'i32');
      return be.where(keep, x0, replacement);
    });
  }
}

/** Masked (absorbing-state) process (MDLM): one id is reserved for the mask, the last by default. */
export class MaskedProcess implements NoiseProcess {
  readonly kind = 'masked';
  readonly schedule: Schedule;
  readonly vocabSize: number;
  readonly maskId: number;
  constructor(
    readonly backend: Backend,
    options: MaskedOptions,
  ) {
    checkBackend('masked', backend);
    checkOptions('masked', options);
    assertVocabSize('masked', options.vocabSize);
    this.vocabSize = options.vocabSize;
    this.maskId = options.maskId ?? options.vocabSize - 1;
    if (!Number.isInteger(this.maskId) || this.maskId < 0 || this.maskId >= this.vocabSize) {
      throw new ArgumentError('masked', `maskId = ${this.maskId}`, `an id in [0, ${this.vocabSize})`);
    }
    this.schedule = options.schedule ?? logLinear();
    // the masked closed form of Ψ, for this class itself only (a subclass may override the maths)
    if (new.target === MaskedProcess) markFusedPsi(this, { kind: 'masked', maskId: this.maskId });
  }

  /** The one-hot row of the mask, [K]. */
  private maskRow(dtype: FloatDType): Tensor {
    const mask = new Float64Array(this.vocabSize);
    mask[this.maskId] = 1;
    return this.backend.tensor(dtype === 'f64' ? mask : Float32Array.from(mask), [this.vocabSize], dtype);
  }

  forward(x0Probs: Tensor, t: Times): Tensor {
    const op = 'masked.forward';
    const [batch] = checkProbs(op, x0Probs, this.vocabSize);
    return this.marginal(x0Probs, marginalAlphas(op, alphasAt(this.schedule, op, t, batch), batch));
  }

  marginalAt(x0Probs: Tensor, alpha: Times): Tensor {
    const op = 'masked.marginalAt';
    const [batch] = checkProbs(op, x0Probs, this.vocabSize);
    return this.marginal(x0Probs, marginalAlphas(op, alpha, batch));
  }

  /**
   * q_alpha(x | x0) = alpha·x0 + (1 − alpha)·e_mask (MDLM Eq. 2), on checked inputs. Mass of x0 on the mask
   * stays there (the mask is absorbing), so a normalised x0 gives a normalised marginal.
   */
  private marginal(x0Probs: Tensor, a: Float64Array): Tensor {
    const be = this.backend;
    const dt = x0Probs.dtype as FloatDType;
    return tidy(() => {
      const mask = this.maskRow(dt);
      const kept = be.mul(x0Probs, rowTensor(be, a, dt));
      const oneMinus = rowTensor(
        be,
        a.map((v) => 1 - v),
        dt,
      );
      return be.add(kept, be.mul(mask, oneMinus));
    });
  }

  /** x_t = mask with probability 1 − alpha_t, else x0. Keep-uniforms at offset … offset + B·L − 1. */
  sample(x0: Tensor, t: Times, rng: RandomStream): Tensor {
    const op = 'masked.sample';
    const [batch, length] = checkIds(op, 'x0', x0, this.vocabSize);
    const a = alphasAt(this.schedule, op, t, batch);
    const be = this.backend;
    return tidy(() => {
      const u = be.uniform([batch, length], rng, 'f32');
      const masked = be.compare(
        u,
        rowTensor(
          be,
          a.map((v) => 1 - v),
          'f32',
          2,
        ),
        'lt',
      );
      return be.where(masked, be.full([1], this.maskId, 'i32'), x0);
    });
  }

  /** The prior is all-mask. */
  prior(shape: Shape, _rng?: RandomStream): Tensor {
    checkShapeArg('masked.prior', shape);
    return this.backend.full(shape, this.maskId, 'i32');
  }

  posterior(x0Probs: Tensor, xt: Tensor, s: Times, t: Times): Tensor {
    const op = 'masked.posterior';
    const [batch, length] = checkProbs(op, x0Probs, this.vocabSize);
    checkIds(op, 'xt', xt, this.vocabSize, [batch, length]);
    const { alphaS, alphaT } = posteriorAlphas(this.schedule, op, s, t, batch);
    return this.bridge(x0Probs, xt, ...bridgeAlphas(op, alphaS, alphaT, batch), [batch, length]);
  }

  bridgeAt(x0Probs: Tensor, xt: Tensor, alphaS: Times, alphaT: Times): Tensor {
    const op = 'masked.bridgeAt';
    const [batch, length] = checkProbs(op, x0Probs, this.vocabSize);
    checkIds(op, 'xt', xt, this.vocabSize, [batch, length]);
    return this.bridge(x0Probs, xt, ...bridgeAlphas(op, alphaS, alphaT, batch), [batch, length]);
  }

  /**
   * MDLM posterior (MDLM Eq. 4) by Bayes' rule, on checked inputs. At xt = mask, with x_m = x0[mask] and
   * den = a_t x_m + 1 − a_t: q_j = (a_s − a_t) x0_j / den (j ≠ mask), q_mask = (a_s x_m + 1 − a_s) / den — the
   * MDLM form (1 − a_s)/(1 − a_t) when x̂0 has no mass on the mask, normalised when it has some. At an unmasked
   * xt, onehot(xt). With alphaS = 1 it is q(x0 | x_t, x̂0). At a_t = 1 (so a_s = 1) it is the identity
   * onehot(xt), the a_s = a_t rule (EQUAL_ALPHAS).
   */
  private bridge(
    x0Probs: Tensor,
    xt: Tensor,
    as: Float64Array,
    at: Float64Array,
    [batch, length]: [number, number],
  ): Tensor {
    const be = this.backend;
    const dt = x0Probs.dtype as FloatDType;
    return tidy(() => {
      const mask = this.maskRow(dt);
      const identity = at.map((t) => (t === 1 ? 1 : 0));
      // per-row coefficients; an identity row (a_t = 1) gets num = e_mask, den = 1
      const row = (f: (s: number, t: number) => number, whenIdentity: number) =>
        rowTensor(
          be,
          as.map((s, b) => (identity[b] ? whenIdentity : f(s, at[b]))),
          dt,
        );
      const cDiff = row((s, t) => s - t, 0);
      const cNumXm = row((s) => s, 0);
      const cNum0 = row((s) => 1 - s, 1);
      const cDenXm = row((_, t) => t, 0);
      const cDen0 = row((_, t) => 1 - t, 1);
      const maskIds = be.full([batch, length], this.maskId, 'i32');
      const xm = be.reshape(be.gatherLast(x0Probs, maskIds), [batch, length, 1]);
      const atMaskOnly = be.add(be.mul(xm, cNumXm), cNum0);
      // (a_s − a_t)·x0 everywhere, minus its value at the mask, plus the mask's own numerator
      const spread = be.mul(x0Probs, cDiff);
      const maskFix = be.sub(atMaskOnly, be.mul(xm, cDiff));
      const num = be.add(spread, be.mul(mask, maskFix));
      const den = be.add(be.mul(xm, cDenXm), cDen0);
      const atMask = be.div(num, den);
      const isMask = be.compare(xt, be.full([1], this.maskId, 'i32'), 'eq');
      const isMask3 = be.reshape(isMask, [batch, length, 1]);
      return be.where(isMask3, atMask, be.oneHot(xt, this.vocabSize, dt));
    });
  }
}

export interface GaussianOptions {
  vocabSize: number;
  gammaMin?: number;
  gammaMax?: number;
  approx?: OperatorApprox;
  /** dtype of the latents (default f64 where the backend has it, else f32). */
  dtype?: FloatDType;
}

/**
 * The Gaussian process behind Duo: latents z_t = α̃·onehot(x0) + σ̃·ε, mapped to uniform-state tokens by argmax.
 * Its token marginal is the uniform-state marginal with alpha = T(gamma(t)) (Duo Eq. 10), so forward/posterior
 * are the uniform formulas with the curriculum schedule.
 */
export class GaussianProcess extends UniformStateBase {
  readonly kind: string = 'gaussian';
  readonly schedule: GaussianCurriculumSchedule;
  readonly dtype: FloatDType;
  constructor(backend: Backend, options: GaussianOptions) {
    checkBackend('gaussian', backend);
    checkOptions('gaussian', options);
    super(backend, options.vocabSize);
    this.schedule = gaussianCurriculum(options);
    this.dtype = options.dtype ?? (backend.supportsF64 ? 'f64' : 'f32');
  }

  /** gamma(t) per batch row. */
  gammas(t: Times, batch: number, op = 'gaussian.gamma'): Float64Array {
    return perRow(op, 't', t, batch).map((ti) => this.schedule.gamma(ti));
  }

  /** z_t = α̃·onehot(x0) + σ̃·ε [B, L, K]; ε = backend.normal at stream offsets offset … offset + B·L·K − 1. */
  latents(x0: Tensor, t: Times, rng: RandomStream): Tensor {
    const op = 'gaussian.latents';
    const [batch, length] = checkIds(op, 'x0', x0, this.vocabSize);
    return gaussianLatents(this.backend, x0, this.gammas(t, batch, op), this.vocabSize, rng, this.dtype, [
      batch,
      length,
    ]);
  }

  /** The original curriculum relaxation at curriculum times t (see `temperedSoftmaxRelaxation`). */
  temperedRelaxation(x0: Tensor, t: Times, options: RelaxationOptions): TemperedRelaxation {
    const [batch] = checkIds('gaussian.temperedRelaxation', 'x0', x0, this.vocabSize);
    return temperedSoftmaxRelaxation(this.backend, x0, this.gammas(t, batch), this.vocabSize, options);
  }

  /**
   * Chapter II's memory-efficient relaxation at curriculum times t (see `topKRelaxation`). With k = 1 it is also
   * a way to draw x_t with the exact argmax law without materialising [B, L, K] latents.
   */
  async topKRelaxation(x0: Tensor, t: Times, options: TopKOptions): Promise<TopKRelaxation> {
    const [batch] = checkIds('gaussian.topKRelaxation', 'x0', x0, this.vocabSize);
    return topKRelaxation(this.backend, x0, this.gammas(t, batch), this.vocabSize, options);
  }

  /** x_t = argmax z_t: a uniform-state token with P(x_t = x0) = (1 + (K − 1)·T(gamma))/K. */
  sample(x0: Tensor, t: Times, rng: RandomStream): Tensor {
    const z = this.latents(x0, t, rng);
    const out = this.backend.argmax(z);
    z.dispose();
    return out;
  }
}

export const masked = (backend: Backend, options: MaskedOptions): MaskedProcess =>
  new MaskedProcess(backend, options);
export const uniform = (backend: Backend, options: ProcessOptions): UniformProcess =>
  new UniformProcess(backend, options);
export const gaussian = (backend: Backend, options: GaussianOptions): GaussianProcess =>
  new GaussianProcess(backend, options);
