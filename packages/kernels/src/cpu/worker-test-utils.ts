/**
 * A module Web Worker for the browser tests (not shipped: *test-utils.ts): runs the cpu backend inside the
 * worker, with the pool's thresholds lowered so matmul, sampling and random streams take their threaded paths
 * when the worker can run threads, and posts back the results and what the pool could use.
 */

import { createBackend } from '../create-backend';
import { createCpuBackend } from './backend';
import { cpuKernelLimits, cpuPoolTesting, cpuPoolThreads, threadingLimit } from './pool';

export interface WorkerRun {
  crossOriginIsolated: boolean;
  threads: number;
  limit: string | undefined;
  /** Whether the pool had to be started during the computation (it should have been warm). */
  restarted: boolean;
  /** Jobs of the computation that ran on the pool's workers. */
  sharedJobs: number;
  matmul: number[];
  ids: number[];
  uniform: number[];
}

/** The computation both the worker and the page run: deterministic inputs, three threaded kernels. */
export function compute(): Pick<WorkerRun, 'matmul' | 'ids' | 'uniform'> {
  const cpu = createCpuBackend();
  const a = cpu.tensor(
    Float32Array.from({ length: 96 * 80 }, (_, i) => Math.sin(i) / 4),
    [96, 80],
  );
  const b = cpu.tensor(
    Float32Array.from({ length: 80 * 72 }, (_, i) => Math.cos(i) / 4),
    [80, 72],
  );
  const logits = cpu.tensor(
    Float32Array.from({ length: 32 * 500 }, (_, i) => Math.sin(i * 0.37) * 3),
    [32, 500],
  );
  const result = {
    matmul: Array.from(cpu.dataOf(cpu.matmul(a, b))),
    ids: Array.from(cpu.dataOf(cpu.sampleCategorical(logits, { seed: 9, offset: 3 }))),
    uniform: Array.from(cpu.dataOf(cpu.uniform([40000], { seed: 4n ** 20n, offset: 7 }))),
  };
  cpu.destroy();
  return result;
}

/** Lowers the thresholds so that every kernel above goes to the pool (when there is one). */
export function forceThreadedPaths(): void {
  Object.assign(cpuKernelLimits, {
    matmulWasmMinMacs: 0,
    matmulParallelMinMacs: 0,
    sampleParallelMinElements: 0,
    sampleMinChunk: 16,
    randomParallelMinElements: 0,
    randomTaskElements: 4096,
  });
}

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<{ threads: number }>) => void) | null;
  postMessage(message: WorkerRun | { error: string }): void;
  crossOriginIsolated?: boolean;
  document?: unknown;
};

if (scope.document === undefined) {
  scope.onmessage = async (event) => {
    try {
      // createBackend('cpu') compiles the wasm module and waits until the pool's workers are up
      const held = await createBackend('cpu', { threads: event.data.threads });
      forceThreadedPaths();
      const { generation, sharedJobs } = cpuPoolTesting.stats();
      const run = compute();
      scope.postMessage({
        crossOriginIsolated: scope.crossOriginIsolated === true,
        threads: cpuPoolThreads(),
        limit: threadingLimit(),
        restarted: cpuPoolTesting.stats().generation !== generation,
        sharedJobs: cpuPoolTesting.stats().sharedJobs - sharedJobs,
        ...run,
      });
      held.destroy();
    } catch (error) {
      scope.postMessage({ error: String((error as Error)?.stack ?? error) });
    }
  };
}
