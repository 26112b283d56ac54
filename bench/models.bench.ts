/**
 * `models` suite (`pnpm bench models`): DiT forward throughput (tokens/s) on the cpu and webgpu backends, side by
 * side with the same network in PyTorch CPU (bench/anchors/models.py, Debian python3-torch, 2 threads), with the
 * peak memory of each.
 *
 * Configs: tiny (hidden 256, 8 blocks, 8 heads, length 256, vocab 27, batch 4) and the reference's small
 * (768, 12, 12, 1024, 50257, batch 1). Random weights N(0, 0.02²), eval mode, f32. One forward = embedding to
 * logits, read back to the host (what a sampler step does).
 *
 * Each (config, backend) runs in a child process of this file, so its peak RSS is its own; webgpu in Node is
 * Dawn (`webgpu` package, a software Vulkan adapter on a GPU-less VM), slow, so each case has a wall-clock budget
 * and reports why when it fails.
 *   pnpm bench models [--quick]
 *   npx tsx --conditions=@duality/source bench/models.bench.ts [--quick] [--config tiny|small]
 *       [--backend cpu|webgpu] [--no-anchor] [--budget seconds per case, default 300]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Backend, createBackend, type WebGPUBackend } from '@duality/kernels';
import { DiT, type DiTConfig, initStateDict, SMALL_CONFIG, TINY_CONFIG } from '@duality/models';
import { oneOf, parseBenchArgs } from './lib/args.mjs';
import { fmt, machineInfo, measure, printTable, quick, runAnchor, writeResults } from './lib/harness';

const CONFIGS: Record<string, { config: DiTConfig; batch: number }> = {
  tiny: { config: TINY_CONFIG, batch: 4 },
  small: { config: SMALL_CONFIG, batch: 1 },
};

interface CaseResult {
  config: string;
  backend: string;
  adapter?: string;
  batch: number;
  length: number;
  median_ms: number;
  min_ms: number;
  cpu_ms?: number;
  reps: number;
  tokens_per_s: number;
  peak_rss_mb?: number;
  load_ms: number;
}

type Outcome<T> = { ok: true; data: T } | { ok: false; reason: string };

interface TorchCase {
  median_ms: number;
  min_ms: number;
  tokens_per_s: number;
  peak_rss_mb: number;
}

/**
 * The webgpu backend in Node: `createBackend('webgpu')` (Dawn from the `webgpu` package with its default backend,
 * Vulkan — Mesa lavapipe on a GPU-less VM). The OpenGL ES path the kernels suite uses aborts the process
 * (pthread assertion in Dawn) on this network's kernel mix, so it is not used here.
 */
async function nodeWebGPU(): Promise<{ backend: Backend; adapter: string }> {
  const backend = (await createBackend('webgpu')) as WebGPUBackend;
  const info = (backend.device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  return {
    backend,
    adapter: info ? `${info.vendor} ${info.architecture} ${info.description}`.trim() : 'unknown',
  };
}

/** Times forward passes of one config on one backend, in this process. */
async function runCase(name: string, backendName: 'cpu' | 'webgpu', reps: number): Promise<CaseResult> {
  const { config, batch } = CONFIGS[name];
  const { backend, adapter } =
    backendName === 'cpu' ? { backend: await createBackend('cpu'), adapter: undefined } : await nodeWebGPU();
  const t0 = performance.now();
  const model = await DiT.fromStateDict(
    backend,
    config,
    initStateDict(config, { seed: 0, scheme: 'normal', std: 0.02 }),
    { adopt: true },
  );
  const loadMs = performance.now() - t0;
  const ids = Int32Array.from({ length: batch * config.length }, (_, i) => (i * 7919) % config.vocabSize);
  const tokens = backend.tensor(ids, [batch, config.length], 'i32');
  const sigma = Array.from({ length: batch }, (_, i) => 0.5 + i);
  const timing = await measure(
    async () => {
      const logits = await model.forward({ tokens }, sigma);
      await logits.read();
      logits.dispose();
    },
    { warmup: 1, reps, rss: true, cpu: backendName === 'cpu' },
  );
  model.dispose();
  backend.destroy();
  return {
    config: name,
    backend: backendName,
    adapter,
    batch,
    length: config.length,
    median_ms: timing.median_ms,
    min_ms: timing.min_ms,
    cpu_ms: timing.cpu_ms,
    reps,
    tokens_per_s: (batch * config.length) / (timing.median_ms / 1e3),
    peak_rss_mb: timing.peak_rss_mb,
    load_ms: loadMs,
  };
}

const HERE = fileURLToPath(import.meta.url);

/** One case in a child process of this file (own peak RSS, own GPU device, a wall-clock budget). */
function runCaseInChild(name: string, backend: string, reps: number, budgetS: number): Outcome<CaseResult> {
  const result = spawnSync(
    process.execPath,
    [...process.execArgv, HERE, '--child', name, backend, String(reps)],
    {
      encoding: 'utf8',
      timeout: budgetS * 1000,
      killSignal: 'SIGKILL',
      maxBuffer: 1 << 24,
    },
  );
  if (result.signal === 'SIGKILL')
    return { ok: false, reason: `not finished within the ${budgetS} s budget (warm-up + ${reps} forward)` };
  if (result.status !== 0) {
    const lines = (result.stderr || result.stdout || '').split('\n').map((l) => l.trim());
    const error =
      lines.find((l) => /^\w*Error:/.test(l)) ??
      lines.find((l) => /Assertion|terminate called/.test(l)) ??
      lines.filter(Boolean).pop() ??
      '';
    return {
      ok: false,
      reason: `${result.signal ? `crashed (${result.signal})` : `exited with ${result.status}`}: ${error}`,
    };
  }

  const line = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return { ok: true, data: JSON.parse(line) as CaseResult };
  } catch {
    return { ok: false, reason: 'no JSON on the last stdout line' };
  }
}

