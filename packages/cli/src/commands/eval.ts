/**
 * `duality eval <model> --judge <ar checkpoint>`: @duality/train's `evaluate` from the command line — samples the
 * diffusion model with one or more samplers at several step counts and seeds, scores the samples' generative
 * perplexity under the autoregressive judge and their unigram entropy (and, with --validation, the validation
 * BPC of both), prints the table, and with --out writes evaluation.json, evaluation.txt and the two SVG plots.
 * Every input is checked before the first sample (a bad step list, another vocabulary or tokenizer, a judge that
 * is not causal: one line, exit 2).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Backend } from '@duality/kernels';
import { openSafetensorsFile } from '@duality/models';
import type { NoiseRemoval } from '@duality/samplers';
import {
  ALGORITHMS,
  type Algorithm,
  type DatasetName,
  type EvaluationReport,
  evaluate,
  evaluationTable,
  type ModelSource,
  type SamplerSpec,
  writeEvaluation,
} from '@duality/train';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { loadModel, locate } from '../checkpoint';
import type { CommandContext } from '../context';
import { UsageError } from '../errors';
import { integer, number } from '../options';
import { progressBar } from '../progress';
import type { CommandModule } from './index';
import { kappaOf, phases } from './sample';

type SamplerKind = 'ancestral' | 'cached' | 'psi';

interface EvalOptions {
  judge?: string;
  sampler: SamplerKind[];
  kappa?: string;
  phases: [number, number];
  noiseRemoval: NoiseRemoval;
  topP?: number;
  topK?: number;
  steps: number[];
  seeds?: number[];
  batch: number;
  length?: number;
  validation: boolean;
  validationBatches?: number;
  validationWindows: boolean;
  weights: 'ema' | 'raw';
  algorithm?: Algorithm;
  bootstrap: number;
  out?: string;
}

/** A comma-separated list of integers ≥ min ("1,2,4,8"). */
export const integerList =
  (min: number) =>
  (text: string): number[] => {
    const parts = text.split(',').map((s) => s.trim());
    if (parts.some((p) => !/^\d+$/.test(p) || !Number.isSafeInteger(Number(p)) || Number(p) < min))
      throw new InvalidArgumentError(`expected integers ≥ ${min} separated by commas, e.g. 1,2,4,8`);
    return parts.map(Number);
  };

/** The reference's algo names (and ours) → the algorithm @duality/train evaluates as. */
const ALGORITHM_OF: Readonly<Record<string, Algorithm>> = {
  mdlm: 'mdlm',
  udlm: 'udlm',
  duo: 'duo',
  duo_base: 'duo',
  'duo-efficient': 'duo-efficient',
  distillation: 'duo',
  'ot-finetune': 'duo',
  ar: 'ar',
};

/** What a model's config card says it was trained as (name first, then parameterization / causal attention). */
export function algorithmOfCard(card: Record<string, unknown> | null): Algorithm | undefined {
  const algo = (card?.algo ?? {}) as Record<string, unknown>;
  const byName = typeof algo.name === 'string' ? ALGORITHM_OF[algo.name] : undefined;
  if (byName) return byName;
  if (algo.parameterization === 'subs') return 'mdlm';
  if (algo.parameterization === 'ar' || algo.causal_attention === true) return 'ar';
  if (algo.parameterization === 'mean') return 'udlm';
  return undefined;
}

const DATASETS: readonly string[] = ['brown8', 'brown-char'];

export interface Source {
  spec: ModelSource;
  /** The path as given (a model handed in as a DiT is reported by it). */
  label: string;
  /** The model's context length, when recorded. */
  context?: number;
  dispose(): void;
}

const positive = (x: unknown): number | undefined =>
  Number.isSafeInteger(Number(x)) && Number(x) > 0 ? Number(x) : undefined;

/**
 * What `evaluate` reads for a path of the command line: a training checkpoint directory as it is (its config
 * gives the algorithm, dataset and validation settings), a safetensors file with the algorithm and dataset of
 * its metadata, and anything else (Hugging Face folder, Lightning .ckpt) converted in memory by `loadModel`.
 */
