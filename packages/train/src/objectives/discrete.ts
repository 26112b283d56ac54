/**
 * The discrete-noise objectives on one forward each:
 *   MDLM (masked, SUBS, time conditioning off): x_t = mask where u < 1 − α_t, loss = MDLM eq. 10 integrand;
 *   UDLM (uniform, Duo's base): x_t = r where u < 1 − α_t (r uniform over K), σ = −log α_t, Duo eq. 8 integrand;
 *   AR (causal DiT): next-token cross-entropy, logits at position l predict x0[l + 1].
 */
import { type Backend, type Tensor, tidyAsync } from '@duality/kernels';
import type { Schedule } from '@duality/noise';
import { duoLoss, mdlmLoss } from '@duality/posteriors';
import { streamUniforms, streamWords, uniform53 } from '../rng';
import type { TimeSampling } from '../time';
import {
  type DrawContext,
  drawTimes,
  type LossOptions,
  type LossResult,
  meanOf,
  type Objective,
} from './types';

/** Per-row times t [B] and per-token uniforms u [B·L] (and, for UDLM, replacement ids r [B·L]). */
export interface DiscreteDraw {
  t: Float64Array;
  u: Float64Array;
  r?: Int32Array;
}

/** Noise stream lanes: the step's token uniforms and replacement ids, disjoint from the time and shuffle ones. */
export const NOISE_DOMAIN = { mask: 0x4d41534b, replace: 0x52504c43 } as const;

function drawDiscrete(
  x0: Int32Array,
  [batch, length]: readonly [number, number],
  ctx: DrawContext,
  timeSampling: TimeSampling,
  vocabSize?: number,
): DiscreteDraw {
  const t = drawTimes(ctx, batch, timeSampling);
  const n = batch * length;
  const at = ctx.rowStart * length;
  const u = streamUniforms(ctx.seed, NOISE_DOMAIN.mask, ctx.step, at, n);
  if (vocabSize === undefined) return { t, u };
  const words = streamWords(ctx.seed, NOISE_DOMAIN.replace, ctx.step, 2 * at, 2 * n);
  const r = Int32Array.from({ length: n }, (_, i) =>
    Math.floor(uniform53(words[2 * i], words[2 * i + 1]) * vocabSize),
  );
  void x0;
  return { t, u, r };
}

/** Per-token copies of per-row values [B] → [B·L]. */
function perToken(values: ArrayLike<number>, length: number): Float64Array {
  const out = new Float64Array(values.length * length);
  for (let b = 0; b < values.length; b++) out.fill(values[b], b * length, (b + 1) * length);
  return out;
}

function shapeOf(x0: Tensor): [number, number] {
  return [x0.shape[0], x0.shape[1]];
}

function dropoutOf(options: LossOptions | undefined) {
  return options?.dropout ? { train: { seed: options.dropout.seed, offset: options.dropout.offset } } : {};
}

export interface DiscreteObjectiveOptions {
  schedule: Schedule;
  timeSampling?: TimeSampling;
}

/** MDLM (Sahoo et al. 2024) with SUBS and time conditioning off (σ = 0), mask id K − 1. */
export function mdlmObjective(options: DiscreteObjectiveOptions): Objective<DiscreteDraw> {
  const { schedule, timeSampling = 'stratified' } = options;
  return {
    name: 'mdlm',
    draw: async (_b, x0, shape, ctx) => drawDiscrete(x0, shape, ctx, timeSampling),
    loss: (model, x0, x0Host, draw, lossOptions) =>
      tidyAsync(async (): Promise<LossResult> => {
        const b = model.backend;
        const [batch, length] = shapeOf(x0);
        const mask = model.config.vocabSize - 1;
        const alpha = Array.from(draw.t, (t) => schedule.alpha(t));
        const xt = Int32Array.from(x0Host, (v, i) =>
          draw.u[i] < 1 - alpha[Math.floor(i / length)] ? mask : v,
        );
        // MDLM eq. 10 weight α'/(1 − α) per row
        const w = perToken(
          Array.from(draw.t, (t, i) => schedule.dalpha(t) / (1 - alpha[i])),
          length,
        );
        const xtT = b.tensor(xt, [batch, length], 'i32');
        const logits = await model.forward({ tokens: xtT }, new Float64Array(batch), dropoutOf(lossOptions));
        const perTok = mdlmLoss(logits, xtT, x0, b.tensor(w, [batch, length], model.dtype), mask);
        return { loss: meanOf(b, perTok), perToken: perTok };
      }),
  };
}

/** UDLM (Schiff et al. 2025; Duo's base): uniform replacement, σ = −log α_t, the Duo eq. 8 integrand. */
export function udlmObjective(
  options: DiscreteObjectiveOptions & { vocabSize: number },
): Objective<DiscreteDraw> {
  const { schedule, vocabSize, timeSampling = 'stratified' } = options;
  return {
    name: 'udlm',
    draw: async (_b, x0, shape, ctx) => drawDiscrete(x0, shape, ctx, timeSampling, vocabSize),
    loss: (model, x0, x0Host, draw, lossOptions) =>
      tidyAsync(async (): Promise<LossResult> => {
        const b = model.backend;
        const [batch, length] = shapeOf(x0);
        const alpha = Array.from(draw.t, (t) => schedule.alpha(t));
        const r = draw.r as Int32Array;
        const xt = Int32Array.from(x0Host, (v, i) =>
          draw.u[i] < 1 - alpha[Math.floor(i / length)] ? r[i] : v,
        );
        const xtT = b.tensor(xt, [batch, length], 'i32');
        const sigma = alpha.map((a) => -Math.log(a));
        const logits = await model.forward({ tokens: xtT }, sigma, dropoutOf(lossOptions));
        const perTok = duoLoss(
          logits,
          xtT,
          x0,
          b.tensor(perToken(alpha, length), [batch, length], model.dtype),
          b.tensor(
            perToken(
              Array.from(draw.t, (t) => schedule.dalpha(t)),
              length,
            ),
            [batch, length],
            model.dtype,
          ),
        );
        return { loss: meanOf(b, perTok), perToken: perTok };
      }),
  };
}

/** AR next-token cross-entropy on a causal DiT: positions 0…L−2 predict x0[1…L−1]. */
export function arObjective(): Objective<null> {
  return {
    name: 'ar',
    draw: async () => null,
    loss: (model, x0, x0Host, _draw, lossOptions) =>
      tidyAsync(async (): Promise<LossResult> => {
        const b: Backend = model.backend;
        const [batch, length] = shapeOf(x0);
        const inputs = new Int32Array(batch * (length - 1));
        const targets = new Int32Array(batch * (length - 1));
        for (let r = 0; r < batch; r++)
          for (let l = 0; l < length - 1; l++) {
            inputs[r * (length - 1) + l] = x0Host[r * length + l];
            targets[r * (length - 1) + l] = x0Host[r * length + l + 1];
          }
        const logits = await model.forward(
          { tokens: b.tensor(inputs, [batch, length - 1], 'i32') },
          undefined,
          dropoutOf(lossOptions),
        );
        const logp = b.logSoftmax(logits);
        const picked = b.gatherLast(logp, b.tensor(targets, [batch, length - 1], 'i32'));
        const perTok = b.scale(picked, -1);
        return { loss: meanOf(b, perTok), perToken: perTok };
      }),
  };
}
