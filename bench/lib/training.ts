/**
 * What the training suites (`autograd`, `train`) share: the DiT configs they time, a child-process runner with a
 * wall-clock budget (each case in its own process, so its peak RSS is its own), the defined-op modules the
 * profiler instruments, and the printing of a per-op profile.
 */
import { spawnSync } from 'node:child_process';
import * as kernels from '@duality/kernels';
import * as models from '@duality/models';
import { type DiTConfig, ditConfig } from '@duality/models';
import * as posteriors from '@duality/posteriors';
import * as attention from '../../packages/models/src/attention-ops';
import * as cpuFast from '../../packages/models/src/cpu-fast';
import { fmt, printTable } from './harness';
import type { OpProfiler, ProfileSummary } from './op-profile';

/** A DiT config plus the batch it is timed at; `torch` is the same network for the anchors' --config. */
export interface BenchConfig {
  name: string;
  dit: DiTConfig;
  batch: number;
}

export function benchConfig(
  name: string,
  c: {
    vocab: number;
    hidden: number;
    cond: number;
    heads: number;
    blocks: number;
    length: number;
    batch: number;
  },
): BenchConfig {
  return {
    name,
    batch: c.batch,
    dit: ditConfig({
      vocabSize: c.vocab,
      hiddenSize: c.hidden,
      condDim: c.cond,
      nHeads: c.heads,
      nBlocks: c.blocks,
      length: c.length,
      dropout: 0,
    }),
  };
}

/** The anchors' --config JSON of a bench config (models.py's key names). */
export function torchConfig(c: BenchConfig): string {
  const d = c.dit;
  return JSON.stringify({
    vocab: d.vocabSize,
    hidden: d.hiddenSize,
    cond: d.condDim,
    heads: d.nHeads,
    blocks: d.nBlocks,
    length: d.length,
    batch: c.batch,
  });
}

/** micro (issue 10's "it learns" config) and tiny (models' TINY_CONFIG) at the issues' batch sizes, K = 27. */
export const MICRO = benchConfig('micro', {
  vocab: 27,
  hidden: 128,
  cond: 128,
  heads: 4,
  blocks: 4,
  length: 128,
  batch: 16,
});
export const TINY = benchConfig('tiny', {
  vocab: 27,
  hidden: 256,
  cond: 128,
  heads: 8,
  blocks: 8,
  length: 256,
  batch: 8,
});

export type Outcome<T> = { ok: true; data: T } | { ok: false; reason: string };

/** Runs this suite's file again as a child (`--child …args`) with a budget; parses its last stdout line. */
export function runChildCase<T>(file: string, args: string[], budgetS: number): Outcome<T> {
  const result = spawnSync(process.execPath, [...process.execArgv, file, '--child', ...args], {
    encoding: 'utf8',
    timeout: budgetS * 1000,
    killSignal: 'SIGKILL',
    maxBuffer: 1 << 26,
  });
  if (result.signal === 'SIGKILL')
    return { ok: false, reason: `not finished within the ${budgetS} s budget` };
  if (result.status !== 0) {
    const lines = (result.stderr || result.stdout || '').split('\n').map((l) => l.trim());
    const error = lines.find((l) => /^\w*Error\b/.test(l)) ?? lines.filter(Boolean).pop() ?? '';
    return {
      ok: false,
      reason: `${result.signal ? `crashed (${result.signal})` : `exited with ${result.status}`}: ${error}`,
    };
  }
  const line = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return { ok: true, data: JSON.parse(line) as T };
  } catch {
    return { ok: false, reason: 'no JSON on the last stdout line' };
  }
}

/** Installs the profiler on a backend and on every defined op the training step can reach. */
export function instrumentAll(profiler: OpProfiler, backend: kernels.Backend): string[] {
  profiler.instrumentBackend(backend);
  return profiler.instrumentDefinedOps([
    kernels as unknown as Record<string, unknown>,
    models as unknown as Record<string, unknown>,
    attention as unknown as Record<string, unknown>,
    cpuFast as unknown as Record<string, unknown>,
    posteriors as unknown as Record<string, unknown>,
  ]);
}

