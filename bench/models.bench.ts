/**
 * `models` suite: DiT forward throughput (tokens/s) on the cpu and webgpu backends, side by side with the same
 * network in PyTorch CPU (bench/anchors/models.py, Debian python3-torch, 2 threads), with peak memory.
 *
 * Configs: tiny (hidden 256, 8 blocks, 8 heads, length 256, vocab 27, batch 4) and the reference's small
 * (768, 12, 12, 1024, 50257, batch 1). Random weights N(0, 0.02²), eval mode, f32.
 *
 * Each (config, backend) runs in its own child process so that its peak RSS is its own.
 *   npx tsx --conditions=@duality/source bench/models.bench.ts [--quick] [--config tiny|small]
 *       [--backend cpu|webgpu] [--no-anchor] [--json]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Backend, createBackend } from '@duality/kernels';
import { DiT, type DiTConfig, initStateDict, SMALL_CONFIG, TINY_CONFIG } from '@duality/models';

export const CONFIGS: Record<string, { config: DiTConfig; batch: number }> = {
  tiny: { config: TINY_CONFIG, batch: 4 },
  small: { config: SMALL_CONFIG, batch: 1 },
};

export interface CaseResult {
  config: string;
  backend: string;
  batch: number;
  length: number;
  median_ms: number;
  min_ms: number;
  reps: number;
  tokens_per_s: number;
  peak_rss_mb: number;
  load_ms: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Times `reps` forward passes (after one warm-up) of one config on one backend, in this process. */
export async function runCase(
  name: string,
  backendName: 'cpu' | 'webgpu',
  reps: number,
): Promise<CaseResult> {
  const { config, batch } = CONFIGS[name];
  const backend: Backend = await createBackend(backendName);
  const t0 = performance.now();
  const model = await DiT.fromStateDict(
    backend,
    config,
    initStateDict(config, { seed: 0, scheme: 'normal', std: 0.02 }),
  );
  const loadMs = performance.now() - t0;
  const ids = Int32Array.from({ length: batch * config.length }, (_, i) => (i * 7919) % config.vocabSize);
  const tokens = backend.tensor(ids, [batch, config.length], 'i32');
  const sigma = Array.from({ length: batch }, (_, i) => 0.5 + i);
  const once = async () => {
    const t = performance.now();
    const logits = await model.forward({ tokens }, sigma);
    await logits.read(); // includes the device→host copy the sampler would do
    logits.dispose();
    return performance.now() - t;
  };
  await once();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) times.push(await once());
  model.dispose();
  backend.destroy();
  const med = median(times);
  return {
    config: name,
    backend: backendName,
    batch,
    length: config.length,
    median_ms: med,
    min_ms: Math.min(...times),
    reps,
    tokens_per_s: (batch * config.length) / (med / 1e3),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    load_ms: loadMs,
  };
}

const HERE = fileURLToPath(import.meta.url);

/** Runs one case in a child process (own peak RSS); returns its result or the error text. */
function runChild(name: string, backend: string, reps: number): CaseResult | { error: string } {
  try {
    const out = execFileSync(
      process.execPath,
      [...process.execArgv, HERE, '--child', name, backend, String(reps)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 },
    );
    const line = out
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop();
    return line ? (JSON.parse(line) as CaseResult) : { error: 'no output' };
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    return { error: (e.stderr || e.message).trim().split('\n').slice(-3).join(' | ') };
  }
}

interface AnchorResult {
  median_ms: number;
  tokens_per_s: number;
  peak_rss_mb: number;
}

/** The PyTorch anchor for one config (its own process, 2 threads). */
function runAnchor(name: string, quick: boolean): AnchorResult | { error: string } {
  try {
    const script = fileURLToPath(new URL('./anchors/models.py', import.meta.url));
    const out = execFileSync('/usr/bin/python3', [script, '--config', name, ...(quick ? ['--quick'] : [])], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return JSON.parse(out).forward[name] as AnchorResult;
  } catch (error) {
    return { error: (error as Error).message.split('\n')[0] };
  }
}

export async function main(argv: string[]): Promise<void> {
  const arg = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  const quick = argv.includes('--quick');
  const configs = arg('--config') ? [arg('--config') as string] : Object.keys(CONFIGS);
  const backends = arg('--backend') ? [arg('--backend') as string] : ['cpu', 'webgpu'];
  const rows: Array<Record<string, unknown>> = [];
  for (const name of configs) {
    const anchor = argv.includes('--no-anchor') ? undefined : runAnchor(name, quick);
    for (const backend of backends) {
      const reps = name === 'small' ? (quick || backend === 'webgpu' ? 1 : 3) : quick ? 3 : 7;
      const ours = runChild(name, backend, reps);
      const ratio =
        anchor && 'tokens_per_s' in anchor && 'tokens_per_s' in ours
          ? ours.tokens_per_s / anchor.tokens_per_s
          : undefined;
      rows.push({ name, backend, ours, torch: anchor, ratio_vs_torch: ratio });
    }
  }
  if (argv.includes('--json')) {
    console.log(JSON.stringify({ suite: 'models', rows }));
    return;
  }
  const fmt = (x: number | undefined, d = 1) => (x === undefined ? '—' : x.toFixed(d));
  console.log('models: DiT forward (f32, eval), tokens/s — ours vs PyTorch CPU (2 threads)');
  console.log(
    'config  backend  batch×len   ours tok/s  ours ms   peak MB | torch tok/s  torch ms  peak MB | ratio',
  );
  for (const r of rows) {
    const o = r.ours as CaseResult & { error?: string };
    const t = r.torch as (AnchorResult & { error?: string }) | undefined;
    if (o.error) {
      console.log(`${String(r.name).padEnd(7)} ${String(r.backend).padEnd(8)} error: ${o.error}`);
      continue;
    }
    console.log(
      `${o.config.padEnd(7)} ${o.backend.padEnd(8)} ${`${o.batch}×${o.length}`.padEnd(10)} ${fmt(o.tokens_per_s).padStart(10)} ${fmt(o.median_ms, 0).padStart(8)} ${fmt(o.peak_rss_mb, 0).padStart(8)} | ${fmt(t?.tokens_per_s).padStart(11)} ${fmt(t?.median_ms, 0).padStart(9)} ${fmt(t?.peak_rss_mb, 0).padStart(8)} | ${fmt(r.ratio_vs_torch as number | undefined, 2)}`,
    );
  }
}

const invokedDirectly = process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url;
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
