/**
 * The training config: plain JSON data, validated by a valibot schema (also exported as JSON Schema for the
 * CLI), with the reference's defaults (s-sahoo/duo `configs/config.yaml`, `algo/duo.yaml`, `model/small.yaml`,
 * `lr_scheduler/constant_warmup.yaml`) and a micro model (hidden 128, 4 blocks) for brown8. `parseTrainConfig`
 * fills the defaults and refuses anything wrong — an unknown key, a wrong type, a value out of range, or values
 * that contradict each other — with a `TrainConfigError` naming the key path, what it got and what it expected,
 * before any work is done. The parsed config is what a checkpoint stores and what `resume` compares.
 */
import { toJsonSchema } from '@valibot/to-json-schema';
import * as v from 'valibot';
import { checkFits } from './data/pack';
import { TrainConfigError } from './errors';

export const ALGORITHMS = ['mdlm', 'udlm', 'ar', 'duo', 'duo-efficient'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];
export const DATASET_NAMES = ['brown8', 'brown-char'] as const;
/** Vocabulary size K of each dataset's tokenizer (@duality/models brown8, brownChar). */
export const DATASET_VOCAB: Readonly<Record<(typeof DATASET_NAMES)[number], number>> = {
  brown8: 27,
  'brown-char': 96,
};
/** The operator evaluations of @duality/noise (`OperatorApprox`). */
export const OPERATORS = ['exact', 'table', 'poly3', 'poly5', 'poly7', 'poly9'] as const;

const int = (min: number) => v.pipe(v.number(), v.integer(), v.minValue(min));
const positive = v.pipe(v.number(), v.finite(), v.gtValue(0));
const unit = v.pipe(v.number(), v.finite(), v.minValue(0), v.ltValue(1));
const finite = v.pipe(v.number(), v.finite());

const ModelSchema = v.strictObject({
  hiddenSize: v.optional(int(1), 128),
  nBlocks: v.optional(int(1), 4),
  nHeads: v.optional(int(1), 4),
  condDim: v.optional(int(1), 128),
  /** The model's context length; default data.contextLength. */
  contextLength: v.optional(int(1)),
  /** Dropout on the attention and MLP branches (the reference's model.dropout). */
  dropout: v.optional(unit, 0.1),
  /** σ conditioning; default off for mdlm (σ = 0) and ar, on for udlm, duo and duo-efficient. */
  timeConditioning: v.optional(v.boolean()),
});

const DataSchema = v.strictObject({
  dataset: v.optional(v.picklist(DATASET_NAMES), 'brown8'),
  contextLength: v.optional(int(1), 128),
  /** Rows of one micro-batch. */
  batchSize: v.optional(int(1), 32),
  /** Micro-batches per optimiser step (global batch = batchSize · gradAccumulation). */
  gradAccumulation: v.optional(int(1), 1),
  /** Where prepared token streams are cached (default: $DUALITY_CACHE_DIR or <repo>/.cache/duality-data). */
  cacheDir: v.optional(v.pipe(v.string(), v.minLength(1))),
});

const OptimizerSchema = v.strictObject({
  lr: v.optional(positive, 3e-4),
  betas: v.optional(v.tuple([unit, unit]), [0.9, 0.999]),
  eps: v.optional(positive, 1e-8),
  weightDecay: v.optional(v.pipe(finite, v.minValue(0)), 0),
  /** Linear warm-up steps (lr_n = lr · min(n − 1, W)/W: the first step has lr 0). */
  warmupSteps: v.optional(int(0), 2500),
  schedule: v.optional(v.picklist(['constant', 'cosine']), 'constant'),
  /** Cosine schedule only: the final lr as a fraction of lr. */
  minLrRatio: v.optional(v.pipe(finite, v.minValue(0), v.maxValue(1)), 0),
  /** Global-norm gradient clipping threshold. */
  clipNorm: v.optional(positive, 1),
  /** EMA decay of the weights (0: no EMA). */
  ema: v.optional(unit, 0.9999),
});

