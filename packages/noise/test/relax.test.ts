import { ArgumentError, type CpuBackend, createBackend, IndexOutOfRangeError } from '@duality/kernels';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { diffusionTransform } from '../src/operator';
import { gaussian } from '../src/processes';
import { gaussLegendre } from '../src/quadrature';
import {
  annealedTau,
  logMeanExpTruncNormal,
  temperedSoftmaxRelaxation,
  topKRelaxation,
  topKRelaxationRows,
} from '../src/relax';
import { binomialZ, chiSquare, uniformStateLaw } from './stats';

let cpu: CpuBackend;
beforeAll(async () => {
  cpu = (await createBackend('cpu', { threads: 0 })) as CpuBackend;
});

/** Counts of (x_t − x0) mod K: bin 0 is x_t = x0. */
function relativeCounts(xt: ArrayLike<number>, x0: ArrayLike<number>, K: number): Float64Array {
  const c = new Float64Array(K);
  for (let i = 0; i < xt.length; i++) c[(xt[i] - x0[i] + K) % K]++;
  return c;
}

describe('tempered softmax relaxation (whole vocabulary)', () => {
  it('weights are softmax(z/τ) rows summing to 1, x_t is their argmax, and x_t has the T(gamma) law', () => {
    const K = 9;
    const B = 2;
    const L = 3000;
    const x0 = Int32Array.from({ length: B * L }, (_, i) => (i * 31) % K);
    const gamma = [-2.5, 0.5];
    const { weights, xt } = temperedSoftmaxRelaxation(cpu, cpu.tensor(x0, [B, L], 'i32'), gamma, K, {
      rng: { seed: 11 },
      tau: 0.5,
    });
    expect(weights.shape).toEqual([B, L, K]);
    const w = cpu.dataOf(weights);
    const x = cpu.dataOf(xt);
    for (let n = 0; n < B * L; n++) {
      let sum = 0;
      let best = 0;
      for (let j = 0; j < K; j++) {
        sum += w[n * K + j];
        if (w[n * K + j] > w[n * K + best]) best = j;
      }
      expect(Math.abs(sum - 1)).toBeLessThan(1e-12);
      expect(x[n]).toBe(best);
    }
    for (let b = 0; b < B; b++) {
      const rows = { xt: x.subarray(b * L, (b + 1) * L), x0: x0.subarray(b * L, (b + 1) * L) };
      const { stat, bound } = chiSquare(
        relativeCounts(rows.xt, rows.x0, K),
        uniformStateLaw(K, 0, diffusionTransform(gamma[b], K).alpha),
      );
      expect(stat).toBeLessThan(bound);
    }
  });

  it('at the default τ = 1e-3 the weights are (numerically) one-hot on x_t', () => {
    const { weights, xt } = temperedSoftmaxRelaxation(
      cpu,
      cpu.tensor(Int32Array.from([0, 1, 2, 3]), [1, 4], 'i32'),
      -3,
      5,
      { rng: { seed: 3 } },
    );
    const w = cpu.dataOf(weights);
    const x = cpu.dataOf(xt);
    for (let n = 0; n < 4; n++) expect(w[n * 5 + x[n]]).toBeGreaterThan(0.999);
  });

  it('annealedTau: log10 τ constant, then linear between the steps, then held', () => {
    const tau = annealedTau({ log10Start: -1, log10End: -3, startStep: 100, endStep: 300 });
    expect(tau(0)).toBeCloseTo(0.1, 15);
    expect(tau(200)).toBeCloseTo(0.01, 15);
    expect(tau(300)).toBeCloseTo(1e-3, 15);
    expect(tau(1e6)).toBeCloseTo(1e-3, 15);
    expect(annealedTau()(5)).toBeCloseTo(1e-3, 15);
    expect(() => annealedTau({ startStep: 5, endStep: 1 })).toThrow(ArgumentError);
  });
});

