/**
 * `duality export <run> <dir>`: a training (or distillation) run's newest committed checkpoint → a bundled model
 * folder: `<dir>/model.safetensors` (the EMA weights by default, with the config card — architecture, algo name
 * and parameterization, noise schedule — the tokenizer and the training facts in its metadata, so `loadDiT`,
 * `duality sample`, `duality eval` and the browser demo read it as it is) and `<dir>/metrics.json`: the step
 * exported of the steps planned, the last validation BPC, the training time and tokens/s read from the run's
 * metrics.jsonl, and, with --judge, gen-PPL and entropy of the exported model from `evaluate`.
 */
import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { Backend } from '@duality/kernels';
import {
  DiT,
  type FloatStorageDType,
  loadDiT,
  parameterCount,
  type TensorToWrite,
  writeFileAtomic,
  writeSafetensorsFile,
} from '@duality/models';
import {
  type Algorithm,
  type EvaluationReport,
  evaluate,
  loadCheckpoint,
  type MetricsRecord,
  modelConfigOf,
  readMetrics,
  resolveCheckpointDir,
  type TrainConfig,
  trainConfigOfCheckpoint,
} from '@duality/train';
import { type Command, Option } from 'commander';
import type { CommandContext } from '../context';
import { referenceCard } from '../convert/model';
import { UsageError } from '../errors';
import { integer } from '../options';
import { progressBar } from '../progress';
import { integerList, sourceOf } from './eval';
import type { CommandModule } from './index';

interface ExportOptions {
  weights: 'ema' | 'raw';
  dtype: 'f32' | 'f16' | 'bf16';
  judge?: string;
  steps: number[];
  seeds: number[];
  batch: number;
  noiseRemoval: 'ancestral' | 'greedy' | 'none';
}

const STORAGE: Readonly<Record<ExportOptions['dtype'], FloatStorageDType>> = {
  f32: 'F32',
  f16: 'F16',
  bf16: 'BF16',
};

/** The reference's algo group for each of our algorithms (what `duality sample` and convert read). */
const ALGO_CARD: Readonly<Record<Algorithm, { name: string; parameterization: string }>> = {
  mdlm: { name: 'mdlm', parameterization: 'subs' },
  udlm: { name: 'udlm', parameterization: 'mean' },
  duo: { name: 'duo', parameterization: 'mean' },
  'duo-efficient': { name: 'duo-efficient', parameterization: 'mean' },
  ar: { name: 'ar', parameterization: 'ar' },
};

/** The newest committed checkpoint of a run: as `resolveCheckpointDir`, or inside `<path>/run` (a model folder). */
export async function runCheckpoint(path: string): Promise<string> {
  if (!existsSync(path))
    throw new UsageError(
      'export',
      `${path} (no such file or directory)`,
      'a run directory or a model folder',
    );
  try {
    return await resolveCheckpointDir(path);
  } catch (error) {
    if (existsSync(join(path, 'run'))) return resolveCheckpointDir(join(path, 'run'));
    throw error;
  }
}

/** Wall-clock seconds of training up to `step`, summed over the sessions (each resume restarts `time` at 0). */
export function trainingSeconds(records: readonly MetricsRecord[], step: number): number | undefined {
  let total = 0;
  let last: number | undefined;
  let seen = false;
  for (const r of records) {
    if (r.step > step || typeof r.time !== 'number') continue;
    if (last !== undefined && r.time < last) total += last; // a new session began
    last = r.time;
    seen = true;
  }
  return seen ? total + (last as number) : undefined;
}

export interface ExportedMetrics {
  name: string;
  algorithm: Algorithm;
  dataset: string;
  /** 'train', or 'distill' with the teacher it was distilled from. */
  kind: 'train' | 'distill';
  teacher?: string;
  seed: number;
  /** The checkpoint exported (relative to the folder written) and its step, of the steps planned. */
  checkpoint: string;
  step: number;
  steps: number;
  weights: 'ema' | 'raw';
  dtype: ExportOptions['dtype'];
  parameters: number;
  bytes: number;
  /** The last validation at or before the step (EMA weights, true NELBO). */
  validation: { step: number; bpc: number; nelbo?: number; ppl?: number } | null;
  lastLoss: number | null;
  /** Wall-clock seconds of training to the step (summed over sessions) and the mean tokens/s of its records. */
  trainingSeconds: number | null;
  tokensPerSecond: number | null;
  /** gen-PPL under the judge and entropy of samples of this model (with --judge). */
  evaluation?: {
    /** The step of the weights evaluated (a re-export without evaluating keeps an earlier one). */
    step: number;
    judge: string;
    sampler: string;
    batch: number;
    length: number;
    seeds: number[];
    cells: Array<{
      steps: number;
      genPpl: number;
      ci95: [number, number];
      entropyBits: number;
      seconds: number;
    }>;
  };
}