/** Prints a profile: kernels by self time (forward / backward / other phases) and backward rules inclusive. */
export function printProfile(title: string, p: ProfileSummary, top = 22): void {
  const phases = Object.entries(p.phase_ms)
    .map(([k, v]) => `${k} ${fmt(v, 0)} ms (in ops ${fmt(p.in_ops_ms[k] ?? 0, 0)})`)
    .join(', ');
  console.log(`\n${title}: ${fmt(p.step_ms, 0)} ms per profiled step; ${phases}`);
  const pct = (x: number) => `${fmt((100 * x) / p.step_ms, 1)}%`;
  const rows = [['op (self time)', 'calls', 'forward ms', 'backward ms', 'other ms', 'total ms', 'of step']];
  for (const o of p.ops.slice(0, top)) {
    const total = o.forward_ms + o.backward_ms + o.other_ms;
    rows.push([
      o.name,
      fmt(o.calls, 0),
      fmt(o.forward_ms),
      fmt(o.backward_ms),
      fmt(o.other_ms),
      fmt(total),
      pct(total),
    ]);
  }
  printTable(rows);
  if (p.details.length > 0) {
    const d = [
      ['matmul by shape (op(A) M×K, op(B) K×N)', 'calls', 'forward ms', 'backward ms', 'other ms', 'of step'],
    ];
    for (const o of p.details.slice(0, 14))
      d.push([
        o.name,
        fmt(o.calls, 0),
        fmt(o.forward_ms),
        fmt(o.backward_ms),
        fmt(o.other_ms),
        pct(o.forward_ms + o.backward_ms + o.other_ms),
      ]);
    console.log('');
    printTable(d);
  }
  const r = [['backward rule of', 'calls', 'inclusive ms', 'of step']];
  for (const o of p.rules.slice(0, 12)) r.push([o.name, fmt(o.calls, 0), fmt(o.total_ms), pct(o.total_ms)]);
  console.log('');
  printTable(r);
}

/** Prints the torch profiler's top ops (self CPU time of one step). */
export function printTorchProfile(
  title: string,
  prof: { self_cpu_total_ms: number; ops: Array<{ name: string; self_ms: number; calls: number }> },
  top = 14,
): void {
  console.log(`\n${title}: ${fmt(prof.self_cpu_total_ms, 0)} ms self CPU time in ops (one step)`);
  const rows = [['torch op (self CPU)', 'calls', 'ms', 'share']];
  for (const o of prof.ops.slice(0, top))
    rows.push([
      o.name,
      String(o.calls),
      fmt(o.self_ms),
      `${fmt((100 * o.self_ms) / prof.self_cpu_total_ms, 1)}%`,
    ]);
  printTable(rows);
}

/** One side's step figures, as both suites record them. */
export interface StepFigures {
  tokens_per_s: number;
  median_ms: number;
  cpu_ms?: number;
  peak_rss_mb?: number;
}

/** A row of the side-by-side table: our and torch's figures with their ratios. */
export interface RatioRow {
  batch: number;
  length: number;
  ours: Outcome<StepFigures>;
  torch?: Outcome<StepFigures>;
  ratio?: number;
  ratio_cpu?: number;
}

/** Prints the ours-vs-torch table (tokens/s, ms, CPU ms, MB, ratios), first column from `label`. */
export function printRatioTable<R extends RatioRow>(
  rows: readonly R[],
  first: string,
  label: (r: R) => string,
): void {
  const table = [
    [
      first,
      'B×L',
      'ours tok/s',
      'ours ms',
      'ours cpu ms',
      'ours MB',
      'torch tok/s',
      'torch ms',
      'torch cpu ms',
      'torch MB',
      'ours/torch',
      'cpu-time ratio',
    ],
  ];
  for (const r of rows) {
    const o = r.ours.ok ? r.ours.data : undefined;
    const t = r.torch?.ok ? r.torch.data : undefined;
    table.push([
      label(r),
      `${r.batch}×${r.length}`,
      o ? fmt(o.tokens_per_s) : `— (${r.ours.ok ? '' : r.ours.reason.slice(0, 60)})`,
      fmt(o?.median_ms, 0),
      fmt(o?.cpu_ms, 0),
      fmt(o?.peak_rss_mb, 0),
      fmt(t?.tokens_per_s),
      fmt(t?.median_ms, 0),
      fmt(t?.cpu_ms, 0),
      fmt(t?.peak_rss_mb, 0),
      fmt(r.ratio, 2),
      fmt(r.ratio_cpu, 2),
    ]);
  }
  printTable(table);
}