describe('memory-efficient top-k relaxation (Chapter II)', () => {
  it('x_t is the true argmax: its law is the uniform-state law at alpha = T(gamma) for every k (chi-square)', () => {
    const positions = 8000;
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 30 }),
        fc.integer({ min: 1, max: 8 }),
        fc.double({ min: -3, max: 1, noNaN: true }),
        fc.nat(1 << 30),
        (K, kRaw, gamma, seed) => {
          const k = Math.min(kRaw, K - 1);
          const x0 = Int32Array.from({ length: positions }, (_, i) => (i * 13) % K);
          const rows = topKRelaxationRows(x0, 1, positions, Float64Array.of(gamma), K, { k, rng: { seed } });
          const law = uniformStateLaw(K, 0, diffusionTransform(gamma, K).alpha);
          const { stat, bound } = chiSquare(relativeCounts(rows.xt, x0, K), law);
          expect(stat, `K=${K} k=${k} gamma=${gamma}`).toBeLessThan(bound);
        },
      ),
      { seed: 4242, numRuns: 8 },
    );
    // k = K − 1 (nothing in the tail) at a fixed point.
    const x0 = Int32Array.from({ length: positions }, (_, i) => (i * 13) % 27);
    const rows = topKRelaxationRows(x0, 1, positions, Float64Array.of(-3), 27, { k: 26, rng: { seed: 24 } });
    const { stat, bound } = chiSquare(
      relativeCounts(rows.xt, x0, 27),
      uniformStateLaw(27, 0, diffusionTransform(-3, 27).alpha),
    );
    expect(stat).toBeLessThan(bound);
  });

  it('at K = 50257, k = 2: P(x_t = x0) matches T(gamma), while "x0 lands in the top k" (the reference rule) does not', () => {
    const K = 50257;
    const positions = 40000;
    const gamma = -2.5;
    const x0 = Int32Array.from({ length: positions }, (_, i) => (i * 7907) % K);
    const rows = topKRelaxationRows(x0, 1, positions, Float64Array.of(gamma), K, { k: 2, rng: { seed: 31 } });
    let hits = 0;
    let inTopK = 0;
    for (let n = 0; n < positions; n++) {
      if (rows.xt[n] === x0[n]) hits++;
      if (rows.indices[2 * n] === x0[n] || rows.indices[2 * n + 1] === x0[n]) inTopK++;
    }
    const p = diffusionTransform(gamma, K).p;
    // |z| ≤ 5: a 5-sigma band of the binomial's own spread.
    expect(Math.abs(binomialZ(hits, positions, p))).toBeLessThan(5);
    expect(binomialZ(inTopK, positions, p)).toBeGreaterThan(10);
  });

  it('indices are distinct, descending weights start at x_t, and never contain x0 twice', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 200 }),
        fc.integer({ min: 1, max: 8 }),
        fc.double({ min: -5, max: 1, noNaN: true }),
        fc.nat(1000),
        (K, kRaw, gamma, seed) => {
          const k = Math.min(kRaw, K - 1);
          const positions = 20;
          const x0 = Int32Array.from({ length: positions }, (_, i) => (i * 5 + seed) % K);
          const rows = topKRelaxationRows(x0, 1, positions, Float64Array.of(gamma), K, {
            k,
            tau: 0.3,
            rng: { seed },
          });
          for (let n = 0; n < positions; n++) {
            const idx = Array.from(rows.indices.subarray(n * k, (n + 1) * k));
            expect(new Set(idx).size).toBe(k);
            for (const id of idx) expect(id >= 0 && id < K).toBe(true);
            expect(rows.xt[n]).toBe(idx[0]);
            let sum = 0;
            for (let j = 0; j < k; j++) {
              const w = rows.weights[n * k + j];
              if (j > 0) expect(w).toBeLessThanOrEqual(rows.weights[n * k + j - 1]);
              sum += w;
            }
            expect(sum).toBeLessThanOrEqual(1 + 1e-12);
          }
        },
      ),
      { seed: 1234, numRuns: 40 },
    );
  });

  it('at a huge τ every entry weighs ≈ 1/K (tail estimate included); with k = K − 1 only the dropped latent is missing', () => {
    // At a huge τ every latent weighs ≈ the same, so each of the K entries gets ≈ 1/K, tail included.
    const K = 40;
    const rows = topKRelaxationRows(Int32Array.of(3), 1, 1, Float64Array.of(-1), K, {
      k: 10,
      tau: 1e6,
      rng: { seed: 9 },
    });
    for (const w of rows.weights) expect(Math.abs(w - 1 / K)).toBeLessThan(1e-5);
    const full = topKRelaxationRows(Int32Array.of(3), 1, 1, Float64Array.of(-1), 5, {
      k: 4,
      tau: 0.7,
      rng: { seed: 9 },
    });
    const sum = full.weights.reduce((a, b) => a + b, 0);
    // One latent (the dropped one) is left out: the kept weights sum to 1 minus its share, strictly inside (0, 1).
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(1);
  });

  it('the analytic tail log E[exp(βX) | X < c] matches Gauss–Legendre quadrature', () => {
    const { nodes, weights } = gaussLegendre(64);
    for (const [c, sigma, beta] of [
      [0.5, 0.8, 2],
      [2, 0.6, 5],
      [-1, 1, 0.5],
    ] as const) {
      // ∫_{c−40σ}^{c} exp(βx) N(x; 0, σ²) dx / Φ(c/σ), in 200 panels.
      const lo = c - 40 * sigma;
      let num = 0;
      let den = 0;
      const panels = 200;
      const h = (c - lo) / panels;
      for (let p = 0; p < panels; p++) {
        for (let i = 0; i < nodes.length; i++) {
          const x = lo + (p + 0.5 + 0.5 * nodes[i]) * h;
          const dens = Math.exp(-0.5 * (x / sigma) ** 2) / (sigma * Math.sqrt(2 * Math.PI));
          num += weights[i] * 0.5 * h * Math.exp(beta * x) * dens;
          den += weights[i] * 0.5 * h * dens;
        }
      }
      expect(Math.abs(logMeanExpTruncNormal(c, sigma, beta) - Math.log(num / den))).toBeLessThan(1e-12);
    }
    // Far tail (β = 1000 as in training): finite, and below βc (the truncated mean of exp(βX) is below exp(βc)).
    const v = logMeanExpTruncNormal(2, 0.6, 1000);
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeLessThan(2000);
  });

  it('backend wrapper: [B, L, k] tensors, no [B, L, K] buffer, same numbers as the host loop, typed errors', async () => {
    const K = 50257;
    const x0 = cpu.tensor(Int32Array.from([1, 50256, 7, 0]), [2, 2], 'i32');
    const out = await topKRelaxation(cpu, x0, [-3.5, -1.75], K, { k: 8, rng: { seed: 77, offset: 5 } });
    expect(out.indices.shape).toEqual([2, 2, 8]);
    expect(out.weights.shape).toEqual([2, 2, 8]);
    expect(out.xt.shape).toEqual([2, 2]);
    const host = topKRelaxationRows(
      Int32Array.from([1, 50256, 7, 0]),
      2,
      2,
      Float64Array.of(-3.5, -1.75),
      K,
      { k: 8, rng: { seed: 77, offset: 5 } },
    );
    expect(Array.from(cpu.dataOf(out.indices))).toEqual(Array.from(host.indices));
    expect(Array.from(cpu.dataOf(out.weights))).toEqual(Array.from(host.weights));
    await expect(topKRelaxation(cpu, x0, -2, K, { k: 0, rng: { seed: 1 } })).rejects.toThrow(ArgumentError);
    await expect(topKRelaxation(cpu, x0, -2, 5, { k: 5, rng: { seed: 1 } })).rejects.toThrow(ArgumentError);
    await expect(topKRelaxation(cpu, x0, Number.NaN, K, { k: 2, rng: { seed: 1 } })).rejects.toThrow(
      ArgumentError,
    );
    await expect(topKRelaxation(cpu, x0, -2, K, { k: 2, tau: 0, rng: { seed: 1 } })).rejects.toThrow(
      ArgumentError,
    );
    await expect(
      topKRelaxation(cpu, cpu.tensor(Int32Array.of(K), [1, 1], 'i32'), -2, K, { k: 2, rng: { seed: 1 } }),
    ).rejects.toThrow(IndexOutOfRangeError);
    expect(() => temperedSoftmaxRelaxation(cpu, x0, [1, 2, 3], K, { rng: { seed: 1 } })).toThrow(
      /one number or 2 values/,
    );
  });

  it('the Gaussian process exposes both relaxations at curriculum times; k = 1 draws x_t with the argmax law', async () => {
    const K = 27;
    const proc = gaussian(cpu, { vocabSize: K, gammaMin: -3, gammaMax: 1 });
    const positions = 8000;
    const x0Data = Int32Array.from({ length: positions }, (_, i) => (i * 11) % K);
    const x0 = cpu.tensor(x0Data, [2, positions / 2], 'i32');
    const { xt, indices } = await proc.topKRelaxation(x0, [0.25, 0.75], { k: 1, rng: { seed: 61 } });
    expect(indices.shape).toEqual([2, positions / 2, 1]);
    const x = cpu.dataOf(xt);
    for (const [b, t] of [
      [0, 0.25],
      [1, 0.75],
    ] as const) {
      const rows = {
        xt: x.subarray(b * 4000, (b + 1) * 4000),
        x0: x0Data.subarray(b * 4000, (b + 1) * 4000),
      };
      const law = uniformStateLaw(K, 0, diffusionTransform(-3 + 4 * t, K).alpha);
      const { stat, bound } = chiSquare(relativeCounts(rows.xt, rows.x0, K), law);
      expect(stat).toBeLessThan(bound);
    }
    const tempered = proc.temperedRelaxation(cpu.tensor(Int32Array.of(1, 2, 3), [1, 3], 'i32'), 0.5, {
      rng: { seed: 1 },
    });
    expect(tempered.weights.shape).toEqual([1, 3, K]);
    await expect(proc.topKRelaxation(x0, 1.5, { k: 1, rng: { seed: 1 } })).rejects.toThrow(ArgumentError);
  });
});
