/**
 * Fuzz of the public API with bad and extreme inputs: every case ends in a typed error (a KernelError naming what
 * it got and expected) or a correct result (finite, rows normalised, ids in range). Bounded sizes; a few seconds.
 */
import { type CpuBackend, createBackend, KernelError, type Tensor } from '@duality/kernels';
import { logLinear, masked, type NoiseProcess, uniform } from '@duality/noise';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settlerFor, tally } from '../../../scripts/test-support/fuzz';
import {
  boundReport,
  duoIntegrand,
  duoNelbo,
  inverseCdfRow,
  type KappaMode,
  kappaAt,
  kappaSchedule,
  linspace,
  mdlmIntegrand,
  mdlmNelbo,
  parseKappaMode,
  psiPosterior,
  psiSample,
  sampleInverseCdf,
  samplingTimes,
  streamUniform,
  timeForAlpha,
  uniformPriorTerm,
} from '../src/index';

let cpu: CpuBackend;
beforeAll(async () => {
  cpu = (await createBackend('cpu', { threads: 0 })) as CpuBackend;
});
afterAll(() => cpu.destroy());

const settle = settlerFor(KernelError);

const anyValue = fc.oneof(
  fc.double({ min: -2, max: 2, noNaN: true }),
  fc.constantFrom(0, 1, -1, 0.5, 2.5, Number.NaN, Number.POSITIVE_INFINITY, 5e-324, 2 ** 32, 2 ** 53),
  fc.constantFrom(null, undefined, '0.5', [], {}, new Float32Array(2)) as fc.Arbitrary<unknown>,
);
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: anyValue });
const unit = fc.double({ min: 0, max: 1, noNaN: true });

const K = 4;
/** x0Probs: a valid distribution, a corrupted one, a wrong tensor, or not a tensor. */
const x0Arb: fc.Arbitrary<() => unknown> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.array(unit, { minLength: 2 * K, maxLength: 2 * K }),
        fc.constantFrom('f32', 'f64'),
        fc.boolean(),
      )
      .map(([raw, dtype, noMask]) => () => {
        const data = new Float64Array(2 * K);
        for (let r = 0; r < 2; r++) {
          const row = raw.slice(r * K, (r + 1) * K).map((v, j) => (noMask && j === K - 1 ? 0 : v));
          const total = row.reduce((a, b) => a + b, 0);
          for (let j = 0; j < K; j++) data[r * K + j] = total > 0 ? row[j] / total : j === 0 ? 1 : 0;
        }
        return cpu.tensor(
          dtype === 'f64' ? data : Float32Array.from(data),
          [1, 2, K],
          dtype as 'f32' | 'f64',
        );
      }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      () => cpu.tensor(Float64Array.from([Number.NaN, 0, 0, 1, 0.25, 0.25, 0.25, 0.25]), [1, 2, K], 'f64'),
      () => cpu.tensor(Float64Array.from([2, -1, 0, 0, 0.25, 0.25, 0.25, 0.25]), [1, 2, K], 'f64'),
      () => cpu.tensor(new Float64Array(2 * K), [1, 2, K], 'f64'),
      () => cpu.tensor(new Float64Array(2 * 3).fill(1 / 3), [1, 2, 3], 'f64'),
      () => cpu.tensor(new Int32Array(2 * K), [1, 2, K], 'i32'),
      () => null,
      () => new Float64Array(2 * K),
    ),
  },
);
const xtArb: fc.Arbitrary<() => unknown> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(fc.nat(K - 1), fc.nat(K - 1)).map(
      ([a, b]) =>
        () =>
          cpu.tensor(Int32Array.from([a, b]), [1, 2], 'i32'),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      () => cpu.tensor(Int32Array.from([K, 0]), [1, 2], 'i32'),
      () => cpu.tensor(Int32Array.from([-1, 0]), [1, 2], 'i32'),
      () => cpu.tensor(Float32Array.from([0, 1]), [1, 2], 'f32'),
      () => cpu.tensor(Int32Array.from([0, 1, 2]), [1, 3], 'i32'),
      () => undefined,
    ),
  },
);
const processArb = fc.constantFrom<() => NoiseProcess>(
  () => masked(cpu, { vocabSize: K }),
  () => uniform(cpu, { vocabSize: K }),
  () => masked(cpu, { vocabSize: K, schedule: logLinear({ eps: 0 }) }),
  () => uniform(cpu, { vocabSize: K, schedule: logLinear({ eps: 0 }) }),
);
const modeArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom({ kind: 'pure-posterior' }, { kind: 'pure-pc' }, { kind: 'nope' }, null, 3, {
    kind: 'max-rescale',
    eta: 0.2,
    variant: 'x',
  }),
  fc
    .tuple(fc.constantFrom('constant', 'constant-remdm', 'max-capped', 'max-rescale'), mostly(unit))
    .map(([kind, eta]) => ({ kind, eta })),
);

