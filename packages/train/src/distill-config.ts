/**
 * The distillation config (DCD, Duo I Algorithm 1): plain JSON, validated before any work. It names the teacher
 * (a checkpoint of a trained uniform-state run: duo, duo-efficient or udlm), the `distill` section (rounds of M
 * steps, the δ growth, where each round's teacher comes from, the KL direction, the γ range), and the sections
 * shared with training (`data`, `optimizer`, `time`, `checkpoint`, `validation`, `seed`, `backend`, `dtype`),
 * which `parseTrainConfig` checks with the model taken from the teacher's config. Defaults are the reference's
 * (`configs/algo/distillation.yaml`, `scripts/distil_owt.sh`): 5 rounds (T = 512 → δ0 = 1/512, doubled each
 * round), γ ∈ [−4, −1], KL(student ‖ teacher) (`kl-bwd`), the teacher a copy of the raw weights; LR 6e-5,
 * warm-up 500, EMA 0.999. The parsed config is a TrainConfig (steps = rounds·M) plus `teacher` and `distill`.
 */
import * as v from 'valibot';
import { OPERATORS, parseTrainConfig, type TrainConfig } from './config';
import { TrainConfigError } from './errors';

/** Where a round's teacher (or the student's start) comes from: the raw weights or their EMA. */
export const WEIGHT_SOURCES = ['weights', 'ema'] as const;
export type WeightSource = (typeof WEIGHT_SOURCES)[number];
/** Algorithms whose checkpoints DCD distils (uniform-state models conditioned on σ = −log α_t). */
export const DISTILLABLE = ['duo', 'duo-efficient', 'udlm'] as const;

const int = (min: number) => v.pipe(v.number(), v.integer(), v.minValue(min));
const finite = v.pipe(v.number(), v.finite());
const delta = v.pipe(v.number(), v.finite(), v.gtValue(0), v.maxValue(1));

const DistillSectionSchema = v.strictObject({
  rounds: v.optional(int(1), 5),
  /** M: optimiser steps per round (the reference's update_teacher_every = 10k). */
  stepsPerRound: v.optional(int(1), 10_000),
  /** 'exponential': δ = δ0·2^round; 'linear': δ from deltaMin to deltaMax over the run (linear_growth_dt). */
  growth: v.optional(v.picklist(['exponential', 'linear']), 'exponential'),
  delta0: v.optional(delta, 1 / 512),
  deltaMin: v.optional(delta, 0.001),
  deltaMax: v.optional(delta, 0.25),
  /** Each round's teacher: a copy of the student's raw weights (default) or of its EMA (teacher_ema). */
  teacherFrom: v.optional(v.picklist(WEIGHT_SOURCES), 'weights'),
  /** Which weights of the teacher checkpoint the student starts from. */
  studentFrom: v.optional(v.picklist(WEIGHT_SOURCES), 'weights'),
  direction: v.optional(v.picklist(['student-teacher', 'teacher-student']), 'student-teacher'),
  gammaMin: v.optional(finite, -4),
  gammaMax: v.optional(finite, -1),
  operator: v.optional(v.picklist(OPERATORS), 'exact'),
});

export type DistillSection = v.InferOutput<typeof DistillSectionSchema>;

/** The config as given: the teacher, the distill section, and training sections passed to parseTrainConfig. */
const DistillInputSchema = v.strictObject({
  teacher: v.pipe(v.string(), v.minLength(1)),
  distill: v.optional(DistillSectionSchema, {}),
  data: v.optional(v.unknown()),
  optimizer: v.optional(v.unknown()),
  time: v.optional(v.unknown()),
  checkpoint: v.optional(v.unknown()),
  validation: v.optional(v.unknown()),
  seed: v.optional(v.unknown()),
  backend: v.optional(v.unknown()),
  dtype: v.optional(v.unknown()),
});

export type DistillConfigInput = v.InferInput<typeof DistillInputSchema>;

/** A parsed distillation config: the student's TrainConfig (model = the teacher's) plus the teacher and DCD. */
export interface DistillConfig extends TrainConfig {
  /** The teacher checkpoint directory (resolved to a committed step-N/ directory; where it was on this machine). */
  teacher: string;
  /** SHA-256 of the teacher's weights file: the teacher's identity, which resume compares instead of its path. */
  teacherHash?: string;
  distill: DistillSection;
}

/** The reference's distillation optimiser values (scripts/distil_owt.sh). */
export const DISTILL_OPTIMIZER_DEFAULTS = { lr: 6e-5, warmupSteps: 500, ema: 0.999 } as const;

const describe = (x: unknown): string => (x === undefined ? 'nothing' : (JSON.stringify(x) ?? String(x)));

