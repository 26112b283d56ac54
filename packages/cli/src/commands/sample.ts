/**
 * `duality sample <checkpoint>`: loads a DiT (loadDiT; reference checkpoints are converted in memory), builds a
 * sampler of @duality/samplers and samples. On a terminal the sequence is redrawn at every step of the streaming
 * `run(...)`; otherwise the text is printed when done (or, with --json, text, ids, steps and timings).
 */
import type { Backend } from '@duality/kernels';
import { DiTDenoiser } from '@duality/models';
import { cosine, logLinear, masked, type NoiseProcess, type Schedule, uniform } from '@duality/noise';
import { type KappaMode, type KappaPlan, parseKappaMode } from '@duality/posteriors';
import {
  ancestralSampler,
  cachedAncestralSampler,
  type NoiseRemoval,
  psiSampler,
  type Sampler,
  type SamplerState,
} from '@duality/samplers';
import { type Command, Option } from 'commander';
import { createLogUpdate } from 'log-update';
import { createColors } from 'picocolors';
import { type LoadedModel, loadModel } from '../checkpoint';
import type { CommandContext } from '../context';
import { UsageError } from '../errors';
import { integer, number } from '../options';
import { type ProcessKind, renderRow, resolveTokenizer, type TokenView, tokenView } from '../sample-view';
import type { CommandModule } from './index';

export interface SampleOptions {
  steps: number;
  sampler: 'ancestral' | 'cached' | 'psi';
  kappa?: string;
  phases: [number, number];
  noiseRemoval: NoiseRemoval;
  topP?: number;
  topK?: number;
  batch: number;
  length?: number;
  float64: boolean;
  stride?: number;
  process?: ProcessKind;
  tokenizer?: string;
  weights: 'ema' | 'raw';
}

const group = (ref: Record<string, unknown> | null, key: string): Record<string, unknown> => {
  const g = ref?.[key];
  return g !== null && typeof g === 'object' && !Array.isArray(g) ? (g as Record<string, unknown>) : {};
};

const UNIFORM_ALGOS = ['duo', 'duo_base', 'duo-efficient', 'udlm', 'distillation', 'ot-finetune'];

/** Masked or uniform diffusion, from --process or the checkpoint's `algo` group (name / parameterization). */
export function processKind(
  loaded: Pick<LoadedModel, 'model' | 'reference'>,
  override?: ProcessKind,
): ProcessKind {
  if (loaded.model.config.causal)
    throw new UsageError(
      'sample',
      'a causal (autoregressive) model',
      'a diffusion model (masked or uniform)',
    );
  if (override) return override;
  const algo = group(loaded.reference, 'algo');
  if (algo.parameterization === 'subs' || algo.name === 'mdlm') return 'masked';
  if (algo.parameterization === 'mean' || UNIFORM_ALGOS.includes(algo.name as string)) return 'uniform';
  if (algo.parameterization !== undefined)
    throw new UsageError(
      'sample',
      `a model with parameterization "${String(algo.parameterization)}" (algo ${String(algo.name ?? '?')})`,
      'subs (masked) or mean (uniform), or --process masked | uniform',
    );
  throw new UsageError(
    'sample',
    'a checkpoint that does not say masked or uniform (no algo.name / algo.parameterization in its config)',
    '--process masked | uniform',
  );
}

/** The noise schedule of the checkpoint's `noise` group (log-linear by default, as the reference). */
export function scheduleOf(reference: Record<string, unknown> | null): Schedule {
  const noise = group(reference, 'noise');
  const eps = typeof noise.eps === 'number' ? noise.eps : undefined;
  if (noise.type === undefined || noise.type === 'log-linear') return logLinear({ eps });
  if (noise.type === 'cosine') return cosine({ eps });
  throw new UsageError('sample', `noise.type "${String(noise.type)}"`, 'log-linear or cosine');
}

/** κ of the Ψ sampler: one mode for the whole grid, or high,middle,low modes over the --phases fractions. */
export function kappaOf(spec: string, phases: [number, number]): KappaMode | KappaPlan {
  const modes = spec.split(',').map((s) => parseKappaMode(s.trim()));
  if (modes.length === 1) return modes[0];
  if (modes.length !== 3)
    throw new UsageError('sample --kappa', `${modes.length} modes`, 'one mode or three (high,middle,low)');
  return { high: modes[0], middle: modes[1], low: modes[2], highFrac: phases[0], middleFrac: phases[1] };
}

