/**
 * `train` suite (`pnpm bench train`): tokens/s and peak memory of one full training step of @duality/train's
 * objectives on the cpu backend — the objective's draw, valueAndGrad of its mean loss over `model.parameters()`,
 * globalNorm, the fused in-place adamwUpdate with the clip coefficient (the trainer's step, src/trainer.ts) —
 * side by side with the same step in PyTorch CPU (bench/anchors/train.py, 2 threads: loss.backward(),
 * clip_grad_norm_, torch.optim.AdamW).
 *
 * Objectives: MDLM, UDLM, the Duo curriculum (dense softmax(w/τ)·E input) and the efficient curriculum (top-k
 * relaxation, k = 8, embedding bag), on micro (hidden 128, 4 blocks, 4 heads, cond 128, L 128, B 16) and tiny
 * (256, 8, 8, 128, L 256, B 8), K = 27; and the two curricula on a small model (hidden 64, 2 blocks, 4 heads,
 * cond 64, L 128, B 4) at K = 27 and K = 50257, for the efficient curriculum's peak memory and step time relative
 * to the dense one (Chapter II claims −33% memory, −25% time). f32, random weights N(0, 0.02²), no dropout, lr
 * 3e-4, no weight decay, no EMA. Every case (ours and torch) runs in its own process: its peak RSS is its own.
 *   pnpm bench train [--quick]
 *   node --conditions=@duality/source --import tsx bench/train.bench.ts [--quick] [--case <id>] [--no-anchor]
 *       [--profile (also a per-op profile of one step per case)] [--budget seconds per case, default 1800]
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { adamwUpdate, createBackend, dispose, globalNorm, type Tensor, valueAndGrad } from '@duality/kernels';
import { DiT, initStateDict } from '@duality/models';
import { gaussianCurriculum, logLinear } from '@duality/noise';
import {
  clipCoefficient,
  duoCurriculumObjective,
  efficientCurriculumObjective,
  mdlmObjective,
  type Objective,
  udlmObjective,
} from '@duality/train';
import { fmt, machineInfo, median, printTable, quick, runAnchor, writeResults } from './lib/harness';
import { OpProfiler, type ProfileSummary, summarize } from './lib/op-profile';
import {
  type BenchConfig,
  benchConfig,
  instrumentAll,
  MICRO,
  type Outcome,
  printProfile,
  printRatioTable,
  runChildCase,
  TINY,
  torchConfig,
} from './lib/training';

const HERE = fileURLToPath(import.meta.url);
const TOP_K = 8;
const OBJECTIVES = ['mdlm', 'udlm', 'duo', 'duo-efficient'] as const;
type ObjectiveName = (typeof OBJECTIVES)[number];

const small = (vocab: number) =>
  benchConfig(`small-K${vocab}`, { vocab, hidden: 64, cond: 64, heads: 4, blocks: 2, length: 128, batch: 4 });

interface Case {
  id: string;
  group: 'grid' | 'curricula';
  config: BenchConfig;
  objective: ObjectiveName;
  reps: number;
}

const CASES: Case[] = [
  ...[MICRO, TINY].flatMap((config) =>
    OBJECTIVES.map((objective) => ({
      id: `${config.name}/${objective}`,
      group: 'grid' as const,
      config,
      objective,
      reps: quick ? 2 : config === MICRO ? 5 : 3,
    })),
  ),
  ...[27, 50257].flatMap((vocab) =>
    (['duo', 'duo-efficient'] as const).map((objective) => ({
      id: `small-K${vocab}/${objective}`,
      group: 'curricula' as const,
      config: small(vocab),
      objective,
      reps: quick ? 2 : vocab === 27 ? 5 : 3,
    })),
  ),
];

/** The objective of a case, with the trainer's defaults (log-linear α; curricula γ ∈ [−3.5, −1.75], τ = 1e-3). */
function objectiveOf(name: ObjectiveName, vocabSize: number): Objective<unknown> {
  const schedule = logLinear();
  if (name === 'mdlm') return mdlmObjective({ schedule }) as Objective<unknown>;
  if (name === 'udlm') return udlmObjective({ schedule, vocabSize }) as Objective<unknown>;
  const curriculum = {
    schedule: gaussianCurriculum({ vocabSize, gammaMin: -3.5, gammaMax: -1.75 }),
    tau: () => 1e-3,
  };
  return (
    name === 'duo'
      ? duoCurriculumObjective(curriculum)
      : efficientCurriculumObjective({ ...curriculum, k: TOP_K })
  ) as Objective<unknown>;
}

type Phases = { draw: number; forward: number; backward: number; optimizer: number };

interface StepResult {
  median_ms: number;
  min_ms: number;
  cpu_ms: number;
  samples_ms: number[];
  reps: number;
  phases_ms: Phases;
  tokens_per_s: number;
  peak_rss_mb: number;
  loss: number;
}

/**
 * Times `reps` training steps (after one warm-up) of a case in this process; with `profile`, the steps run with
 * the per-op profiler installed (bench/lib/op-profile.ts) and the result carries its summary.
 */
