/**
 * The Duo curriculum (Duo I §4.1) and its memory-efficient variant (Chapter II). Per row: γ_t = γmin + t(γmax −
 * γmin), w = α̃·onehot(x0) + σ̃·ε (α̃ = √sigmoid(−γ), σ̃ = √sigmoid(γ)), x_t = argmax w, α_t = T(γ_t) (the
 * diffusion transformation operator), σ = −log α_t, and the loss is the UDLM integrand (Duo eq. 8) on x_t with
 * that α_t and dα/dt = (γmax − γmin)·dT/dγ. The network reads a relaxation of x_t:
 *   dense:     softmax(w/τ)·E over all K ids (the DiT's dense path);
 *   efficient: the top-k order-statistics relaxation (embedding bag over the k largest latents, weights the
 *              tempered-softmax masses), never materialising [B, L, K].
 * The reference's derivative (a forward difference of step 1e-3 in γ) is kept as `derivative: 'reference-fd'`
 * for comparison only.
 */
import { type Backend, type Tensor, tidyAsync } from '@duality/kernels';
import {
  type GaussianCurriculumSchedule,
  latentsFromNormals,
  topKRelaxation,
  topKWordsPerPosition,
} from '@duality/noise';
import { duoLoss } from '@duality/posteriors';
import type { TimeSampling } from '../time';
import {
  type DrawContext,
  drawTimes,
  type LossOptions,
  type LossResult,
  meanOf,
  type Objective,
} from './types';

export type CurriculumDerivative = 'exact' | 'reference-fd';

export interface CurriculumOptions {
  /** α(t) = T(γ(t)) at the model's K (exact operator, table or poly9: noise's gaussianCurriculum). */
  schedule: GaussianCurriculumSchedule;
  /** Temperature τ of the relaxation at a given step (constant 1e-3 by default; annealedTau for log10 annealing). */
  tau: (step: number) => number;
  derivative?: CurriculumDerivative;
  timeSampling?: TimeSampling;
}

/** The reference's dα/dt: forward difference of T with step 1e-3 in γ, times (γmax − γmin). */
export const REFERENCE_FD_STEP = 1e-3;

/** Per-row α_t and dα/dt of the curriculum at times t. */
export function curriculumCoefficients(
  schedule: GaussianCurriculumSchedule,
  t: ArrayLike<number>,
  derivative: CurriculumDerivative = 'exact',
): { gamma: Float64Array; alpha: Float64Array; dalpha: Float64Array; sigma: Float64Array } {
  const n = t.length;
  const gamma = Float64Array.from({ length: n }, (_, i) => schedule.gamma(t[i]));
  const alpha = Float64Array.from({ length: n }, (_, i) => schedule.alpha(t[i]));
  const span = schedule.gammaMax - schedule.gammaMin;
  const dalpha = Float64Array.from({ length: n }, (_, i) => {
    if (derivative === 'exact') return schedule.dalpha(t[i]);
    const ahead = schedule.approximation.evaluate(gamma[i] + REFERENCE_FD_STEP).alpha;
    return ((ahead - alpha[i]) / REFERENCE_FD_STEP) * span;
  });
  const sigma = alpha.map((a) => -Math.log(a));
  return { gamma, alpha, dalpha, sigma };
}

function perToken(values: ArrayLike<number>, length: number): Float64Array {
  const out = new Float64Array(values.length * length);
  for (let b = 0; b < values.length; b++) out.fill(values[b], b * length, (b + 1) * length);
  return out;
}

/** The dense curriculum's randomness: times and standard normals ε [B, L, K]. */
export interface DenseCurriculumDraw {
  t: Float64Array;
  eps: Tensor;
  /** τ of this step. */
  tau: number;
}

/** The efficient curriculum's randomness, already relaxed: kept ids/weights [B, L, k] and x_t [B, L]. */
export interface TopKCurriculumDraw {
  t: Float64Array;
  indices: Tensor;
  weights: Tensor;
  xt: Tensor;
}

/**
 * Offset of a micro-batch's draws in the backend stream: every position of every step owns `perPosition`
 * consecutive elements (K normals for the dense relaxation, topKWordsPerPosition(k) words for the top-k one), so
 * steps never share draws and a draw depends only on (seed, step, row).
 */
