/**
 * The cpu worker pool when a worker dies: mid-job (exit, terminate from outside, out of heap, a throw) the job
 * fails with a typed error within a bounded time and the next job runs on a fresh pool; while idle, the dead
 * worker is replaced before the next job. The pool is shared by backends and stops with the last one.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createCpuBackend } from '../src/cpu/backend';
import { configureCpuPool, cpuKernelLimits, cpuPoolTesting, destroyCpuPool, runJob } from '../src/cpu/pool';
import { KernelError, WorkerCrashedError } from '../src/errors';
import type { CpuBackend } from '../src/types';

const defaults = { ...cpuKernelLimits };
afterEach(() => {
  Object.assign(cpuKernelLimits, defaults);
  cpuPoolTesting.resourceLimits = undefined;
});
afterAll(() => destroyCpuPool());

type Fault = 'exit' | 'oom' | 'throw' | 'hang';
/** A job whose tasks make a worker die (or hang); the calling thread sleeps per task so the worker takes one. */
const faultJob = (fault: Fault) => ({
  kind: 'fault' as const,
  tasks: 40,
  fault,
  sleep: new Int32Array(new SharedArrayBuffer(4)),
  mainSleepMs: 25,
  workerSleepMs: 60_000,
});

/** A real threaded job: sampling over 64 rows with the parallel threshold lowered; returns the ids. */
function parallelSample(backend: CpuBackend): number[] {
  cpuKernelLimits.sampleParallelMinElements = 0;
  const logits = backend.tensor(
    Float32Array.from({ length: 64 * 300 }, (_, i) => Math.sin(i)),
    [64, 300],
  );
  return Array.from(backend.dataOf(backend.sampleCategorical(logits, { seed: 11 })));
}

/** The ids of the same draw without threads. */
function inlineSample(): number[] {
  configureCpuPool({ threads: 0 });
  const backend = createCpuBackend();
  const ids = parallelSample(backend);
  backend.destroy();
  configureCpuPool({ threads: 2 });
  return ids;
}

/** Runs `run` and returns what it threw and how long it took. */
function timed(run: () => unknown): { error: unknown; ms: number } {
  const t0 = performance.now();
  try {
    run();
    return { error: undefined, ms: performance.now() - t0 };
  } catch (error) {
    return { error, ms: performance.now() - t0 };
  }
}

const until = async (condition: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('a worker that dies mid-job', () => {
  const expected = inlineSample();
  const backend = createCpuBackend({ threads: 2 });
  afterAll(() => backend.destroy());

  it.each<Fault>(['exit', 'oom'])(
    '%s: the job fails with WorkerCrashedError (no hang), the next job restarts the pool',
    (fault) => {
      if (fault === 'oom') {
        cpuPoolTesting.resourceLimits = { maxOldGenerationSizeMb: 12, maxYoungGenerationSizeMb: 4 };
        destroyCpuPool();
      }
      expect(parallelSample(backend)).toEqual(expected); // workers up and warm
      const before = cpuPoolTesting.stats().generation;
      const { error, ms } = timed(() => runJob(faultJob(fault), true));
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error).toBeInstanceOf(KernelError);
      expect((error as Error).name).toBe('WorkerCrashedError');
      expect((error as Error).message).toMatch(/^fault: got cpu worker thread 0 dead after \d+ of 40 tasks/);
      expect(ms).toBeLessThan(5_000); // 40 tasks × 25 ms on the calling thread, plus a loaded machine
      expect(parallelSample(backend)).toEqual(expected);
      expect(cpuPoolTesting.stats().generation).toBe(before + 1);
    },
  );

  it('terminated from outside while it works: WorkerCrashedError within the wait slice', () => {
    expect(parallelSample(backend)).toEqual(expected);
    cpuPoolTesting.terminateWorker(0, 100); // the worker is asleep in its task by then
    const { error, ms } = timed(() => runJob(faultJob('hang'), true));
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(ms).toBeLessThan(5_000); // without the liveness check the caller would wait 60 s for the sleeper
    expect(parallelSample(backend)).toEqual(expected);
  });

  it('a throw in a worker fails the job with a KernelError; the pool restarts', () => {
    expect(parallelSample(backend)).toEqual(expected);
    const before = cpuPoolTesting.stats().generation;
    const { error } = timed(() => runJob(faultJob('throw'), true));
    expect(error).toBeInstanceOf(KernelError);
    expect((error as Error).message).toContain('a failure in a cpu worker thread');
    expect(parallelSample(backend)).toEqual(expected);
    expect(cpuPoolTesting.stats().generation).toBe(before + 1);
  });
});

describe('a worker that dies while idle', () => {
  const expected = inlineSample();
  const backend = createCpuBackend({ threads: 2 });
  afterAll(() => backend.destroy());

  it('is replaced before the next job, which succeeds', async () => {
    expect(parallelSample(backend)).toEqual(expected);
    const before = cpuPoolTesting.stats().generation;
    const status = cpuPoolTesting.status() as Int32Array;
    cpuPoolTesting.terminateWorker(0);
    await until(() => status[0] === 1);
    expect(parallelSample(backend)).toEqual(expected);
    expect(cpuPoolTesting.stats().generation).toBe(before + 1);
  });

  it('killed just before a job: the job ends (result or WorkerCrashedError), it never hangs', () => {
    for (let round = 0; round < 3; round++) {
      expect(parallelSample(backend)).toEqual(expected);
      cpuPoolTesting.terminateWorker(0);
      const { error, ms } = timed(() => {
        expect(parallelSample(backend)).toEqual(expected);
      });
      if (error !== undefined) expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(ms).toBeLessThan(5_000);
    }
  });
});

describe('the pool is shared by backends', () => {
  it("one backend's destroy() leaves the workers running for the others; the last one stops them", () => {
    destroyCpuPool();
    const expected = inlineSample();
    const users = cpuPoolTesting.stats().users;
    const a = createCpuBackend({ threads: 2 });
    const b = createCpuBackend();
    expect(cpuPoolTesting.stats().users).toBe(users + 2);
    expect(parallelSample(a)).toEqual(expected);
    const { generation } = cpuPoolTesting.stats();
    a.destroy();
    a.destroy(); // a second destroy releases nothing more
    expect(cpuPoolTesting.stats()).toMatchObject({ running: true, generation, users: users + 1 });
    expect(parallelSample(b)).toEqual(expected);
    expect(cpuPoolTesting.stats().generation).toBe(generation); // the same workers, not restarted
    b.destroy();
    expect(cpuPoolTesting.stats().running).toBe(users > 0);
  });
});
