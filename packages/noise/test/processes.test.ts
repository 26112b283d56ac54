import {
  ArgumentError,
  type CpuBackend,
  createBackend,
  DTypeError,
  IndexOutOfRangeError,
  ShapeError,
} from '@duality/kernels';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { diffusionTransform } from '../src/operator';
import { gaussian, masked, uniform } from '../src/processes';
import { logLinear } from '../src/schedules';
import { readFixture } from './fixtures';
import { chiSquare, uniformStateLaw } from './stats';

interface PosteriorCase {
  vocab_size: number;
  x0hat: number[];
  xt: number;
  alpha_s: number;
  alpha_t: number;
  mask_index?: number;
  expected: { forward_t: number[]; forward_s: number[]; posterior: number[]; posterior_to_x0: number[] };
}
const posteriors = readFixture<{ uniform: PosteriorCase[]; masked: PosteriorCase[] }>('posterior.json');

let cpu: CpuBackend;
beforeAll(async () => {
  cpu = (await createBackend('cpu', { threads: 0 })) as CpuBackend;
});

const probs = (be: CpuBackend, rows: number[][], K: number) =>
  be.tensor(Float64Array.from(rows.flat()), [rows.length, 1, K], 'f64');
const ids = (be: CpuBackend, values: number[], shape: number[]) =>
  be.tensor(Int32Array.from(values), shape, 'i32');
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('posterior.json: forward marginals and posteriors (f64, cpu)', () => {
  for (const kind of ['uniform', 'masked'] as const) {
    it(`${kind}: forward_t, forward_s, posterior and posterior_to_x0 to 1e-12`, () => {
      for (const c of posteriors[kind]) {
        const K = c.vocab_size;
        const proc =
          kind === 'masked'
            ? masked(cpu, { vocabSize: K, maskId: c.mask_index })
            : uniform(cpu, { vocabSize: K });
        const x0 = probs(cpu, [c.x0hat], K);
        const xt = ids(cpu, [c.xt], [1, 1]);
        const data = (t: { read?: unknown }) => cpu.dataOf(t as never) as Float64Array;
        expect(maxAbs(data(proc.marginalAt(x0, c.alpha_t)), c.expected.forward_t)).toBeLessThan(1e-12);
        expect(maxAbs(data(proc.marginalAt(x0, c.alpha_s)), c.expected.forward_s)).toBeLessThan(1e-12);
        expect(maxAbs(data(proc.bridgeAt(x0, xt, c.alpha_s, c.alpha_t)), c.expected.posterior)).toBeLessThan(
          1e-12,
        );
        expect(maxAbs(data(proc.bridgeAt(x0, xt, 1, c.alpha_t)), c.expected.posterior_to_x0)).toBeLessThan(
          1e-12,
        );
      }
    });
  }
});

