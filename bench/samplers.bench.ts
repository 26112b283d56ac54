/**
 * Suite `samplers`: per-step overhead of the samplers, the denoiser excluded, at [8, 256, 27] (brown8/text8-like)
 * and [1, 1024, 50257] (GPT-2 vocabulary), masked and uniform, ancestral and Ψ (κ = 0.5), f32, on Duality's cpu
 * and webgpu backends, side by side with PyTorch CPU running the reference's sampling step
 * (bench/anchors/samplers.py, 2 threads).
 *
 * Ours: a whole `sample()` of S steps (+ the ancestral noise-removal move) with a denoiser that returns a fresh copy
 * of fixed log-probabilities; the time spent inside `predict` (the copy, synced on webgpu) is measured and
 * subtracted, and the rest divided by the S + 1 moves. Validation of denoiser outputs is off (the reference has
 * none); the cpu rows also report the overhead with validation on (the default).
 *
 * Each (case, process, sampler, backend) runs in its own child process.
 *   node --conditions=@duality/source --import tsx bench/samplers.bench.ts [--quick] [--no-anchor] [--case small|large]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Backend, createBackend, type Tensor } from '@duality/kernels';
import { masked, uniform } from '@duality/noise';
import { ancestralSampler, type Denoiser, psiSampler } from '@duality/samplers';
import { oneOf, parseBenchArgs } from './lib/args.mjs';
import { fmt, machineInfo, median, printTable, quick, runAnchor, writeResults } from './lib/harness';

const CASES = { small: [8, 256, 27], large: [1, 1024, 50257] } as const;
const PROCESSES = ['masked', 'uniform'] as const;
const SAMPLERS = ['ancestral', 'psi'] as const;
type CaseName = keyof typeof CASES;
type ProcessName = (typeof PROCESSES)[number];
type SamplerName = (typeof SAMPLERS)[number];

interface OursResult {
  case: CaseName;
  process: ProcessName;
  sampler: SamplerName;
  backend: string;
  /** Median over repetitions of the per-move overhead (ms), validation off. */
  step_ms: number;
  /** The same with denoiser-output validation on (cpu only). */
  step_validated_ms?: number;
  steps: number;
  reps: number;
}

interface TorchResult {
  info: Record<string, unknown>;
  step: Record<string, { median_ms: number; min_ms: number; reps: number }>;
}

/** Log-softmax rows of LCG logits in [−4, 4) (masked: −∞ on the mask id), f32. */
function logProbs(name: CaseName, process: ProcessName): Float32Array {
  const [b, l, k] = CASES[name];
  const out = new Float32Array(b * l * k);
  let s = 12345;
  for (let r = 0; r < b * l; r++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < k; j++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const v =
        process === 'masked' && j === k - 1 ? Number.NEGATIVE_INFINITY : ((s >>> 8) / 8388608 - 1) * 4;
      out[r * k + j] = v;
      if (v > max) max = v;
    }
    let z = 0;
    for (let j = r * k; j < (r + 1) * k; j++) z += Math.exp(out[j] - max);
    const lse = max + Math.log(z);
    for (let j = r * k; j < (r + 1) * k; j++) out[j] -= lse;
  }
  return out;
}

/** The webgpu backend in Node: @duality/kernels finds Dawn (the optional `webgpu` package, llvmpipe here). */
async function webgpuBackend(): Promise<Backend> {
  return createBackend('webgpu');
}

/** A denoiser returning a fresh copy of fixed log-probs; accumulates the time spent inside predict. */
function fixedDenoiser(backend: Backend, base: Tensor, vocabSize: number): Denoiser & { ms: number } {
  const d = {
    ms: 0,
    vocabSize,
    async predict(): Promise<Tensor> {
      const t0 = performance.now();
      const out = backend.scale(base, 1);
      await backend.sync();
      d.ms += performance.now() - t0;
      return out;
    },
  };
  return d;
}

async function perMove(
  backend: Backend,
  name: CaseName,
  processName: ProcessName,
  samplerName: SamplerName,
  validate: boolean,
  steps: number,
  reps: number,
): Promise<number> {
  const [b, l, k] = CASES[name];
  const base = backend.tensor(logProbs(name, processName), [b, l, k], 'f32');
  const process =
    processName === 'masked' ? masked(backend, { vocabSize: k }) : uniform(backend, { vocabSize: k });
  const config = { process, steps, validate };
  const sampler =
    samplerName === 'psi'
      ? psiSampler({ ...config, kappa: { kind: 'constant', eta: 0.5 } })
      : ancestralSampler(config);
  const samples: number[] = [];
  for (let r = 0; r < reps + 1; r++) {
    const denoiser = fixedDenoiser(backend, base, k);
    const t0 = performance.now();
    const ids = await sampler.sample(denoiser, { batch: b, length: l, seed: r });
    await ids.read();
    const total = performance.now() - t0;
    ids.dispose();
    if (r > 0) samples.push((total - denoiser.ms) / (steps + 1)); // the first run warms up
  }
  base.dispose();
  return median(samples.sort((x, y) => x - y));
}