/** The validation, loss, time and throughput figures of the records up to `step`. */
export function runFigures(
  records: readonly MetricsRecord[],
  step: number,
): Pick<ExportedMetrics, 'validation' | 'lastLoss' | 'trainingSeconds' | 'tokensPerSecond'> {
  const upTo = records.filter((r) => r.step <= step);
  const val = upTo.filter((r) => typeof r.valBpc === 'number').at(-1);
  const loss = upTo.filter((r) => typeof r.loss === 'number' && Number.isFinite(r.loss)).at(-1);
  const rates = upTo.map((r) => r.tokensPerSec).filter((x): x is number => typeof x === 'number');
  return {
    validation: val
      ? {
          step: val.step,
          bpc: val.valBpc as number,
          ...(typeof val.valNelbo === 'number' ? { nelbo: val.valNelbo } : {}),
          ...(typeof val.valPpl === 'number' ? { ppl: val.valPpl } : {}),
        }
      : null,
    lastLoss: loss ? (loss.loss as number) : null,
    trainingSeconds: trainingSeconds(upTo, step) ?? null,
    tokensPerSecond: rates.length > 0 ? rates.reduce((a, b) => a + b, 0) / rates.length : null,
  };
}

/** The exported model's figures under `evaluate` (ancestral sampling with the chosen noise removal). */
async function evaluationOf(
  backend: Backend,
  file: string,
  config: TrainConfig,
  o: ExportOptions & { judge: string },
  step: number,
  onCell: (done: number) => void,
): Promise<NonNullable<ExportedMetrics['evaluation']>> {
  const judge = await sourceOf(backend, o.judge, 'judge', { weights: 'ema' });
  let report: EvaluationReport;
  try {
    report = await evaluate({
      model: { source: file, algorithm: config.algorithm, dataset: config.data.dataset },
      judge: judge.spec,
      sampler: { kind: 'ancestral', noiseRemoval: o.noiseRemoval },
      steps: o.steps,
      seeds: o.seeds,
      batch: o.batch,
      length: config.model.contextLength,
      backend,
      onProgress: (p) => onCell(p.done),
    });
  } finally {
    judge.dispose();
  }
  return {
    step,
    judge: o.judge,
    sampler: report.settings.samplers[0],
    batch: o.batch,
    length: report.settings.length,
    seeds: o.seeds,
    cells: report.summary.map((s) => ({
      steps: s.steps,
      genPpl: s.genPpl?.pooled as number,
      ci95: s.genPpl?.ci95 as [number, number],
      entropyBits: s.entropyBits.mean,
      seconds: s.secondsPerSeed,
    })),
  };
}

