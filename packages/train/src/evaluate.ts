/**
 * The evaluation suite (issue 11): `evaluate(options)` draws samples from a diffusion model (a DiT or a checkpoint
 * of `train` / `distill`) with any sampler of @duality/samplers at one or more step counts and seeds, and reports
 *   - the validation NELBO → bits per character and perplexity (the true NELBO, as in training), of the model
 *     and of the judge, when asked;
 *   - the generative perplexity of the samples under an autoregressive judge (a causal DiT trained by `train`
 *     with algorithm 'ar'): gen-PPL = exp(mean over scored tokens of −log p_judge(x_l | x_<l));
 *   - the unigram entropy of the samples (low entropy = the degenerate repetitions that fool gen-PPL);
 * per (sampler, steps, seed) and summarised over seeds (mean ± sd, pooled gen-PPL with a bootstrap interval).
 * The report is plain JSON; `evaluationTable` prints it, `genPplVsStepsSvg` / `genPplVsEntropySvg` plot it and
 * `writeEvaluation` writes all of them. Everything is a pure function of the inputs and seeds.
 */
import { type Backend, createBackend } from '@duality/kernels';
import { DiTDenoiser } from '@duality/models';
import { parseTrainConfig, type TrainConfig } from './config';
import { checkFits } from './data/pack';
import { DATASETS, prepareDataset } from './data/prepare';
import { EvaluationConfigError } from './evaluate/errors';
import { checkJudgeFits, type LoadedModel, loadEvaluationModel, type ModelSource } from './evaluate/load';
import {
  bootstrapPerplexity,
  generativePerplexity,
  judgeRowNll,
  mean,
  rowEntropyBits,
  sd,
} from './evaluate/metrics';
import type {
  EvaluationReport,
  EvaluationRow,
  EvaluationSummary,
  ModelInfo,
  ValidationFigures,
} from './evaluate/report';
import { makeSampler, processFor, type SamplerSpec, samplerLabel } from './evaluate/samplers';
import { validationWindowNats } from './trainer';

export interface ValidationOptions {
  /** Validation ids (default: the validation split of the model's dataset, when a checkpoint names it). */
  stream?: Uint8Array;
  /** Windows per batch and batches (default: the checkpoint's validation settings; 16 × 16 otherwise). */
  batchSize?: number;
  batches?: number;
  /** Keep the mean NELBO of every validation window in the report (`windowNats`; default false). */
  keepWindows?: boolean;
}

export interface EvaluateProgress {
  sampler: string;
  steps: number;
  seed: number;
  /** Cells (sampler × steps × seed) done, of total. */
  done: number;
  total: number;
}

export interface EvaluateOptions {
  /** The diffusion model: a DiT (with `algorithm`), a checkpoint directory, or a safetensors file. */
  model: ModelSource;
  /** The autoregressive judge (a causal DiT, e.g. a checkpoint of `train` with algorithm 'ar'). */
  judge?: ModelSource;
  sampler: SamplerSpec | readonly SamplerSpec[];
  /** Sampling steps, each ≥ 1. */
  steps: number | readonly number[];
  /** One batch per seed (default [0]). */
  seeds?: readonly number[];
  /** Rows per seed. */
  batch: number;
  /** Ids per row (≥ 2 with a judge; at most the model's and the judge's context). */
  length: number;
  /** Also the validation NELBO → BPC / perplexity of the model (and judge): true, or where to read it. */
  validation?: boolean | ValidationOptions;
  /** Keep every sampled id in the rows (default false: the first row of each cell, decoded, only). */
  keepSamples?: boolean;
  /** Resamples of the gen-PPL bootstrap (default 1000). */
  bootstrapResamples?: number;
  /** Default: a new cpu backend (destroyed at the end). */
  backend?: Backend;
  signal?: AbortSignal;
  onProgress?: (p: EvaluateProgress) => void;
}

const isPositiveInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 1;

