/**
 * Discrete Consistency Distillation (Duo I, arXiv 2506.10892, §4 and Algorithm 1): `distill(config, hooks)`.
 * The student starts from a trained uniform-state checkpoint (duo, duo-efficient or udlm); the run is `rounds`
 * rounds of M optimiser steps; before each round's first step the teacher becomes a copy of the student's raw
 * weights (or of its EMA), and δ = δ0·2^round (or grows linearly). Each step is the DCD objective
 * (objectives/dcd.ts) under the same optimiser step as `train` — gradient accumulation, global-norm clipping, the
 * fused AdamW update, the EMA — with the same checkpoints (every N steps and on abort; the student's weights, EMA
 * and moments as `train` writes them, so every reader of train checkpoints reads these), exact resume, metrics
 * (JSON lines + SVG; with the round and δ of each step) and validation with the true NELBO.
 *
 * A round's teacher is written once, before its first step, to `<outDir>/teachers/round-<r>.safetensors`
 * (atomically, loadable by `loadDiT`): a checkpoint mid-round resumes with the very teacher it was trained
 * against. Teachers of rounds before the newest checkpoint's are removed.
 *
 * Differences from the reference (`algo.py` `Distillation`, `main.py` finetune_path): the reference restores the
 * teacher checkpoint's EMA state — decay 0.9999 and its update count included — over `training.ema = 0.999`;
 * here the student's EMA starts at the student's initial weights with the configured decay and the warm-up
 * min(d, (1 + n)/(10 + n)) counted from the distillation's first step.
 */
import {
  adamwUpdate,
  type Backend,
  createBackend,
  dispose,
  globalNorm,
  type Tensor,
  valueAndGrad,
} from '@duality/kernels';
import { DiT, type DiTConfig, type StoredTensor, writeSafetensorsFile } from '@duality/models';
import { gaussianCurriculum } from '@duality/noise';
import {
  checkResumeCompatible,
  type HostTensor,
  type LoadedCheckpoint,
  latestCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from './checkpoint';
import { checkConfigFitsData, parseTrainConfig, type TrainConfig } from './config';
import { BatchLoader } from './data/loader';
import { prepareDataset } from './data/prepare';
import {
  type DistillConfig,
  deltaAt,
  parseDistillConfig,
  parseDistillInput,
  roundOf,
} from './distill-config';
import { CheckpointCorruptError, TrainConfigError } from './errors';
import { type MetricsRecord, MetricsWriter, peakMemoryMB } from './metrics';
import { dcdObjective, type TeacherForward } from './objectives/dcd';
import type { DrawContext } from './objectives/types';
import { clipCoefficient, emaDecay, learningRate } from './optim/schedule';
import {
  modelConfigOf,
  type TrainHooks,
  type TrainProgress,
  type TrainResult,
  validationNats,
} from './trainer';

type Params = Record<string, Tensor>;

export interface DistillProgress extends TrainProgress {
  round: number;
  delta: number;
}

export interface DistillHooks extends Omit<TrainHooks, 'onProgress'> {
  onProgress?: (p: DistillProgress) => void;
}

export interface DistillResult extends Omit<TrainResult, 'config'> {
  config: DistillConfig;
  /** Round of the last step done. */
  round: number;
}

/** The newest committed checkpoint a teacher path names: a step-N/ directory, a run's outDir or its root. */
export async function resolveCheckpointDir(path: string): Promise<string> {
  const { resolve } = await import('node:path');
  const { access } = await import('node:fs/promises');
  const abs = resolve(path);
  const has = (p: string) =>
    access(p).then(
      () => true,
      () => false,
    );
  if (await has(`${abs}/state.json`)) return abs;
  const found = (await latestCheckpoint(`${abs}/checkpoints`)) ?? (await latestCheckpoint(abs));
  if (!found)
    throw new CheckpointCorruptError(
      'distill',
      `${abs}: no committed checkpoint`,
      'a step-N/ checkpoint directory, a run directory or a checkpoints root',
    );
  return found;
}

/** Reads the teacher checkpoint and parses the distillation config against its training config. */
export async function loadDistillTeacher(
  configInput: unknown,
): Promise<{ config: DistillConfig; teacher: LoadedCheckpoint }> {
  const given = parseDistillInput(configInput); // distill-specific keys first: no I/O for a bad config
  const dir = await resolveCheckpointDir(given.teacher);
  const teacher = await loadCheckpoint(dir);
  let teacherConfig: TrainConfig;
  try {
    teacherConfig = parseTrainConfig(teacher.state.config);
  } catch (error) {
    throw new TrainConfigError(
      'teacher',
      `${dir}: a checkpoint whose config does not parse (${(error as Error).message})`,
      'a checkpoint written by train',
    );
  }
  const config = parseDistillConfig(configInput, teacherConfig, dir);
  if (config.distill.studentFrom === 'ema' && !teacher.ema)
    throw new TrainConfigError(
      'distill.studentFrom',
      `"ema" with ${dir} holding no EMA`,
      '"weights", or a teacher checkpoint with ema.safetensors',
    );
  return { config, teacher };
}

const hostMap = (stored: ReadonlyMap<string, StoredTensor | HostTensor>): Map<string, StoredTensor> =>
  new Map(
    [...stored].map(([n, t]) => [
      n,
      { dtype: t.data instanceof Float64Array ? 'F64' : 'F32', shape: [...t.shape], data: t.data },
    ]),
  );

async function readParams(params: Params): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of Object.entries(params))
    out.set(name, { shape: [...t.shape], data: (await t.read()) as Float32Array | Float64Array });
  return out;
}