export const exportCommand: CommandModule = {
  register(program: Command, context: CommandContext) {
    program
      .command('export')
      .description(
        "write a run's newest checkpoint as a bundled model: <dir>/model.safetensors and <dir>/metrics.json",
      )
      .argument('<run>', 'a run directory (or a model folder holding run/, a checkpoints root, a step-N/)')
      .argument('<dir>', 'the folder to write (e.g. models/<name>)')
      .addOption(
        new Option('--weights <which>', 'the EMA (what the models are sampled with) or the raw weights')
          .choices(['ema', 'raw'])
          .default('ema'),
      )
      .addOption(
        new Option('--dtype <dtype>', 'storage dtype of the weights')
          .choices(['f32', 'f16', 'bf16'])
          .default('f32'),
      )
      .option('--judge <checkpoint>', 'also evaluate the export: gen-PPL under this AR judge and entropy')
      .option('--steps <list>', 'sampling steps of the evaluation', integerList(1), [8, 64])
      .option('--seeds <list>', 'seeds of the evaluation', integerList(0), [0, 1, 2])
      .option('--batch <n>', 'sequences per seed in the evaluation', integer(1), 8)
      .addOption(
        new Option('--noise-removal <kind>', 'final move of the evaluation’s ancestral sampler')
          .choices(['ancestral', 'greedy', 'none'])
          .default('greedy'),
      )
      .addHelpText(
        'after',
        '\nExamples:\n  duality export models/duo-brown8/run models/duo-brown8 --judge models/ar-brown8/model.safetensors\n' +
          '  duality export runs/ar models/ar-brown8 --dtype bf16',
      )
      .action(async (run: string, dir: string, o: ExportOptions) => {
        const checkpoint = await runCheckpoint(run);
        const saved = await loadCheckpoint(checkpoint); // every file re-hashed
        const config = trainConfigOfCheckpoint(saved.state.config);
        const raw = saved.state.config as { teacher?: unknown };
        const distilled = typeof raw.teacher === 'string';
        if (o.weights === 'ema' && !saved.ema)
          throw new UsageError('export', `${checkpoint} without ema.safetensors`, '--weights raw');
        if (o.judge && config.algorithm === 'ar')
          throw new UsageError(
            'export --judge',
            `an AR model (${checkpoint})`,
            'a diffusion model to evaluate',
          );
        const backend = await context.backend();
        const dcfg = modelConfigOf(config);
        const host = (o.weights === 'ema' ? saved.ema : saved.weights) as NonNullable<typeof saved.ema>;
        const stored = new Map(
          [...host].map(([n, t]) => [
            n,
            {
              dtype: t.data instanceof Float64Array ? ('F64' as const) : ('F32' as const),
              shape: [...t.shape],
              data: t.data,
            },
          ]),
        );
        const model = await DiT.fromStateDict(backend, dcfg, stored); // checks every name and shape
        const state = await model.stateDict();
        model.dispose();
        const tensors = new Map<string, TensorToWrite>();
        for (const [name, t] of state)
          tensors.set(name, { ...t, dtype: name === 'rotary_emb.inv_freq' ? 'F32' : STORAGE[o.dtype] });
        const card = referenceCard(dcfg, {
          algo: ALGO_CARD[config.algorithm],
          ...(config.algorithm === 'ar'
            ? {}
            : { noise: { type: config.schedule === 'cosine' ? 'cosine' : 'log-linear' } }),
        });
        const step = saved.state.step;
        await mkdir(dir, { recursive: true });
        const file = join(dir, 'model.safetensors');
        const from = relative(resolve(dir), resolve(checkpoint));
        await writeSafetensorsFile(file, tensors, {
          format: 'pt',
          config: JSON.stringify(card),
          tokenizer: config.data.dataset,
          weights: o.weights,
          exported_from: from,
          training: JSON.stringify({
            kind: distilled ? 'distill' : 'train',
            algorithm: config.algorithm,
            dataset: config.data.dataset,
            step,
            steps: config.steps,
            seed: config.seed,
          }),
        });
        (await loadDiT(backend, file)).dispose(); // the file reads back as it will be used
        const runDir = dirname(dirname(checkpoint));
        const jsonl = join(runDir, 'metrics.jsonl');
        const records = existsSync(jsonl) ? await readMetrics(jsonl) : [];
        const metrics: ExportedMetrics = {
          name: basename(resolve(dir)),
          algorithm: config.algorithm,
          dataset: config.data.dataset,
          kind: distilled ? 'distill' : 'train',
          ...(distilled ? { teacher: relative(resolve(dir), resolve(raw.teacher as string)) } : {}),
          seed: config.seed,
          checkpoint: from,
          step,
          steps: config.steps,
          weights: o.weights,
          dtype: o.dtype,
          parameters: parameterCount(dcfg),
          bytes: (await stat(file)).size,
          ...runFigures(records, step),
        };
        if (o.judge) {
          const bar = progressBar(context, 'evaluate', o.steps.length * o.seeds.length);
          try {
            metrics.evaluation = await evaluationOf(
              backend,
              file,
              config,
              { ...o, judge: o.judge },
              step,
              (d) => bar.update(d),
            );
          } finally {
            bar.stop();
          }
        }
        await writeFileAtomic(join(dir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
        if (context.globals.json) return context.printJson({ file, ...metrics });
        const v = metrics.validation ? `, validation ${metrics.validation.bpc.toFixed(4)} BPC` : '';
        context.print(
          `wrote ${file} (${config.algorithm}, step ${step} of ${config.steps}${v}, ${(metrics.bytes / 1024).toFixed(0)} KiB) and ${join(dir, 'metrics.json')}`,
        );
      });
  },
};