export function buildSampler(process: NoiseProcess, o: SampleOptions): Sampler {
  const common = {
    process,
    steps: o.steps,
    noiseRemoval: o.noiseRemoval,
    topP: o.topP,
    topK: o.topK,
    float64: o.float64,
    semiAR: o.stride === undefined ? undefined : { stride: o.stride },
  };
  if (o.sampler === 'psi')
    return psiSampler({ ...common, kappa: kappaOf(o.kappa ?? 'pure-posterior', o.phases) });
  if (o.kappa !== undefined)
    throw new UsageError('sample', `--kappa with --sampler ${o.sampler}`, '--sampler psi');
  return o.sampler === 'cached' ? cachedAncestralSampler(common) : ancestralSampler(common);
}

export const phases = (text: string): [number, number] => {
  const parts = text.split(',').map(Number);
  if (parts.length !== 2 || parts.some((p) => !(p >= 0 && p <= 1)) || parts[0] + parts[1] > 1)
    throw new UsageError(
      'sample --phases',
      `"${text}"`,
      'two fractions high,middle in [0, 1] with a sum ≤ 1',
    );
  return [parts[0], parts[1]];
};

const median = (xs: number[]): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

interface Run {
  final: SamplerState;
  stepMs: number[];
}

/** Streams the sampler; `onState` sees every state with the time since the start. */
async function stream(
  sampler: Sampler,
  denoiser: DiTDenoiser,
  request: { batch: number; length: number; seed: number; signal: AbortSignal; x0Argmax: boolean },
  onState: (state: SamplerState, elapsedMs: number) => void,
): Promise<Run> {
  const stepMs: number[] = [];
  const t0 = performance.now();
  let last = t0;
  let final: SamplerState | undefined;
  for await (const state of sampler.run(denoiser, request)) {
    const now = performance.now();
    stepMs.push(now - last);
    last = now;
    onState(state, now - t0);
    final = state;
    // the cpu backend's steps resolve as microtasks: give the event loop a turn, so Ctrl-C (SIGINT) is seen
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { final: final as SamplerState, stepMs };
}

function liveView(context: CommandContext, view: TokenView, backend: Backend, batch: number, length: number) {
  const colors = createColors(context.io.env.NO_COLOR === undefined);
  const log = createLogUpdate(context.io.stdout as NodeJS.WritableStream);
  let previous: Int32Array | undefined;
  return {
    show(state: SamplerState, elapsedMs: number) {
      const rate = state.done / Math.max(elapsedMs / 1000, 1e-9);
      const head =
        state.phase === 'final'
          ? `done: ${state.total} steps in ${(elapsedMs / 1000).toFixed(2)} s (${rate.toFixed(1)} steps/s, ${backend.name})`
          : `step ${state.done}/${state.total}  t ${state.t.toFixed(3)}  ${rate.toFixed(1)} steps/s  ${backend.name}`;
      const rows = [];
      for (let b = 0; b < batch; b++) {
        const ids = state.xt.subarray(b * length, (b + 1) * length);
        const x0 =
          state.x0Argmax?.length === batch * length
            ? state.x0Argmax.subarray(b * length, (b + 1) * length)
            : undefined;
        rows.push(
          renderRow(view, { ids, previous: previous?.subarray(b * length, (b + 1) * length), x0 }, colors),
        );
      }
      previous = state.xt.slice();
      log([colors.dim(head), ...rows].join('\n'));
    },
    done() {
      log.done();
    },
  };
}

export const sample: CommandModule = {
  register(program: Command, context: CommandContext) {
    program
      .command('sample')
      .description('sample text from a DiT checkpoint, redrawing the denoising live on a terminal')
      .argument(
        '<checkpoint>',
        'a .safetensors model, a checkpoint directory, a Hugging Face folder or a .ckpt',
      )
      .option('--steps <n>', 'denoising steps', integer(1), 64)
      .addOption(
        new Option('--sampler <kind>', 'ancestral, ancestral with cache (MDLM), or Ψ predictor-corrector')
          .choices(['ancestral', 'cached', 'psi'])
          .default('ancestral'),
      )
      .option(
        '--kappa <modes>',
        'Ψ κ mode (pure-posterior, pure-pc, constant-η, constant-remdm-η, max-capped-η, max-rescale-η), or high,middle,low',
      )
      .option('--phases <high,middle>', 'fractions of the grid for a three-mode κ', phases, [0.2, 0.6])
      .addOption(
        new Option(
          '--noise-removal <kind>',
          'final move: ancestral, greedy (the greedy tail, Duo §4.2) or none',
        )
          .choices(['ancestral', 'greedy', 'none'])
          .default('ancestral'),
      )
      .option('--top-p <p>', 'nucleus filtering of x̂0, p in (0, 1]', number(0, 1))
      .option('--top-k <k>', 'keep the k most likely x̂0 ids', integer(1))
      .option('--batch <n>', 'sequences', integer(1), 1)
      .option('--length <n>', "sequence length (default: the model's context)", integer(1))
      .option(
        '--stride <n>',
        'longer than the context: semi-autoregressive windows with n new tokens each',
        integer(1),
      )
      .option('--float64', 'posterior in float64 (cpu backend; the reference’s use_float64)', false)
      .addOption(
        new Option('--process <kind>', 'masked or uniform, when the checkpoint does not say').choices([
          'masked',
          'uniform',
        ]),
      )
      .addOption(
        new Option('--tokenizer <name>', 'decode with this tokenizer').choices([
          'brown8',
          'brown-char',
          'gpt2',
        ]),
      )
      .addOption(
        new Option('--weights <which>', 'Lightning checkpoints: EMA or raw weights')
          .choices(['ema', 'raw'])
          .default('ema'),
      )
      .addHelpText(
        'after',
        '\nExamples:\n  duality sample models/duo-brown8.safetensors --steps 8\n' +
          '  duality sample model.safetensors --sampler psi --kappa max-capped-0.05 --steps 32 --seed 7\n' +
          '  duality sample model.safetensors --batch 4 --noise-removal greedy --top-p 0.9 --json',
      )
      .action(async (path: string, o: SampleOptions) => {
        const { seed, json } = context.globals;
        if (o.float64 && context.globals.backend !== 'cpu')
          throw new UsageError(
            'sample',
            `--float64 with --backend ${context.globals.backend}`,
            '--backend cpu',
          );
        const t0 = performance.now();
        const backend = await context.backend();
        const loaded = await loadModel(backend, path, { weights: o.weights });
        const { model } = loaded;
        const kind = processKind(loaded, o.process);
        const V = model.config.vocabSize;
        const schedule = scheduleOf(loaded.reference);
        const process =
          kind === 'masked'
            ? masked(backend, { vocabSize: V, schedule })
            : uniform(backend, { vocabSize: V, schedule });
        const maskId = kind === 'masked' ? V - 1 : undefined;
        const denoiser = new DiTDenoiser(
          model,
          maskId === undefined ? { kind: 'logits' } : { kind: 'subs', maskIndex: maskId },
        );
        const sampler = buildSampler(process, o);
        const view = tokenView(await resolveTokenizer(o.tokenizer ?? loaded.tokenizer, V, kind), maskId);
        const length = o.length ?? model.config.length;
        if (length > model.config.length && o.stride === undefined)
          throw new UsageError(
            'sample',
            `--length ${length} > the model's context ${model.config.length}`,
            `a length ≤ ${model.config.length}, or --stride <n> (semi-autoregressive windows)`,
          );
        const loadSeconds = (performance.now() - t0) / 1000;
        const live = context.interactive ? liveView(context, view, backend, o.batch, length) : undefined;
        const request = {
          batch: o.batch,
          length,
          seed,
          signal: context.io.interrupt(),
          x0Argmax: live !== undefined && kind === 'uniform',
        };
        let result: Run;
        try {
          result = await stream(sampler, denoiser, request, (s, ms) => live?.show(s, ms));
        } finally {
          live?.done();
          model.dispose();
        }
        const ids = Array.from({ length: o.batch }, (_, b) =>
          Array.from(result.final.xt.subarray(b * length, (b + 1) * length)),
        );
        const text = ids.map((row) => view.text(row));
        const sampleSeconds = result.stepMs.reduce((a, b) => a + b, 0) / 1000;
        if (json) {
          context.printJson({
            checkpoint: path,
            modelFile: loaded.path,
            backend: backend.name,
            process: kind,
            sampler: {
              kind: o.sampler,
              steps: o.steps,
              kappa: o.sampler === 'psi' ? (o.kappa ?? 'pure-posterior') : null,
              noiseRemoval: o.noiseRemoval,
              topP: o.topP ?? null,
              topK: o.topK ?? null,
              float64: o.float64,
            },
            seed,
            batch: o.batch,
            length,
            tokenizer: view.tokenizer?.name ?? null,
            text,
            ids,
            steps: o.steps,
            timings: {
              loadSeconds,
              sampleSeconds,
              stepsPerSecond: result.final.total / Math.max(sampleSeconds, 1e-9),
              stepMs: {
                first: result.stepMs[0],
                median: median(result.stepMs),
                max: Math.max(...result.stepMs),
              },
            },
          });
        } else if (!live) {
          for (const t of text) context.print(t);
        }
      });
  },
};
