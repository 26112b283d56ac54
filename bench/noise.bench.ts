/**
 * `noise` suite.
 *  1. The Diffusion Transformation Operator T on 1e5 gammas in the OWT curriculum range [-3.5, -1.75], K = 50257:
 *     exact (log-space Gauss–Legendre) vs dense table (cubic Hermite, 1025 points) vs Chapter II poly9, with
 *     each one's max error against the exact operator. PyTorch anchors: the reference's cached-table lookup
 *     (nearest neighbour in a 1e5-point table) and its poly9 evaluation; the reference's exact path is
 *     scipy.integrate.quad per gamma, and Debian's python3 here has no scipy, so the exact column has no anchor.
 *  2. The two curriculum relaxations at K = 50257, L = 1024, k = 64 (batch 1): the tempered softmax over the whole
 *     vocabulary vs the memory-efficient top-k one, time and peak RSS side by side. Each case runs in its own
 *     child process so that its peak RSS is its own; `rss_base_mb` is the process before the case. PyTorch
 *     anchors (bench/anchors/noise.py): the same two computations in torch (f32 simple path, f64 top-k as in
 *     the reference), also one process per case.
 *
 *   pnpm bench noise [--quick]      (or: node --conditions=@duality/source --import tsx bench/noise.bench.ts
 *                                    [--quick] [--no-anchor] [--json] [--backend cpu|webgpu])
 * Prints two tables and writes bench/results/noise.json.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Backend, createBackend } from '@duality/kernels';
import {
  diffusionTransform,
  operatorPolyFit,
  operatorTable,
  temperedSoftmaxRelaxation,
  topKRelaxation,
} from '@duality/noise';
import { parseBenchArgs } from './lib/args.mjs';
import { machineInfo, printTable, runAnchor as runPythonAnchor, writeResults } from './lib/harness';

const K = 50257;
const GAMMA_MIN = -3.5;
const GAMMA_MAX = -1.75;
const L = 1024;
const TOP_K = 64;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function time(fn: () => void, reps: number): { median_ms: number; min_ms: number } {
  fn();
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return { median_ms: median(ts), min_ms: Math.min(...ts) };
}

export interface OperatorRow {
  method: string;
  gammas: number;
  build_ms: number;
  median_ms: number;
  ns_per_gamma: number;
  max_abs_err_alpha: number;
  max_rel_err_dalpha: number;
}

/** Exact vs table vs poly9 on n gammas. */
export function operatorBench(n: number, quick: boolean): OperatorRow[] {
  const gammas = Float64Array.from(
    { length: n },
    (_, i) => GAMMA_MIN + ((i + 0.37) / n) * (GAMMA_MAX - GAMMA_MIN),
  );
  const rows: OperatorRow[] = [];
  let sink = 0;
  const exactN = quick ? Math.min(n, 10_000) : n;
  const exact = time(() => {
    for (let i = 0; i < exactN; i++) sink += diffusionTransform(gammas[i], K).alpha;
  }, 1);
  rows.push({
    method: 'exact',
    gammas: exactN,
    build_ms: 0,
    median_ms: exact.median_ms,
    ns_per_gamma: (exact.median_ms * 1e6) / exactN,
    max_abs_err_alpha: 0,
    max_rel_err_dalpha: 0,
  });
  for (const [method, build] of [
    ['table', () => operatorTable({ vocabSize: K, gammaMin: GAMMA_MIN, gammaMax: GAMMA_MAX })],
    ['poly9', () => operatorPolyFit({ vocabSize: K, gammaMin: GAMMA_MIN, gammaMax: GAMMA_MAX, degree: 9 })],
  ] as const) {
    const t0 = performance.now();
    const approx = build();
    const buildMs = performance.now() - t0;
    const timing = time(
      () => {
        for (let i = 0; i < n; i++) sink += approx.evaluate(gammas[i]).alpha;
      },
      quick ? 3 : 7,
    );
    rows.push({
      method,
      gammas: n,
      build_ms: buildMs,
      median_ms: timing.median_ms,
      ns_per_gamma: (timing.median_ms * 1e6) / n,
      max_abs_err_alpha: approx.maxError.alphaAbs,
      max_rel_err_dalpha: approx.maxError.dalphaDgammaRel,
    });
  }
  if (sink === 42) console.error('');
  return rows;
}

export interface RelaxRow {
  relaxation: string;
  backend: string;
  median_ms: number;
  reps: number;
  rss_base_mb: number;
  peak_rss_mb: number;
  output_elements: number;
}

/** One relaxation on one backend, in this process. */
export async function relaxCase(
  name: 'tempered' | 'topk',
  backendName: 'cpu' | 'webgpu',
  reps: number,
): Promise<RelaxRow> {
  const backend: Backend = await createBackend(backendName, { log: () => {} });
  const rssBase = process.memoryUsage().rss / 2 ** 20;
  const x0 = backend.tensor(
    Int32Array.from({ length: L }, (_, i) => (i * 7919) % K),
    [1, L],
    'i32',
  );
  const gamma = -2.6;
  let outputs = 0;
  const once = async () => {
    const t0 = performance.now();
    if (name === 'tempered') {
      // f32 latents, as the reference's simple path (torch.randn float32).
      const { weights, xt } = temperedSoftmaxRelaxation(backend, x0, gamma, K, {
        rng: { seed: 1 },
        dtype: 'f32',
      });
      // x_t to the host; the weights stay on the backend (the denoiser consumes them there), as in torch.
      await xt.read();
      await backend.sync();
      outputs = weights.size;
      weights.dispose();
      xt.dispose();
    } else {
      const { indices, weights, xt } = await topKRelaxation(backend, x0, gamma, K, {
        k: TOP_K,
        rng: { seed: 1 },
      });
      await xt.read();
      await backend.sync();
      outputs = weights.size;
      for (const t of [indices, weights, xt]) t.dispose();
    }
    return performance.now() - t0;
  };
  // Warm-up only where a call is cheap: one tempered call at K = 50257 is tens of seconds on cpu.
  if (name === 'topk') await once();
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) ts.push(await once());
  backend.destroy();
  return {
    relaxation: name,
    backend: backendName,
    median_ms: median(ts),
    reps,
    rss_base_mb: rssBase,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    output_elements: outputs,
  };
}

