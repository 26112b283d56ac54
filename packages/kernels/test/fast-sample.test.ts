import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { configureCpuPool, cpuKernelLimits, cpuPoolThreads, destroyCpuPool } from '../src/cpu/pool';
import { GUMBEL_F32_MAX_ERROR, sampleCategoricalKernel, sampleCategoricalReference } from '../src/cpu/sample';
import { instantiateKernels, kernelsModule } from '../src/cpu/wasm/module';
import { philoxKey, wordToUniform } from '../src/rng/philox';

const defaults = { ...cpuKernelLimits };
afterEach(() => Object.assign(cpuKernelLimits, defaults));
afterAll(() => destroyCpuPool());

function ids(
  kernel: typeof sampleCategoricalReference,
  logits: Float32Array | Float64Array,
  rows: number,
  n: number,
  seed: number | bigint,
  offset: number,
  invT: number,
): number[] {
  const out = new Int32Array(rows);
  kernel(logits, rows, n, philoxKey(seed), offset, invT, out);
  return Array.from(out);
}

/** Forces the threaded path (and column chunks) on small inputs, or keeps everything inline. */
function useThreads(on: boolean): void {
  configureCpuPool({ threads: on ? 2 : 0 });
  cpuKernelLimits.sampleParallelMinElements = 0;
  cpuKernelLimits.sampleMinChunk = 16;
  expect(cpuPoolThreads()).toBe(on ? 2 : 1);
}

describe('f32 Gumbel noise of the wasm kernel', () => {
  // every one of the 2^23 uniforms: the bound the exact re-scoring relies on
  const module = kernelsModule();
  it('is within GUMBEL_F32_MAX_ERROR of −ln(−ln u) and below its cheap upper bound, for every word', () => {
    expect(module).not.toBeNull();
    const wasm = instantiateKernels(module as WebAssembly.Module);
    const count = 1 << 23;
    wasm.memory.grow(Math.ceil((count * 12) / 65536));
    const words = new Uint32Array(wasm.memory.buffer, 0, count);
    for (let i = 0; i < count; i++) words[i] = (i << 9) >>> 0;
    wasm.gumbelNoise(0, count * 4, count);
    wasm.gumbelUpper(0, count * 8, count);
    const g = new Float32Array(wasm.memory.buffer, count * 4, count);
    const upper = new Float32Array(wasm.memory.buffer, count * 8, count);
    let maxError = 0;
    let boundViolations = 0;
    for (let i = 0; i < count; i++) {
      const exact = -Math.log(-Math.log(wordToUniform(words[i])));
      maxError = Math.max(maxError, Math.abs(g[i] - exact));
      if (!(upper[i] >= g[i])) boundViolations++;
    }
    expect(maxError).toBeLessThanOrEqual(GUMBEL_F32_MAX_ERROR);
    expect(maxError).toBeGreaterThan(0); // the f32 path really is an approximation: the re-scoring matters
    expect(boundViolations).toBe(0);
  });
});

