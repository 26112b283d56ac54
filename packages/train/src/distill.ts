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
import { type Backend, createBackend, dispose } from '@duality/kernels';
import { DiT, type DiTConfig, writeSafetensorsFile } from '@duality/models';
import { gaussianCurriculum } from '@duality/noise';
import {
  checkResumeCompatible,
  type HostTensor,
  type LoadedCheckpoint,
  latestCheckpoint,
  loadCheckpoint,
  RESUMABLE_KEYS,
  WEIGHTS_FILE,
} from './checkpoint';
import { checkConfigFitsData, parseTrainConfig, type TrainConfig } from './config';
import { prepareDataset } from './data/prepare';
import {
  type DistillConfig,
  deltaAt,
  parseDistillConfig,
  parseDistillInput,
  roundOf,
} from './distill-config';
import { CheckpointCorruptError, TrainConfigError } from './errors';
import {
  checkHooks,
  copyParams,
  fullStateDict,
  type LoopState,
  type Params,
  runTrainingLoop,
  type TrainHooks,
  type TrainProgress,
  toStored,
  uploadLike,
  withWeights,
} from './loop';
import { dcdObjective } from './objectives/dcd';
import type { Objective } from './objectives/types';
import { modelConfigOf, type TrainResult } from './trainer';

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
  const config = parseDistillConfig(configInput, teacherConfig, dir, teacher.hashes[WEIGHTS_FILE]);
  if (config.distill.studentFrom === 'ema' && !teacher.ema)
    throw new TrainConfigError(
      'distill.studentFrom',
      `"ema" with ${dir} holding no EMA`,
      '"weights", or a teacher checkpoint with ema.safetensors',
    );
  return { config, teacher };
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
  await writeSafetensorsFile(teacherFile(outDir, round), toStored(await fullStateDict(model, teacher)), {
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
    return uploadLike(backend, like, host, dtype);
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

/**
 * Distils per `configInput` (see distill-config.ts): validated first, the teacher checkpoint read and checked,
 * then the rounds. Resumes from the newest checkpoint under `hooks.outDir` unless `resume: false`.
 */
export async function distill(configInput: unknown, hooks: DistillHooks): Promise<DistillResult> {
  checkHooks(hooks);
  const started = Date.now();
  const { config, teacher: source } = await loadDistillTeacher(configInput);
  const resumeFrom =
    hooks.resume === false ? undefined : await latestCheckpoint(`${hooks.outDir}/checkpoints`);
  const saved = resumeFrom ? await loadCheckpoint(resumeFrom) : undefined;
  // the teacher is known by its weights' hash, not by where this clone of the repository keeps it
  if (saved) checkResumeCompatible(saved.state.config, config, [...RESUMABLE_KEYS, 'teacher']);
  const data = await prepareDataset(
    config.data.dataset,
    config.data.cacheDir ? { cacheDir: config.data.cacheDir } : {},
  );
  checkConfigFitsData(config, { train: data.train.tokens.length, validation: data.validation.tokens.length });
  if (config.distill.teacherFrom === 'ema' && !(config.optimizer.ema > 0))
    throw new TrainConfigError(
      'distill.teacherFrom',
      '"ema" with optimizer.ema = 0',
      '"weights", or an EMA decay > 0',
    );

  const backend = hooks.backend ?? (await createBackend(config.backend));
  const dcfg = modelConfigOf(config);
  const start = saved
    ? saved.weights
    : config.distill.studentFrom === 'ema'
      ? (source.ema as Map<string, HostTensor>)
      : source.weights;
  const model = await DiT.fromStateDict(backend, dcfg, toStored(start), { dtype: config.dtype });
  const d = config.distill;
  const schedule = gaussianCurriculum({
    vocabSize: dcfg.vocabSize,
    gammaMin: d.gammaMin,
    gammaMax: d.gammaMax,
    approx: d.operator,
  });
  let teacher: Params | undefined;
  /** Update n's objective; at a round's first update the teacher becomes the student as it stands (Alg. 1). */
  const objectiveAt = async (n: number, state: LoopState) => {
    const round = roundOf(d, n);
    if ((n - 1) % d.stepsPerRound === 0) {
      dispose(teacher);
      teacher = copyParams(backend, d.teacherFrom === 'ema' ? (state.ema as Params) : state.params);
      await saveTeacher(hooks.outDir, round, n - 1, model, teacher, dcfg);
    } else if (!teacher) {
      // resumed mid-round: the very teacher the round began with
      teacher = await loadTeacher(
        hooks.outDir,
        round,
        round * d.stepsPerRound,
        backend,
        state.params,
        config.dtype,
      );
    }
    return dcdObjective({
      schedule,
      delta: deltaAt(d, n),
      teacher: withWeights(model, teacher).forward,
      direction: d.direction,
      timeSampling: config.time.sampling,
    }) as Objective<unknown>;
  };
  try {
    const result = await runTrainingLoop({
      config,
      dcfg,
      model,
      hooks: hooks as TrainHooks,
      saved,
      trainStream: data.train.tokens,
      validationStream: data.validation.tokens,
      objectiveAt,
      extras: (n) => ({ round: roundOf(d, n), delta: deltaAt(d, n) }),
      afterCheckpoint: (step) => removeTeachersBefore(hooks.outDir, roundOf(d, Math.max(step, 1))),
      plotTitle: `DCD of ${config.algorithm} on ${config.data.dataset}`,
      started,
    });
    return {
      ...result,
      config,
      round: roundOf(d, Math.max(result.step, 1)),
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    dispose(teacher);
    model.dispose();
    if (!hooks.backend) backend.destroy();
  }
}