async function main(argv: string[]): Promise<void> {
  const opts = parseBenchArgs('bench models', argv);
  const configs = opts.config
    ? [oneOf('bench models', 'config', opts.config, Object.keys(CONFIGS))]
    : Object.keys(CONFIGS);
  const backends = opts.backend ? [opts.backend] : ['cpu', 'webgpu'];
  const budget = opts.budget ?? 300;
  const info = machineInfo();
  const rows: Array<{
    config: string;
    backend: string;
    ours: Outcome<CaseResult>;
    torch?: Outcome<TorchCase>;
    ratio?: number;
  }> = [];
  let torchInfo: unknown;
  for (const name of configs) {
    let torch: Outcome<TorchCase> | undefined;
    if (!opts.noAnchor) {
      const anchor = runAnchor<{ info: unknown; forward: Record<string, TorchCase> }>('models.py', [
        '--config',
        name,
      ]);
      torch = anchor.ok ? { ok: true, data: anchor.data.forward[name] } : anchor;
      if (anchor.ok) torchInfo = anchor.data.info;
    }
    for (const backend of backends) {
      const reps = name === 'small' || backend === 'webgpu' ? (quick ? 1 : 2) : quick ? 3 : 7;
      const ours = runCaseInChild(name, backend, reps, budget);
      const ratio = ours.ok && torch?.ok ? ours.data.tokens_per_s / torch.data.tokens_per_s : undefined;
      rows.push({ config: name, backend, ours, torch, ratio });
    }
  }
  console.log('DiT forward (f32, eval, logits read back): tokens/s, ours vs PyTorch CPU (2 threads)');
  const table = [
    [
      'config',
      'backend',
      'B×L',
      'ours tok/s',
      'ours ms',
      'ours MB',
      'torch tok/s',
      'torch ms',
      'torch MB',
      'ours/torch',
    ],
  ];
  for (const r of rows) {
    const t = r.torch?.ok ? r.torch.data : undefined;
    if (!r.ours.ok) {
      table.push([
        r.config,
        r.backend,
        '',
        `— (${r.ours.reason.slice(0, 90)})`,
        '',
        '',
        fmt(t?.tokens_per_s),
        fmt(t?.median_ms, 0),
        fmt(t?.peak_rss_mb, 0),
        '',
      ]);
      continue;
    }
    const o = r.ours.data;
    table.push([
      r.config,
      r.backend,
      `${o.batch}×${o.length}`,
      fmt(o.tokens_per_s),
      fmt(o.median_ms, 0),
      fmt(o.peak_rss_mb, 0),
      fmt(t?.tokens_per_s),
      fmt(t?.median_ms, 0),
      fmt(t?.peak_rss_mb, 0),
      fmt(r.ratio, 2),
    ]);
  }
  printTable(table);
  for (const r of rows) if (!r.ours.ok) console.log(`${r.config}/${r.backend}: ${r.ours.reason}`);
  for (const r of rows) if (r.torch && !r.torch.ok) console.log(`${r.config}/torch: ${r.torch.reason}`);
  const file = writeResults('models', {
    machine: { ...info, loadavg_at_end: (machineInfo().loadavg_at_start as number[]) ?? [] },
    torch: torchInfo,
    target: 'cpu tokens/s ≥ 0.5 × PyTorch CPU on the tiny config',
    rows,
  });
  console.log(`results: ${file}`);
}

const invokedDirectly =
  process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url;
if (invokedDirectly) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    const result = await runCase(argv[1], argv[2] as 'cpu' | 'webgpu', Number(argv[3]));
    console.log(JSON.stringify(result));
    process.exit(0);
  } else {
    await main(argv);
  }
}
