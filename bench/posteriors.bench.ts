/**
 * Suite `posteriors`: one fused Ψ-sampler step — posterior + κ-mix + categorical draw — over [1, 1024, 50257]
 * (GPT-2 vocabulary) and [64, 256, 27] (brown8/text8), f32, masked and uniform processes, on Duality's cpu and
 * webgpu backends, side by side with PyTorch CPU (bench/anchors/posteriors.py: the same formulas evaluated the
 * way the reference code does, 2 threads). α_s = 0.6, α_t = 0.3, κ = 0.4; x̂0 rows are softmaxes of random logits.
 *
 * Each (case, process, backend) runs in its own child process (own peak RSS; Dawn on llvmpipe may crash).
 *   node --conditions=@duality/source --import tsx bench/posteriors.bench.ts [--quick] [--no-anchor]
 *       [--case large|small] [--backend cpu|webgpu]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Backend, createBackend } from '@duality/kernels';
import { masked, uniform } from '@duality/noise';
import { psiSample } from '@duality/posteriors';
import { oneOf, parseBenchArgs } from './lib/args.mjs';
import { fmt, machineInfo, measure, printTable, quick, runAnchor, writeResults } from './lib/harness';

const CASES = { large: [1, 1024, 50257], small: [64, 256, 27] } as const;
const PROCESSES = ['uniform', 'masked'] as const;
const STEP = { alphaS: 0.6, alphaT: 0.3, kappa: 0.4 };
type CaseName = keyof typeof CASES;
type ProcessName = (typeof PROCESSES)[number];

interface OursResult {
  case: CaseName;
  process: ProcessName;
  backend: string;
  median_ms: number;
  min_ms: number;
  reps: number;
  peak_rss_mb?: number;
}

interface TorchResult {
  info: Record<string, unknown>;
  step: Record<string, { median_ms: number; min_ms: number; reps: number; peak_rss_mb: number }>;
}

/** Deterministic x̂0: softmax over each row of LCG logits in [−2, 2); masked rows carry no mass on the mask. */
function inputs(name: CaseName, process: ProcessName): { x: Float32Array; ids: Int32Array } {
  const [b, l, k] = CASES[name];
  const rows = b * l;
  const x = new Float32Array(rows * k);
  let s = 12345;
  for (let r = 0; r < rows; r++) {
    let total = 0;
    for (let j = 0; j < k; j++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const v = process === 'masked' && j === k - 1 ? 0 : Math.exp(((s >>> 8) / 8388608 - 1) * 2);
      x[r * k + j] = v;
      total += v;
    }
    for (let j = r * k; j < (r + 1) * k; j++) x[j] /= total;
  }
  const ids = Int32Array.from({ length: rows }, (_, r) =>
    process === 'masked' && r % 2 === 0 ? k - 1 : (r * 7919) % (k - 1),
  );
  return { x, ids };
}

/** The webgpu backend in Node: @duality/kernels finds Dawn (the optional `webgpu` package, llvmpipe here). */
async function webgpuBackend(): Promise<Backend> {
  return createBackend('webgpu');
}

/** Times psiSample (+ reading the ids back) for one case in this process. */
async function runCase(
  name: CaseName,
  processName: ProcessName,
  backendName: 'cpu' | 'webgpu',
): Promise<OursResult> {
  const [b, l, k] = CASES[name];
  // inputs first: Dawn (webgpu in Node) aborts when the event loop is blocked for seconds after device creation
  const { x, ids } = inputs(name, processName);
  const backend = backendName === 'cpu' ? await createBackend('cpu') : await webgpuBackend();
  const x0Probs = backend.tensor(x, [b, l, k], 'f32');
  const xt = backend.tensor(ids, [b, l], 'i32');
  const process =
    processName === 'masked' ? masked(backend, { vocabSize: k }) : uniform(backend, { vocabSize: k });
  let offset = 0;
  const step = async () => {
    const out = await psiSample(process, { x0Probs, xt, ...STEP, stream: { seed: 7, offset } });
    offset += b * l * k;
    await out.read();
    out.dispose();
  };
  const reps = name === 'large' && (quick || backendName === 'webgpu') ? 3 : quick ? 3 : 7;
  const t = await measure(step, { warmup: 1, reps, rss: true });
  backend.destroy();
  return {
    case: name,
    process: processName,
    backend: backendName,
    median_ms: t.median_ms,
    min_ms: t.min_ms,
    reps,
    peak_rss_mb: t.peak_rss_mb,
  };
}

const HERE = fileURLToPath(import.meta.url);

function runChild(name: CaseName, processName: ProcessName, backend: string): OursResult | { error: string } {
  const result = spawnSync(
    process.execPath,
    [...process.execArgv, HERE, '--child', name, processName, backend, ...(quick ? ['--quick'] : [])],
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
  if (result.status === 0 && line) return JSON.parse(line) as OursResult;
  const how = result.signal ? `crashed (${result.signal})` : `exited with ${result.status}`;
  return { error: `${how}: ${(result.stderr || '').trim().split('\n').slice(-2).join(' | ')}` };
}

export async function main(argv: string[]): Promise<void> {
  const opts = parseBenchArgs('bench posteriors', argv);
  const allCases = Object.keys(CASES) as CaseName[];
  const cases = opts.case ? [oneOf('bench posteriors', 'case', opts.case, allCases)] : allCases;
  const backends = opts.backend ? [opts.backend] : ['cpu', 'webgpu'];
  const machine = machineInfo();
  const torch = opts.noAnchor
    ? undefined
    : runAnchor<TorchResult>('posteriors.py', opts.case ? ['--case', opts.case] : []);
  const rows: string[][] = [['case', 'process', 'backend', 'ours ms', 'peak MB', 'pytorch ms', 'speed-up']];
  const results: Array<Record<string, unknown>> = [];
  for (const name of cases) {
    for (const processName of PROCESSES) {
      const anchor = torch?.ok ? torch.data.step[`${name}/${processName}`] : undefined;
      for (const backend of backends) {
        const ours = runChild(name, processName, backend);
        const ok = 'median_ms' in ours;
        const speedup = ok && anchor ? anchor.median_ms / ours.median_ms : undefined;
        rows.push([
          `${name} [${CASES[name].join(', ')}]`,
          processName,
          backend,
          ok ? fmt(ours.median_ms) : `error`,
          ok ? fmt(ours.peak_rss_mb, 0) : '—',
          fmt(anchor?.median_ms),
          speedup === undefined ? '—' : `${fmt(speedup, 1)}×`,
        ]);
        results.push({
          case: name,
          process: processName,
          backend,
          ours,
          pytorch: anchor ?? null,
          speedup: speedup ?? null,
        });
        if (!ok) console.log(`${name}/${processName}/${backend}: ${ours.error}`);
      }
    }
  }
  console.log(
    'posteriors: one fused Ψ step (posterior + κ-mix + sample), f32 — ours vs PyTorch CPU (2 threads)',
  );
  printTable(rows);
  if (torch && !torch.ok) console.log(`pytorch: not available (${torch.reason})`);
  const file = writeResults('posteriors', {
    suite: 'posteriors',
    machine: { ...machine, torch: torch?.ok ? torch.data.info : null },
    quick,
    step: STEP,
    results,
  });
  console.log(`results: ${file}`);
}

const invokedDirectly = process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url;
if (invokedDirectly) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    const result = await runCase(argv[1] as CaseName, argv[2] as ProcessName, argv[3] as 'cpu' | 'webgpu');
    console.log(JSON.stringify(result));
    process.exit(0);
  } else {
    await main(argv);
  }
}
