/**
 * `autograd` suite (`pnpm bench autograd`): DiT forward + backward on the cpu backend — tokens/s and peak memory
 * of one gradient step, `valueAndGrad` over `model.parameters()` of the mean cross-entropy of the logits against
 * the input ids (softmaxCrossEntropy, mean over B·L) — side by side with the same network and loss in PyTorch CPU
 * doing `loss.backward()` (bench/anchors/autograd.py, 2 threads), and a per-op profile of where the time goes.
 *
 * Configs: micro (hidden 128, 4 blocks, 4 heads, cond 128, L 128, B 16, K 27) and tiny (256, 8, 8, 128, L 256,
 * B 8, K 27); f32, random weights N(0, 0.02²), no dropout. Each case runs in its own child process (own peak
 * RSS): one child times steps with nothing wrapped, another runs profiled steps (bench/lib/op-profile.ts: every
 * backend method, defined-op kernel and backward rule timed, self and inclusive).
 *   pnpm bench autograd [--quick]
 *   node --conditions=@duality/source --import tsx bench/autograd.bench.ts [--quick] [--config micro|tiny]
 *       [--no-anchor] [--no-profile] [--budget seconds per case, default 900]
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type Backend,
  createBackend,
  dispose,
  softmaxCrossEntropy,
  type Tensor,
  tidy,
  valueAndGrad,
} from '@duality/kernels';
import { DiT, initStateDict } from '@duality/models';
import { fmt, machineInfo, measure, printTable, quick, runAnchor, writeResults } from './lib/harness';
import { OpProfiler, type ProfileSummary, summarize } from './lib/op-profile';
import {
  type BenchConfig,
  instrumentAll,
  MICRO,
  type Outcome,
  printProfile,
  printRatioTable,
  printTorchProfile,
  runChildCase,
  TINY,
  torchConfig,
} from './lib/training';

const CONFIGS: Record<string, BenchConfig> = { micro: MICRO, tiny: TINY };
const HERE = fileURLToPath(import.meta.url);

interface OursTiming {
  median_ms: number;
  min_ms: number;
  cpu_ms?: number;
  samples_ms: number[];
  reps: number;
  tokens_per_s: number;
  peak_rss_mb?: number;
  loss: number;
}

interface TorchStep {
  median_ms: number;
  min_ms: number;
  cpu_ms: number;
  reps: number;
  tokens_per_s: number;
  peak_rss_mb: number;
  profile: { self_cpu_total_ms: number; ops: Array<{ name: string; self_ms: number; calls: number }> };
}

/** One gradient step of the DiT on `tokens`: forward, mean cross-entropy, backward; grads freed after. */
async function makeStep(backend: Backend, c: BenchConfig, profiler?: OpProfiler) {
  const model = await DiT.fromStateDict(
    backend,
    c.dit,
    initStateDict(c.dit, { seed: 0, scheme: 'normal', std: 0.02 }),
  );
  const n = c.batch * c.dit.length;
  const ids = Int32Array.from({ length: n }, (_, i) => (i * 7919 + 13) % c.dit.vocabSize);
  const tokens = backend.tensor(ids, [c.batch, c.dit.length], 'i32');
  const sigma = Array.from({ length: c.batch }, (_, i) => 0.25 + (4 * i) / c.batch);
  const lossOf = valueAndGrad(async (_params: Record<string, Tensor>) => {
    profiler?.setPhase('forward');
    const logits = await model.forward({ tokens }, sigma);
    // mean over the B·L tokens of −log softmax(logits)[id]
    const loss = tidy(() =>
      backend.scale(backend.sum(backend.reshape(softmaxCrossEntropy(logits, tokens), [1, n])), 1 / n),
    );
    logits.dispose();
    profiler?.setPhase('backward');
    return loss;
  });
  return async (): Promise<number> => {
    const { value, grads } = await lossOf(model.parameters());
    profiler?.setPhase('other');
    const loss = (await value.read())[0];
    value.dispose();
    dispose(grads);
    profiler?.setPhase(undefined);
    return loss;
  };
}

