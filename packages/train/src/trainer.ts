/**
 * The training loop: `train(config, { outDir, signal, onProgress })`. One optimiser step = gradient accumulation
 * over micro-batches (valueAndGrad of the objective's mean loss over the DiT's parameters), global-norm clipping,
 * the fused AdamW update in place, the EMA of the weights; validation with the true NELBO (never the curriculum
 * surrogate) → bits per character; checkpoints every N steps and on abort; metrics as JSON lines + an SVG plot.
 *
 * Every random draw is a pure function of (seed, step, row): the data order of (seed, epoch), the times and
 * noise of (seed, step), dropout of (seed, step, micro-batch). So a run resumed from a checkpoint (weights, EMA,
 * moments, step, loader cursor) continues bit-identically.
 */
import {
  adamwUpdate,
  type Backend,
  createBackend,
  dispose,
  globalNorm,
  type Tensor,
  tidyAsync,
  valueAndGrad,
} from '@duality/kernels';
import { DiT, type DiTConfig, initStateDict, type StoredTensor } from '@duality/models';
import {
  checkResumeCompatible,
  type HostTensor,
  latestCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from './checkpoint';
import { checkConfigFitsData, DATASET_VOCAB, parseTrainConfig, type TrainConfig } from './config';
import { BatchLoader, validationBatches } from './data/loader';
import { prepareDataset } from './data/prepare';
import { TrainError } from './errors';
import { type MetricsRecord, MetricsWriter, peakMemoryMB } from './metrics';
import {
  arObjective,
  type DrawContext,
  discreteSchedule,
  mdlmObjective,
  modelVocabSize,
  type Objective,
  objectiveAt,
  type TrainableModel,
  udlmObjective,
} from './objectives';
import { clipCoefficient, emaDecay, learningRate } from './optim/schedule';

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
}

export interface TrainHooks {
  /** Checkpoints go to <outDir>/checkpoints/step-N/, metrics to <outDir>/metrics.jsonl (+ metrics.svg). */
  outDir: string;
  /** Continue from the newest checkpoint under outDir (refused if its config differs). Default true. */
  resume?: boolean;
  /** Abort: a checkpoint is written at the current step, then train resolves with `aborted: true`. */
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  /** A backend to use instead of creating config.backend (tests share one). */
  backend?: Backend;
}

export interface TrainResult {
  config: TrainConfig;
  step: number;
  aborted: boolean;
  /** Validation bits per character of the last validation (EMA weights when EMA is on). */
  valBpc?: number;
  lastLoss?: number;
  checkpoint?: string;
  seconds: number;
}

/** The DiT config a training config describes. */
export function modelConfigOf(config: TrainConfig): DiTConfig {
  const m = config.model;
  return {
    vocabSize: modelVocabSize(config, DATASET_VOCAB[config.data.dataset]),
    hiddenSize: m.hiddenSize,
    condDim: m.condDim,
    nHeads: m.nHeads,
    nBlocks: m.nBlocks,
    length: m.contextLength,
    mlpRatio: 4,
    causal: config.algorithm === 'ar',
    dropout: m.dropout,
    timeConditioning: m.timeConditioning,
  };
}

type Params = Record<string, Tensor>;

async function toHost(tensors: Params): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of Object.entries(tensors))
    out.set(name, { shape: [...t.shape], data: (await t.read()) as Float32Array | Float64Array });
  return out;
}

function fromStored(stored: ReadonlyMap<string, StoredTensor>): Map<string, HostTensor> {
  return new Map([...stored].map(([name, t]) => [name, { shape: t.shape, data: t.data }]));
}

/** The EMA weights plus the rotary buffer, so the EMA file alone loads with `loadDiT`. */
function withRotary(
  ema: Map<string, HostTensor>,
  full: ReadonlyMap<string, StoredTensor>,
): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of full) out.set(name, ema.get(name) ?? { shape: t.shape, data: t.data });
  return out;
}

