/**
 * Fuzz of the public API with bad and extreme inputs: every case ends in a typed error (a KernelError naming what
 * it got and expected) or in a correct result (finite, probabilities in [0, 1], rows normalised). Sizes are
 * bounded, so nothing can hang; the whole file runs in a few seconds.
 */
import { type CpuBackend, createBackend, KernelError, type Tensor } from '@duality/kernels';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settlerFor, tally } from '../../../scripts/test-support/fuzz';
import {
  annealedTau,
  cosine,
  diffusionTransform,
  gaussian,
  logLinear,
  masked,
  type NoiseProcess,
  sigmaFromAlpha,
  TAU_RANGE,
  uniform,
  uniformIds,
} from '../src/index';

let cpu: CpuBackend;
beforeAll(async () => {
  cpu = (await createBackend('cpu', { threads: 0 })) as CpuBackend;
});
afterAll(() => cpu.destroy());

const RUNS = 120;

const settle = settlerFor(KernelError);

/** Numbers a caller might pass: ordinary, at the edges, or not numbers at all. */
const anyNumber = fc.oneof(
  fc.double({ min: -2, max: 2, noNaN: true }),
  fc.double({ min: 0, max: 1, noNaN: true }),
  fc.constantFrom(
    0,
    1,
    -1,
    0.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    5e-324,
    1e308,
  ),
  fc.integer({ min: -5, max: 400 }),
);
const anyValue = fc.oneof(
  anyNumber,
  fc.constantFrom(null, undefined, '0.5', [], {}, new Float32Array(3)) as fc.Arbitrary<unknown>,
);

/** Mostly valid, sometimes anything: `valid` three times out of four. */
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: anyValue });

const expectProbability = (x: number) => {
  expect(x).toBeGreaterThanOrEqual(0);
  expect(x).toBeLessThanOrEqual(1);
};

describe('fuzz: schedules, sigma, the diffusion transform, temperatures', () => {
  it('schedule constructors and alpha(t) / dalpha(t)', async () => {
    const t = tally();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(logLinear, cosine), anyValue, anyValue, async (make, eps, time) => {
        t.add(
          await settle(
            () => {
              const s = make({ eps: eps as number });
              return [s.alpha(time as number), s.dalpha(time as number)];
            },
            ([a, da]) => {
              expectProbability(a);
              expect(Number.isFinite(da) && da <= 0).toBe(true);
            },
          ),
        );
      }),
      { numRuns: RUNS },
    );
    t.expectBoth();
  });

  it('sigmaFromAlpha', async () => {
    const t = tally();
    await fc.assert(
      fc.asyncProperty(anyValue, async (alpha) => {
        t.add(
          await settle(
            () => sigmaFromAlpha(alpha as number),
            (s) => expect(s >= 0 && (Number.isFinite(s) || alpha === 0)).toBe(true),
          ),
        );
      }),
      { numRuns: RUNS },
    );
    t.expectBoth();
  });

  it('diffusionTransform(gamma, K)', async () => {
    const t = tally();
    const vocab = fc.oneof(
      fc.constantFrom(2, 3, 27, 50257, 1e6, 1, 0, 2.5, -3, Number.NaN),
      fc.integer({ min: 2, max: 3000 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(anyNumber, fc.double({ min: -12, max: 6, noNaN: true })),
        vocab,
        async (gamma, K) => {
          t.add(
            await settle(
              () => diffusionTransform(gamma, K),
              (v) => {
                for (const p of [v.alpha, v.oneMinusAlpha, v.p, v.oneMinusP]) expectProbability(p);
                expect(Number.isFinite(v.dalphaDgamma)).toBe(true);
              },
            ),
          );
        },
      ),
      { numRuns: RUNS },
    );
    t.expectBoth();
  });

  it('annealedTau', async () => {
    const t = tally();
    await fc.assert(
      fc.asyncProperty(
        mostly(fc.double({ min: -40, max: 40, noNaN: true })),
        mostly(fc.double({ min: -40, max: 40, noNaN: true })),
        mostly(fc.integer({ min: 0, max: 10 })),
        mostly(fc.integer({ min: 10, max: 20 })),
        anyValue,
        async (a, b, s, e, step) => {
          t.add(
            await settle(
              () =>
                annealedTau({
                  log10Start: a as number,
                  log10End: b as number,
                  startStep: s as number,
                  endStep: e as number,
                })(step as number),
              (tau) => expect(tau >= TAU_RANGE.min && tau <= TAU_RANGE.max).toBe(true),
            ),
          );
        },
      ),
      { numRuns: RUNS },
    );
    t.expectBoth();
  });

  it('uniformIds(stream, count, n)', async () => {
    const t = tally();
    await fc.assert(
      fc.asyncProperty(
        mostly(fc.nat(1000)),
        mostly(fc.nat(1000)),
        mostly(fc.integer({ min: 0, max: 64 })),
        mostly(fc.integer({ min: 1, max: 50 })),
        async (seed, offset, count, n) => {
          t.add(
            await settle(
              () =>
                uniformIds({ seed: seed as number, offset: offset as number }, count as number, n as number),
              (ids) => {
                expect(ids.length).toBe(count);
                for (const id of ids) expect(id >= 0 && id < (n as number)).toBe(true);
              },
            ),
          );
        },
      ),
      { numRuns: RUNS },
    );
    t.expectBoth();
  });
});

