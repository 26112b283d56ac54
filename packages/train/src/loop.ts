/**
 * The optimisation loop `train` and `distill` share. One step = the objective's mean loss under valueAndGrad
 * over the DiT's parameters for each micro-batch (gradient accumulation), the global-norm clip coefficient, the
 * fused AdamW update in place, the EMA ← EMA − (1 − d)(EMA − θ); then metrics, validation with the true NELBO
 * (on the EMA weights when there is an EMA) and checkpoints every N steps and on abort.
 *
 * Every random draw is a pure function of (seed, step, row): the data order of (seed, epoch), times and noise of
 * (seed, step), dropout of (seed, step, micro-batch); so a run resumed from a checkpoint (weights, EMA, moments,
 * step, loader cursor) continues bit-identically.
 */
import {
  adamwUpdate,
  type Backend,
  dispose,
  globalNorm,
  type Tensor,
  tidyAsync,
  valueAndGrad,
} from '@duality/kernels';
import type { DiT, DiTConfig, StoredTensor } from '@duality/models';
import { type HostTensor, type LoadedCheckpoint, saveCheckpoint } from './checkpoint';
import type { TrainConfig } from './config';
import { BatchLoader, validationBatches } from './data/loader';
import { TrainConfigError, TrainError } from './errors';
import { type MetricsRecord, MetricsWriter, peakMemoryMB } from './metrics';
import {
  arObjective,
  type DrawContext,
  discreteSchedule,
  mdlmObjective,
  type Objective,
  type TrainableModel,
  udlmObjective,
} from './objectives';
import { clipCoefficient, emaDecay, learningRate } from './optim/schedule';

export type Params = Record<string, Tensor>;

export interface TrainProgress {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  elapsedSeconds: number;
  etaSeconds: number;
  /** Set on steps that ran validation. */
  valBpc?: number;
  phase: 'train' | 'validate' | 'checkpoint';
  /** Extra per-step fields of the run (distillation: round, delta). */
  [extra: string]: number | string | undefined;
}

export interface TrainHooks {
  /** Checkpoints go to <outDir>/checkpoints/step-N/, metrics to <outDir>/metrics.jsonl (+ metrics.svg). */
  outDir: string;
  /** Continue from the newest checkpoint under outDir (refused if its config differs). Default true. */
  resume?: boolean;
  /** Abort: a checkpoint is written at the current step, then the run resolves with `aborted: true`. */
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  /** A backend to use instead of creating config.backend (tests share one). */
  backend?: Backend;
  /**
   * Stop after this update (a checkpoint is written there) without changing the run's schedule: the same
   * config resumed later continues to config.steps exactly as an uninterrupted run would.
   */
  stopAfter?: number;
}

/** Refuses a `stopAfter` that is not an update number (≥ 1), before any work. */
export function checkHooks(hooks: Pick<TrainHooks, 'stopAfter'>): void {
  const n = hooks.stopAfter;
  if (n !== undefined && !(Number.isSafeInteger(n) && n >= 1))
    throw new TrainConfigError('stopAfter', String(n), 'an integer ≥ 1 (the last update to run)');
}

export interface LoopResult {
  step: number;
  aborted: boolean;
  /** Validation bits per character of the last validation (EMA weights when EMA is on). */
  valBpc?: number;
  lastLoss?: number;
  checkpoint?: string;
}

/** What the loop's caller keeps between steps and may read (a distillation's teacher is taken from it). */
export interface LoopState {
  readonly params: Params;
  readonly ema: Params | undefined;
}

export interface LoopSetup {
  config: TrainConfig;
  dcfg: DiTConfig;
  model: DiT;
  hooks: TrainHooks;
  saved: LoadedCheckpoint | undefined;
  trainStream: Uint8Array;
  validationStream: Uint8Array;
  /** The objective of update n (a distillation refreshes its teacher here at a round's first step). */
  objectiveAt(n: number, state: LoopState): Promise<Objective<unknown>>;
  /** Extra fields of update n's metrics record and progress events. */
  extras?(n: number): Record<string, number>;
  /** Called after each checkpoint is committed. */
  afterCheckpoint?(step: number): Promise<void>;
  plotTitle: string;
  started: number;
}

// ----------------------------------------------------------------------------------------- host ↔ tensors

export async function toHost(tensors: Params): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of Object.entries(tensors))
    out.set(name, { shape: [...t.shape], data: (await t.read()) as Float32Array | Float64Array });
  return out;
}