export async function sourceOf(
  backend: Backend,
  path: string,
  role: 'model' | 'judge',
  o: Pick<EvalOptions, 'weights' | 'algorithm'>,
): Promise<Source> {
  const at = await locate(path, o.weights);
  if (at.kind === 'safetensors' && existsSync(join(at.dir, 'state.json'))) {
    const state = JSON.parse(await readFile(join(at.dir, 'state.json'), 'utf8'));
    return {
      label: path,
      context: positive(state?.config?.model?.contextLength),
      dispose() {},
      spec: {
        source: at.dir,
        ...(basename(at.path) === 'weights.safetensors' ? { weights: 'weights' as const } : {}),
      },
    };
  }
  let card: Record<string, unknown> | null = null;
  let tokenizer: string | undefined;
  let loaded: Awaited<ReturnType<typeof loadModel>> | undefined;
  if (at.kind === 'safetensors') {
    const reader = await openSafetensorsFile(at.path);
    try {
      card = reader.metadata.config ? JSON.parse(reader.metadata.config) : null;
      tokenizer = reader.metadata.tokenizer;
    } catch {
      card = null;
    } finally {
      await reader.close();
    }
  } else {
    loaded = await loadModel(backend, path, { weights: o.weights });
    card = loaded.reference;
    tokenizer = loaded.tokenizer;
  }
  const algorithm = (role === 'model' ? o.algorithm : undefined) ?? algorithmOfCard(card);
  if (!algorithm && role === 'model') {
    loaded?.model.dispose();
    throw new UsageError(
      'eval',
      `${path}, whose config does not name the algorithm it was trained with`,
      `--algorithm ${ALGORITHMS.filter((a) => a !== 'ar').join(' | ')}`,
    );
  }
  const dataset = tokenizer && DATASETS.includes(tokenizer) ? (tokenizer as DatasetName) : undefined;
  const spec = {
    source: loaded ? loaded.model : at.path,
    ...(algorithm ? { algorithm } : {}),
    ...(dataset ? { dataset } : {}),
  };
  const context = loaded
    ? loaded.model.config.length
    : positive((card?.model as { length?: unknown })?.length);
  return { spec, label: path, context, dispose: () => loaded?.model.dispose() };
}

/** The sampler specs of --sampler (each kind once) with the shared options. */
export function samplerSpecs(o: EvalOptions): SamplerSpec[] {
  const kinds = [...new Set(o.sampler)];
  if (o.kappa !== undefined && !kinds.includes('psi'))
    throw new UsageError('eval', `--kappa with --sampler ${kinds.join(' ')}`, '--sampler psi (among others)');
  const common = {
    noiseRemoval: o.noiseRemoval,
    ...(o.topP !== undefined ? { topP: o.topP } : {}),
    ...(o.topK !== undefined ? { topK: o.topK } : {}),
  };
  return kinds.map((kind) =>
    kind === 'psi'
      ? { kind, kappa: kappaOf(o.kappa ?? 'pure-posterior', o.phases), ...common }
      : { kind: 'ancestral', ...(kind === 'cached' ? { cache: true } : {}), ...common },
  );
}

/** The smaller of the two contexts (what both the model and the judge can read). */
function defaultLength(sources: Source[]): number {
  const known = sources.map((s) => s.context).filter((c): c is number => c !== undefined);
  if (known.length === 0)
    throw new UsageError('eval', 'models whose context length is not recorded', '--length <n>');
  return Math.min(...known);
}

