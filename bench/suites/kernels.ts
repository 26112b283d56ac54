/**
 * Suite `kernels`: matmul GFLOP/s at 512×512×512 and 4096×256×768 (M×K×N), and the fused log-softmax +
 * Gumbel-max sample over [1, 1024, 50257] (ms), for Duality's cpu backend (all cores, and 1 thread) and webgpu
 * backend (Node, Dawn on llvmpipe), side by side with PyTorch CPU (2 threads; the reference sampling path and a
 * hand-tuned one) and TensorFlow.js (WebAssembly backend).
 *
 *   pnpm bench kernels [--quick] [--rounds=N]    (default 3 rounds, 1 with --quick; medians over rounds)
 */
import { availableParallelism, loadavg } from 'node:os';
import { createBackend, philoxKey, philoxWords, wordToUniform } from '@duality/kernels';
import {
  benchArgs,
  fmt,
  machineInfo,
  measure,
  median,
  printTable,
  quick,
  runAnchor,
  runChild,
  writeResults,
} from '../lib/harness';
import { type EngineResult, gflops, MATMUL_SHAPES, SAMPLE_SHAPE, values } from './_kernels-common';

interface TorchTiming {
  median_ms: number;
  min_ms: number;
  gflops?: number;
  variant?: string;
}
interface TorchResult {
  info: Record<string, unknown>;
  matmul: Record<string, TorchTiming>;
  sample: { reference: TorchTiming; tuned: TorchTiming };
}

async function cpuEngine(threads: number): Promise<EngineResult> {
  const backend = await createBackend('cpu', { threads });
  const reps = quick ? 3 : 7;
  const result: EngineResult = { matmul: {}, sample: { median_ms: Number.NaN, min_ms: Number.NaN } };
  for (const { name, m, k, n } of MATMUL_SHAPES) {
    const a = backend.tensor(values(m * k, 1), [m, k]);
    const b = backend.tensor(values(k * n, 2), [k, n]);
    const t = await measure(() => backend.matmul(a, b).dispose(), { reps, cpu: true });
    result.matmul[name] = {
      median_ms: t.median_ms,
      min_ms: t.min_ms,
      gflops: gflops(m, k, n, t.median_ms),
      cpu_ms: t.cpu_ms,
    };
    a.dispose();
    b.dispose();
  }
  const logits = backend.tensor(
    values(
      SAMPLE_SHAPE.reduce((x, y) => x * y, 1),
      3,
      4,
    ),
    [...SAMPLE_SHAPE],
  );
  let offset = 0;
  const t = await measure(() => backend.sampleCategorical(logits, { seed: 11, offset: offset++ }).dispose(), {
    reps,
    rss: true,
    cpu: true,
  });
  result.sample = { median_ms: t.median_ms, min_ms: t.min_ms, cpu_ms: t.cpu_ms };
  result.info = { threads, peak_rss_mb: t.peak_rss_mb };
  logits.dispose();
  backend.destroy();
  return result;
}

/** Exactness of the fast sampler: ids of the first rows against the reference loop on the same stream. */
async function sampleExactness(rowsChecked: number): Promise<{ rows_checked: number; mismatches: number }> {
  const backend = await createBackend('cpu', {});
  const vocab = SAMPLE_SHAPE[2];
  const data = values(rowsChecked * vocab, 3, 4);
  const logits = backend.tensor(data, [rowsChecked, vocab]);
  const fast = await backend.sampleCategorical(logits, { seed: 11, offset: 0 }).read();
  const ref = referenceIds(data, rowsChecked, vocab, 11);
  backend.destroy();
  let mismatches = 0;
  for (let r = 0; r < rowsChecked; r++) if (fast[r] !== ref[r]) mismatches++;
  return { rows_checked: rowsChecked, mismatches };
}

/** The defining loop of Backend.sampleCategorical: argmax_i logits_i − ln(−ln u_i), u_i at offset r·V + i. */
function referenceIds(logits: Float32Array, rows: number, vocab: number, seed: number): Int32Array {
  const ids = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const words = philoxWords(philoxKey(seed), r * vocab, vocab);
    let best = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < vocab; i++) {
      const v = logits[r * vocab + i] - Math.log(-Math.log(wordToUniform(words[i])));
      if (v > best) {
        best = v;
        ids[r] = i;
      }
    }
  }
  return ids;
}

type Outcome<T> = { ok: true; data: T } | { ok: false; reason: string };

