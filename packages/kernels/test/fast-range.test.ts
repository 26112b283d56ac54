/**
 * The range kernels (cpu/parallel.ts: elementwise and row loops) split over the worker pool give the inline
 * result bit for bit, in f64 and f32, on full-mantissa values and broadcast shapes; a kernel's compiled text
 * really runs on the workers.
 */
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createCpuBackend } from '../src/cpu/backend';
import { EXP2_TAYLOR, expNonPositive } from '../src/cpu/fast-math';
import { rangeKernel, runRange } from '../src/cpu/parallel';
import { configureCpuPool, cpuKernelLimits, cpuPoolTesting, destroyCpuPool } from '../src/cpu/pool';
import { allocate } from '../src/cpu/storage';
import {
  geluTanhGrad,
  layerNormGrad,
  logSoftmaxGrad,
  siluGrad,
  softmaxGrad,
} from '../src/ops/activation-grads';
import { layerNormStats } from '../src/ops/norm';
import { meanAxes } from '../src/ops/reduce-axes';
import { sumToShape } from '../src/ops/sum-to-shape';
import type { Tensor } from '../src/types';

const cpu = createCpuBackend();
const defaults = { ...cpuKernelLimits };
afterEach(() => {
  Object.assign(cpuKernelLimits, defaults);
  configureCpuPool({});
});
afterAll(() => {
  cpu.destroy();
  destroyCpuPool();
});

/** Full-mantissa values in (lo, hi) from a seed (an LCG: the low bits are not round). */
function values(n: number, seed: number, lo = -4, hi = 4): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = (s + Math.sin(s) * 0.5 + 0.5) / 2 ** 32;
    return lo + (hi - lo) * u;
  });
}

type Build = (dtype: 'f32' | 'f64', seed: number) => Tensor[];

/** Every op on the range kernels, as a function of freshly built inputs (shapes: rows × n with broadcasts). */
function cases(rows: number, n: number): Array<[string, Build]> {
  const t = (shape: number[], seed: number, dtype: 'f32' | 'f64', lo?: number, hi?: number) =>
    cpu.tensor(
      values(
        shape.reduce((a, b) => a * b, 1),
        seed,
        lo,
        hi,
      ),
      shape,
      dtype,
    );
  const x = (d: 'f32' | 'f64', s: number, lo?: number, hi?: number) => t([2, rows, n], s, d, lo, hi);
  return [
    ['add (flat)', (d, s) => [cpu.add(x(d, s), x(d, s + 1))]],
    ['sub (scalar)', (d, s) => [cpu.sub(x(d, s), t([], s + 1, d))]],
    ['mul (broadcast [2, 1, n])', (d, s) => [cpu.mul(x(d, s), t([2, 1, n], s + 1, d))]],
    ['div (broadcast [rows, 1])', (d, s) => [cpu.div(x(d, s), t([rows, 1], s + 1, d, 1, 3))]],
    ['compare lt (broadcast)', (d, s) => [cpu.compare(x(d, s), t([n], s + 1, d), 'lt')]],
    ['exp, log', (d, s) => [cpu.exp(x(d, s)), cpu.log(x(d, s, 0.1, 9))]],
    [
      'geluTanh, silu, scale',
      (d, s) => [cpu.geluTanh(x(d, s)), cpu.silu(x(d, s)), cpu.scale(x(d, s), 0.3, 1.7)],
    ],
    ['softmax, logSoftmax', (d, s) => [cpu.softmax(x(d, s, -30, 30)), cpu.logSoftmax(x(d, s, -30, 30))]],
    [
      'layerNorm, layerNormStats',
      (d, s) => [cpu.layerNorm(x(d, s), t([n], s + 1, d)), ...layerNormStats(x(d, s), t([n], s + 1, d))],
    ],
    [
      'geluTanhGrad, siluGrad',
      (d, s) => [geluTanhGrad(x(d, s, -9, 9), x(d, s + 1)), siluGrad(x(d, s), x(d, s + 1))],
    ],
    [
      'softmaxGrad, logSoftmaxGrad',
      (d, s) => [
        softmaxGrad(cpu.softmax(x(d, s)), x(d, s + 1)),
        logSoftmaxGrad(cpu.logSoftmax(x(d, s)), x(d, s + 1)),
      ],
    ],
    ['layerNormGrad', (d, s) => layerNormGrad(x(d, s), t([n], s + 1, d), x(d, s + 2), 1e-5)],
    ['sumToShape to [n] and [2, 1, n]', (d, s) => [sumToShape(x(d, s), [n]), sumToShape(x(d, s), [2, 1, n])]],
    ['meanAxes over axis 1', (d, s) => [meanAxes(x(d, s), [1])]],
  ];
}

const bits = (ts: Tensor[]) => ts.map((y) => Array.from(cpu.dataOf(y)));