async function runCase(
  name: CaseName,
  processName: ProcessName,
  samplerName: SamplerName,
  backendName: 'cpu' | 'webgpu',
): Promise<OursResult> {
  const backend = backendName === 'cpu' ? await createBackend('cpu') : await webgpuBackend();
  const steps = name === 'large' ? (quick ? 2 : 4) : 16;
  const reps = quick || name === 'large' ? 3 : 5;
  const step_ms = await perMove(backend, name, processName, samplerName, false, steps, reps);
  const step_validated_ms =
    backendName === 'cpu'
      ? await perMove(backend, name, processName, samplerName, true, steps, reps)
      : undefined;
  backend.destroy();
  return {
    case: name,
    process: processName,
    sampler: samplerName,
    backend: backendName,
    step_ms,
    step_validated_ms,
    steps,
    reps,
  };
}

const HERE = fileURLToPath(import.meta.url);

function runChild(
  name: CaseName,
  processName: ProcessName,
  samplerName: SamplerName,
  backend: string,
): OursResult | { error: string } {
  const result = spawnSync(
    process.execPath,
    [
      ...process.execArgv,
      HERE,
      '--child',
      name,
      processName,
      samplerName,
      backend,
      ...(quick ? ['--quick'] : []),
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, EGL_PLATFORM: 'surfaceless' },
      maxBuffer: 1 << 24,
      timeout: 900_000,
    },
  );
  const line = result.stdout
    ?.trim()
    .split('\n')
    .filter((s) => s.startsWith('{'))
    .pop();
  if (line) {
    // a complete result line counts even when the process then died in teardown (noted in the JSON)
    const parsed = JSON.parse(line) as OursResult & { teardown?: string; error?: string };
    if (parsed.error) return { error: parsed.error };
    if (result.status !== 0)
      parsed.teardown = result.signal
        ? `crashed (${result.signal}) after the result`
        : `exit ${result.status}`;
    return parsed;
  }
  const how = result.signal ? `crashed (${result.signal})` : `exited with ${result.status}`;
  const tail = (result.stderr || result.stdout || '').trim().split('\n').slice(-2).join(' | ');
  return { error: `${how} without a result line: ${tail}` };
}

export async function main(argv: string[]): Promise<void> {
  const opts = parseBenchArgs('bench samplers', argv);
  const allCases = Object.keys(CASES) as CaseName[];
  const cases = opts.case ? [oneOf('bench samplers', 'case', opts.case, allCases)] : allCases;
  const backends = opts.backend ? [opts.backend] : ['cpu', 'webgpu'];
  const machine = machineInfo();
  const torch = opts.noAnchor ? undefined : runAnchor<TorchResult>('samplers.py');
  const rows: string[][] = [
    [
      'case',
      'process',
      'sampler',
      'backend',
      'ours ms/step',
      'validated',
      'pytorch ms/step',
      'ratio pytorch/ours',
    ],
  ];
  const results: Array<Record<string, unknown>> = [];
  for (const name of cases) {
    for (const processName of PROCESSES) {
      for (const samplerName of SAMPLERS) {
        const anchor = torch?.ok ? torch.data.step[`${name}/${processName}/${samplerName}`] : undefined;
        for (const backend of backends) {
          const ours = runChild(name, processName, samplerName, backend);
          const ok = 'step_ms' in ours;
          const ratio = ok && anchor ? anchor.median_ms / ours.step_ms : undefined;
          rows.push([
            `${name} [${CASES[name].join(', ')}]`,
            processName,
            samplerName,
            backend,
            ok ? fmt(ours.step_ms, 2) : 'error',
            ok ? fmt(ours.step_validated_ms, 2) : '—',
            fmt(anchor?.median_ms, 2),
            ratio === undefined ? '—' : `${fmt(ratio, 2)}×`,
          ]);
          results.push({
            case: name,
            process: processName,
            sampler: samplerName,
            backend,
            ours,
            pytorch: anchor ?? null,
            ratio: ratio ?? null,
          });
          if (!ok) console.log(`${name}/${processName}/${samplerName}/${backend}: ${ours.error}`);
        }
      }
    }
  }
  console.log(
    'samplers: per-step overhead, denoiser excluded, f32 — ours vs the reference step in PyTorch CPU (2 threads)',
  );
  printTable(rows);
  if (torch && !torch.ok) console.log(`pytorch: not available (${torch.reason})`);
  const file = writeResults('samplers', {
    suite: 'samplers',
    machine: { ...machine, torch: torch?.ok ? torch.data.info : null },
    quick,
    results,
  });
  console.log(`results: ${file}`);
}

const invokedDirectly = process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url;
if (invokedDirectly) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    const result = await runCase(
      argv[1] as CaseName,
      argv[2] as ProcessName,
      argv[3] as SamplerName,
      argv[4] as 'cpu' | 'webgpu',
    );
    console.log(JSON.stringify(result));
    process.exit(0);
  } else {
    await main(argv);
  }
}