const mid = (xs: number[]): number => median([...xs].sort((a, b) => a - b));

/** Per case, the median over rounds of the rounds' medians (and of their minima). */
function medianEngine(results: EngineResult[]): EngineResult {
  const matmul: EngineResult['matmul'] = {};
  for (const { name, m, k, n } of MATMUL_SHAPES) {
    const ms = mid(results.map((r) => r.matmul[name].median_ms));
    const cpuMs = results.map((r) => r.matmul[name].cpu_ms).filter((x): x is number => x !== undefined);
    matmul[name] = {
      median_ms: ms,
      min_ms: Math.min(...results.map((r) => r.matmul[name].min_ms)),
      gflops: gflops(m, k, n, ms),
      cpu_ms: cpuMs.length > 0 ? mid(cpuMs) : undefined,
    };
  }
  const sample = {
    median_ms: mid(results.map((r) => r.sample.median_ms)),
    min_ms: Math.min(...results.map((r) => r.sample.min_ms)),
    cpu_ms:
      results[0].sample.cpu_ms === undefined ? undefined : mid(results.map((r) => r.sample.cpu_ms as number)),
  };
  return {
    matmul,
    sample,
    info: {
      ...results[0].info,
      rounds: results.length,
      per_round: results.map((r) => ({ matmul: r.matmul, sample: r.sample })),
    },
  };
}

function medianTorch(results: TorchResult[]): TorchResult {
  const matmul: TorchResult['matmul'] = {};
  for (const { name, m, k, n } of MATMUL_SHAPES) {
    const ms = mid(results.map((r) => r.matmul[name].median_ms));
    matmul[name] = {
      median_ms: ms,
      min_ms: Math.min(...results.map((r) => r.matmul[name].min_ms)),
      gflops: gflops(m, k, n, ms),
    };
  }
  const path = (pick: (r: TorchResult) => TorchTiming): TorchTiming => ({
    median_ms: mid(results.map((r) => pick(r).median_ms)),
    min_ms: Math.min(...results.map((r) => pick(r).min_ms)),
    variant: pick(results[0]).variant,
  });
  return {
    info: results[0].info,
    matmul,
    sample: { reference: path((r) => r.sample.reference), tuned: path((r) => r.sample.tuned) },
  };
}

function medianOutcome<T>(outcomes: Outcome<T>[], combine: (xs: T[]) => T): Outcome<T> {
  const ok = outcomes.flatMap((o) => (o.ok ? [o.data] : []));
  if (ok.length === 0) return outcomes[0];
  return { ok: true, data: combine(ok) };
}

const cores = availableParallelism();
const machine = machineInfo();
console.log(
  `machine: ${machine.cpu}, ${cores} cores, Node ${process.version}, load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);

// Several rounds, each engine once per round in turn, and the median over rounds: other work on a shared machine
// then weighs on every engine alike instead of on whichever ran during a busy spell. Dawn on llvmpipe is slow
// and runs once.
const rounds = benchArgs.rounds ?? (quick ? 1 : 3);
const perRound: Array<{
  cpu: EngineResult;
  cpu1: EngineResult;
  tfjs: Outcome<EngineResult>;
  torch: Outcome<TorchResult>;
}> = [];
for (let round = 0; round < rounds; round++) {
  console.log(
    `round ${round + 1}/${rounds} (load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')})`,
  );
  perRound.push({
    cpu: await cpuEngine(cores),
    cpu1: await cpuEngine(1),
    tfjs: runChild<EngineResult>('_kernels-tfjs.ts'),
    torch: runAnchor<TorchResult>('kernels.py'),
  });
}
const cpu = medianEngine(perRound.map((r) => r.cpu));
const cpu1 = medianEngine(perRound.map((r) => r.cpu1));
const tfjs = medianOutcome(
  perRound.map((r) => r.tfjs),
  medianEngine,
);
const torch = medianOutcome(
  perRound.map((r) => r.torch),
  medianTorch,
);
const exactness = await sampleExactness(quick ? 8 : 32);
const webgpu = runChild<EngineResult>('_kernels-webgpu.ts', { EGL_PLATFORM: 'surfaceless' });

const engines: Array<[string, Outcome<EngineResult>]> = [
  [`duality cpu (${cores} threads)`, { ok: true, data: cpu }],
  ['duality cpu (1 thread)', { ok: true, data: cpu1 }],
  ['duality webgpu (llvmpipe)', webgpu],
  ['tfjs-wasm (SIMD)', tfjs],
];