describe('range kernels on the worker pool', () => {
  it('every elementwise and row op: threaded = inline bit for bit (f64 and f32)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 20, max: 40 }),
        fc.integer({ min: 52, max: 70 }),
        fc.nat(1000),
        (rows, n, seed) => {
          for (const [name, build] of cases(rows, n)) {
            for (const dtype of ['f64', 'f32'] as const) {
              configureCpuPool({ threads: 0 });
              const inline = bits(build(dtype, seed));
              configureCpuPool({ threads: 2 });
              Object.assign(cpuKernelLimits, { rangeParallelMinWork: 0, rangeTasksPerThread: 16 });
              const before = cpuPoolTesting.stats().sharedJobs;
              const threaded = bits(build(dtype, seed));
              Object.assign(cpuKernelLimits, defaults);
              expect(threaded, `${name} ${dtype} ${rows}×${n}`).toEqual(inline);
              expect(cpuPoolTesting.stats().sharedJobs, name).toBeGreaterThan(before);
            }
          }
        },
      ),
      { numRuns: 12, seed: 20261201 },
    );
  });

  it('a range kernel runs on the workers from its source text (items tagged by the thread that ran them)', () => {
    configureCpuPool({ threads: 2 });
    const tag = rangeKernel<{ out: Float64Array }>(({ out }, i0, i1) => {
      const proc = (globalThis as { process?: { getBuiltinModule(m: string): { isMainThread: boolean } } })
        .process;
      const worker = !proc?.getBuiltinModule('node:worker_threads').isMainThread;
      for (let i = i0; i < i1; i++) {
        const t = Date.now();
        while (Date.now() - t < 2); // slow items, so the workers get some
        out[i] = worker ? 1 : 0;
      }
    });
    const out = allocate('f64', 64) as Float64Array;
    let byWorkers = 0;
    for (let attempt = 0; attempt < 20 && byWorkers === 0; attempt++) {
      runRange(tag, { out }, out.length, Number.POSITIVE_INFINITY);
      byWorkers = out.reduce((a, b) => a + b, 0);
    }
    expect(byWorkers).toBeGreaterThan(0);
  });
});

const C = Math.sqrt(2 / Math.PI);

describe('f32 fast math (fast-math.ts)', () => {
  it('expNonPositive: within 1e-8 relative of Math.exp on [−103, 0]; 0 below and at −∞; NaN stays NaN', () => {
    for (const x of values(20000, 7, -103, 0)) {
      expect(Math.abs(expNonPositive(x) / Math.exp(x) - 1)).toBeLessThan(1e-8);
    }
    expect(expNonPositive(0)).toBe(1);
    expect(expNonPositive(-103.5)).toBe(0);
    expect(expNonPositive(Number.NEGATIVE_INFINITY)).toBe(0);
    expect(expNonPositive(Number.NaN)).toBeNaN();
  });

  it('expNonPositive is 2^n·p(f) with the Taylor coefficients (ln 2)^k/k! written out, bit for bit', () => {
    // the formula from EXP2_TAYLOR, Horner from the top coefficient down
    const byFormula = (x: number): number => {
      if (x < -103) return 0;
      const t = x * Math.LOG2E;
      const n = (t - 0.5) | 0;
      const f = t - n;
      const p = EXP2_TAYLOR.reduceRight((acc, c) => f * (c + acc), 0);
      return (1 + p) * 2 ** n;
    };
    fc.assert(
      fc.property(fc.double({ min: -110, max: 0, noNaN: true }), (x) =>
        Object.is(expNonPositive(x), byFormula(x)),
      ),
      { numRuns: 5000 },
    );
  });

  it('f32 softmax, geluTanh and geluTanhGrad: within one f32 rounding of f64 (2^−23 relative + 1e-30)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 300 }),
        fc.nat(1000),
        (rows, n, seed) => {
          const x = Float32Array.from(values(rows * n, seed, -12, 12));
          const g = Float32Array.from(values(rows * n, seed + 1, -2, 2));
          const pair = (f: (d: 'f32' | 'f64') => Tensor) => [cpu.dataOf(f('f32')), cpu.dataOf(f('f64'))];
          const make = (v: Float32Array, d: 'f32' | 'f64') => cpu.tensor(v, [rows, n], d);
          // GELU's reference: x·σ(2u) in f64 (the f64 kernel's ½x(1 + tanh u) cancels in the negative tail)
          const gelu = Float64Array.from(x, (v) => v / (1 + Math.exp(-2 * C * (v + 0.044715 * v ** 3))));
          const checks = [
            pair((d) => cpu.softmax(make(x, d))),
            [cpu.dataOf(cpu.geluTanh(make(x, 'f32'))), gelu],
            pair((d) => geluTanhGrad(make(x, d), make(g, d))),
          ];
          for (const [y32, y64] of checks) {
            y64.forEach((want, i) => {
              expect(Math.abs(y32[i] - want)).toBeLessThanOrEqual(Math.abs(want) * 2 ** -23 + 1e-30);
            });
          }
        },
      ),
      { numRuns: 20, seed: 20261202 },
    );
  });
});