export const evalCommand: CommandModule = {
  register(program: Command, context: CommandContext) {
    program
      .command('eval')
      .description(
        'sample a diffusion model at several step counts and seeds; gen-PPL under an AR judge, entropy, plots',
      )
      .argument(
        '<model>',
        'a checkpoint directory (step-N/, a run, a bundled model folder) or a .safetensors',
      )
      .option('--judge <checkpoint>', 'the autoregressive judge (a causal model trained with algorithm ar)')
      .addOption(
        new Option('--sampler <kinds...>', 'samplers to compare: ancestral, cached (MDLM), psi')
          .choices(['ancestral', 'cached', 'psi'])
          .default(['ancestral']),
      )
      .option(
        '--kappa <modes>',
        'Ψ κ mode (pure-posterior, pure-pc, constant-η, constant-remdm-η, max-capped-η, max-rescale-η), or high,middle,low',
      )
      .option('--phases <high,middle>', 'fractions of the grid for a three-mode κ', phases, [0.2, 0.6])
      .addOption(
        new Option('--noise-removal <kind>', 'final move: ancestral, greedy (Duo’s greedy tail) or none')
          .choices(['ancestral', 'greedy', 'none'])
          .default('ancestral'),
      )
      .option('--top-p <p>', 'nucleus filtering of x̂0, p in (0, 1]', number(0, 1))
      .option('--top-k <k>', 'keep the k most likely x̂0 ids', integer(1))
      .option('--steps <list>', 'sampling steps, comma-separated', integerList(1), [1, 2, 4, 8, 16, 32, 64])
      .option('--seeds <list>', 'one batch per seed (default: --seed)', integerList(0))
      .option('--batch <n>', 'sequences per seed', integer(1), 8)
      .option(
        '--length <n>',
        'ids per sequence (default: the smaller context of model and judge)',
        integer(2),
      )
      .option('--validation', 'also the validation NELBO → BPC of the model and the judge', false)
      .option(
        '--validation-batches <n>',
        "validation batches (default: the checkpoint's; more than the split holds = all of it)",
        integer(1),
      )
      .option('--validation-windows', "keep each validation window's NELBO in the JSON report", false)
      .addOption(
        new Option('--weights <which>', 'training checkpoints: EMA (default) or raw weights')
          .choices(['ema', 'raw'])
          .default('ema'),
      )
      .addOption(
        new Option('--algorithm <name>', 'what the model was trained as, when its file does not say').choices(
          ALGORITHMS.filter((a) => a !== 'ar'),
        ),
      )
      .option('--bootstrap <n>', 'resamples of the gen-PPL bootstrap interval', integer(1), 1000)
      .option(
        '--out <dir>',
        'write evaluation.json, evaluation.txt, gen-ppl-vs-steps.svg, gen-ppl-vs-entropy.svg',
      )
      .addHelpText(
        'after',
        '\nExamples:\n  duality eval models/duo-brown8 --judge models/ar-brown8 --steps 1,2,4,8,64 --noise-removal greedy\n' +
          '  duality eval runs/duo-dcd --judge runs/ar --sampler ancestral psi --kappa max-capped-0.05 --seeds 0,1,2 --out runs/duo-dcd/eval\n' +
          '  duality eval model.safetensors --algorithm duo --steps 8 --json',
      )
      .action(async (path: string, o: EvalOptions) => {
        const samplers = samplerSpecs(o);
        const seeds = o.seeds ?? [context.globals.seed];
        const backend = await context.backend();
        const sources: Source[] = [];
        try {
          const model = await sourceOf(backend, path, 'model', o);
          sources.push(model);
          const judge = o.judge ? await sourceOf(backend, o.judge, 'judge', o) : undefined;
          if (judge) sources.push(judge);
          const length = o.length ?? defaultLength(sources);
          if ((o.validationBatches !== undefined || o.validationWindows) && !o.validation)
            throw new UsageError(
              'eval',
              o.validationWindows
                ? '--validation-windows without --validation'
                : '--validation-batches without --validation',
              '--validation as well',
            );
          const validation = o.validation
            ? {
                ...(o.validationBatches !== undefined ? { batches: o.validationBatches } : {}),
                ...(o.validationWindows ? { keepWindows: true } : {}),
              }
            : false;
          const total = samplers.length * o.steps.length * seeds.length;
          const bar = progressBar(context, 'eval', total, ['cell']);
          let report: EvaluationReport;
          try {
            report = await evaluate({
              model: model.spec,
              ...(judge ? { judge: judge.spec } : {}),
              sampler: samplers,
              steps: o.steps,
              seeds,
              batch: o.batch,
              length,
              validation,
              bootstrapResamples: o.bootstrap,
              backend,
              signal: context.io.interrupt(),
              onProgress: (p) => bar.update(p.done, { cell: `${p.sampler} ${p.steps} steps seed ${p.seed}` }),
            });
          } finally {
            bar.stop();
          }
          if (report.model.source === 'DiT') report.model.source = model.label;
          if (judge && report.judge?.source === 'DiT') report.judge.source = judge.label;
          const written = o.out ? await writeEvaluation(report, o.out) : [];
          if (context.globals.json) context.printJson(report);
          else {
            context.print(evaluationTable(report).trimEnd());
            for (const f of written) context.note(`wrote ${f}`);
          }
        } finally {
          for (const s of sources) s.dispose();
        }
      });
  },
};