export function toStored(host: ReadonlyMap<string, HostTensor | StoredTensor>): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  for (const [name, t] of host)
    out.set(name, {
      dtype: t.data instanceof Float64Array ? 'F64' : 'F32',
      shape: [...t.shape],
      data: t.data,
    });
  return out;
}

/** Tensors shaped like `like` from host data (zeros where `host` is absent). */
export function uploadLike(
  backend: Backend,
  like: Params,
  host: ReadonlyMap<string, HostTensor> | undefined,
  dtype: 'f32' | 'f64',
): Params {
  const out: Params = {};
  for (const [name, p] of Object.entries(like)) {
    const h = host?.get(name);
    if (host && !h)
      throw new TrainError('resume', `a checkpoint without "${name}"`, 'every parameter of the model');
    out[name] = h ? backend.tensor(h.data, p.shape, dtype) : backend.zeros(p.shape, dtype);
  }
  return out;
}

export const copyParams = (backend: Backend, params: Params): Params =>
  Object.fromEntries(Object.entries(params).map(([n, p]) => [n, backend.scale(p, 1)]));

/** `weights` as a full state dict (the rotary buffer from the model), so the file loads with `loadDiT`. */
export async function fullStateDict(model: DiT, weights?: Params): Promise<Map<string, HostTensor>> {
  const host = weights ? await toHost(weights) : undefined;
  const out = new Map<string, HostTensor>();
  for (const [name, t] of await model.stateDict())
    out.set(name, host?.get(name) ?? { shape: t.shape, data: t.data });
  return out;
}

/** The model reading other weights (the EMA's, a teacher's) through the forward's `parameters` override. */
export function withWeights(model: DiT, weights: Params): TrainableModel {
  return {
    backend: model.backend,
    dtype: model.dtype,
    config: model.config,
    forward: (input, sigma, options) => model.forward(input, sigma, { ...options, parameters: weights }),
  };
}

/** Seed of the dropout masks: a key disjoint from the run's noise key (the seed itself). */
export const dropoutSeed = (seed: number): bigint => (BigInt(seed) << 1n) | (1n << 63n);

/** ema ← ema − (1 − d)(ema − p) (models/ema.py), in that order of operations. */
export function emaStep(backend: Backend, ema: Params, params: Params, d: number): Params {
  const out: Params = {};
  for (const [name, e] of Object.entries(ema)) {
    const diff = backend.sub(e, params[name]);
    const step = backend.scale(diff, 1 - d);
    out[name] = backend.sub(e, step);
    for (const t of [diff, step, e]) t.dispose();
  }
  return out;
}

// --------------------------------------------------------------------------------------------- validation

/** Validation draws use this step lane (training never reaches it). */
export const VALIDATION_LANE = 0xffffffff;

/** The true-NELBO objective used for validation (the curriculum's surrogate never is). */
function validationObjective(config: TrainConfig, vocabSize: number): Objective<unknown> {
  const schedule = discreteSchedule(config);
  if (config.algorithm === 'mdlm') return mdlmObjective({ schedule }) as Objective<unknown>;
  if (config.algorithm === 'ar') return arObjective() as Objective<unknown>;
  return udlmObjective({ schedule, vocabSize }) as Objective<unknown>;
}

/** Mean validation NELBO (nats per token) over the validation batches: bits per character = nats / ln 2. */
export async function validationNats(
  model: TrainableModel,
  config: TrainConfig,
  stream: Uint8Array,
): Promise<number> {
  return (await validationWindowNats(model, config, stream)).nats;
}

/**
 * `validationNats` with the mean NELBO of each validation window too (window i of the stream order, nats per
 * scored token): the draws are the same, so `nats` is bit-identical to `validationNats`; `windows` is what a
 * bootstrap over validation windows resamples.
 */