const TauAnnealSchema = v.strictObject({
  log10From: finite,
  log10To: finite,
  startStep: int(0),
  endStep: int(0),
});

const CurriculumSchema = v.strictObject({
  gammaMin: v.optional(finite, -3.5),
  gammaMax: v.optional(finite, -1.75),
  /** Softmax temperature τ: a constant (the reference's scripts: 1e-3) or log10 τ annealed linearly. */
  tau: v.optional(v.union([positive, TauAnnealSchema]), 1e-3),
  /** Steps under the curriculum; plain UDLM after. Default: half of `steps` (the reference's 500k of 1M). */
  steps: v.optional(int(0)),
  /** duo-efficient: the top-k of the relaxation (required; 2 ≤ k < K). */
  k: v.optional(int(2)),
  /** How T(γ) is evaluated; default 'exact' for duo, 'poly9' for duo-efficient. */
  operator: v.optional(v.picklist(OPERATORS)),
  /** dα/dt: the exact (γmax − γmin)·dT/dγ, or the reference's forward finite difference (comparison only). */
  derivative: v.optional(v.picklist(['exact', 'reference-fd']), 'exact'),
});

const CheckpointSchema = v.strictObject({
  every: v.optional(int(1), 1000),
  /** How many checkpoints to keep (oldest removed first). */
  keep: v.optional(int(1), 3),
  dir: v.optional(v.pipe(v.string(), v.minLength(1))),
});

const ValidationSchema = v.strictObject({
  every: v.optional(int(1), 500),
  batches: v.optional(int(1), 16),
});

const TimeSchema = v.strictObject({
  sampling: v.optional(v.picklist(['stratified', 'systematic', 'iid']), 'stratified'),
  eps: v.optional(unit, 1e-3),
});

/** The schema of the config as given (JSON). */
export const TrainConfigSchema = v.strictObject({
  algorithm: v.picklist(ALGORITHMS),
  steps: int(1),
  model: v.optional(ModelSchema, {}),
  data: v.optional(DataSchema, {}),
  optimizer: v.optional(OptimizerSchema, {}),
  curriculum: v.optional(CurriculumSchema),
  /** Noise schedule α_t of mdlm / udlm (and of duo after the curriculum). */
  schedule: v.optional(v.picklist(['logLinear', 'cosine']), 'logLinear'),
  time: v.optional(TimeSchema, {}),
  checkpoint: v.optional(CheckpointSchema, {}),
  validation: v.optional(ValidationSchema, {}),
  seed: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER)), 1),
  backend: v.optional(v.picklist(['cpu', 'webgpu']), 'cpu'),
  dtype: v.optional(v.picklist(['f32', 'f64']), 'f32'),
});

export type TrainConfigInput = v.InferInput<typeof TrainConfigSchema>;
type Parsed = v.InferOutput<typeof TrainConfigSchema>;

export interface TauAnneal {
  log10From: number;
  log10To: number;
  startStep: number;
  endStep: number;
}

export interface CurriculumConfig {
  gammaMin: number;
  gammaMax: number;
  tau: number | TauAnneal;
  steps: number;
  /** Present for duo-efficient. */
  k?: number;
  operator: (typeof OPERATORS)[number];
  derivative: 'exact' | 'reference-fd';
}

/** A parsed config: every default filled in. */
export interface TrainConfig extends Omit<Parsed, 'model' | 'curriculum'> {
  model: Required<Omit<Parsed['model'], 'contextLength' | 'timeConditioning'>> & {
    contextLength: number;
    timeConditioning: boolean;
  };
  /** Present for duo and duo-efficient only. */
  curriculum?: CurriculumConfig;
}

const describe = (x: unknown): string => {
  if (x === undefined) return 'nothing';
  if (typeof x === 'number' || typeof x === 'bigint') return String(x);
  try {
    return JSON.stringify(x) ?? String(x);
  } catch {
    return String(x);
  }
};

type AnySchema = {
  type: string;
  entries?: Record<string, AnySchema>;
  wrapped?: AnySchema;
  options?: AnySchema[];
};