async function runCase(
  id: string,
  reps: number,
  profile = false,
): Promise<StepResult & { profile?: ProfileSummary }> {
  const c = CASES.find((x) => x.id === id);
  if (!c) throw new Error(`unknown case ${id}`);
  const { dit, batch } = c.config;
  const backend = await createBackend('cpu');
  const profiler = profile ? new OpProfiler() : undefined;
  if (profiler) instrumentAll(profiler, backend);
  const model = await DiT.fromStateDict(
    backend,
    dit,
    initStateDict(dit, { seed: 0, scheme: 'normal', std: 0.02 }),
  );
  const params = model.parameters() as Record<string, Tensor>;
  const names = Object.keys(params);
  const m = names.map((n) => backend.zeros(params[n].shape, 'f32'));
  const v = names.map((n) => backend.zeros(params[n].shape, 'f32'));
  const objective = objectiveOf(c.objective, dit.vocabSize);
  // x0 never holds the MDLM mask id K − 1
  const x0Host = Int32Array.from(
    { length: batch * dit.length },
    (_, i) => (i * 7919 + 13) % (dit.vocabSize - 1),
  );
  let n = 0;
  const phases: Record<keyof Phases, number[]> = { draw: [], forward: [], backward: [], optimizer: [] };

  const step = async (): Promise<number> => {
    n++;
    const t0 = performance.now();
    profiler?.setPhase('draw');
    const ctx = { seed: 1, step: n, rowStart: 0, globalBatch: batch };
    const draw = await objective.draw(backend, x0Host, [batch, dit.length], ctx);
    const x0 = backend.tensor(x0Host, [batch, dit.length], 'i32');
    const t1 = performance.now();
    let t2 = t1;
    let perToken: Tensor | undefined;
    const { value, grads } = await valueAndGrad(async (_p: Record<string, Tensor>) => {
      profiler?.setPhase('forward');
      const r = await objective.loss(model, x0, x0Host, draw);
      perToken = r.perToken;
      t2 = performance.now();
      profiler?.setPhase('backward');
      return r.loss;
    })(params);
    const loss = (await value.read())[0];
    const t3 = performance.now();
    profiler?.setPhase('optimizer');
    value.dispose();
    perToken?.dispose();
    dispose(draw);
    x0.dispose();
    const normT = globalNorm(names.map((k) => grads[k]));
    const gradNorm = (await normT.read())[0];
    normT.dispose();
    adamwUpdate(
      { params: names.map((k) => params[k]), grads: names.map((k) => grads[k]), m, v },
      {
        lr: 3e-4,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: 0,
        step: n,
        clipCoef: clipCoefficient(gradNorm, 1),
      },
    );
    dispose(grads);
    profiler?.setPhase(undefined);
    const t4 = performance.now();
    phases.draw.push(t1 - t0);
    phases.forward.push(t2 - t1);
    phases.backward.push(t3 - t2);
    phases.optimizer.push(t4 - t3);
    return loss;
  };

  let loss = await step(); // warm-up
  for (const p of Object.values(phases)) p.length = 0;
  if (profiler) {
    profiler.reset(); // the warm-up's phases out
    profiler.enabled = true;
  }
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    loss = await step();
    wall.push(performance.now() - t0);
    const u = process.cpuUsage(c0);
    cpu.push((u.user + u.system) / 1000);
  }
  const med = (xs: number[]) => median([...xs].sort((a, b) => a - b));
  return {
    median_ms: med(wall),
    min_ms: Math.min(...wall),
    cpu_ms: med(cpu),
    samples_ms: wall,
    reps,
    phases_ms: {
      draw: med(phases.draw),
      forward: med(phases.forward),
      backward: med(phases.backward),
      optimizer: med(phases.optimizer),
    },
    tokens_per_s: (batch * dit.length) / (med(wall) / 1e3),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    loss,
    ...(profiler ? { profile: summarize(profiler, reps, med(wall)) } : {}),
  };
}

interface Row {
  id: string;
  group: Case['group'];
  config: string;
  objective: ObjectiveName;
  vocab: number;
  batch: number;
  length: number;
  ours: Outcome<StepResult>;
  torch?: Outcome<StepResult & { info?: unknown }>;
  ratio?: number;
  ratio_cpu?: number;
}

/** efficient / dense of one measure, ours and torch, per vocabulary of the small model. */
function curriculumRatios(rows: Row[]) {
  const get = (vocab: number, objective: ObjectiveName) =>
    rows.find((r) => r.group === 'curricula' && r.vocab === vocab && r.objective === objective);
  return [27, 50257].map((vocab) => {
    const dense = get(vocab, 'duo');
    const eff = get(vocab, 'duo-efficient');
    const ratio = (side: 'ours' | 'torch', key: 'peak_rss_mb' | 'median_ms') => {
      const a = dense?.[side];
      const b = eff?.[side];
      return a?.ok && b?.ok ? b.data[key] / a.data[key] : undefined;
    };
    return {
      vocab,
      ours_memory: ratio('ours', 'peak_rss_mb'),
      ours_time: ratio('ours', 'median_ms'),
      torch_memory: ratio('torch', 'peak_rss_mb'),
      torch_time: ratio('torch', 'median_ms'),
    };
  });
}

