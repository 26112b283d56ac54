import { ArgumentError, KernelError, WorkerCrashedError } from '../errors';
import { CODEGEN_LIMIT, codeGenerationAllowed } from './codegen';
import { CTL, RUNNER_SOURCE, SUPERVISOR_SOURCE, WORKER_SOURCE } from './pool-runner-source';
import { GEMM_MR, GEMM_NR } from './wasm/generated/kernels-wasm';
import { instantiateKernels, type KernelExports, kernelsModule } from './wasm/module';

/** A job the runner understands (see pool-runner-source.ts); `tasks` is how many task indices it has. */
export interface PoolJob {
  kind: 'matmul' | 'sample' | 'random' | 'js' | 'fault';
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
  postMessage(message: unknown, transfer?: unknown[]): void;
  terminate(): unknown;
  unref?: () => void;
  on?: (event: 'exit', listener: () => void) => void;
  onerror?: ((event: unknown) => void) | null;
}

interface PortLike {
  postMessage(message: unknown): void;
  unref?: () => void;
}

interface NodeWorkerThreads {
  Worker: new (source: string, options: { eval: boolean }) => WorkerLike;
  MessageChannel: new () => { port1: PortLike; port2: unknown };
}

interface PoolState {
  /** One job port per worker (Node: a MessagePort to the worker; browser: the Worker itself). */
  ports: PortLike[];
  /** status[i] = 1 once worker i has died (written by the thread that owns it, read between bounded waits). */
  status: Int32Array;
  /** ready[i] = 1 once worker i has its wasm instance (written by the worker). */
  ready: Int32Array;
  /** Whether jobs must wait for every worker to be ready (browsers: see spawnBrowserPool) or run inline. */
  gated: boolean;
  /** Stops every worker (Node: terminates the supervisor, whose exit takes its workers down). */
  stop(): void;
  /** Terminates worker i after `afterMs` (tests). */
  kill(i: number, afterMs: number): void;
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
  /**
   * From this much work on (items × the kernel's cost per item, ~1 unit ≈ 1 ns on one core), a JS range kernel
   * (elementwise and row kernels, parallel.ts) is spread over the pool: 2^17 ≈ 0.13 ms, a few wake-ups.
   */
  rangeParallelMinWork: 1 << 17,
  /** Tasks per thread of a threaded range kernel (more than one, so a thread slowed by the OS is balanced). */
  rangeTasksPerThread: 4,
};

/** How long the calling thread spins on the completion counter before blocking in Atomics.wait. */
const SPIN_MS = 0.2;
/**
 * Longest single Atomics.wait of the calling thread: between waits it checks whether a worker it waits for has
 * died, so a dead worker is noticed within this time instead of blocking the caller forever.
 */
const WAIT_SLICE_MS = 20;

let configuredThreads: number | undefined;
let state: PoolState | undefined;
let mainRunner: Runner | null | undefined;
/** Live backends using the pool: the workers stop when the last one is destroyed. */
let users = 0;
/** How many times workers were started (tests check that a restart happened, or did not). */
let generation = 0;
/** How many jobs were shared with workers (tests check that the threaded path really ran). */
let sharedJobs = 0;

/**
 * Test hooks of the pool (not part of the package's public entry): resource limits for the workers (a small
 * heap makes an out-of-memory death quick), and counters.
 */
export const cpuPoolTesting = {
  resourceLimits: undefined as
    | { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number }
    | undefined,
  /** Whether workers run, how often they were started, how many backends hold the pool, jobs shared so far. */
  stats: () => ({ running: state !== undefined, generation, users, sharedJobs }),
  /** Terminates worker i from its parent thread, after `afterMs` (as an outside kill would); false without a pool. */
  terminateWorker(i: number, afterMs = 0): boolean {
    if (!state) return false;
    state.kill(i, afterMs);
    return true;
  },
  /** Status words of the running pool (1 = that worker died), or undefined. */
  status: () => state?.status,
};

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
let blockable: boolean | undefined;
function canBlock(): boolean {
  if (blockable !== undefined) return blockable;
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') return false;
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0); // "not-equal" at once where allowed
    blockable = true;
  } catch {
    blockable = false;
  }
  return blockable;
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

/**
 * Starts the worker pool (when this thread can run it) and resolves once every worker is ready. In a browser
 * (a Web Worker) jobs run inline until then, because a worker starts through its creator's event loop, which a
 * blocking job would stop; `createBackend('cpu')` awaits this, so its backend is threaded from the first op.
 */
