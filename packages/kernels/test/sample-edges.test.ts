import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { configureCpuPool, cpuKernelLimits, destroyCpuPool } from '../src/cpu/pool';
import { sampleCategoricalKernel, sampleCategoricalReference } from '../src/cpu/sample';
import { ArgumentError } from '../src/errors';
import { philoxKey } from '../src/rng/philox';
import type { FloatDType } from '../src/types';
import { MIN_TEMPERATURE } from '../src/validate';
import { cpu, FC } from './helpers';

const defaults = { ...cpuKernelLimits };
afterEach(() => {
  Object.assign(cpuKernelLimits, defaults);
  configureCpuPool({ threads: 0 });
});
afterAll(() => destroyCpuPool());

/** Paths of the cpu sampler: the wasm kernel inline, and on two threads with column chunks. */
const PATHS = ['inline', 'threads'] as const;
function usePath(path: (typeof PATHS)[number]): void {
  configureCpuPool({ threads: path === 'threads' ? 2 : 0 });
  cpuKernelLimits.sampleParallelMinElements = 0;
  cpuKernelLimits.sampleMinChunk = 16;
}

const NEG = Number.NEGATIVE_INFINITY;
const argmax = (row: number[]) => row.indexOf(Math.max(...row));

describe('sampleCategorical: a row of all −∞ is refused', () => {
  it.each(PATHS.flatMap((p) => (['f32', 'f64'] as FloatDType[]).map((d) => [p, d] as const)))(
    '%s, %s: ArgumentError naming the row; rows with one finite logit always give it',
    (path, dtype) => {
      usePath(path);
      for (const n of [3, 70, 3000]) {
        const rows = 4;
        const data = new Array<number>(rows * n).fill(NEG);
        for (let r = 0; r < rows; r++) if (r !== 2) data[r * n + ((r * 37) % n)] = -5 + r;
        const logits = cpu.tensor(data, [rows, n], dtype);
        expect(() => cpu.sampleCategorical(logits, { seed: 3 })).toThrow(ArgumentError);
        expect(() => cpu.sampleCategorical(logits, { seed: 3 })).toThrow(
          'sampleCategorical: got a row of all −∞ logits (row 2), expected at least one logit above −∞ per row',
        );
        data[2 * n + n - 1] = 0;
        const ids = cpu.dataOf(cpu.sampleCategorical(cpu.tensor(data, [rows, n], dtype), { seed: 3 }));
        expect(Array.from(ids)).toEqual([0, 1, 2, 3].map((r) => (r === 2 ? n - 1 : (r * 37) % n)));
      }
    },
  );

  it('the kernel and the reference loop both mark the row with −1 (the op turns it into the error)', () => {
    const logits = new Float32Array([NEG, NEG, 1, NEG]);
    for (const kernel of [sampleCategoricalKernel, sampleCategoricalReference]) {
      const out = new Int32Array(2);
      kernel(logits, 2, 2, philoxKey(1), 0, 1, out);
      expect(Array.from(out)).toEqual([-1, 0]);
    }
  });

  it('NaN is reported before an all −∞ row', () => {
    expect(() =>
      cpu.sampleCategorical(cpu.tensor([NEG, NEG, Number.NaN, 1], [2, 2], 'f32'), { seed: 1 }),
    ).toThrow(/NaN logit at row 1, index 0/);
  });
});

describe('sampleCategorical: tiny temperatures', () => {
  it('subnormal (and below 2^-126) temperatures are refused with an ArgumentError', () => {
    const logits = cpu.tensor([1, 2, 3], [3], 'f32');
    for (const temperature of [5e-324, 1e-40, 2 ** -127, MIN_TEMPERATURE * (1 - 2 ** -52), 0, -1]) {
      expect(() => cpu.sampleCategorical(logits, { seed: 1, temperature })).toThrow(
        /temperature .*expected a finite temperature ≥ 2\^-126/,
      );
    }
    expect(cpu.dataOf(cpu.sampleCategorical(logits, { seed: 1, temperature: MIN_TEMPERATURE }))[0]).toBe(2);
  });

  it.each(PATHS)(
    '%s: T down to 2^-126 gives the argmax of every row, negative logits (f32 products overflow to −∞) too',
    (path) => {
      usePath(path);
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 5 }),
          fc.integer({ min: 2, max: 200 }),
          fc.constantFrom(MIN_TEMPERATURE, 1e-30, 1e-12),
          fc.double({ min: -1e6, max: 1e6, noNaN: true }),
          fc.integer({ min: 0, max: 2 ** 31 }),
          (rows, n, temperature, centre, seed) => {
            // distinct values so the argmax is unique: centre + spread, f32-exact
            const data = Array.from({ length: rows * n }, (_, i) =>
              Math.fround(centre + ((i * 7919) % (rows * n)) * 0.25),
            );
            const ids = cpu.dataOf(
              cpu.sampleCategorical(cpu.tensor(data, [rows, n], 'f32'), { seed, temperature }),
            );
            for (let r = 0; r < rows; r++) expect(ids[r]).toBe(argmax(data.slice(r * n, (r + 1) * n)));
          },
        ),
        { ...FC, numRuns: 40 },
      );
    },
  );

  it('f64 logits whose scores overflow float64 are ordered by logit (ties: the lower index)', () => {
    const logits = cpu.tensor([1e300, 2e300, -1e300, 2e300, 5, -3e300], [2, 3], 'f64');
    const ids = cpu.dataOf(cpu.sampleCategorical(logits, { seed: 9, temperature: 1e-20 }));
    expect(Array.from(ids)).toEqual([1, 0]);
  });
});

describe('topP: a row of all −∞', () => {
  it('is refused with an ArgumentError naming the row (there is no top entry to keep)', () => {
    const logits = cpu.tensor([0, -1, NEG, NEG], [2, 2], 'f32');
    expect(() => cpu.topP(logits, 0.9)).toThrow(
      'topP: got a row of all −∞ logits (row 1), expected at least one logit above −∞ per row',
    );
  });
  it('a row with one finite logit keeps exactly it', () => {
    const kept = cpu.dataOf(cpu.topP(cpu.tensor([NEG, 4, NEG], [1, 3], 'f64'), 0.5));
    expect(Array.from(kept)).toEqual([NEG, 4, NEG]);
  });
});