/** The options as lists, checked before any model is read. */
function checkOptions(o: EvaluateOptions): { specs: SamplerSpec[]; steps: number[]; seeds: number[] } {
  const fail = (path: string, got: unknown, expected: string): never => {
    throw new EvaluationConfigError(
      path,
      typeof got === 'string' ? got : (JSON.stringify(got) ?? String(got)),
      expected,
    );
  };
  const steps = typeof o.steps === 'number' ? [o.steps] : [...(o.steps ?? [])];
  if (steps.length === 0) fail('steps', o.steps, 'at least one step count');
  steps.forEach((s, i) => {
    if (!isPositiveInt(s)) fail(`steps[${i}]`, s, 'an integer ≥ 1');
  });
  const seeds = [...(o.seeds ?? [0])];
  if (seeds.length === 0) fail('seeds', seeds, 'at least one seed');
  seeds.forEach((s, i) => {
    if (!(Number.isSafeInteger(s) && s >= 0)) fail(`seeds[${i}]`, s, 'a non-negative safe integer');
  });
  if (!isPositiveInt(o.batch)) fail('batch', o.batch, 'an integer ≥ 1');
  if (!isPositiveInt(o.length)) fail('length', o.length, 'an integer ≥ 1');
  if (o.judge && o.length < 2) fail('length', o.length, 'at least 2 ids (the judge scores ids 1 … L − 1)');
  const specs = Array.isArray(o.sampler) ? [...o.sampler] : [o.sampler as SamplerSpec];
  if (specs.length === 0) fail('sampler', [], 'at least one sampler spec');
  const labels = specs.map((s, i) => {
    if (!s || (s.kind !== 'ancestral' && s.kind !== 'psi'))
      fail(`sampler[${i}].kind`, s?.kind, "'ancestral' | 'psi'");
    try {
      return samplerLabel(s);
    } catch (error) {
      const e = error as { got?: string; expected?: string; message: string };
      return fail(`sampler[${i}]`, e.got ?? e.message, e.expected ?? 'a sampler spec');
    }
  });
  labels.forEach((l, i) => {
    if (labels.indexOf(l) !== i)
      fail(`sampler[${i}]`, `a second sampler labelled "${l}"`, 'distinct labels (set `label`)');
  });
  const r = o.bootstrapResamples;
  if (r !== undefined && !isPositiveInt(r)) fail('bootstrapResamples', r, 'an integer ≥ 1');
  return { specs, steps, seeds };
}

function checkLength(length: number, loaded: LoadedModel, role: string): void {
  if (length > loaded.model.config.length)
    throw new EvaluationConfigError(
      'length',
      `${length}`,
      `at most the ${role}'s context ${loaded.model.config.length} (${loaded.source})`,
    );
}

const infoOf = (m: LoadedModel): ModelInfo => ({
  source: m.source,
  algorithm: m.algorithm,
  ...(m.dataset ? { dataset: m.dataset } : {}),
  weights: m.weights,
  config: m.model.config,
});

/** The config validationNats reads: the checkpoint's (with overrides), or one made for a model handed in. */
function validationConfig(m: LoadedModel, o: ValidationOptions): TrainConfig {
  const base = m.config;
  const contextLength = base?.data.contextLength ?? m.model.config.length;
  const batchSize = o.batchSize ?? base?.data.batchSize ?? 16;
  const batches = o.batches ?? base?.validation.batches ?? 16;
  if (base)
    return { ...base, data: { ...base.data, batchSize }, validation: { ...base.validation, batches } };
  return parseTrainConfig({
    algorithm: m.algorithm,
    steps: 1,
    data: { contextLength, batchSize },
    validation: { batches },
  });
}

async function validationOf(
  m: LoadedModel,
  o: ValidationOptions,
  stream: Uint8Array,
  resamples: number,
): Promise<ValidationFigures> {
  const config = validationConfig(m, o);
  checkFits('validation', stream.length, config.data.contextLength, config.data.batchSize);
  const { nats, windows } = await validationWindowNats(m.model, config, stream);
  // the bootstrap of exp(mean window NELBO) over windows; log / ln 2 of its bounds is the BPC interval
  const [lo, hi] = bootstrapPerplexity(windows, 1, { resamples });
  return {
    nelbo: nats,
    bpc: nats / Math.LN2,
    ppl: Math.exp(nats),
    tokens: windows.length * config.data.contextLength,
    windows: windows.length,
    bpcCi95: [Math.log(lo) / Math.LN2, Math.log(hi) / Math.LN2],
    ...(o.keepWindows ? { windowNats: Array.from(windows) } : {}),
  };
}

async function validationStream(m: LoadedModel, o: ValidationOptions): Promise<Uint8Array> {
  if (o.stream) return o.stream;
  if (!m.dataset)
    throw new EvaluationConfigError(
      'validation.stream',
      'nothing',
      "validation ids (the model's dataset is not known: pass `stream` or `dataset`)",
    );
  return (
    await prepareDataset(m.dataset, m.config?.data.cacheDir ? { cacheDir: m.config.data.cacheDir } : {})
  ).validation.tokens;
}

/** Summary of the rows of one (sampler, steps) cell. */
function summarise(
  rows: EvaluationRow[],
  rowNll: Float64Array[],
  tokensPerRow: number,
  resamples: number,
): EvaluationSummary {
  const first = rows[0];
  const ppl = rows.map((r) => r.genPpl).filter((x): x is number => x !== undefined);
  const entropy = rows.map((r) => r.entropyBits);
  const pooled = new Float64Array(rowNll.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of rowNll) {
    pooled.set(a, at);
    at += a.length;
  }
  return {
    sampler: first.sampler,
    steps: first.steps,
    seeds: rows.length,
    ...(ppl.length > 0
      ? {
          genPpl: {
            mean: mean(ppl),
            sd: sd(ppl),
            pooled: generativePerplexity(pooled, tokensPerRow),
            ci95: bootstrapPerplexity(pooled, tokensPerRow, { resamples }),
          },
        }
      : {}),
    entropyBits: { mean: mean(entropy), sd: sd(entropy) },
    secondsPerSeed: mean(rows.map((r) => r.seconds)),
  };
}