function streamOffset(ctx: DrawContext, length: number, perPosition: number): number {
  return (ctx.step * ctx.globalBatch + ctx.rowStart) * length * perPosition;
}

async function curriculumLoss(
  model: Parameters<Objective<unknown>['loss']>[0],
  x0: Tensor,
  t: Float64Array,
  input: Parameters<Parameters<Objective<unknown>['loss']>[0]['forward']>[0],
  xt: Tensor,
  options: CurriculumOptions,
  lossOptions: LossOptions | undefined,
): Promise<LossResult> {
  const b = model.backend;
  const [batch, length] = [x0.shape[0], x0.shape[1]];
  const { alpha, dalpha, sigma } = curriculumCoefficients(options.schedule, t, options.derivative);
  const train = lossOptions?.dropout
    ? { train: { seed: lossOptions.dropout.seed, offset: lossOptions.dropout.offset } }
    : {};
  const logits = await model.forward(input, sigma, train);
  const perTok = duoLoss(
    logits,
    xt,
    x0,
    b.tensor(perToken(alpha, length), [batch, length], model.dtype),
    b.tensor(perToken(dalpha, length), [batch, length], model.dtype),
  );
  return { loss: meanOf(b, perTok), perToken: perTok };
}

/** Duo I §4.1: dense softmax(w/τ) input, x_t = argmax w. */
export function duoCurriculumObjective(options: CurriculumOptions): Objective<DenseCurriculumDraw> {
  const timeSampling = options.timeSampling ?? 'stratified';
  return {
    name: 'duo',
    async draw(backend: Backend, _x0, [batch, length], ctx) {
      const k = options.schedule.vocabSize;
      const t = drawTimes(ctx, batch, timeSampling);
      const eps = backend.normal(
        [batch, length, k],
        { seed: ctx.seed, offset: streamOffset(ctx, length, k) },
        backend.supportsF64 ? 'f64' : 'f32',
      );
      return { t, eps, tau: options.tau(ctx.step) };
    },
    loss: (model, x0, _x0Host, draw, lossOptions) =>
      tidyAsync(async () => {
        const b = model.backend;
        const k = options.schedule.vocabSize;
        const gamma = Float64Array.from(draw.t, (t) => options.schedule.gamma(t));
        const eps = draw.eps.dtype === model.dtype ? draw.eps : b.cast(draw.eps, model.dtype);
        const w = latentsFromNormals(b, x0, gamma, k, eps);
        const xt = b.argmax(w);
        const dense = b.scale(w, 1 / draw.tau);
        return curriculumLoss(model, x0, draw.t, { dense }, xt, options, lossOptions);
      }),
  };
}

/** Chapter II: the top-k relaxation through the DiT's embedding bag; `k` is required (the reference ships none). */
export function efficientCurriculumObjective(
  options: CurriculumOptions & { k: number },
): Objective<TopKCurriculumDraw> {
  const timeSampling = options.timeSampling ?? 'stratified';
  return {
    name: 'duo-efficient',
    async draw(backend: Backend, x0Host, [batch, length], ctx) {
      const k = options.schedule.vocabSize;
      const t = drawTimes(ctx, batch, timeSampling);
      const gamma = Float64Array.from(t, (v) => options.schedule.gamma(v));
      const x0 = backend.tensor(x0Host, [batch, length], 'i32');
      const relaxed = await topKRelaxation(backend, x0, gamma, k, {
        k: options.k,
        tau: options.tau(ctx.step),
        rng: { seed: ctx.seed, offset: streamOffset(ctx, length, topKWordsPerPosition(options.k)) },
      });
      x0.dispose();
      return { t, indices: relaxed.indices, weights: relaxed.weights, xt: relaxed.xt };
    },
    loss: (model, x0, _x0Host, draw, lossOptions) =>
      tidyAsync(async () => {
        const b = model.backend;
        const weights = draw.weights.dtype === model.dtype ? draw.weights : b.cast(draw.weights, model.dtype);
        return curriculumLoss(
          model,
          x0,
          draw.t,
          { soft: { indices: draw.indices, weights } },
          draw.xt,
          options,
          lossOptions,
        );
      }),
  };
}