const HERE = fileURLToPath(import.meta.url);

function runChild(args: string[]): RelaxRow | { error: string } {
  try {
    const out = execFileSync(process.execPath, [...process.execArgv, HERE, '--child', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 1 << 24,
    });
    const line = out
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop();
    return line ? (JSON.parse(line) as RelaxRow) : { error: 'no output' };
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    const lines = (e.stderr || e.message).trim().split('\n');
    const first = lines.find((l) => /\w*Error: /.test(l)) ?? lines.slice(-3).join(' | ');
    return { error: first.trim().slice(0, 240) };
  }
}

function runAnchor(args: string[]): Record<string, unknown> | { error: string } {
  const result = runPythonAnchor<Record<string, unknown>>('noise.py', args);
  return result.ok ? result.data : { error: result.reason };
}

const fmt = (x: unknown, d = 1) =>
  typeof x === 'number' ? (Math.abs(x) > 0 && Math.abs(x) < 0.1 ? x.toExponential(1) : x.toFixed(d)) : '—';

export async function main(argv: string[]): Promise<void> {
  const { quick, noAnchor, json, backend } = parseBenchArgs('bench noise', argv);
  const backends = backend ? [backend] : ['cpu', 'webgpu'];
  const n = 100_000;
  const operator = operatorBench(n, quick);
  const operatorAnchor = noAnchor ? undefined : runAnchor(['--case', 'operator']);
  const reps = quick ? 1 : 3;
  const relax: Array<{
    name: string;
    backend: string;
    ours: RelaxRow | { error: string };
    torch?: Record<string, unknown>;
  }> = [];
  for (const name of ['tempered', 'topk'] as const) {
    const torch = noAnchor ? undefined : runAnchor(['--case', name]);
    for (const backend of backends)
      relax.push({
        name,
        backend,
        ours: runChild([name, backend, String(name === 'tempered' ? 1 : reps)]),
        torch,
      });
  }
  const file = writeResults('noise', {
    suite: 'noise',
    machine: machineInfo(),
    quick,
    operator,
    operatorAnchor,
    relax,
  });
  if (json) {
    console.log(JSON.stringify({ suite: 'noise', operator, operatorAnchor, relax }));
    return;
  }
  console.log(
    `noise: diffusion transformation operator, K = ${K}, gamma in [${GAMMA_MIN}, ${GAMMA_MAX}], ${n} gammas`,
  );
  const anchorOp = (operatorAnchor ?? {}) as Record<string, { median_ms?: number; ns_per_gamma?: number }>;
  printTable([
    [
      'method',
      'gammas',
      'build ms',
      'eval ms',
      'ns/gamma',
      'max |Δalpha|',
      'max rel Δdalpha',
      'torch ms',
      'torch ns/gamma',
    ],
    ...operator.map((r) => [
      r.method,
      String(r.gammas),
      fmt(r.build_ms),
      fmt(r.median_ms),
      fmt(r.ns_per_gamma),
      fmt(r.max_abs_err_alpha),
      fmt(r.max_rel_err_dalpha),
      fmt(anchorOp[r.method]?.median_ms),
      fmt(anchorOp[r.method]?.ns_per_gamma),
    ]),
  ]);
  console.log(`\nnoise: curriculum relaxations, K = ${K}, B×L = 1×${L}, top-k k = ${TOP_K}, tau = 1e-3`);
  printTable([
    [
      'relaxation',
      'backend',
      'ms/call',
      'base MB',
      'peak MB',
      'outputs',
      'torch ms',
      'torch peak MB',
      'note',
    ],
    ...relax.map((r) => {
      const o = r.ours as RelaxRow & { error?: string };
      const t = r.torch as { median_ms?: number; peak_rss_mb?: number; error?: string } | undefined;
      if (o.error)
        return [
          r.name,
          r.backend,
          '—',
          '—',
          '—',
          '—',
          fmt(t?.median_ms),
          fmt(t?.peak_rss_mb, 0),
          o.error.slice(0, 120),
        ];
      return [
        o.relaxation,
        o.backend,
        fmt(o.median_ms),
        fmt(o.rss_base_mb, 0),
        fmt(o.peak_rss_mb, 0),
        String(o.output_elements),
        fmt(t?.median_ms),
        fmt(t?.peak_rss_mb, 0),
        t?.error ? `torch: ${t.error.slice(0, 80)}` : '',
      ];
    }),
  ]);
  console.log(`\nwrote ${file}`);
}

const invokedDirectly = process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url;
if (invokedDirectly) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    const result = await relaxCase(
      argv[1] as 'tempered' | 'topk',
      argv[2] as 'cpu' | 'webgpu',
      Number(argv[3]),
    );
    console.log(JSON.stringify(result));
    process.exit(0);
  } else {
    await main(argv);
  }
}