async function timeCase(name: string, reps: number): Promise<OursTiming> {
  const c = CONFIGS[name];
  const backend = await createBackend('cpu');
  const step = await makeStep(backend, c);
  let loss = Number.NaN;
  const t = await measure(
    async () => {
      loss = await step();
    },
    { warmup: 1, reps, rss: true, cpu: true },
  );
  return { ...t, tokens_per_s: (c.batch * c.dit.length) / (t.median_ms / 1e3), loss };
}

async function profileCase(name: string, runs: number): Promise<ProfileSummary & { instrumented: string[] }> {
  const c = CONFIGS[name];
  const backend = await createBackend('cpu');
  const profiler = new OpProfiler();
  const instrumented = instrumentAll(profiler, backend);
  const step = await makeStep(backend, c, profiler);
  await step(); // warm-up, not profiled
  profiler.reset();
  profiler.enabled = true;
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await step();
  const stepMs = (performance.now() - t0) / runs;
  profiler.enabled = false;
  return { ...summarize(profiler, runs, stepMs), instrumented };
}

interface Row {
  config: string;
  batch: number;
  length: number;
  ours: Outcome<OursTiming>;
  torch?: Outcome<TorchStep>;
  profile?: Outcome<ProfileSummary>;
  ratio?: number;
  ratio_cpu?: number;
}

async function main(argv: string[]): Promise<void> {
  const arg = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  const names = arg('--config') ? [arg('--config') as string] : Object.keys(CONFIGS);
  const budget = Number(arg('--budget') ?? 900);
  const info = machineInfo();
  const rows: Row[] = [];
  let torchInfo: unknown;
  for (const name of names) {
    const c = CONFIGS[name];
    const reps = quick ? 3 : 5;
    let torch: Outcome<TorchStep> | undefined;
    if (!argv.includes('--no-anchor')) {
      const a = runAnchor<{ info: unknown; step: TorchStep }>('autograd.py', ['--config', torchConfig(c)]);
      torch = a.ok ? { ok: true, data: a.data.step } : a;
      if (a.ok) torchInfo = a.data.info;
    }
    const ours = runChildCase<OursTiming>(HERE, [name, 'time', String(reps)], budget);
    const profile = argv.includes('--no-profile')
      ? undefined
      : runChildCase<ProfileSummary>(HERE, [name, 'profile', String(quick ? 1 : 2)], budget);
    const ratio = ours.ok && torch?.ok ? ours.data.tokens_per_s / torch.data.tokens_per_s : undefined;
    const ratioCpu =
      ours.ok && torch?.ok && ours.data.cpu_ms ? torch.data.cpu_ms / ours.data.cpu_ms : undefined;
    rows.push({
      config: name,
      batch: c.batch,
      length: c.dit.length,
      ours,
      torch,
      profile,
      ratio,
      ratio_cpu: ratioCpu,
    });
  }
  const end = machineInfo().loadavg_at_start;

  console.log(
    'DiT forward + backward (f32, cpu, mean cross-entropy, valueAndGrad vs loss.backward()): per step',
  );
  printRatioTable(rows, 'config', (r) => r.config);
  console.log(
    '(ours/torch: tokens/s ratio of the wall-clock medians; cpu-time ratio: torch CPU ms / ours CPU ms per step)',
  );
  for (const r of rows) {
    if (r.profile?.ok) printProfile(`ours, ${r.config}`, r.profile.data);
    else if (r.profile) console.log(`${r.config} profile: ${r.profile.reason}`);
    if (r.torch?.ok) printTorchProfile(`torch, ${r.config}`, r.torch.data.profile);
    else if (r.torch) console.log(`${r.config}/torch: ${r.torch.reason}`);
    if (!r.ours.ok) console.log(`${r.config}/ours: ${r.ours.reason}`);
  }
  const file = writeResults('autograd', {
    machine: { ...info, loadavg_at_end: end },
    torch: torchInfo,
    target: 'tokens/s ≥ 0.5 × PyTorch CPU (2 threads) for forward + backward',
    loss: 'mean over B·L of softmax cross-entropy(logits, input ids)',
    rows,
  });
  console.log(`results: ${file}`);
}

const invokedDirectly =
  process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url;
if (invokedDirectly) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    const [, name, mode, count] = argv;
    const result =
      mode === 'profile' ? await profileCase(name, Number(count)) : await timeCase(name, Number(count));
    console.log(JSON.stringify(result));
    process.exit(0);
  } else {
    await main(argv);
  }
}