async function main(argv: string[]): Promise<void> {
  const arg = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  const only = arg('--case');
  const budget = Number(arg('--budget') ?? 1800);
  const info = machineInfo();
  const rows: Row[] = [];
  let torchInfo: unknown;
  for (const c of CASES.filter((x) => !only || x.id === only)) {
    let torch: Row['torch'];
    if (!argv.includes('--no-anchor')) {
      const a = runAnchor<StepResult & { info: unknown }>('train.py', [
        '--objective',
        c.objective,
        '--config',
        torchConfig(c.config),
        '--k',
        String(TOP_K),
        '--reps',
        String(c.reps),
      ]);
      torch = a;
      if (a.ok) {
        torchInfo = a.data.info;
        delete a.data.info;
      }
    }
    const ours = runChildCase<StepResult>(HERE, [c.id, String(c.reps)], budget);
    const ratio = ours.ok && torch?.ok ? ours.data.tokens_per_s / torch.data.tokens_per_s : undefined;
    const ratioCpu = ours.ok && torch?.ok ? torch.data.cpu_ms / ours.data.cpu_ms : undefined;
    rows.push({
      id: c.id,
      group: c.group,
      config: c.config.name,
      objective: c.objective,
      vocab: c.config.dit.vocabSize,
      batch: c.config.batch,
      length: c.config.dit.length,
      ours,
      torch,
      ratio,
      ratio_cpu: ratioCpu,
    });
    console.log(
      `${c.id}: ${ours.ok ? `${fmt(ours.data.median_ms, 0)} ms` : ours.reason}, torch ${torch?.ok ? `${fmt(torch.data.median_ms, 0)} ms` : (torch?.reason ?? '—')}`,
    );
  }
  const end = machineInfo().loadavg_at_start;

  console.log(
    '\nOne training step (draw, forward, backward, clip + AdamW), f32, cpu vs PyTorch CPU (2 threads)',
  );
  printRatioTable(rows, 'case', (r) => r.id);

  console.log('\nWhere the step goes (median ms per phase): ours | torch');
  const ph = [
    ['case', 'draw', 'forward', 'backward', 'optimizer', '|', 'draw', 'forward', 'backward', 'optimizer'],
  ];
  for (const r of rows) {
    const o = r.ours.ok ? r.ours.data.phases_ms : undefined;
    const t = r.torch?.ok ? r.torch.data.phases_ms : undefined;
    ph.push([
      r.id,
      fmt(o?.draw, 0),
      fmt(o?.forward, 0),
      fmt(o?.backward, 0),
      fmt(o?.optimizer, 0),
      '|',
      fmt(t?.draw, 0),
      fmt(t?.forward, 0),
      fmt(t?.backward, 0),
      fmt(t?.optimizer, 0),
    ]);
  }
  printTable(ph);

  const curricula = curriculumRatios(rows);
  console.log(
    `\nEfficient (top-k, k = ${TOP_K}) / dense curriculum on the small model (paper: memory 0.67, time 0.75)`,
  );
  const cr = [['K', 'ours memory', 'ours time', 'torch memory', 'torch time']];
  for (const x of curricula)
    cr.push([
      String(x.vocab),
      fmt(x.ours_memory, 2),
      fmt(x.ours_time, 2),
      fmt(x.torch_memory, 2),
      fmt(x.torch_time, 2),
    ]);
  printTable(cr);
  if (argv.includes('--profile')) {
    // per-op profiles in further children (1 warm-up + 1 profiled step each), after the timed runs
    for (const r of rows) {
      const p = runChildCase<StepResult & { profile: ProfileSummary }>(HERE, [r.id, '1', 'profile'], budget);
      if (p.ok) printProfile(`ours, ${r.id}`, p.data.profile, 16);
      else console.log(`${r.id} profile: ${p.reason}`);
    }
  }
  for (const r of rows) {
    if (!r.ours.ok) console.log(`${r.id}/ours: ${r.ours.reason}`);
    if (r.torch && !r.torch.ok) console.log(`${r.id}/torch: ${r.torch.reason}`);
  }
  const file = writeResults('train', {
    machine: { ...info, loadavg_at_end: end },
    torch: torchInfo,
    target:
      'tokens/s ≥ 0.5 × PyTorch CPU (2 threads); efficient curriculum below the dense one in peak memory and step time at large K',
    top_k: TOP_K,
    step: 'draw + forward + backward + globalNorm/clip + AdamW (lr 3e-4, no weight decay), no EMA, no dropout',
    rows,
    curricula,
  });
  console.log(`results: ${file}`);
}

const invokedDirectly =
  process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url;
if (invokedDirectly) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    console.log(JSON.stringify(await runCase(argv[1], Number(argv[2]), argv[3] === 'profile')));
    process.exit(0);
  } else {
    await main(argv);
  }
}