describe('marginal laws', () => {
  const dirichletish = (K: number) =>
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: K, maxLength: K });

  it('every forward marginal and posterior sums to 1 (masked, uniform, gaussian; batched with per-row times)', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 3, max: 12 })
          .chain((K) => fc.tuple(fc.constant(K), fc.array(dirichletish(K), { minLength: 2, maxLength: 2 }))),
        fc.double({ min: 0.05, max: 0.5, noNaN: true }),
        fc.double({ min: 0.55, max: 0.95, noNaN: true }),
        fc.nat(),
        ([K, raw], s, t, xtSeed) => {
          const rows = raw.map((r, b) => {
            const v = r.map((x, j) => (j === K - 1 ? 0 : x + 1e-3 * (b + 1)));
            const total = v.reduce((a, x) => a + x, 0);
            return v.map((x) => x / total);
          });
          const x0 = probs(cpu, rows, K);
          const xt = ids(cpu, [xtSeed % K, (xtSeed >> 3) % K], [2, 1]);
          const processes = [
            masked(cpu, { vocabSize: K }),
            uniform(cpu, { vocabSize: K }),
            gaussian(cpu, { vocabSize: K, gammaMin: -4, gammaMax: 1 }),
          ];
          for (const proc of processes) {
            for (const out of [proc.forward(x0, [s, t]), proc.posterior(x0, xt, [s * 0.5, s], [t, t])]) {
              const d = cpu.dataOf(out);
              for (let b = 0; b < 2; b++) {
                let sum = 0;
                for (let j = 0; j < K; j++) {
                  expect(d[b * K + j]).toBeGreaterThanOrEqual(-1e-15);
                  sum += d[b * K + j];
                }
                expect(Math.abs(sum - 1)).toBeLessThan(1e-12);
              }
            }
          }
        },
      ),
      { seed: 909, numRuns: 30 },
    );
  });

  it('posteriors are consistent with the marginals: Σ_xt q_t(xt|x0)·q(x_s|x_t, x0) = q_s(x_s|x0) for one-hot x0', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 9 }),
        fc.nat(100),
        fc.double({ min: 0.02, max: 0.98, noNaN: true }),
        fc.double({ min: 0.02, max: 0.98, noNaN: true }),
        (K, x0Seed, a, b) => {
          const [alphaT, alphaS] = a < b ? [a, b] : [b, a];
          if (alphaS - alphaT < 1e-6) return;
          const x0 = x0Seed % (K - 1); // never the mask id
          for (const proc of [masked(cpu, { vocabSize: K }), uniform(cpu, { vocabSize: K })]) {
            // One batch row per possible x_t, all with the same one-hot x0.
            const onehot = Array.from({ length: K }, () =>
              Array.from({ length: K }, (_, j) => (j === x0 ? 1 : 0)),
            );
            const x0Probs = probs(cpu, onehot, K);
            const qt = cpu.dataOf(proc.marginalAt(x0Probs, alphaT));
            const qs = cpu.dataOf(proc.marginalAt(x0Probs, alphaS));
            const post = cpu.dataOf(
              proc.bridgeAt(
                x0Probs,
                ids(
                  cpu,
                  Array.from({ length: K }, (_, i) => i),
                  [K, 1],
                ),
                alphaS,
                alphaT,
              ),
            );
            for (let j = 0; j < K; j++) {
              let mixed = 0;
              for (let xt = 0; xt < K; xt++) if (qt[xt] > 0) mixed += qt[xt] * post[xt * K + j];
              expect(Math.abs(mixed - qs[j])).toBeLessThan(1e-13);
            }
          }
        },
      ),
      { seed: 1010, numRuns: 40 },
    );
  });

  it('the gaussian process marginal is the uniform-state marginal at alpha = T(gamma(t))', () => {
    const K = 7;
    const proc = gaussian(cpu, { vocabSize: K, gammaMin: -4, gammaMax: 1 });
    const x0 = probs(cpu, [[0, 0, 1, 0, 0, 0, 0]], K);
    const out = cpu.dataOf(proc.forward(x0, 0.4));
    const alpha = diffusionTransform(-4 + 0.4 * 5, K).alpha;
    expect(maxAbs(out, uniformStateLaw(K, 2, alpha))).toBeLessThan(1e-14);
  });
});

describe('sampling laws (chi-square, fixed seeds)', () => {
  const B = 4;
  const L = 2500;
  const count = (xt: Int32Array, x0: Int32Array, K: number) => {
    // Counts of x_t relative to x0: bin (x_t − x0) mod K, so bin 0 means x_t = x0.
    const c = new Float64Array(K);
    for (let i = 0; i < xt.length; i++) c[(xt[i] - x0[i] + K) % K]++;
    return c;
  };

  it('gaussian: argmax of latents has the uniform-state law with alpha = T(gamma) (fast-check over K, t, seed)', () => {
    // K ≤ 40 and gamma ≤ 1 keep every expected bin count ≥ ~20 at B·L = 10 000 draws (chi-square regime).
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 40 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.nat(1 << 30),
        (K, t, seed) => {
          const proc = gaussian(cpu, { vocabSize: K, gammaMin: -3, gammaMax: 1 });
          const x0Data = Int32Array.from({ length: B * L }, (_, i) => (i * 7919) % K);
          const xt = cpu.dataOf(proc.sample(cpu.tensor(x0Data, [B, L], 'i32'), t, { seed }));
          const alpha = diffusionTransform(-3 + 4 * t, K).alpha;
          const { stat, bound } = chiSquare(count(xt as Int32Array, x0Data, K), uniformStateLaw(K, 0, alpha));
          expect(stat, `K=${K} t=${t}`).toBeLessThan(bound);
        },
      ),
      { seed: 2024, numRuns: 6 },
    );
    // Both ends of the vocabulary range the tests care about, at fixed points.
    for (const [K, t] of [
      [2, 0.2],
      [64, 0.1],
    ] as const) {
      const proc = gaussian(cpu, { vocabSize: K, gammaMin: -3, gammaMax: 1 });
      const x0Data = Int32Array.from({ length: B * L }, (_, i) => (i * 7919) % K);
      const xt = cpu.dataOf(proc.sample(cpu.tensor(x0Data, [B, L], 'i32'), t, { seed: K }));
      const counts = count(xt as Int32Array, x0Data, K);
      const alpha = diffusionTransform(-3 + 4 * t, K).alpha;
      const { stat, bound } = chiSquare(counts, uniformStateLaw(K, 0, alpha));
      expect(stat, `K=${K} t=${t}`).toBeLessThan(bound);
      // Power check: the same draws reject an alpha off by 0.05.
      expect(chiSquare(counts, uniformStateLaw(K, 0, alpha - 0.05)).stat).toBeGreaterThan(bound);
    }
  });

  it('uniform: x_t has the law alpha·δ(x0) + (1 − alpha)/K; masked: masks with probability 1 − alpha', () => {
    const K = 11;
    const x0Data = Int32Array.from({ length: B * L }, (_, i) => i % (K - 1));
    const x0 = cpu.tensor(x0Data, [B, L], 'i32');
    const alpha = logLinear().alpha(0.6);
    const xt = cpu.dataOf(uniform(cpu, { vocabSize: K }).sample(x0, 0.6, { seed: 5 })) as Int32Array;
    const u = chiSquare(count(xt, x0Data, K), uniformStateLaw(K, 0, alpha));
    expect(u.stat).toBeLessThan(u.bound);
    const xm = cpu.dataOf(masked(cpu, { vocabSize: K }).sample(x0, 0.6, { seed: 6 })) as Int32Array;
    let maskedCount = 0;
    for (let i = 0; i < xm.length; i++) {
      if (xm[i] === K - 1) maskedCount++;
      else expect(xm[i]).toBe(x0Data[i]);
    }
    const m = chiSquare([maskedCount, xm.length - maskedCount], [1 - alpha, alpha]);
    expect(m.stat).toBeLessThan(m.bound);
  });

  it('priors: uniform ids are uniform, masked is all-mask; streams are reproducible and offset-addressed', () => {
    const K = 13;
    const p = cpu.dataOf(uniform(cpu, { vocabSize: K }).prior([B, L], { seed: 7 }));
    const c = new Float64Array(K);
    for (const v of p) c[v]++;
    const { stat, bound } = chiSquare(c, new Float64Array(K).fill(1 / K));
    expect(stat).toBeLessThan(bound);
    expect(Array.from(cpu.dataOf(masked(cpu, { vocabSize: K }).prior([2, 3], { seed: 1 })))).toEqual([
      12, 12, 12, 12, 12, 12,
    ]);
    const again = cpu.dataOf(uniform(cpu, { vocabSize: K }).prior([B, L], { seed: 7 }));
    expect(Array.from(again)).toEqual(Array.from(p));
    const shifted = cpu.dataOf(uniform(cpu, { vocabSize: K }).prior([1, 10], { seed: 7, offset: 2 }));
    expect(Array.from(shifted.subarray(0, 9))).toEqual(Array.from(p.subarray(1, 10)));
  });
});