function expectRows(values: ArrayLike<number>, dtype: string) {
  const tol = dtype === 'f64' ? 1e-9 : 1e-4;
  for (let r = 0; r < values.length / K; r++) {
    let sum = 0;
    for (let j = 0; j < K; j++) {
      expect(Number.isFinite(values[r * K + j])).toBe(true);
      expect(values[r * K + j]).toBeGreaterThanOrEqual(-tol);
      sum += values[r * K + j];
    }
    expect(Math.abs(sum - 1)).toBeLessThanOrEqual(4 * tol);
  }
}

describe('fuzz: Ψ posteriors and draws', () => {
  it('psiPosterior / psiSample over times, alphas, κ, tensors, options', async () => {
    const t = tally();
    const times = fc.oneof(
      fc.record({ s: mostly(unit), t: mostly(unit) }),
      fc.record({ alphaS: mostly(unit), alphaT: mostly(unit) }),
      fc.record({ s: mostly(unit) }),
    );
    const options = fc.record({
      fused: fc.boolean(),
      allowEqualTimes: fc.boolean(),
      validate: fc.constantFrom(true, undefined),
      tolerance: fc.constantFrom(undefined, 1e-3, Number.NaN),
    });
    await fc.assert(
      fc.asyncProperty(
        processArb,
        x0Arb,
        xtArb,
        times,
        mostly(unit),
        options,
        fc.boolean(),
        fc.record({ seed: mostly(fc.nat(100)), offset: mostly(fc.nat(100)) }),
        async (make, x0, xt, time, kappa, opts, sample, stream) => {
          const process = make();
          const x0Probs = x0() as Tensor;
          const ids = xt() as Tensor;
          // order s ≤ t (alphaS ≥ alphaT) most of the time, so that valid steps are common
          const ordered = { ...time } as Record<string, unknown>;
          if (typeof ordered.s === 'number' && typeof ordered.t === 'number' && ordered.s > ordered.t) {
            [ordered.s, ordered.t] = [ordered.t, ordered.s];
          }
          if (
            typeof ordered.alphaS === 'number' &&
            typeof ordered.alphaT === 'number' &&
            ordered.alphaS < ordered.alphaT
          ) {
            [ordered.alphaS, ordered.alphaT] = [ordered.alphaT, ordered.alphaS];
          }
          const args = { x0Probs, xt: ids, kappa: kappa as number, ...ordered };
          if (sample) {
            const method = stream.seed === 7 ? ('gumbel' as const) : undefined;
            t.add(
              await settle(
                () => psiSample(process, { ...args, stream: stream as never, method }, opts),
                async (out) => {
                  for (const id of await out.read()) expect(id >= 0 && id < K).toBe(true);
                },
              ),
            );
          } else {
            t.add(
              await settle(
                () => psiPosterior(process, args, opts),
                async (out) => expectRows(await out.read(), out.dtype),
              ),
            );
          }
        },
      ),
      { numRuns: 400 },
    );
    t.expectBoth();
  });

  it('sampleInverseCdf, inverseCdfRow, streamUniform', async () => {
    const t = tally();
    await fc.assert(
      fc.asyncProperty(
        x0Arb,
        mostly(fc.nat(50)),
        mostly(fc.nat(50)),
        mostly(unit),
        async (x0, seed, offset, u) => {
          t.add(
            await settle(
              async () => {
                const probs = x0() as Tensor;
                const ids = await sampleInverseCdf(cpu, probs, {
                  seed: seed as number,
                  offset: offset as number,
                });
                const row = inverseCdfRow(await probs.read(), 0, K, u as number);
                const v = streamUniform(seed as number, offset as number);
                return { ids: await ids.read(), row, v };
              },
              ({ ids, row, v }) => {
                for (const id of [...ids, row]) expect(id >= 0 && id < K).toBe(true);
                expect(v > 0 && v < 1).toBe(true);
              },
            ),
          );
        },
      ),
      { numRuns: 200 },
    );
    t.expectBoth();
  });
});

