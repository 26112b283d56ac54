/**
 * The cpu backend inside a Web Worker (a page's main thread may not block in Atomics.wait, a worker may): it runs
 * there with the same results as anywhere else; with threads when the page is cross-origin isolated (the
 * `browser-isolated` test project serves COOP/COEP headers), inline otherwise. On the main thread it runs inline
 * and says why.
 */
import { describe, expect, it } from 'vitest';
import { configureCpuPool, cpuPoolThreads, threadingLimit } from './pool';
import { kernelsReady } from './wasm/module';
import { compute, forceThreadedPaths, type WorkerRun } from './worker-test-utils';

function runInWorker(threads: number): Promise<WorkerRun> {
  const worker = new Worker(new URL('./worker-test-utils.ts', import.meta.url), { type: 'module' });
  return new Promise<WorkerRun>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<WorkerRun | { error: string }>) => {
      worker.terminate();
      if ('error' in event.data) reject(new Error(event.data.error));
      else resolve(event.data);
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(`worker failed: ${event.message}`));
    };
    worker.postMessage({ threads });
  });
}

describe('the cpu backend in a Web Worker', () => {
  it('gives the main thread’s results; threads exactly when the page is cross-origin isolated', async () => {
    await kernelsReady();
    configureCpuPool({ threads: 2 });
    forceThreadedPaths();
    const expected = compute(); // the main thread: inline (it cannot block)
    expect(cpuPoolThreads()).toBe(1);
    expect(threadingLimit()).toMatch(/browser main thread may not block in Atomics\.wait/);

    const run = await runInWorker(2);
    expect(run.crossOriginIsolated).toBe(globalThis.crossOriginIsolated === true);
    expect(run.restarted).toBe(false);
    if (run.crossOriginIsolated) {
      expect(run.threads).toBe(2);
      expect(run.limit).toBeUndefined();
      expect(run.sharedJobs).toBe(3); // matmul, sampling and the random stream all ran on the workers
    } else {
      expect(run.threads).toBe(1);
      expect(run.sharedJobs).toBe(0);
      expect(run.limit).toMatch(/SharedArrayBuffer is unavailable .*COOP same-origin, COEP require-corp/);
    }
    expect(run.matmul).toEqual(expected.matmul);
    expect(run.ids).toEqual(expected.ids);
    expect(run.uniform).toEqual(expected.uniform);
    console.info(
      `cpu backend in a Web Worker: crossOriginIsolated=${run.crossOriginIsolated}, threads=${run.threads}`,
    );
  });
});