describe('bad input gets typed errors', () => {
  const K = 6;
  const x0 = () => probs(cpu, [[0.5, 0.5, 0, 0, 0, 0]], K);
  it('ids out of range, wrong shapes and dtypes', () => {
    const proc = uniform(cpu, { vocabSize: K });
    expect(() => proc.sample(ids(cpu, [0, 6], [1, 2]), 0.5, { seed: 1 })).toThrow(IndexOutOfRangeError);
    expect(() => proc.sample(ids(cpu, [-1], [1, 1]), 0.5, { seed: 1 })).toThrow(IndexOutOfRangeError);
    expect(() => proc.bridgeAt(x0(), ids(cpu, [9], [1, 1]), 0.9, 0.5)).toThrow(IndexOutOfRangeError);
    expect(() => proc.forward(cpu.tensor(new Float64Array(5), [1, 1, 5], 'f64'), 0.5)).toThrow(ShapeError);
    expect(() => proc.forward(cpu.tensor(new Int32Array(6), [1, 1, 6], 'i32'), 0.5)).toThrow(DTypeError);
    expect(() => proc.forward(x0(), [0.1, 0.2])).toThrow(ShapeError);
    expect(() => gaussian(cpu, { vocabSize: K }).sample(ids(cpu, [7], [1, 1]), 0.5, { seed: 1 })).toThrow(
      IndexOutOfRangeError,
    );
  });
  it('times and alphas outside their domain, s ≥ t, K < 2, bad mask id', () => {
    const proc = masked(cpu, { vocabSize: K });
    expect(() => proc.forward(x0(), 1.5)).toThrow(ArgumentError);
    expect(() => proc.forward(x0(), Number.NaN)).toThrow(ArgumentError);
    expect(() => proc.marginalAt(x0(), -0.1)).toThrow(ArgumentError);
    expect(() => proc.posterior(x0(), ids(cpu, [5], [1, 1]), 0.6, 0.4)).toThrow(/s < t/);
    expect(() => proc.bridgeAt(x0(), ids(cpu, [5], [1, 1]), 0.3, 0.6)).toThrow(ArgumentError);
    expect(() => masked(cpu, { vocabSize: 1 })).toThrow(ArgumentError);
    expect(() => masked(cpu, { vocabSize: K, maskId: K })).toThrow(ArgumentError);
    expect(() => uniform(cpu, { vocabSize: 2.5 })).toThrow(ArgumentError);
    expect(() => uniform(cpu, { vocabSize: K }).prior([2], { seed: 1 })).toThrow(ArgumentError);
  });
});
