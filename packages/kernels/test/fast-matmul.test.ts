import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type FloatArray, matmulKernel, matmulReference } from '../src/cpu/matmul';
import { configureCpuPool, cpuKernelLimits, cpuPoolThreads, destroyCpuPool } from '../src/cpu/pool';
import { allocate } from '../src/cpu/storage';
import { ArgumentError } from '../src/errors';
import { planMatmul } from '../src/validate';

const defaults = { ...cpuKernelLimits };
afterEach(() => Object.assign(cpuKernelLimits, defaults));
afterAll(() => destroyCpuPool());

function useThreads(on: boolean): void {
  configureCpuPool({ threads: on ? 2 : 0 });
  cpuKernelLimits.matmulParallelMinMacs = 0;
  cpuKernelLimits.matmulWasmMinMacs = 0;
  expect(cpuPoolThreads()).toBe(on ? 2 : 1);
}

function filled<T extends FloatArray>(array: T, seed: number): T {
  let s = seed >>> 0;
  for (let i = 0; i < array.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    array[i] = s / 2 ** 32 - 0.5;
  }
  return array;
}

interface Case {
  batchA: readonly number[];
  batchB: readonly number[];
  m: number;
  k: number;
  n: number;
  tA: boolean;
  tB: boolean;
  bias: boolean;
}

/** Runs the kernel on a case; returns its output, the float64 reference and the per-entry Σ|a||b| scale. */
function runCase(c: Case, dtype: 'f32' | 'f64', seed: number) {
  const aShape = [...c.batchA, ...(c.tA ? [c.k, c.m] : [c.m, c.k])];
  const bShape = [...c.batchB, ...(c.tB ? [c.n, c.k] : [c.k, c.n])];
  const plan = planMatmul('matmul', aShape, bShape, c.tA, c.tB, c.bias ? [c.n] : undefined);
  const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);
  const Ctor = dtype === 'f32' ? Float32Array : Float64Array;
  const a = filled(new Ctor(size(aShape)), seed);
  const b = filled(new Ctor(size(bShape)), seed + 1);
  const bias = c.bias ? filled(new Ctor(c.n), seed + 2) : undefined;
  const out = new Ctor(size(plan.outShape));
  matmulKernel({ a, b, out, plan, transposeA: c.tA, transposeB: c.tB, bias });
  const ref = new Float64Array(out.length);
  matmulReference({ a, b, out: ref, plan, transposeA: c.tA, transposeB: c.tB, bias });
  const scale = new Float64Array(out.length);
  const abs = (x: FloatArray) => Float64Array.from(x, Math.abs);
  matmulReference({
    a: abs(a),
    b: abs(b),
    out: scale,
    plan,
    transposeA: c.tA,
    transposeB: c.tB,
    bias: bias && abs(bias),
  });
  return { out, ref, scale };
}

const caseArb = fc
  .record({
    batchA: fc.constantFrom([], [2], [1, 3], [2, 1]),
    batchB: fc.constantFrom([], [2], [3], [1]),
    m: fc.integer({ min: 1, max: 37 }),
    k: fc.integer({ min: 0, max: 70 }),
    n: fc.integer({ min: 1, max: 45 }),
    tA: fc.boolean(),
    tB: fc.boolean(),
    bias: fc.boolean(),
  })
  .filter((c) => broadcastable(c.batchA, c.batchB));

function broadcastable(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 1; i <= Math.min(a.length, b.length); i++) {
    const x = a[a.length - i];
    const y = b[b.length - i];
    if (x !== y && x !== 1 && y !== 1) return false;
  }
  return true;
}

describe('matmulKernel (fast paths) equals the float64 reference', () => {
  it('f32 within f32 rounding (|err| ≤ 2·K·2^-24·Σ|a||b|): odd sizes, transposes, bias, batch broadcasting, threads on/off', () => {
    fc.assert(
      fc.property(caseArb, fc.boolean(), fc.integer({ min: 0, max: 1000 }), (c, threads, seed) => {
        useThreads(threads);
        const { out, ref, scale } = runCase(c, 'f32', seed);
        const tol = 2 * Math.max(c.k, 1) * 2 ** -24;
        for (let i = 0; i < out.length; i++) {
          expect(Math.abs(out[i] - ref[i])).toBeLessThanOrEqual(tol * scale[i] + 1e-30);
        }
      }),
      { seed: 4242, numRuns: 60 },
    );
  });

  it('f64 (blocked JS path) within float64 rounding', () => {
    fc.assert(
      fc.property(caseArb, fc.integer({ min: 0, max: 1000 }), (c, seed) => {
        const { out, ref, scale } = runCase(c, 'f64', seed);
        for (let i = 0; i < out.length; i++) {
          expect(Math.abs(out[i] - ref[i])).toBeLessThanOrEqual(
            4 * Math.max(c.k, 1) * 2 ** -53 * scale[i] + 1e-300,
          );
        }
      }),
      { seed: 4243, numRuns: 25 },
    );
  });

  it('runs larger products on the pool with shared and unshared storage alike', () => {
    const [m, k, n] = [37, 300, 1100]; // more than one K block and one column tile
    const plan = planMatmul('matmul', [m, k], [k, n]);
    const a0 = filled(new Float32Array(m * k), 1);
    const b0 = filled(new Float32Array(k * n), 2);
    const ref = new Float64Array(m * n);
    matmulReference({ a: a0, b: b0, out: ref, plan, transposeA: false, transposeB: false });
    for (const threads of [true, false]) {
      useThreads(threads);
      for (const sharedStorage of [true, false]) {
        const place = (x: Float32Array) => {
          const y = sharedStorage ? (allocate('f32', x.length) as Float32Array) : new Float32Array(x.length);
          y.set(x);
          return y;
        };
        const out = sharedStorage ? (allocate('f32', m * n) as Float32Array) : new Float32Array(m * n);
        matmulKernel({ a: place(a0), b: place(b0), out, plan, transposeA: false, transposeB: false });
        let maxError = 0;
        for (let i = 0; i < out.length; i++) maxError = Math.max(maxError, Math.abs(out[i] - ref[i]));
        expect(maxError).toBeLessThan(1e-4); // |entries| ≲ 5, K = 300: f32 accumulation error ≈ 1e-5
      }
    }
  });
});

describe('cpu pool configuration', () => {
  it('refuses a negative or fractional thread count with an ArgumentError naming configureCpuPool', () => {
    expect(() => configureCpuPool({ threads: -1 })).toThrow(ArgumentError);
    expect(() => configureCpuPool({ threads: 1.5 })).toThrow(/configureCpuPool: got threads = 1.5/);
  });

  it('starts workers again after destroyCpuPool', () => {
    useThreads(true);
    const c: Case = { batchA: [], batchB: [], m: 20, k: 30, n: 40, tA: false, tB: true, bias: true };
    const first = runCase(c, 'f32', 7).out;
    destroyCpuPool();
    expect(Array.from(runCase(c, 'f32', 7).out)).toEqual(Array.from(first));
  });
});