/** The first schema issue of the distill-specific keys as a TrainConfigError (key path, got, expected). */
function issueError(issue: v.BaseIssue<unknown>): TrainConfigError {
  const path = (issue.path ?? []).map((p) => String(p.key));
  const key = path.join('.') || 'config';
  if (issue.type === 'strict_object' && issue.expected === 'never') {
    const section = path.length > 1 ? DistillSectionSchema.entries : DistillInputSchema.entries;
    return new TrainConfigError(
      key,
      `an unknown key "${path[path.length - 1]}"`,
      `one of the keys ${Object.keys(section).join(', ')}`,
    );
  }
  const r = (issue as { requirement?: unknown }).requirement;
  const words: Record<string, string> = {
    integer: 'an integer',
    finite: 'a finite number',
    min_value: `a value ≥ ${r}`,
    max_value: `a value ≤ ${r}`,
    gt_value: `a value > ${r}`,
    min_length: 'a non-empty string',
    number: 'a number',
    string: issue.input === undefined ? 'a checkpoint directory (a required key)' : 'a string',
    picklist: `one of ${issue.expected}`,
    strict_object: 'an object',
  };
  return new TrainConfigError(
    key,
    describe(issue.input),
    words[issue.type] ?? issue.expected ?? issue.message,
  );
}

/** Checks of the distill section that relate keys (γmin < γmax, δ of the last round ≤ 1, deltaMin ≤ deltaMax). */
function checkSection(d: DistillSection): void {
  const fail = (path: string, got: string, expected: string): never => {
    throw new TrainConfigError(`distill.${path}`, got, expected);
  };
  if (!(d.gammaMin < d.gammaMax))
    fail('gammaMin', `${d.gammaMin} with gammaMax ${d.gammaMax}`, 'gammaMin < gammaMax');
  const last = d.delta0 * 2 ** (d.rounds - 1);
  if (d.growth === 'exponential' && last > 1)
    fail(
      'delta0',
      `${d.delta0} over ${d.rounds} rounds (δ of the last round ${last})`,
      'δ0·2^(rounds − 1) ≤ 1',
    );
  if (d.growth === 'linear' && d.deltaMin > d.deltaMax)
    fail('deltaMin', `${d.deltaMin} with deltaMax ${d.deltaMax}`, 'deltaMin ≤ deltaMax');
}

/** Validates the distill-specific keys of `input` (no I/O): the first step of `parseDistillConfig`. */
export function parseDistillInput(input: unknown): v.InferOutput<typeof DistillInputSchema> {
  const result = v.safeParse(DistillInputSchema, input);
  if (!result.success) throw issueError(result.issues[0]);
  checkSection(result.output.distill);
  return result.output;
}

/**
 * The full distillation config, given the teacher checkpoint's (parsed) training config and its resolved
 * directory: the student keeps the teacher's model, dataset and noise schedule; steps = rounds·M; the training
 * sections are checked by parseTrainConfig (TrainConfigError with their key paths).
 */
export function parseDistillConfig(
  input: unknown,
  teacherConfig: TrainConfig,
  teacherDir: string,
  teacherHash?: string,
): DistillConfig {
  const given = parseDistillInput(input);
  if (!(DISTILLABLE as readonly string[]).includes(teacherConfig.algorithm)) {
    throw new TrainConfigError(
      'teacher',
      `a checkpoint of algorithm "${teacherConfig.algorithm}"`,
      `a uniform-state model: one of ${DISTILLABLE.join(', ')}`,
    );
  }
  const data = (given.data ?? {}) as Record<string, unknown>;
  if (data.dataset !== undefined && data.dataset !== teacherConfig.data.dataset) {
    throw new TrainConfigError(
      'data.dataset',
      describe(data.dataset),
      `the teacher's dataset "${teacherConfig.data.dataset}" (its vocabulary)`,
    );
  }
  const { distill } = given;
  const train = parseTrainConfig({
    algorithm: teacherConfig.algorithm,
    steps: distill.rounds * distill.stepsPerRound,
    model: teacherConfig.model,
    ...(teacherConfig.curriculum ? { curriculum: teacherConfig.curriculum } : {}),
    schedule: teacherConfig.schedule,
    data: { contextLength: teacherConfig.data.contextLength, ...data, dataset: teacherConfig.data.dataset },
    optimizer: { ...DISTILL_OPTIMIZER_DEFAULTS, ...((given.optimizer ?? {}) as object) },
    ...Object.fromEntries(
      (['time', 'checkpoint', 'validation', 'seed', 'backend', 'dtype'] as const)
        .filter((k) => given[k] !== undefined)
        .map((k) => [k, given[k]]),
    ),
  });
  return { ...train, teacher: teacherDir, ...(teacherHash ? { teacherHash } : {}), distill };
}

/** δ at optimiser step n (1-based): δ0·2^round (round = ⌊(n − 1)/M⌋), or linear in (n − 1)/steps. */
export function deltaAt(d: DistillSection, n: number): number {
  if (d.growth === 'linear') {
    const steps = d.rounds * d.stepsPerRound;
    return d.deltaMin + ((n - 1) / steps) * (d.deltaMax - d.deltaMin); // the reference's linear_growth_dt
  }
  return d.delta0 * 2 ** roundOf(d, n);
}

/** The round of optimiser step n (1-based): ⌊(n − 1)/M⌋; a round's teacher is made before its first step. */
export function roundOf(d: DistillSection, n: number): number {
  return Math.floor((n - 1) / d.stepsPerRound);
}