const rows: string[][] = [
  ['engine', ...MATMUL_SHAPES.map((s) => `matmul ${s.name} GFLOP/s`), 'sample [1,1024,50257] ms'],
];
for (const [name, r] of engines) {
  if (!r.ok) {
    rows.push([name, ...MATMUL_SHAPES.map(() => '—'), '—']);
    continue;
  }
  rows.push([
    name,
    ...MATMUL_SHAPES.map((s) => fmt(r.data.matmul[s.name]?.gflops)),
    fmt(r.data.sample.median_ms),
  ]);
}
if (torch.ok) {
  const tm = torch.data.matmul;
  rows.push([
    'pytorch cpu reference path (2 threads)',
    ...MATMUL_SHAPES.map((s) => fmt(tm[s.name]?.gflops)),
    fmt(torch.data.sample.reference.median_ms),
  ]);
  rows.push([
    `pytorch cpu hand-tuned (${torch.data.sample.tuned.variant})`,
    ...MATMUL_SHAPES.map(() => '″'),
    fmt(torch.data.sample.tuned.median_ms),
  ]);
} else {
  rows.push(['pytorch cpu', ...MATMUL_SHAPES.map(() => '—'), '—']);
}
printTable(rows);
for (const [name, r] of engines)
  if (!r.ok) console.log(`${name.split(' ')[1] ?? name}: not available (${r.reason})`);
if (!torch.ok) console.log(`pytorch: not available (${torch.reason})`);

const ratios: Record<string, number> = {};
for (const s of MATMUL_SHAPES) {
  if (tfjs.ok)
    ratios[`matmul ${s.name}: cpu / tfjs-wasm`] = cpu.matmul[s.name].gflops / tfjs.data.matmul[s.name].gflops;
  if (torch.ok)
    ratios[`matmul ${s.name}: cpu / pytorch`] =
      cpu.matmul[s.name].gflops / (torch.data.matmul[s.name].gflops ?? Number.NaN);
}
if (torch.ok) {
  ratios['sample: pytorch reference / cpu (speed-up)'] =
    torch.data.sample.reference.median_ms / cpu.sample.median_ms;
  ratios['sample: pytorch hand-tuned / cpu (speed-up)'] =
    torch.data.sample.tuned.median_ms / cpu.sample.median_ms;
}
if (tfjs.ok) ratios['sample: tfjs-wasm / cpu (speed-up)'] = tfjs.data.sample.median_ms / cpu.sample.median_ms;
if (webgpu.ok)
  ratios['sample: webgpu / cpu (time ratio)'] = webgpu.data.sample.median_ms / cpu.sample.median_ms;
console.log('\nratios:');
printTable([['ratio', 'value'], ...Object.entries(ratios).map(([k, v]) => [k, fmt(v, 2)])]);
/** GFLOP/s per CPU-second and sampling CPU ms: the figures least disturbed by other work on a shared machine. */
const cpuTime = (r: EngineResult) =>
  [
    ...MATMUL_SHAPES.map(
      (sh) =>
        `matmul ${sh.name} ${fmt(gflops(sh.m, sh.k, sh.n, r.matmul[sh.name].cpu_ms ?? Number.NaN))} GFLOP per CPU-s`,
    ),
    `sample ${fmt(r.sample.cpu_ms)} CPU-ms`,
  ].join(', ');
console.log(`\nCPU time (all threads), duality cpu 1 thread: ${cpuTime(cpu1)}`);
console.log(`CPU time (all threads), duality cpu ${cores} threads: ${cpuTime(cpu)}`);
console.log(
  `\nsampling exactness vs the reference loop: ${exactness.mismatches} mismatching ids in ${exactness.rows_checked} rows`,
);
const loadEnd = loadavg().map((x) => Number(x.toFixed(2)));
console.log(`load average at the end: ${loadEnd.join(' ')}`);

const file = writeResults('kernels', {
  suite: 'kernels',
  machine: { ...machine, loadavg_at_end: loadEnd, torch: torch.ok ? torch.data.info : null },
  quick,
  rounds,
  engines: Object.fromEntries(engines.map(([name, r]) => [name, r.ok ? r.data : { unavailable: r.reason }])),
  pytorch: torch.ok ? torch.data : { unavailable: torch.reason },
  ratios,
  sample_exactness: exactness,
});
console.log(`results: ${file}`);