/** Tensors shaped like `like` from host data (zeros where `host` is absent). */
function upload(
  backend: Backend,
  like: Params,
  host: ReadonlyMap<string, HostTensor> | undefined,
  dtype: 'f32' | 'f64',
): Params {
  const out: Params = {};
  for (const [name, p] of Object.entries(like)) {
    const h = host?.get(name);
    if (host && !h)
      throw new CheckpointCorruptError(
        'distill',
        `a checkpoint without "${name}"`,
        'every parameter of the model',
      );
    out[name] = h ? backend.tensor(h.data, p.shape, dtype) : backend.zeros(p.shape, dtype);
  }
  return out;
}

const copyOf = (backend: Backend, params: Params): Params =>
  Object.fromEntries(Object.entries(params).map(([n, p]) => [n, backend.scale(p, 1)]));

/** ema ← ema − (1 − d)(ema − p) (models/ema.py). */
function emaStep(backend: Backend, ema: Params, params: Params, d: number): Params {
  const out: Params = {};
  for (const [name, e] of Object.entries(ema)) {
    const diff = backend.sub(e, params[name]);
    const step = backend.scale(diff, 1 - d);
    out[name] = backend.sub(e, step);
    for (const t of [diff, step, e]) t.dispose();
  }
  return out;
}

/** Parameters as a full state dict (the rotary buffer from the model), so the file loads with `loadDiT`. */
async function fullStateDict(model: DiT, params: Params): Promise<Map<string, StoredTensor>> {
  const host = await readParams(params);
  const out = new Map<string, StoredTensor>();
  for (const [name, t] of await model.stateDict()) {
    const h = host.get(name);
    out.set(
      name,
      h ? { dtype: h.data instanceof Float64Array ? 'F64' : 'F32', shape: [...h.shape], data: h.data } : t,
    );
  }
  return out;
}

const teacherFile = (outDir: string, round: number) => `${outDir}/teachers/round-${round}.safetensors`;

/** Writes a round's teacher atomically (metadata: round, the step it was taken after, the model config). */
async function saveTeacher(
  outDir: string,
  round: number,
  afterStep: number,
  model: DiT,
  teacher: Params,
  dcfg: DiTConfig,
): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  const { configToReference } = await import('@duality/models');
  await mkdir(`${outDir}/teachers`, { recursive: true });
  await writeSafetensorsFile(teacherFile(outDir, round), await fullStateDict(model, teacher), {
    format: 'pt',
    config: JSON.stringify(configToReference(dcfg)),
    round: String(round),
    afterStep: String(afterStep),
  });
}

/** The teacher of `round` as written by saveTeacher (refused if its metadata names another round or step). */
async function loadTeacher(
  outDir: string,
  round: number,
  afterStep: number,
  backend: Backend,
  like: Params,
  dtype: 'f32' | 'f64',
): Promise<Params> {
  const { openSafetensorsFile } = await import('@duality/models');
  const path = teacherFile(outDir, round);
  let reader: Awaited<ReturnType<typeof openSafetensorsFile>>;
  try {
    reader = await openSafetensorsFile(path);
  } catch {
    throw new CheckpointCorruptError(
      'distill',
      `${path} missing or unreadable`,
      `the teacher of round ${round}, needed to resume mid-round`,
    );
  }
  try {
    const meta = reader.metadata;
    if (meta.round !== String(round) || meta.afterStep !== String(afterStep))
      throw new CheckpointCorruptError(
        'distill',
        `${path} of round ${meta.round} taken after step ${meta.afterStep}`,
        `round ${round} taken after step ${afterStep}`,
      );
    const host = new Map<string, HostTensor>();
    for (const [n, t] of await reader.readAll()) host.set(n, { shape: t.shape, data: t.data });
    return upload(backend, like, host, dtype);
  } finally {
    await reader.close();
  }
}