/** A tensor argument: a valid distribution [B, L, K], a corrupted one, the wrong shape/dtype, or not a tensor. */
function x0Arbitrary(K: number): fc.Arbitrary<() => unknown> {
  const dims = fc.record({ b: fc.integer({ min: 1, max: 2 }), l: fc.integer({ min: 1, max: 3 }) });
  const valid = fc
    .tuple(
      dims,
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 6 * K, maxLength: 6 * K }),
      fc.constantFrom('f32', 'f64'),
    )
    .map(([{ b, l }, raw, dtype]) => () => {
      const rows = b * l;
      const data = new Float64Array(rows * K);
      for (let r = 0; r < rows; r++) {
        let total = 0;
        for (let j = 0; j < K; j++) total += raw[r * K + j];
        for (let j = 0; j < K; j++) data[r * K + j] = total > 0 ? raw[r * K + j] / total : j === 0 ? 1 : 0;
      }
      return cpu.tensor(dtype === 'f64' ? data : Float32Array.from(data), [b, l, K], dtype as 'f32' | 'f64');
    });
  const corrupted = fc
    .tuple(valid, fc.constantFrom(Number.NaN, -0.5, 2, Number.POSITIVE_INFINITY), fc.nat(5))
    .map(([make, bad, at]) => () => {
      const t = make() as Tensor;
      const data = Float64Array.from(cpu.dataOf(t));
      data[at % data.length] = bad;
      return cpu.tensor(
        t.dtype === 'f64' ? data : Float32Array.from(data),
        t.shape,
        t.dtype as 'f32' | 'f64',
      );
    });
  const wrong = fc.constantFrom(
    () => cpu.tensor(new Float64Array(K + 1).fill(1 / (K + 1)), [1, 1, K + 1], 'f64'),
    () => cpu.tensor(new Int32Array(K), [1, 1, K], 'i32'),
    () => cpu.tensor(new Float64Array(K).fill(1 / K), [1, K], 'f64'),
    () => null,
    () => new Float32Array(K),
    () => 3,
  );
  return fc.oneof(
    { weight: 3, arbitrary: valid },
    { weight: 2, arbitrary: corrupted },
    { weight: 1, arbitrary: wrong },
  );
}

/** Ids [B, L] matching a tensor (or not), some out of range. */
const idsFor = (x: unknown, K: number, salt: number): Tensor | unknown => {
  const shape = (x as Tensor | null)?.shape;
  if (!Array.isArray(shape) || shape.length !== 3) return cpu.tensor(Int32Array.from([0]), [1, 1], 'i32');
  const n = shape[0] * shape[1];
  const ids = Int32Array.from({ length: n }, (_, i) => (salt === 7 && i === 0 ? K + 2 : (i * 5 + salt) % K));
  return cpu.tensor(ids, [shape[0], shape[1]], 'i32');
};

function expectDistributions(out: Tensor, K: number) {
  const data = cpu.dataOf(out);
  const tol = out.dtype === 'f64' ? 1e-9 : 1e-4;
  for (let r = 0; r < data.length / K; r++) {
    let sum = 0;
    for (let j = 0; j < K; j++) {
      const v = data[r * K + j];
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(-tol);
      sum += v;
    }
    expect(Math.abs(sum - 1)).toBeLessThanOrEqual(tol * K);
  }
}

