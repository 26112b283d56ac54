/**
 * Without the wasm kernels (no WebAssembly SIMD, or a browser main thread before its asynchronous compile) the
 * cpu backend's random streams take the JS path: same numbers, at every size, with threads configured.
 */
import { describe, expect, it, vi } from 'vitest';

vi.mock('../src/cpu/wasm/module', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../src/cpu/wasm/module')>()),
  kernelsModule: () => null,
}));

const { createCpuBackend } = await import('../src/cpu/backend');
const { cpuKernelLimits, cpuPoolThreads } = await import('../src/cpu/pool');
const { normalsFromWords } = await import('../src/rng/normal');
const { philoxKey, philoxWords, wordToUniform } = await import('../src/rng/philox');

describe('random streams without the wasm kernels', () => {
  it('fall back to the JS path and give the stream values (uniform and normal, above every size limit)', () => {
    const cpu = createCpuBackend({ threads: 2 });
    expect(cpuPoolThreads()).toBe(1); // no module: no pool either
    const count = cpuKernelLimits.randomParallelMinElements + 5;
    const stream = { seed: 2n ** 40n + 3n, offset: 2 ** 32 + 2 };
    const u = cpu.dataOf(cpu.uniform([count], stream, 'f64'));
    const words = philoxWords(philoxKey(stream.seed), stream.offset, count);
    expect(u.every((x, i) => x === wordToUniform(words[i]))).toBe(true);
    const n = cpu.dataOf(cpu.normal([count], stream));
    const blockWords = philoxWords(philoxKey(stream.seed), stream.offset - 2, count + 4);
    const want = new Float32Array(count);
    normalsFromWords(blockWords, stream.offset, count, want);
    expect(n.every((x, i) => Object.is(x, want[i]))).toBe(true);
    cpu.destroy();
  });
});