async function removeTeachersBefore(outDir: string, round: number): Promise<void> {
  const { readdir, rm } = await import('node:fs/promises');
  const names = await readdir(`${outDir}/teachers`).catch(() => [] as string[]);
  for (const name of names) {
    const m = /^round-(\d+)\.safetensors$/.exec(name);
    if (m && Number(m[1]) < round) await rm(`${outDir}/teachers/${name}`, { force: true });
  }
}

/** Dropout masks: a key disjoint from the run's noise key (the seed itself). */
const dropoutKey = (seed: number): bigint => (BigInt(seed) << 1n) | (1n << 63n);

/** The model reading other weights through the forward's `parameters` override (no copy, nothing taped). */
const forwardWith =
  (model: DiT, weights: Params): TeacherForward =>
  (input, sigma) =>
    model.forward(input, sigma, { parameters: weights });

/**
 * Distils per `configInput` (see distill-config.ts): validated first, the teacher checkpoint read and checked,
 * then the rounds. Resumes from the newest checkpoint under `hooks.outDir` unless `resume: false`.
 */
export async function distill(configInput: unknown, hooks: DistillHooks): Promise<DistillResult> {
  const started = Date.now();
  const { config, teacher: source } = await loadDistillTeacher(configInput);
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
  const start = saved
    ? saved.weights
    : config.distill.studentFrom === 'ema'
      ? (source.ema as Map<string, HostTensor>)
      : source.weights;
  const model = await DiT.fromStateDict(backend, dcfg, hostMap(start), { dtype: config.dtype });
  const params = model.parameters() as Params;
  const m = upload(backend, params, saved?.optimizer.expAvg, config.dtype);
  const v = upload(backend, params, saved?.optimizer.expAvgSq, config.dtype);
  let ema: Params | undefined =
    config.optimizer.ema > 0
      ? saved?.ema
        ? upload(backend, params, saved.ema, config.dtype)
        : copyOf(backend, params)
      : undefined;
  if (config.distill.teacherFrom === 'ema' && !ema)
    throw new TrainConfigError(
      'distill.teacherFrom',
      '"ema" with optimizer.ema = 0',
      '"weights", or an EMA decay > 0',
    );

  const d = config.distill;
  const K = dcfg.vocabSize;
  const schedule = gaussianCurriculum({
    vocabSize: K,
    gammaMin: d.gammaMin,
    gammaMax: d.gammaMax,
    approx: d.operator,
  });
  const { batchSize, gradAccumulation, contextLength } = config.data;
  const loader = new BatchLoader({
    stream: data.train.tokens,
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
  if (saved) await metrics.truncateAfter(saved.state.step);
  else await (await import('node:fs/promises')).mkdir(hooks.outDir, { recursive: true });
  let step = saved?.state.step ?? 0;
  let teacher: Params | undefined =
    step % d.stepsPerRound !== 0
      ? await loadTeacher(
          hooks.outDir,
          roundOf(d, step + 1),
          roundOf(d, step + 1) * d.stepsPerRound,
          backend,
          params,
          config.dtype,
        )
      : undefined;
  let lastLoss: number | undefined;
  let valBpc: number | undefined;
  let checkpoint: string | undefined;
  const tokensPerStep = batchSize * gradAccumulation * contextLength;
  const loopStart = Date.now();
  const firstStep = step;

  const progressBase = (gradNorm = Number.NaN) => {
    const elapsed = (Date.now() - loopStart) / 1000;
    const done = step - firstStep;
    const n = Math.max(step, 1);
    return {
      step,
      steps: config.steps,
      loss: lastLoss ?? Number.NaN,
      lr: step > 0 ? learningRate(step, lrOptions) : 0,
      gradNorm,
      tokensPerSecond: done > 0 ? (done * tokensPerStep) / elapsed : 0,
      elapsedSeconds: (Date.now() - started) / 1000,
      etaSeconds: done > 0 ? (elapsed / done) * (config.steps - step) : 0,
      round: roundOf(d, n),
      delta: deltaAt(d, n),
    };
  };
  const writeCheckpoint = async (): Promise<string> => {
    hooks.onProgress?.({ ...progressBase(), phase: 'checkpoint' });
    const full = await model.stateDict();
    const dir = await saveCheckpoint(
      root,
      {
        weights: full,
        ...(ema ? { ema: await fullStateDict(model, ema) } : {}),
        optimizer: { expAvg: await readParams(m), expAvgSq: await readParams(v) },
        state: {
          step,
          rng: { dropoutPerForward: perForwardDropout },
          cursor: loader.cursor,
          config,
          metrics: { loss: lastLoss ?? null, valBpc: valBpc ?? null, round: roundOf(d, Math.max(step, 1)) },
        },
      },
      { modelConfig: dcfg, keep: config.checkpoint.keep },
    );
    await removeTeachersBefore(hooks.outDir, roundOf(d, Math.max(step, 1)));
    return dir;
  };
  const result = (aborted: boolean): DistillResult => ({
    config,
    step,
    round: roundOf(d, Math.max(step, 1)),
    aborted,
    valBpc,
    lastLoss,
    checkpoint,
    seconds: (Date.now() - started) / 1000,
  });

  try {
    while (step < config.steps) {
      if (hooks.signal?.aborted) {
        checkpoint = await writeCheckpoint();
        return result(true);
      }
      const n = step + 1;
      const t0 = Date.now();
      if (step % d.stepsPerRound === 0) {
        // a new round: the teacher is the student as it stands (Duo I Alg. 1, `update_teacher_every`)
        dispose(teacher);
        teacher = copyOf(backend, d.teacherFrom === 'ema' ? (ema as Params) : params);
        await saveTeacher(hooks.outDir, roundOf(d, n), step, model, teacher, dcfg);
      }
      const delta = deltaAt(d, n);
      const objective = dcdObjective({
        schedule,
        delta,
        teacher: forwardWith(model, teacher as Params),
        direction: d.direction,
        timeSampling: config.time.sampling,
      });
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
        const draw = await objective.draw(backend, batch.tokens, batch.shape, ctx); // the teacher runs here, untaped
        const dropout =
          dcfg.dropout > 0
            ? { seed: dropoutKey(config.seed), offset: (step * gradAccumulation + micro) * perForwardDropout }
            : undefined;
        const { value, grads: g } = await valueAndGrad(
          async (_p: Params) =>
            (await objective.loss(model, x0, batch.tokens, draw, dropout ? { dropout } : {})).loss,
        )(params);
        lossSum += (await value.read())[0];
        dispose([value, draw, x0]);
        grads = grads ? accumulate(backend, grads, g as Params) : (g as Params);
      }
      const all = grads as Params;
      if (gradAccumulation > 1)
        for (const name of Object.keys(all)) all[name] = scaled(backend, all[name], 1 / gradAccumulation);
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
      const record: MetricsRecord = {
        step,
        loss: lastLoss,
        lr,
        gradNorm,
        round: roundOf(d, n),
        delta,
        tokensPerSec: tokensPerStep / Math.max((Date.now() - t0) / 1000, 1e-9),
        peakMemMB: peakMemoryMB(),
        time: (Date.now() - started) / 1000,
      };
      const validateNow = step % config.validation.every === 0 || step === config.steps;
      if (validateNow) {
        hooks.onProgress?.({ ...progressBase(gradNorm), phase: 'validate' });
        const weights = ema ?? params;
        const nats = await validationNats(
          {
            backend,
            dtype: model.dtype,
            config: model.config,
            forward: (i, s, o) => model.forward(i, s, { ...o, parameters: weights }),
          },
          config,
          data.validation.tokens,
        );
        valBpc = nats / Math.LN2;
        Object.assign(record, { valNelbo: nats, valBpc, valPpl: Math.exp(nats) });
      }
      await metrics.append(record);
      hooks.onProgress?.({ ...progressBase(gradNorm), ...(validateNow ? { valBpc } : {}), phase: 'train' });
      if (step % config.checkpoint.every === 0 || step === config.steps) {
        checkpoint = await writeCheckpoint();
        await metrics.writePlot({ title: `DCD of ${config.algorithm} on ${config.data.dataset}` });
      }
    }
    return result(false);
  } finally {
    dispose([m, v, ema, teacher]);
    model.dispose();
    if (!hooks.backend) backend.destroy();
  }
}

function accumulate(backend: Backend, into: Params, more: Params): Params {
  for (const name of Object.keys(into)) {
    const sum = backend.add(into[name], more[name]);
    into[name].dispose();
    more[name].dispose();
    into[name] = sum;
  }
  return into;
}

function scaled(backend: Backend, t: Tensor, factor: number): Tensor {
  const out = backend.scale(t, factor);
  t.dispose();
  return out;
}