describe('fuzz: κ schedules and time grids', () => {
  it('kappaAt, kappaSchedule, parseKappaMode', async () => {
    const t = tally();
    const text = fc.constantFrom(
      'pure-pc',
      'constant-0.5',
      'max-capped-2',
      'constant-',
      'loop-1',
      'max-rescale-1e-2',
    );
    await fc.assert(
      fc.asyncProperty(
        modeArb,
        mostly(unit),
        mostly(unit),
        text,
        fc.nat(5),
        async (mode, a, b, name, steps) => {
          const [hi, lo] = typeof a === 'number' && typeof b === 'number' && a < b ? [b, a] : [a, b];
          t.add(
            await settle(
              () => {
                const k = kappaAt(mode as KappaMode, hi as number, lo as number);
                const plan = {
                  high: mode as KappaMode,
                  middle: parseKappaMode(name),
                  low: mode as KappaMode,
                  highFrac: 0.3,
                  middleFrac: 0.3,
                };
                const grid = kappaSchedule(
                  plan,
                  samplingTimes({ kind: 'linear' }, steps + 1, 1e-3),
                  logLinear(),
                );
                return [k, ...grid];
              },
              (ks) => {
                for (const k of ks) expect(k >= 0 && k <= 1).toBe(true);
              },
            ),
          );
        },
      ),
      { numRuns: 300 },
    );
    t.expectBoth();
  });

  it('linspace, samplingTimes, timeForAlpha', async () => {
    const t = tally();
    const profile = fc.constantFrom<unknown>(
      { kind: 'linear' },
      { kind: 'linear-constant-linear', c: 0.5, highFrac: 0.3, middleFrac: 0.3 },
      { kind: 'linear-constant-linear', c: 0.5, highFrac: 0.8, middleFrac: 0.3 },
      { kind: 'linear-constant-linear', c: 0.9, highFrac: 0.3, middleFrac: 0.3, cIsAlpha: true },
    );
    await fc.assert(
      fc.asyncProperty(
        profile,
        mostly(fc.integer({ min: 1, max: 40 })),
        mostly(fc.double({ min: 0, max: 0.1, noNaN: true })),
        mostly(unit),
        async (p, steps, eps, alpha) => {
          t.add(
            await settle(
              () => {
                const grid = samplingTimes(p as never, steps as number, eps as number, logLinear());
                const line = linspace(0, 1, steps as number);
                return { grid, line, time: timeForAlpha(logLinear(), alpha as number) };
              },
              ({ grid, line, time }) => {
                expect(grid.length).toBe((steps as number) + 1);
                for (let i = 1; i < grid.length; i++) expect(grid[i]).toBeLessThanOrEqual(grid[i - 1]);
                expect(line.length).toBe(steps);
                expect(time >= 0 && time <= 1).toBe(true);
              },
            ),
          );
        },
      ),
      { numRuns: 200 },
    );
    t.expectBoth();
  });
});

describe('fuzz: NELBO helpers', () => {
  const logRow = [Math.log(0.5), Math.log(0.3), Math.log(0.2), Number.NEGATIVE_INFINITY];

  it('row integrands, prior term and bound report', async () => {
    const t = tally();
    await fc.assert(
      fc.asyncProperty(
        mostly(fc.nat(K - 1)),
        mostly(fc.nat(K - 1)),
        mostly(unit),
        mostly(fc.double({ min: -2, max: 0, noNaN: true })),
        async (xt, x0, alpha, dalpha) => {
          t.add(
            await settle(
              () => [
                mdlmIntegrand(logRow, xt as number, x0 as number, alpha as number, dalpha as number, K - 1),
                duoIntegrand(
                  logRow.slice(0, 3),
                  Math.min(xt as number, 2),
                  Math.min(x0 as number, 2),
                  alpha as number,
                  dalpha as number,
                ),
                uniformPriorTerm(K, alpha as number),
                boundReport({ diffusion: Math.abs(dalpha as number), prior: 0, reconstruction: 0.1 })
                  .bitsPerToken,
              ],
              (values) => {
                for (const v of values) expect(Number.isNaN(v)).toBe(false);
              },
            ),
          );
        },
      ),
      { numRuns: 300 },
    );
    t.expectBoth();
  });

  it('mdlmNelbo / duoNelbo on tensors', async () => {
    const t = tally();
    await fc.assert(
      fc.asyncProperty(
        x0Arb,
        xtArb,
        mostly(unit),
        mostly(fc.double({ min: -2, max: 0, noNaN: true })),
        fc.boolean(),
        async (probs, xt, alpha, dalpha, duo) => {
          t.add(
            await settle(
              async () => {
                const p = probs() as Tensor;
                const isTensor = typeof p === 'object' && p !== null && 'shape' in p;
                const logXTheta = isTensor && p.dtype !== 'i32' ? cpu.log(p) : p; // non-tensors go in as they are
                const ids = xt() as Tensor;
                const args = {
                  logXTheta,
                  xt: ids,
                  x0: ids,
                  alphaT: alpha as number,
                  dalphaT: dalpha as number,
                };
                return duo ? duoNelbo(args) : mdlmNelbo({ ...args, maskId: K - 1 });
              },
              (values) => {
                // ≥ 0 nats per token; +∞ where the model gives the true token probability 0
                for (const v of values) expect(v >= 0).toBe(true);
              },
            ),
          );
        },
      ),
      { numRuns: 200 },
    );
    t.expectBoth();
  });
});
