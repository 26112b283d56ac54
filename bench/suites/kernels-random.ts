/**
 * Suite `kernels-random`: the cpu backend's random streams, `backend.uniform(shape, { seed, offset })` and
 * `backend.normal(...)` (f32), at 3·2^20 elements and at [1, 1024, 50257] (the Gaussian curriculum relaxation's
 * shape), with 1 and 2 threads (WebAssembly SIMD kernels), and the same calls on the JS path the backend takes
 * where WebAssembly is unavailable (timed in a child process started without WebAssembly: the JS reference,
 * which was the only path before the wasm kernels).
 *
 *   pnpm bench kernels-random [--quick]
 */
import { loadavg } from 'node:os';
import {
  fmt,
  machineInfo,
  measure,
  printTable,
  quick,
  runChild,
  type Timing,
  writeResults,
} from '../lib/harness';

const CASES = [
  { name: '3.1M', shape: [3, 1024, 1024] },
  { name: '51M', shape: [1, 1024, 50257] },
] as const;
const KINDS = ['uniform', 'normal'] as const;

type CaseTimings = Record<string, Pick<Timing, 'median_ms' | 'min_ms' | 'reps'> & { cpu_ms?: number }>;

/** Times every (kind, case) with a backend of `threads` threads (0 = whatever the backend picks). */
async function timeEngine(threads: number, reps: (size: number) => number): Promise<CaseTimings> {
  const { createBackend } = await import('@duality/kernels');
  const backend = await createBackend('cpu', threads > 0 ? { threads } : {});
  const result: CaseTimings = {};
  for (const kind of KINDS) {
    for (const { name, shape } of CASES) {
      const size = shape.reduce((a: number, b: number) => a * b, 1);
      const n = reps(size);
      if (n === 0) continue;
      let offset = 0;
      const t = await measure(() => backend[kind]([...shape], { seed: 11, offset: offset++ }).dispose(), {
        warmup: n > 1 ? 1 : 0,
        reps: n,
        cpu: true,
      });
      result[`${kind} ${name}`] = {
        median_ms: t.median_ms,
        min_ms: t.min_ms,
        reps: t.reps,
        cpu_ms: t.cpu_ms,
      };
    }
  }
  backend.destroy();
  return result;
}

if (process.env.DUALITY_BENCH_NO_WASM === '1') {
  // child: the JS path (the backend falls back to it when WebAssembly is missing)
  Reflect.deleteProperty(globalThis, 'WebAssembly');
  const timings = await timeEngine(1, (size) => (size > 1e7 ? (quick ? 0 : 1) : quick ? 1 : 3));
  console.log(JSON.stringify(timings));
} else {
  const machine = machineInfo();
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, Node ${process.version}`);
  const reps = () => (quick ? 3 : 7);
  const wasm1 = await timeEngine(1, reps);
  const wasm2 = await timeEngine(2, reps);
  const js = runChild<CaseTimings>('kernels-random.ts', { DUALITY_BENCH_NO_WASM: '1' });
  const engines: Array<[string, CaseTimings | undefined]> = [
    ['duality cpu wasm (1 thread)', wasm1],
    ['duality cpu wasm (2 threads)', wasm2],
    ['JS reference (no wasm, 1 thread)', js.ok ? js.data : undefined],
  ];
  const keys = KINDS.flatMap((kind) => CASES.map(({ name }) => `${kind} ${name}`));
  printTable([
    ['engine (median ms)', ...keys],
    ...engines.map(([name, t]) => [name, ...keys.map((k) => fmt(t?.[k]?.median_ms))]),
  ]);
  if (!js.ok) console.log(`JS reference: not available (${js.reason})`);
  const speedups: Record<string, number> = {};
  if (js.ok) {
    for (const k of keys) {
      if (!js.data[k]) continue;
      speedups[`${k}: JS / wasm 1 thread`] = js.data[k].median_ms / wasm1[k].median_ms;
      speedups[`${k}: JS / wasm 2 threads`] = js.data[k].median_ms / wasm2[k].median_ms;
    }
    console.log('\nspeed-ups:');
    printTable([['ratio', 'value'], ...Object.entries(speedups).map(([k, v]) => [k, fmt(v, 1)])]);
  }
  const loadEnd = loadavg().map((x) => Number(x.toFixed(2)));
  console.log(`load average at the end: ${loadEnd.join(' ')}`);
  const file = writeResults('kernels-random', {
    suite: 'kernels-random',
    machine: { ...machine, loadavg_at_end: loadEnd },
    quick,
    cases: Object.fromEntries(CASES.map(({ name, shape }) => [name, shape])),
    engines: Object.fromEntries(
      engines.map(([name, t]) => [name, t ?? { unavailable: js.ok ? '' : js.reason }]),
    ),
    speedups,
  });
  console.log(`results: ${file}`);
}