export async function warmCpuPool(): Promise<void> {
  const threads = cpuPoolThreads();
  const module = kernelsModule();
  if (threads <= 1 || !module) return;
  const pool = poolState(threads, module);
  const deadline = Date.now() + 30_000;
  while (pool.ready.includes(0) && !pool.status.includes(1) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Terminates the worker threads now, whoever uses them (a later parallel kernel starts them again). */
export function destroyCpuPool(): void {
  if (!state) return;
  state.stop();
  state = undefined;
}

/** A cpu backend starts using the pool (createCpuBackend). */
export function retainCpuPool(): void {
  users++;
}

/** A cpu backend is destroyed: the workers stop when no live backend uses the pool any more. */
export function releaseCpuPool(): void {
  users = Math.max(0, users - 1);
  if (users === 0) destroyCpuPool();
}

/** Threads a parallel job will use right now (1 = inline). */
export function cpuPoolThreads(): number {
  const wanted = configuredThreads ?? availableCores();
  if (wanted <= 1 || !kernelsModule()) return 1;
  const limit = threadingLimit();
  if (limit) {
    noteOnce(limit);
    return 1;
  }
  return wanted;
}

/**
 * Why this thread cannot run the worker pool, or undefined when it can: a browser main thread may not block in
 * Atomics.wait; a page (or its workers) that is not cross-origin isolated has no SharedArrayBuffer.
 */
export function threadingLimit(): string | undefined {
  if (!codeGenerationAllowed()) return CODEGEN_LIMIT;
  if (!workerSupport()) return 'this context cannot start workers';
  const browserMainThread = (globalThis as { document?: unknown }).document !== undefined;
  if (browserMainThread && !canBlock()) {
    return 'a browser main thread may not block in Atomics.wait (run the cpu backend in a Web Worker for threads)';
  }
  if (typeof SharedArrayBuffer === 'undefined') {
    return 'SharedArrayBuffer is unavailable (serve the page cross-origin isolated: COOP same-origin, COEP require-corp)';
  }
  if (!canBlock()) return 'this thread may not block in Atomics.wait';
  return undefined;
}

let noted = false;
/** Says once per thread why the cpu kernels run single-threaded although more threads were asked for. */
function noteOnce(limit: string): void {
  if (noted) return;
  noted = true;
  console.info(`duality: the cpu backend runs single-threaded here: ${limit}`);
}

function workerSupport(): boolean {
  if (nodeBuiltin<NodeWorkerThreads>('node:worker_threads')) return true;
  return typeof Worker !== 'undefined' && typeof Blob !== 'undefined' && typeof URL !== 'undefined';
}

/** The init message every worker gets first: its wasm module and the gemm tile sizes. */
const initMessage = (module: WebAssembly.Module, ready: Int32Array, slot: number) => ({
  init: true,
  module,
  mr: GEMM_MR,
  nr: GEMM_NR,
  ready,
  slot,
});

/**
 * Node: a supervisor thread owns the workers (it sees their 'exit' events while this thread may be blocked) and
 * each worker gets jobs on its own MessagePort from this thread.
 */
function spawnNodePool(threads: NodeWorkerThreads, count: number, module: WebAssembly.Module): PoolState {
  const status = new Int32Array(new SharedArrayBuffer(4 * count));
  const supervisor = new threads.Worker(SUPERVISOR_SOURCE, { eval: true });
  supervisor.unref?.();
  // the supervisor's own death takes the workers with it; seen here between jobs
  supervisor.on?.('exit', () => status.fill(1));
  const channels = Array.from({ length: count }, () => new threads.MessageChannel());
  const childPorts = channels.map((c) => c.port2);
  const { resourceLimits } = cpuPoolTesting;
  supervisor.postMessage({ source: WORKER_SOURCE, status, ports: childPorts, resourceLimits }, childPorts);
  const ports = channels.map((c) => c.port1);
  const ready = new Int32Array(new SharedArrayBuffer(4 * count));
  ports.forEach((port, slot) => {
    port.unref?.();
    port.postMessage(initMessage(module, ready, slot));
  });
  return {
    ports,
    status,
    ready,
    // Node starts workers without this thread's event loop: jobs may be posted before they are up
    gated: false,
    broken: false,
    stop: () => supervisor.terminate(),
    kill: (i, afterMs) => supervisor.postMessage({ terminate: i, afterMs }),
  };
}

/** Browser (a Web Worker host): workers from a Blob URL; an 'error' event marks the worker dead. */
function spawnBrowserPool(count: number, module: WebAssembly.Module): PoolState {
  const status = new Int32Array(new SharedArrayBuffer(4 * count));
  const ready = new Int32Array(new SharedArrayBuffer(4 * count));
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const workers: WorkerLike[] = Array.from({ length: count }, (_, i) => {
    const worker = new Worker(url) as WorkerLike;
    worker.onerror = () => Atomics.store(status, i, 1);
    worker.postMessage(initMessage(module, ready, i));
    return worker;
  });
  URL.revokeObjectURL(url);
  const kill = (i: number, afterMs: number) => {
    setTimeout(() => {
      workers[i].terminate();
      Atomics.store(status, i, 1);
    }, afterMs);
  };
  return {
    ports: workers,
    status,
    ready,
    // a browser starts a worker through its creator's event loop: blocking before it is up would deadlock
    gated: true,
    broken: false,
    stop: () => {
      for (const w of workers) w.terminate();
    },
    kill,
  };
}

/** The running pool with `threads − 1` live workers, (re)started when absent, resized, broken or a worker died. */
function poolState(threads: number, module: WebAssembly.Module): PoolState {
  const healthy = state && !state.broken && !state.status.includes(1);
  if (state && healthy && state.ports.length === threads - 1) return state;
  destroyCpuPool();
  const nodeThreads = nodeBuiltin<NodeWorkerThreads>('node:worker_threads');
  state = nodeThreads
    ? spawnNodePool(nodeThreads, threads - 1, module)
    : spawnBrowserPool(threads - 1, module);
  generation++;
  return state;
}

/** The main thread's runner over its own wasm instance, or null where the wasm kernels are unavailable. */
export function localRunner(): Runner | null {
  if (mainRunner) return mainRunner;
  const module = kernelsModule();
  if (!module || !codeGenerationAllowed()) return null;
  const create = new Function(`${RUNNER_SOURCE}; return createRunner;`)() as (
    wasm: KernelExports,
    mr: number,
    nr: number,
    inWorker: boolean,
  ) => Runner;
  mainRunner = create(instantiateKernels(module), GEMM_MR, GEMM_NR, false);
  return mainRunner;
}

/**
 * Runs tasks 0 … job.tasks − 1 of a job: on the calling thread alone when `parallel` is false or the pool is
 * inline, else shared with the workers (each participant takes the next task index atomically; the calling
 * thread then waits until every worker is done, in bounded waits between which it checks that the workers it
 * waits for are alive). Every array the workers touch must live in a SharedArrayBuffer. Returns false when the
 * wasm kernels are unavailable (the caller takes its JS path). A worker that died during the job fails it with
 * WorkerCrashedError (its tasks are lost) and the pool restarts on the next job; one that died while idle is
 * replaced before the job starts.
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
  if (pool.gated && pool.ready.includes(0)) {
    // browser workers still starting (they need this thread's event loop): this job runs inline
    for (let t = 0; t < job.tasks; t++) run(job, t);
    return true;
  }
  const helpers = threads - 1;
  sharedJobs++;
  const ctl = new Int32Array(new SharedArrayBuffer(4 * (CTL.slots + helpers)));
  for (let slot = 0; slot < helpers; slot++) pool.ports[slot].postMessage({ job, ctl, slot });
  try {
    for (;;) {
      const t = Atomics.add(ctl, CTL.next, 1);
      if (t >= job.tasks) break;
      run(job, t);
      Atomics.add(ctl, CTL.completed, 1);
    }
  } finally {
    awaitHelpers(ctl, helpers, pool.status);
  }
  return checkJob(job, ctl, helpers, pool);
}

/** Waits until each helper is done or dead: a short spin, then bounded Atomics.waits with liveness checks. */
function awaitHelpers(ctl: Int32Array, helpers: number, status: Int32Array): void {
  // workers usually finish within a task of the caller: spin briefly before sleeping, which saves a
  // sleep/wake round trip through the scheduler (costly on a loaded machine)
  const spinUntil = performance.now() + SPIN_MS;
  while (Atomics.load(ctl, CTL.done) < helpers && performance.now() < spinUntil);
  for (;;) {
    const done = Atomics.load(ctl, CTL.done);
    if (done >= helpers) return;
    Atomics.wait(ctl, CTL.done, done, WAIT_SLICE_MS);
    let settled = true;
    for (let slot = 0; slot < helpers && settled; slot++) {
      settled = Atomics.load(ctl, CTL.slots + slot) === 1 || Atomics.load(status, slot) === 1;
    }
    if (settled) return;
  }
}

/** Turns a failed or incomplete job into a typed error (and marks the pool for a restart). */
function checkJob(job: PoolJob, ctl: Int32Array, helpers: number, pool: PoolState): boolean {
  const dead: number[] = [];
  for (let slot = 0; slot < helpers; slot++) if (Atomics.load(pool.status, slot) === 1) dead.push(slot);
  if (dead.length > 0) pool.broken = true;
  const completed = Atomics.load(ctl, CTL.completed);
  if (completed < job.tasks && dead.length > 0) {
    throw new WorkerCrashedError(
      job.kind,
      `cpu worker thread${dead.length > 1 ? 's' : ''} ${dead.join(', ')} dead after ${completed} of ${job.tasks} tasks`,
      'every task to complete',
      'the worker exited, was terminated or ran out of memory; the pool restarts on the next job',
    );
  }
  if (Atomics.load(ctl, CTL.failed) !== 0) {
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