function toStored(host: ReadonlyMap<string, HostTensor>): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  for (const [name, t] of host)
    out.set(name, { dtype: t.data instanceof Float64Array ? 'F64' : 'F32', shape: t.shape, data: t.data });
  return out;
}

function uploadLike(
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

/** Seed of the dropout masks: a key disjoint from the run's noise key. */
const dropoutSeed = (seed: number): bigint => (BigInt(seed) << 1n) | (1n << 63n);
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
  const { contextLength, batchSize } = config.data;
  const batches = validationBatches(stream, contextLength, batchSize, config.validation.batches);
  const objective = validationObjective(config, model.config.vocabSize);
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
      return s;
    });
  }
  return total / count;
}

/** Trains per `configInput` (validated first: a bad config throws TrainConfigError before any work). */
export async function train(configInput: unknown, hooks: TrainHooks): Promise<TrainResult> {
  const config = parseTrainConfig(configInput);
  const started = Date.now();
  const root = `${hooks.outDir}/checkpoints`;
  const resumeFrom = hooks.resume === false ? undefined : await latestCheckpoint(root);
  const saved = resumeFrom ? await loadCheckpoint(resumeFrom) : undefined;
  if (saved) checkResumeCompatible(saved.state.config, config);
  const data = await prepareDataset(
    config.data.dataset,
    config.data.cacheDir ? { cacheDir: config.data.cacheDir } : {},
  );
  checkConfigFitsData(config, { train: data.train.tokens.length, validation: data.validation.tokens.length });

  const backend = hooks.backend ?? (await createBackend(config.backend));
  const dcfg = modelConfigOf(config);
  const weights = saved ? toStored(saved.weights) : initStateDict(dcfg, { seed: config.seed });
  const model = await DiT.fromStateDict(backend, dcfg, weights, { dtype: config.dtype });
  const params = model.parameters() as Params;
  const m = uploadLike(backend, params, saved?.optimizer.expAvg, config.dtype);
  const v = uploadLike(backend, params, saved?.optimizer.expAvgSq, config.dtype);
  const useEma = config.optimizer.ema > 0;
  let ema: Params | undefined = useEma
    ? saved?.ema
      ? uploadLike(backend, params, saved.ema, config.dtype)
      : Object.fromEntries(Object.entries(params).map(([n, p]) => [n, backend.scale(p, 1)]))
    : undefined;

  const { batchSize, gradAccumulation, contextLength } = config.data;
  const loader = new BatchLoader({
    stream: data.train.tokens,
    contextLength,
    batchSize,
    seed: config.seed,
    cursor: saved?.state.cursor,
  });
  const objectiveFor = objectiveAt(config, dcfg.vocabSize);
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
  let step = saved?.state.step ?? 0;
  let lastLoss: number | undefined;
  let valBpc: number | undefined;
  let checkpoint: string | undefined;
  const tokensPerStep = batchSize * gradAccumulation * contextLength;
  const loopStart = Date.now();
  const firstStep = step;

  const writeCheckpoint = async (): Promise<string> => {
    hooks.onProgress?.({ ...progressBase(), phase: 'checkpoint' });
    return saveCheckpoint(
      root,
      {
        weights: fromStored(await model.stateDict()),
        ...(ema ? { ema: withRotary(await toHost(ema), await model.stateDict()) } : {}),
        optimizer: { expAvg: await toHost(m), expAvgSq: await toHost(v) },
        state: {
          step,
          rng: { dropoutPerForward: perForwardDropout },
          cursor: loader.cursor,
          config,
          metrics: { loss: lastLoss ?? null, valBpc: valBpc ?? null },
        },
      },
      { modelConfig: dcfg, keep: config.checkpoint.keep },
    );
  };
  const progressBase = () => {
    const elapsed = (Date.now() - loopStart) / 1000;
    const done = step - firstStep;
    const rate = done > 0 ? elapsed / done : 0;
    return {
      step,
      steps: config.steps,
      loss: lastLoss ?? Number.NaN,
      lr: step > 0 ? learningRate(step, lrOptions) : 0,
      gradNorm: Number.NaN,
      tokensPerSecond: done > 0 ? (done * tokensPerStep) / elapsed : 0,
      elapsedSeconds: (Date.now() - started) / 1000,
      etaSeconds: rate * (config.steps - step),
    };
  };

  try {
    while (step < config.steps) {
      if (hooks.signal?.aborted) {
        checkpoint = await writeCheckpoint();
        return {
          config,
          step,
          aborted: true,
          valBpc,
          lastLoss,
          checkpoint,
          seconds: (Date.now() - started) / 1000,
        };
      }
      const n = step + 1;
      const t0 = Date.now();
      const objective = objectiveFor(n);
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
        const { value, grads: g } = await valueAndGrad(
          async (_p: Params) =>
            (await objective.loss(model, x0, batch.tokens, draw, dropout ? { dropout } : {})).loss,
        )(params);
        lossSum += (await value.read())[0];
        value.dispose();
        dispose(draw);
        x0.dispose();
        if (!grads) grads = g as Params;
        else {
          for (const name of Object.keys(grads)) {
            const sum = backend.add(grads[name], (g as Params)[name]);
            grads[name].dispose();
            (g as Params)[name].dispose();
            grads[name] = sum;
          }
        }
      }
      const all = grads as Params;
      if (gradAccumulation > 1) {
        for (const name of Object.keys(all)) {
          const mean = backend.scale(all[name], 1 / gradAccumulation);
          all[name].dispose();
          all[name] = mean;
        }
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
      lastLoss = lossSum / gradAccumulation;
      const seconds = (Date.now() - t0) / 1000;
      const record: MetricsRecord = {
        step,
        loss: lastLoss,
        lr,
        gradNorm,
        tokensPerSec: tokensPerStep / Math.max(seconds, 1e-9),
        peakMemMB: peakMemoryMB(),
        time: (Date.now() - started) / 1000,
      };
      const validateNow = step % config.validation.every === 0 || step === config.steps;
      if (validateNow) {
        hooks.onProgress?.({ ...progressBase(), gradNorm, phase: 'validate' });
        const nats = await validationNats(withWeights(model, ema ?? params), config, data.validation.tokens);
        valBpc = nats / Math.LN2;
        Object.assign(record, { valNelbo: nats, valBpc, valPpl: Math.exp(nats) });
      }
      await metrics.append(record);
      hooks.onProgress?.({ ...progressBase(), gradNorm, ...(validateNow ? { valBpc } : {}), phase: 'train' });
      if (step % config.checkpoint.every === 0 || step === config.steps) {
        checkpoint = await writeCheckpoint();
        await metrics.writePlot({ title: `${config.algorithm} on ${config.data.dataset}` });
      }
    }
    return {
      config,
      step,
      aborted: false,
      valBpc,
      lastLoss,
      checkpoint,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    dispose([m, v, ema]);
    model.dispose();
    if (!hooks.backend) backend.destroy();
  }
}

/** ema ← ema − (1 − d)(ema − p) (models/ema.py), in that order of operations. */
function emaStep(backend: Backend, ema: Params, params: Params, d: number): Params {
  const out: Params = {};
  for (const [name, e] of Object.entries(ema)) {
    const diff = backend.sub(e, params[name]);
    const step = backend.scale(diff, 1 - d);
    out[name] = backend.sub(e, step);
    diff.dispose();
    step.dispose();
    e.dispose();
  }
  return out;
}

/** The model reading other weights (the EMA's) through the forward's `parameters` override: no copy. */
function withWeights(model: DiT, weights: Params): TrainableModel {
  return {
    backend: model.backend,
    dtype: model.dtype,
    config: model.config,
    forward: (input, sigma, options) => model.forward(input, sigma, { ...options, parameters: weights }),
  };
}