describe('fuzz: noise processes', () => {
  const K = 4;
  const processArb = fc.constantFrom<[string, () => NoiseProcess]>(
    ['masked', () => masked(cpu, { vocabSize: K })],
    ['uniform', () => uniform(cpu, { vocabSize: K })],
    ['gaussian', () => gaussian(cpu, { vocabSize: K })],
    ['masked eps 0', () => masked(cpu, { vocabSize: K, schedule: logLinear({ eps: 0 }) })],
  );

  it('forward, marginalAt, posterior and bridgeAt', async () => {
    const t = tally();
    const method = fc.constantFrom('forward', 'marginalAt', 'posterior', 'bridgeAt');
    await fc.assert(
      fc.asyncProperty(
        processArb,
        method,
        x0Arbitrary(K),
        anyValue,
        anyValue,
        fc.nat(9),
        async ([, make], m, x0, a, b, salt) => {
          const p = make();
          const x = x0();
          const xt = idsFor(x, K, salt) as Tensor;
          const calls: Record<string, () => Tensor> = {
            forward: () => p.forward(x as Tensor, a as number),
            marginalAt: () => p.marginalAt(x as Tensor, a as number),
            posterior: () =>
              p.posterior(
                x as Tensor,
                xt,
                Math.min(a as number, b as number),
                Math.max(a as number, b as number),
              ),
            bridgeAt: () =>
              p.bridgeAt(
                x as Tensor,
                xt,
                Math.max(a as number, b as number),
                Math.min(a as number, b as number),
              ),
          };
          t.add(await settle(calls[m], (out) => expectDistributions(out, K)));
        },
      ),
      { numRuns: 300 },
    );
    t.expectBoth();
  });

  it('sample and prior', async () => {
    const t = tally();
    const shapes = fc.constantFrom<unknown>([1, 3], [2, 2], [0, 3], [1, -1], [1.5, 2], [3], null, [
      2 ** 40,
      2,
    ]);
    await fc.assert(
      fc.asyncProperty(
        processArb,
        shapes,
        mostly(fc.nat(1000)),
        mostly(fc.nat(1000)),
        mostly(fc.double({ min: 0, max: 1, noNaN: true })),
        async ([, make], shape, seed, offset, time) => {
          const p = make();
          const rng = { seed: seed as number, offset: offset as number };
          t.add(
            await settle(
              () => {
                const prior = p.prior(shape as number[], rng);
                return p.sample(
                  cpu.tensor(
                    Int32Array.from(cpu.dataOf(prior)).map((v) => v % (K - 1)),
                    prior.shape,
                    'i32',
                  ),
                  time as number,
                  rng,
                );
              },
              (ids) => {
                for (const id of cpu.dataOf(ids)) expect(id >= 0 && id < K).toBe(true);
              },
            ),
          );
        },
      ),
      { numRuns: RUNS },
    );
    t.expectBoth();
  });

  it('factories and relaxations', async () => {
    const t = tally();
    await fc.assert(
      fc.asyncProperty(
        mostly(fc.integer({ min: 2, max: 8 })),
        mostly(fc.double({ min: 1e-4, max: 10, noNaN: true })),
        mostly(fc.double({ min: 0, max: 1, noNaN: true })),
        fc.constantFrom(1, 2, 3, 0, 4, 2.5),
        async (vocab, tau, gammaT, k) => {
          t.add(
            await settle(
              async () => {
                const p = gaussian(cpu, { vocabSize: vocab as number });
                const x0 = cpu.tensor(Int32Array.from([0, 1]), [1, 2], 'i32');
                const top = await p.topKRelaxation(x0, gammaT as number, {
                  k,
                  tau: tau as number,
                  rng: { seed: 1 },
                });
                const tempered = p.temperedRelaxation(x0, gammaT as number, {
                  tau: tau as number,
                  rng: { seed: 2 },
                });
                return [await top.weights.read(), await tempered.weights.read()];
              },
              ([w1, w2]) => {
                for (const w of [...w1, ...w2])
                  expect(Number.isFinite(w) && w >= 0 && w <= 1 + 1e-12).toBe(true);
              },
            ),
          );
        },
      ),
      { numRuns: 80 },
    );
    t.expectBoth();
  });
});