/**
 * Samples and scores (see the module comment). Options are checked first, then the models (kind, vocabulary,
 * tokenizer, context), then every sampler is built for every step count — all before the first sample.
 */
export async function evaluate(options: EvaluateOptions): Promise<EvaluationReport> {
  const { specs, steps, seeds } = checkOptions(options);
  const { batch, length } = options;
  const resamples = options.bootstrapResamples ?? 1000;
  const backend = options.backend ?? (await createBackend('cpu'));
  const owned: LoadedModel[] = [];
  try {
    const model = await loadEvaluationModel(backend, options.model, 'model');
    if (model.owned) owned.push(model);
    const judge = options.judge ? await loadEvaluationModel(backend, options.judge, 'judge') : undefined;
    if (judge?.owned) owned.push(judge);
    if (judge) checkJudgeFits(model, judge);
    checkLength(length, model, 'model');
    if (judge) checkLength(length, judge, 'judge');
    const V = model.model.config.vocabSize;
    const process = processFor(backend, model.algorithm, V);
    const samplers = specs.map((spec, i) => steps.map((s) => makeSampler(spec, process, s, `sampler[${i}]`)));
    const labels = specs.map((s) => samplerLabel(s));

    let validation: EvaluationReport['validation'];
    if (options.validation) {
      const vo = options.validation === true ? {} : options.validation;
      const stream = await validationStream(model, vo);
      validation = {
        model: await validationOf(model, vo, stream, resamples),
        ...(judge ? { judge: await validationOf(judge, vo, stream, resamples) } : {}),
      };
    }

    const denoiser = new DiTDenoiser(
      model.model,
      model.algorithm === 'mdlm' ? { kind: 'subs', maskIndex: V - 1 } : { kind: 'logits' },
    );
    const tokenizer = model.dataset ? DATASETS[model.dataset].tokenizer : undefined;
    const rows: EvaluationRow[] = [];
    const summary: EvaluationSummary[] = [];
    const total = specs.length * steps.length * seeds.length;
    for (let i = 0; i < specs.length; i++) {
      for (let j = 0; j < steps.length; j++) {
        const cell: EvaluationRow[] = [];
        const cellNll: Float64Array[] = [];
        for (const seed of seeds) {
          const t0 = performance.now();
          const out = await samplers[i][j].sample(denoiser, {
            batch,
            length,
            seed,
            ...(options.signal ? { signal: options.signal } : {}),
          });
          const ids = (await out.read()) as Int32Array;
          out.dispose();
          const seconds = (performance.now() - t0) / 1000;
          const leftover = ids.reduce((n, id) => n + (id >= model.tokenVocab ? 1 : 0), 0);
          if (leftover > 0)
            throw new EvaluationConfigError(
              `sampler[${i}].noiseRemoval`,
              `samples with ${leftover} mask ids left (${labels[i]}, ${steps[j]} steps)`,
              "a noise removal that unmasks every position ('ancestral' or 'greedy')",
            );
          const entropies = rowEntropyBits(ids, [batch, length]);
          const row: EvaluationRow = {
            sampler: labels[i],
            steps: steps[j],
            seed,
            entropyBits: mean(entropies),
            pooledEntropyBits: rowEntropyBits(ids, [1, ids.length])[0],
            seconds,
          };
          if (judge) {
            const nll = await judgeRowNll(judge.model, backend, ids, [batch, length]);
            cellNll.push(nll);
            row.genPpl = generativePerplexity(nll, length - 1);
            row.judgeNll = Math.log(row.genPpl);
          }
          if (tokenizer) row.example = tokenizer.decode(ids.subarray(0, length));
          if (options.keepSamples) row.samples = Array.from(ids);
          cell.push(row);
          rows.push(row);
          options.onProgress?.({ sampler: labels[i], steps: steps[j], seed, done: rows.length, total });
        }
        summary.push(summarise(cell, cellNll, length - 1, resamples));
      }
    }
    return {
      model: infoOf(model),
      ...(judge ? { judge: infoOf(judge) } : {}),
      settings: { batch, length, seeds, steps, samplers: labels, bootstrapResamples: resamples },
      ...(validation ? { validation } : {}),
      rows,
      summary,
    };
  } finally {
    for (const m of owned) m.model.dispose();
    if (!options.backend) backend.destroy();
  }
}