const unwrap = (node: AnySchema | undefined): AnySchema | undefined => {
  let n = node;
  while (n?.wrapped) n = n.wrapped;
  return n;
};

/** The object schema at a key path (through optional wrappers and a union's object option). */
function objectAt(path: readonly string[]): AnySchema | undefined {
  const asObject = (n: AnySchema | undefined) => (n?.entries ? n : n?.options?.find((o) => o.entries));
  let node: AnySchema | undefined = TrainConfigSchema as unknown as AnySchema;
  for (const key of path) node = unwrap(asObject(unwrap(node))?.entries?.[key]);
  return asObject(unwrap(node));
}

interface Found {
  path: string[];
  issue: v.BaseIssue<unknown>;
}

/**
 * The issue to report, with its key path. A union that refused an object (curriculum.tau) is re-checked against
 * its object option, so the message names the missing or wrong key inside it.
 */
function locate(issue: v.BaseIssue<unknown>): Found {
  const path = (issue.path ?? []).map((p) => String(p.key));
  const input = issue.input;
  if (issue.type !== 'union' || typeof input !== 'object' || input === null) return { path, issue };
  const option = objectAt(path);
  const inner = option ? v.safeParse(option as unknown as v.GenericSchema, input) : undefined;
  if (!inner || inner.success) return { path, issue };
  const found = locate(inner.issues[0]);
  return { path: [...path, ...found.path], issue: found.issue };
}

/** What an issue expected, in words (a missing key: what its schema takes). */
function expectedOf(issue: v.BaseIssue<unknown>, path: readonly string[]): string {
  if (issue.type === 'strict_object' && issue.input === undefined) {
    const entry = unwrap(objectAt(path.slice(0, -1))?.entries?.[path[path.length - 1]]);
    return `${entry ? expectedOf({ ...issue, type: entry.type, expected: null }, []) : 'a value'} (a required key)`;
  }
  const r = (issue as { requirement?: unknown }).requirement;
  const words: Record<string, string> = {
    integer: 'an integer',
    finite: 'a finite number',
    min_value: `a value ≥ ${r}`,
    max_value: `a value ≤ ${r}`,
    gt_value: `a value > ${r}`,
    lt_value: `a value < ${r}`,
    min_length: `a non-empty string`,
    number: 'a number',
    string: 'a string',
    boolean: 'true or false',
    picklist: `one of ${issue.expected}`,
    object: 'an object',
    strict_object: 'an object',
    tuple: 'an array',
  };
  return words[issue.type] ?? issue.expected ?? issue.message;
}

/** The first schema issue as a TrainConfigError (the other issues' paths go in the detail). */
function issueError(issues: readonly v.BaseIssue<unknown>[]): TrainConfigError {
  const { path, issue } = locate(issues[0]);
  const main = path.join('.') || 'config';
  const others = [...new Set(issues.slice(1).map((i) => locate(i).path.join('.') || 'config'))].filter(
    (p) => p !== main,
  );
  const more = others.length > 0 ? `also: ${others.join(', ')}` : undefined;
  if (issue.type === 'strict_object' && issue.expected === 'never') {
    const key = path[path.length - 1];
    const allowed = Object.keys(objectAt(path.slice(0, -1))?.entries ?? {}).join(', ');
    return new TrainConfigError(
      path.join('.'),
      `an unknown key "${key}"`,
      `one of the keys ${allowed}`,
      more,
    );
  }
  return new TrainConfigError(
    path.join('.') || 'config',
    describe(issue.input),
    expectedOf(issue, path),
    more,
  );
}