export async function validationWindowNats(
  model: TrainableModel,
  config: TrainConfig,
  stream: Uint8Array,
): Promise<{ nats: number; windows: Float64Array }> {
  const { contextLength, batchSize } = config.data;
  const batches = validationBatches(stream, contextLength, batchSize, config.validation.batches);
  const objective = validationObjective(config, model.config.vocabSize);
  const windows = new Float64Array(batches.length * batchSize);
  let total = 0;
  let count = 0;
  for (let j = 0; j < batches.length; j++) {
    const batch = batches[j];
    const ctx: DrawContext = {
      seed: config.seed,
      step: VALIDATION_LANE,
      rowStart: j * batchSize,
      globalBatch: batches.length * batchSize,
    };
    total += await tidyAsync(async () => {
      const x0 = model.backend.tensor(batch.tokens, batch.shape, 'i32');
      const draw = await objective.draw(model.backend, batch.tokens, batch.shape, ctx);
      const { perToken } = await objective.loss(model, x0, batch.tokens, draw);
      const values = await perToken.read();
      dispose(draw);
      let s = 0;
      for (const v of values) s += v;
      count += values.length;
      const rows = batch.shape[0];
      const perRow = values.length / rows; // L (diffusion) or L − 1 (AR) scored tokens per window
      for (let r = 0; r < rows; r++) {
        let w = 0;
        for (let l = 0; l < perRow; l++) w += values[r * perRow + l];
        windows[j * batchSize + r] = w / perRow;
      }
      return s;
    });
  }
  return { nats: total / count, windows };
}

// ------------------------------------------------------------------------------------------------ the loop

/** Sums `more` into `into` (both freed but the sum). */
function accumulate(backend: Backend, into: Params, more: Params): Params {
  for (const name of Object.keys(into)) {
    const sum = backend.add(into[name], more[name]);
    into[name].dispose();
    more[name].dispose();
    into[name] = sum;
  }
  return into;
}

