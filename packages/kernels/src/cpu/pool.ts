import { ArgumentError, KernelError } from '../errors';
import { RUNNER_SOURCE, WORKER_SOURCE } from './pool-runner-source';
import { GEMM_MR, GEMM_NR } from './wasm/generated/kernels-wasm';
import { instantiateKernels, type KernelExports, kernelsModule } from './wasm/module';

/** A job the runner understands (see pool-runner-source.ts); `tasks` is how many task indices it has. */
export interface PoolJob {
  kind: 'matmul' | 'sample' | 'random';
  tasks: number;
  [field: string]: unknown;
}

/** The runner of pool-runner-source.ts on one wasm instance. */
export interface Runner {
  run(job: PoolJob, task: number): void;
  /** Packs columns j0 … j0 + nc − 1 of op(B) (B at element offset bo) into NR-column panels, into[at …]. */
  packB(
    b: Float32Array,
    bo: number,
    k: number,
    n: number,
    transposeB: boolean,
    j0: number,
    nc: number,
    into: Float32Array,
    at: number,
  ): void;
}

interface WorkerLike {
  postMessage(message: unknown): void;
  terminate(): unknown;
  unref?: () => void;
}

interface NodeWorkerThreads {
  Worker: new (source: string, options: { eval: boolean }) => WorkerLike;
}

interface PoolState {
  workers: WorkerLike[];
  broken: boolean;
}

/**
 * Size thresholds of the fast cpu kernels (exported for tests and benchmarks, which lower them to exercise the
 * threaded paths on small inputs; not part of the package's public entry).
 */
export const cpuKernelLimits = {
  /** Below this many multiply-adds an f32 matmul stays in JS (packing and call overhead would dominate). */
  matmulWasmMinMacs: 4096,
  /**
   * From this many multiply-adds on, an f32 matmul is spread over the pool (2^22 MACs ≈ 0.3 ms on one core;
   * waking the workers costs ~0.05–0.1 ms, more on a loaded machine).
   */
  matmulParallelMinMacs: 1 << 22,
  /** From this many logits on, sampling is spread over the pool (2^18 ≈ 0.8 ms on one core). */
  sampleParallelMinElements: 1 << 18,
  /**
   * Smallest column chunk when a few long rows are split across threads. Measured: one row of 50257 takes
   * ~0.15 ms on one core and splitting it in two was slower (thread wake-up dominates), so rows of a GPT-2
   * vocabulary are never split; rows of 2^17 and more are.
   */
  sampleMinChunk: 1 << 16,
  /** Below this many elements a uniform or normal stream is filled in JS (the wasm call would not pay off). */
  randomWasmMinElements: 64,
  /** From this many elements on, a uniform or normal stream is spread over the pool. */
  randomParallelMinElements: 1 << 17,
  /** Elements per task of a threaded stream fill. */
  randomTaskElements: 1 << 16,
};

/** How long the calling thread spins on the completion counter before blocking in Atomics.wait. */
const SPIN_MS = 0.2;

let configuredThreads: number | undefined;
let state: PoolState | undefined;
let mainRunner: Runner | null | undefined;

/** Cores this process may use (Node: os.availableParallelism; browsers: navigator.hardwareConcurrency). */
export function availableCores(): number {
  const os = nodeBuiltin<{ availableParallelism?: () => number; cpus(): unknown[] }>('node:os');
  if (os) return os.availableParallelism?.() ?? os.cpus().length;
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return nav?.hardwareConcurrency ?? 1;
}

function nodeBuiltin<T>(name: string): T | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.(name) as T | undefined;
}

/** Whether this thread may block in Atomics.wait (Node's main thread yes, a browser's main thread no). */
function canBlock(): boolean {
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') return false;
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0); // "not-equal" at once where allowed
    return true;
  } catch {
    return false;
  }
}

/**
 * Sets how many threads the heavy cpu kernels (matmul, sampling, random streams) use: `threads` in total, the
 * calling thread included, so `threads - 1` workers are started on first use. 0 or 1 runs everything inline.
 * Default: the available cores.
 */
export function configureCpuPool({ threads }: { threads?: number } = {}): void {
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 0)) {
    throw new ArgumentError(
      'configureCpuPool',
      `threads = ${threads}`,
      'a non-negative integer (0 = inline)',
    );
  }
  configuredThreads = threads; // running workers are resized (or left idle, for inline) on the next parallel job
}