/** Checks that relate two keys (γmin < γmax, k < K, heads divide the width, …), after the schema. */
function checkRelations(c: Parsed): void {
  const fail = (path: string, got: string, expected: string): never => {
    throw new TrainConfigError(path, got, expected);
  };
  if (c.model.hiddenSize % c.model.nHeads !== 0 || (c.model.hiddenSize / c.model.nHeads) % 2 !== 0) {
    fail(
      'model.nHeads',
      `${c.model.nHeads} for hiddenSize ${c.model.hiddenSize}`,
      'a head count giving an even head width',
    );
  }
  if (c.model.contextLength !== undefined && c.model.contextLength < c.data.contextLength) {
    fail(
      'data.contextLength',
      `${c.data.contextLength}`,
      `at most model.contextLength = ${c.model.contextLength}`,
    );
  }
  if (c.dtype === 'f64' && c.backend !== 'cpu')
    fail('dtype', `"f64" on ${c.backend}`, '"f32" (f64 runs on cpu only)');
  const duo = c.algorithm === 'duo' || c.algorithm === 'duo-efficient';
  if (!duo && c.curriculum !== undefined) {
    fail(
      'curriculum',
      'a curriculum section',
      `none for algorithm "${c.algorithm}" (duo and duo-efficient only)`,
    );
  }
  const cur = c.curriculum;
  if (cur && !(cur.gammaMin < cur.gammaMax)) {
    fail('curriculum.gammaMin', `${cur.gammaMin} with gammaMax ${cur.gammaMax}`, 'gammaMin < gammaMax');
  }
  if (cur && typeof cur.tau === 'object' && cur.tau.endStep < cur.tau.startStep) {
    fail('curriculum.tau.endStep', `${cur.tau.endStep}`, `≥ startStep = ${cur.tau.startStep}`);
  }
  const K = DATASET_VOCAB[c.data.dataset];
  if (c.algorithm === 'duo-efficient' && cur?.k === undefined) {
    fail(
      'curriculum.k',
      'nothing',
      `an integer in [2, ${K - 1}] (required for duo-efficient; the reference ships no value)`,
    );
  }
  if (cur?.k !== undefined && c.algorithm !== 'duo-efficient') {
    fail('curriculum.k', `${cur.k}`, 'no k (top-k is the duo-efficient relaxation)');
  }
  if (cur?.k !== undefined && cur.k >= K)
    fail('curriculum.k', `${cur.k}`, `an integer in [2, ${K - 1}] (k < K = ${K})`);
}

function resolve(c: Parsed): TrainConfig {
  const timeConditioning = c.model.timeConditioning ?? !(c.algorithm === 'mdlm' || c.algorithm === 'ar');
  const model = {
    ...c.model,
    contextLength: c.model.contextLength ?? c.data.contextLength,
    timeConditioning,
  };
  const { curriculum: given, ...rest } = c;
  if (c.algorithm !== 'duo' && c.algorithm !== 'duo-efficient') return { ...rest, model };
  const cur = v.parse(CurriculumSchema, given ?? {});
  const curriculum: CurriculumConfig = {
    ...cur,
    steps: cur.steps ?? Math.floor(c.steps / 2),
    operator: cur.operator ?? (c.algorithm === 'duo-efficient' ? 'poly9' : 'exact'),
  };
  if (cur.k === undefined) delete curriculum.k;
  return { ...rest, model, curriculum };
}

/** Validates a config (plain data) and fills in the defaults; throws a TrainConfigError on anything wrong. */
export function parseTrainConfig(input: unknown): TrainConfig {
  const result = v.safeParse(TrainConfigSchema, input);
  if (!result.success) throw issueError(result.issues);
  checkRelations(result.output);
  return resolve(result.output);
}

export interface DataSizes {
  train: number;
  validation: number;
}

/**
 * Refuses a context / batch the prepared data cannot fill (one full batch of windows in each split), on
 * `data.contextLength`. Call it right after preparing the data, before building a model.
 */
export function checkConfigFitsData(config: TrainConfig, sizes: DataSizes): void {
  const { contextLength, batchSize } = config.data;
  for (const split of ['train', 'validation'] as const)
    checkFits(split, sizes[split], contextLength, batchSize);
}

/** The config schema as JSON Schema (draft-07), for the CLI and editors. */
export function trainConfigJsonSchema(): Record<string, unknown> {
  // JSON has no NaN or Infinity, so the schema's `finite` checks have nothing to say there and are left out.
  return toJsonSchema(TrainConfigSchema, { errorMode: 'ignore' }) as Record<string, unknown>;
}