/** Runs updates step + 1 … config.steps of the setup's model (resuming from `saved` when given). */
export async function runTrainingLoop(setup: LoopSetup): Promise<LoopResult> {
  const { config, dcfg, model, hooks, saved } = setup;
  const backend = model.backend;
  const params = model.parameters() as Params;
  const m = uploadLike(backend, params, saved?.optimizer.expAvg, config.dtype);
  const v = uploadLike(backend, params, saved?.optimizer.expAvgSq, config.dtype);
  let ema: Params | undefined =
    config.optimizer.ema > 0
      ? saved?.ema
        ? uploadLike(backend, params, saved.ema, config.dtype)
        : copyParams(backend, params)
      : undefined;
  const { batchSize, gradAccumulation, contextLength } = config.data;
  const loader = new BatchLoader({
    stream: setup.trainStream,
    contextLength,
    batchSize,
    seed: config.seed,
    cursor: saved?.state.cursor,
  });
  const lrOptions = {
    lr: config.optimizer.lr,
    warmupSteps: config.optimizer.warmupSteps,
    schedule: config.optimizer.schedule,
    totalSteps: config.steps,
    minLrRatio: config.optimizer.minLrRatio,
  };
  const perForwardDropout = 2 * dcfg.nBlocks * batchSize * contextLength * dcfg.hiddenSize;
  const metrics = new MetricsWriter(`${hooks.outDir}/metrics.jsonl`);
  // a resumed run's file equals an uninterrupted run's: lines after the checkpoint's step are cut
  if (saved) await metrics.truncateAfter(saved.state.step);
  else await (await import('node:fs/promises')).mkdir(hooks.outDir, { recursive: true });
  const root = `${hooks.outDir}/checkpoints`;
  const tokensPerStep = batchSize * gradAccumulation * contextLength;
  const loopStart = Date.now();
  let step = saved?.state.step ?? 0;
  const firstStep = step;
  const result: LoopResult = { step, aborted: false };

  const progress = (phase: TrainProgress['phase'], gradNorm = Number.NaN): TrainProgress => {
    const elapsed = (Date.now() - loopStart) / 1000;
    const done = step - firstStep;
    return {
      step,
      steps: config.steps,
      loss: result.lastLoss ?? Number.NaN,
      lr: step > 0 ? learningRate(step, lrOptions) : 0,
      gradNorm,
      tokensPerSecond: done > 0 ? (done * tokensPerStep) / elapsed : 0,
      elapsedSeconds: (Date.now() - setup.started) / 1000,
      etaSeconds: done > 0 ? (elapsed / done) * (config.steps - step) : 0,
      ...(setup.extras?.(Math.max(step, 1)) ?? {}),
      phase,
    };
  };
  const writeCheckpoint = async (): Promise<void> => {
    hooks.onProgress?.(progress('checkpoint'));
    result.checkpoint = await saveCheckpoint(
      root,
      {
        weights: await fullStateDict(model),
        ...(ema ? { ema: await fullStateDict(model, ema) } : {}),
        optimizer: { expAvg: await toHost(m), expAvgSq: await toHost(v) },
        state: {
          step,
          rng: { dropoutPerForward: perForwardDropout },
          cursor: loader.cursor,
          config,
          metrics: {
            loss: result.lastLoss ?? null,
            valBpc: result.valBpc ?? null,
            ...(setup.extras?.(Math.max(step, 1)) ?? {}),
          },
        },
      },
      { modelConfig: dcfg, keep: config.checkpoint.keep },
    );
    await setup.afterCheckpoint?.(step);
  };

  try {
    const last = Math.min(config.steps, hooks.stopAfter ?? config.steps);
    while (step < last) {
      // a macrotask turn per step, so signal handlers (Ctrl-C → abort) run even when every op is synchronous
      await new Promise((resolve) => setImmediate(resolve));
      if (hooks.signal?.aborted) {
        await writeCheckpoint();
        return { ...result, step, aborted: true };
      }
      const n = step + 1;
      const t0 = Date.now();
      const objective = await setup.objectiveAt(n, { params, ema });
      let grads: Params | undefined;
      let lossSum = 0;
      for (let micro = 0; micro < gradAccumulation; micro++) {
        const batch = loader.next();
        const ctx: DrawContext = {
          seed: config.seed,
          step: n,
          rowStart: micro * batchSize,
          globalBatch: batchSize * gradAccumulation,
        };
        const x0 = backend.tensor(batch.tokens, batch.shape, 'i32');
        const draw = await objective.draw(backend, batch.tokens, batch.shape, ctx);
        const dropout =
          dcfg.dropout > 0
            ? {
                seed: dropoutSeed(config.seed),
                offset: (step * gradAccumulation + micro) * perForwardDropout,
              }
            : undefined;
        const { value, grads: g } = await valueAndGrad(async (_p: Params) => {
          const { loss, perToken } = await objective.loss(
            model,
            x0,
            batch.tokens,
            draw,
            dropout ? { dropout } : {},
          );
          perToken.dispose(); // deferred by the tape until backward ends; not needed after it
          return loss;
        })(params);
        lossSum += (await value.read())[0];
        dispose([value, draw, x0]);
        grads = grads ? accumulate(backend, grads, g as Params) : (g as Params);
      }
      const all = grads as Params;
      if (gradAccumulation > 1)
        for (const name of Object.keys(all)) {
          const mean = backend.scale(all[name], 1 / gradAccumulation);
          all[name].dispose();
          all[name] = mean;
        }
      const names = Object.keys(params);
      const normT = globalNorm(names.map((k) => all[k]));
      const gradNorm = (await normT.read())[0];
      normT.dispose();
      const lr = learningRate(n, lrOptions);
      adamwUpdate(
        {
          params: names.map((k) => params[k]),
          grads: names.map((k) => all[k]),
          m: names.map((k) => m[k]),
          v: names.map((k) => v[k]),
        },
        {
          lr,
          beta1: config.optimizer.betas[0],
          beta2: config.optimizer.betas[1],
          eps: config.optimizer.eps,
          weightDecay: config.optimizer.weightDecay,
          step: n,
          clipCoef: clipCoefficient(gradNorm, config.optimizer.clipNorm),
        },
      );
      dispose(all);
      if (ema) ema = emaStep(backend, ema, params, emaDecay(n, config.optimizer.ema));
      step = n;
      result.step = n;
      result.lastLoss = lossSum / gradAccumulation;
      const record: MetricsRecord = {
        step,
        loss: result.lastLoss,
        lr,
        gradNorm,
        ...(setup.extras?.(n) ?? {}),
        tokensPerSec: tokensPerStep / Math.max((Date.now() - t0) / 1000, 1e-9),
        peakMemMB: peakMemoryMB(),
        time: (Date.now() - setup.started) / 1000,
      };
      const validateNow = step % config.validation.every === 0 || step === config.steps;
      if (validateNow) {
        hooks.onProgress?.(progress('validate', gradNorm));
        const nats = await validationNats(withWeights(model, ema ?? params), config, setup.validationStream);
        result.valBpc = nats / Math.LN2;
        Object.assign(record, { valNelbo: nats, valBpc: result.valBpc, valPpl: Math.exp(nats) });
      }
      await metrics.append(record);
      hooks.onProgress?.({
        ...progress('train', gradNorm),
        ...(validateNow ? { valBpc: result.valBpc } : {}),
      });
      if (step % config.checkpoint.every === 0 || step === config.steps || step === last) {
        await writeCheckpoint();
        await metrics.writePlot({ title: setup.plotTitle });
      }
    }
    return result;
  } finally {
    dispose([m, v, ema]);
  }
}
