/**
 * Shared helpers of the bench suites: timing (warm-up, repetitions, median, min, peak RSS), machine info,
 * running a Python anchor (Debian's /usr/bin/python3 with python3-torch) or a TS child process and parsing its
 * JSON, writing bench/results/<suite>.json and printing a table.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs } from './args.mjs';

export const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..');
/** This process's bench options (parsed and checked once: a bad command line exits with one line, code 2). */
export const benchArgs = parseBenchArgs(
  `bench ${basename(process.argv[1] ?? 'suite').replace(/(\.bench)?\.ts$/, '')}`,
);
export const quick = benchArgs.quick;

export interface Timing {
  median_ms: number;
  min_ms: number;
  reps: number;
  samples_ms: number[];
  /** Peak resident set size of the process after the runs (MB), when asked for. */
  peak_rss_mb?: number;
  /**
   * Median CPU time of the process per run (user + system, all threads), when asked for: on a shared machine
   * the single-threaded CPU time is the figure least disturbed by other work.
   */
  cpu_ms?: number;
}

export interface MeasureOptions {
  warmup?: number;
  reps?: number;
  rss?: boolean;
  cpu?: boolean;
}

/** Runs fn `warmup` times, then `reps` timed times; returns median and min wall time (ms). */
export async function measure(fn: () => unknown, options: MeasureOptions = {}): Promise<Timing> {
  const warmup = options.warmup ?? 2;
  const reps = options.reps ?? (quick ? 3 : 7);
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  const cpuSamples: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuSamples.push((c.user + c.system) / 1000);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const timing: Timing = { median_ms: median(sorted), min_ms: sorted[0], reps, samples_ms: samples };
  if (options.cpu) timing.cpu_ms = median(cpuSamples.sort((a, b) => a - b));
  if (options.rss) timing.peak_rss_mb = process.resourceUsage().maxRSS / 1024;
  return timing;
}

export function median(sorted: number[]): number {
  const n = sorted.length;
  return n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

export function machineInfo(): Record<string, unknown> {
  const list = cpus();
  return {
    cpu: list[0]?.model ?? 'unknown',
    cores: list.length,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadavg_at_start: loadavg().map((x) => Number(x.toFixed(2))),
    date: new Date().toISOString(),
  };
}

export type AnchorResult<T> = { ok: true; data: T } | { ok: false; reason: string };

/**
 * Runs bench/anchors/<script> with Debian's python (torch from python3-torch), 2 torch threads set by the script.
 * OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from the anchor's environment only (the script reports
 * which OpenBLAS core then runs). Parses the last stdout line as JSON.
 */
export function runAnchor<T>(script: string, args: string[] = []): AnchorResult<T> {
  const env = { ...process.env };
  const unset = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'].filter((name) => name in env);
  for (const name of unset) delete env[name];
  env.DUALITY_BENCH_UNSET_OPENBLAS = unset.join(',');
  env.PYTHONDONTWRITEBYTECODE = '1'; // the anchors import each other: no __pycache__ in the tree
  const result = spawnSync(
    '/usr/bin/python3',
    [join(benchDir, 'anchors', script), ...args, ...(quick ? ['--quick'] : [])],
    {
      cwd: join(benchDir, 'anchors'),
      env,
      encoding: 'utf8',
      maxBuffer: 64 * 2 ** 20,
    },
  );
  return parseChild<T>(`python3 ${script}`, result);
}

/**
 * Runs a TS script of bench/suites in a child Node process (same loader and conditions as this one) and parses
 * the last stdout line as JSON; a crash or non-zero exit is reported as such, never turned into numbers.
 */
export function runChild<T>(
  script: string,
  env: Record<string, string> = {},
  timeoutMs = 600_000,
): AnchorResult<T> {
  const result = spawnSync(
    process.execPath,
    [...process.execArgv, join(benchDir, 'suites', script), ...process.argv.slice(2)],
    {
      cwd: benchDir,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: timeoutMs,
      maxBuffer: 64 * 2 ** 20,
    },
  );
  return parseChild<T>(script, result);
}

function parseChild<T>(
  name: string,
  result: {
    status: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
    error?: Error;
  },
): AnchorResult<T> {
  if (result.error) return { ok: false, reason: `${name}: ${result.error.message}` };
  if (result.status !== 0) {
    const how = result.signal ? `crashed (signal ${result.signal})` : `exited with ${result.status}`;
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' | ');
    return { ok: false, reason: `${name} ${how}${tail ? `: ${tail}` : ''}` };
  }
  const lines = result.stdout.trim().split('\n');
  try {
    return { ok: true, data: JSON.parse(lines[lines.length - 1]) as T };
  } catch {
    return { ok: false, reason: `${name}: no JSON on the last stdout line` };
  }
}

export function writeResults(suite: string, data: Record<string, unknown>): string {
  const dir = join(benchDir, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${suite}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/** Prints rows as an aligned text table (first row = header). */
export function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  console.log(line(rows[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
}

export const fmt = (x: number | undefined, digits = 1): string =>
  x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