describe('sampleCategoricalKernel equals the reference loop', () => {
  const shape = fc.record({
    rows: fc.integer({ min: 1, max: 5 }),
    n: fc.integer({ min: 1, max: 300 }),
    seed: fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
    offset: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(4 * (2 ** 32 - 2) - 37)),
    invT: fc.constantFrom(1, 0.5, 1 / 0.7, 3),
    scale: fc.constantFrom(0.01, 1, 8, 1e4),
    threads: fc.boolean(),
    f64: fc.boolean(),
  });
  it('for random shapes, streams (incl. counters crossing 2^32 blocks), temperatures, threads on/off', () => {
    fc.assert(
      fc.property(shape, fc.integer(), ({ rows, n, seed, offset, invT, scale, threads, f64 }, salt) => {
        useThreads(threads);
        const logits = f64 ? new Float64Array(rows * n) : new Float32Array(rows * n);
        let s = salt >>> 0;
        for (let i = 0; i < logits.length; i++) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          logits[i] = (s / 2 ** 32 - 0.5) * scale;
        }
        const fast = ids(sampleCategoricalKernel, logits, rows, n, seed, offset, invT);
        expect(fast).toEqual(ids(sampleCategoricalReference, logits, rows, n, seed, offset, invT));
      }),
      { seed: 20261122, numRuns: 120 },
    );
  });

  it('handles −∞, NaN and +∞ logits, all-masked rows and exact ties like the reference', () => {
    for (const threads of [false, true]) {
      useThreads(threads);
      const n = 200;
      const rows: number[][] = [
        Array.from({ length: n }, (_, i) => (i % 3 === 0 ? Number.NEGATIVE_INFINITY : i / 50)),
        Array.from({ length: n }, () => Number.NEGATIVE_INFINITY),
        Array.from({ length: n }, (_, i) => (i % 7 === 0 ? Number.NaN : 0)),
        Array.from({ length: n }, (_, i) => (i === 17 || i === 150 ? Number.POSITIVE_INFINITY : 1)),
        Array.from({ length: n }, () => 2.5), // ties broken only by the noise
        Array.from({ length: n }, () => Number.NaN),
      ];
      const logits = new Float32Array(rows.flat());
      const fast = ids(sampleCategoricalKernel, logits, rows.length, n, 99, 5, 1);
      expect(fast).toEqual(ids(sampleCategoricalReference, logits, rows.length, n, 99, 5, 1));
      expect(fast[1]).toBe(-1); // nothing beats −∞: marked for sampleCategorical to refuse the row
      expect(fast[3]).toBe(17); // the first +∞ wins
    }
  });

  it('reports NaN logits found in the same pass (and only then), inline, threaded and on the JS path', () => {
    for (const threads of [false, true]) {
      useThreads(threads);
      const [rows, n] = [3, 1000];
      const clean = Float32Array.from({ length: rows * n }, (_, i) => Math.sin(i));
      const out = new Int32Array(rows);
      expect(sampleCategoricalKernel(clean, rows, n, philoxKey(1), 0, 1, out)).toBe(false);
      for (const at of [0, 999, 1500, rows * n - 1]) {
        const dirty = clean.slice();
        dirty[at] = Number.NaN;
        expect(sampleCategoricalKernel(dirty, rows, n, philoxKey(1), 0, 1, out)).toBe(true);
        // temperature ∞ (invT 0) takes the reference loop, which reports the same
        expect(sampleCategoricalKernel(dirty, rows, n, philoxKey(1), 0, 0, out)).toBe(true);
      }
    }
  });

  it('stays exact when candidates overflow (ascending logits make every element a new best)', () => {
    for (const threads of [false, true]) {
      useThreads(threads);
      const n = 3000;
      const logits = new Float32Array(2 * n);
      for (let i = 0; i < n; i++) {
        logits[i] = i * 40; // strictly increasing far faster than the noise: every element a record
        logits[n + i] = 1e9; // f32 cannot tell 1e9 + g apart: every element ties, the chunk's candidates overflow
      }
      const fast = ids(sampleCategoricalKernel, logits, 2, n, 3, 0, 1);
      expect(fast).toEqual(ids(sampleCategoricalReference, logits, 2, n, 3, 0, 1));
      expect(fast[0]).toBe(n - 1);
    }
  });

  it('draws from softmax(logits): frequencies over many rows match the probabilities', () => {
    useThreads(true);
    const probs = [0.5, 0.3, 0.15, 0.05];
    const rows = 20000;
    const logits = new Float32Array(rows * 4);
    for (let r = 0; r < rows; r++) for (let i = 0; i < 4; i++) logits[r * 4 + i] = Math.log(probs[i]) + 3;
    const counts = [0, 0, 0, 0];
    for (const id of ids(sampleCategoricalKernel, logits, rows, 4, 2026, 0, 1)) counts[id]++;
    for (let i = 0; i < 4; i++) {
      const sd = Math.sqrt(rows * probs[i] * (1 - probs[i]));
      expect(Math.abs(counts[i] - rows * probs[i])).toBeLessThan(5 * sd); // 5σ: fixed seed, never flakes
    }
  });
});