/** Terminates the worker threads (a later parallel kernel starts them again). Called by backend.destroy(). */
export function destroyCpuPool(): void {
  if (!state) return;
  for (const worker of state.workers) worker.terminate();
  state = undefined;
}

/** Threads a parallel job will use right now (1 = inline). */
export function cpuPoolThreads(): number {
  const wanted = configuredThreads ?? availableCores();
  if (wanted <= 1 || !kernelsModule() || !canBlock() || !workerSupport()) return 1;
  return wanted;
}

function workerSupport(): boolean {
  if (nodeBuiltin<NodeWorkerThreads>('node:worker_threads')) return true;
  return typeof Worker !== 'undefined' && typeof Blob !== 'undefined' && typeof URL !== 'undefined';
}

function spawnWorker(module: WebAssembly.Module): WorkerLike {
  const threads = nodeBuiltin<NodeWorkerThreads>('node:worker_threads');
  let worker: WorkerLike;
  if (threads) {
    worker = new threads.Worker(WORKER_SOURCE, { eval: true });
    worker.unref?.();
  } else {
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
    worker = new Worker(url);
    URL.revokeObjectURL(url);
  }
  worker.postMessage({ init: true, module, mr: GEMM_MR, nr: GEMM_NR });
  return worker;
}

function poolState(threads: number, module: WebAssembly.Module): PoolState {
  if (state && state.workers.length === threads - 1 && !state.broken) return state;
  destroyCpuPool();
  state = { workers: Array.from({ length: threads - 1 }, () => spawnWorker(module)), broken: false };
  return state;
}

/** The main thread's runner over its own wasm instance, or null where the wasm kernels are unavailable. */
export function localRunner(): Runner | null {
  if (mainRunner) return mainRunner;
  const module = kernelsModule();
  if (!module) return null;
  const create = new Function(`${RUNNER_SOURCE}; return createRunner;`)() as (
    wasm: KernelExports,
    mr: number,
    nr: number,
  ) => Runner;
  mainRunner = create(instantiateKernels(module), GEMM_MR, GEMM_NR);
  return mainRunner;
}

/**
 * Runs tasks 0 … job.tasks − 1 of a job: on the calling thread alone when `parallel` is false or the pool is
 * inline, else shared with the workers (each participant takes the next task index atomically; the calling
 * thread blocks in Atomics.wait until every worker is done). Every array the workers touch must live in a
 * SharedArrayBuffer. Returns false when the wasm kernels are unavailable (the caller takes its JS path).
 */
export function runJob(job: PoolJob, parallel: boolean): boolean {
  const runner = localRunner();
  if (!runner) return false;
  const run = runner.run;
  const threads = parallel ? Math.min(cpuPoolThreads(), job.tasks) : 1;
  if (threads <= 1) {
    for (let t = 0; t < job.tasks; t++) run(job, t);
    return true;
  }
  const pool = poolState(cpuPoolThreads(), kernelsModule() as WebAssembly.Module);
  const helpers = pool.workers.slice(0, threads - 1);
  const ctl = new Int32Array(new SharedArrayBuffer(12)); // [next task, workers done, failed]
  for (const worker of helpers) worker.postMessage({ job, ctl });
  try {
    for (;;) {
      const t = Atomics.add(ctl, 0, 1);
      if (t >= job.tasks) break;
      run(job, t);
    }
  } finally {
    // workers usually finish within a task of the caller: spin briefly before sleeping, which saves a
    // sleep/wake round trip through the scheduler (costly on a loaded machine)
    const spinUntil = performance.now() + SPIN_MS;
    while (Atomics.load(ctl, 1) < helpers.length && performance.now() < spinUntil);
    for (;;) {
      const done = Atomics.load(ctl, 1);
      if (done >= helpers.length) break;
      Atomics.wait(ctl, 1, done);
    }
  }
  if (Atomics.load(ctl, 2) !== 0) {
    pool.broken = true;
    throw new KernelError(
      job.kind,
      'a failure in a cpu worker thread',
      'every task to complete',
      'see stderr',
    );
  }
  return true;
}

/** Whether typed arrays can be shared with workers (SharedArrayBuffer exists and is usable here). */
export function canShareMemory(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  const g = globalThis as { crossOriginIsolated?: boolean; window?: unknown };
  return g.window === undefined || g.crossOriginIsolated === true;
}
