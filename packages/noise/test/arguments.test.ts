import { ArgumentError, type CpuBackend, createBackend } from '@duality/kernels';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  annealedTau,
  diffusionTransform,
  gaussian,
  operatorPolyFit,
  sigmaFromAlpha,
  TAU_RANGE,
} from '../src/index';

let cpu: CpuBackend;
beforeAll(async () => {
  cpu = (await createBackend('cpu', { threads: 0 })) as CpuBackend;
});
afterAll(() => cpu.destroy());

describe('unchecked arguments are typed errors', () => {
  it('sigmaFromAlpha takes alpha in [0, 1] (0 gives +∞)', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.NEGATIVE_INFINITY]) {
      expect(() => sigmaFromAlpha(bad)).toThrow(ArgumentError);
    }
    expect(sigmaFromAlpha(0)).toBe(Number.POSITIVE_INFINITY);
    expect(sigmaFromAlpha(1)).toBe(-0);
    expect(sigmaFromAlpha(Math.exp(-2))).toBeCloseTo(2, 14);
  });

  it('annealedTau refuses log10 temperatures whose 10^x is not a usable τ', () => {
    for (const options of [
      { log10Start: 400 },
      { log10End: -400 },
      { log10Start: 31 },
      { startStep: Number.NaN },
    ]) {
      expect(() => annealedTau(options)).toThrow(ArgumentError);
    }
    const tau = annealedTau({ log10Start: 30, log10End: -30, startStep: 0, endStep: 10 });
    for (const step of [0, 3, 10]) expect(Number.isFinite(tau(step)) && tau(step) > 0).toBe(true);
  });

  it('relaxations refuse a denormal (or huge) τ instead of returning NaN weights', async () => {
    const p = gaussian(cpu, { vocabSize: 20 });
    const x0 = cpu.tensor(Int32Array.from([1, 2]), [1, 2], 'i32');
    for (const tau of [5e-324, 1e-310, TAU_RANGE.min / 2, TAU_RANGE.max * 2, 0, -1]) {
      await expect(p.topKRelaxation(x0, 0.5, { k: 3, tau, rng: { seed: 1 } })).rejects.toThrow(ArgumentError);
      expect(() => p.temperedRelaxation(x0, 0.5, { tau, rng: { seed: 1 } })).toThrow(ArgumentError);
    }
    // the ends of the range still give finite, normalised weights in f32 and f64
    for (const tau of [TAU_RANGE.min, TAU_RANGE.max]) {
      for (const dtype of ['f32', 'f64'] as const) {
        const { weights } = p.temperedRelaxation(x0, 0.5, { tau, rng: { seed: 1 }, dtype });
        const w = await weights.read();
        expect(Array.from(w).every(Number.isFinite)).toBe(true);
        expect(Array.from(w.slice(0, 20)).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      }
      const top = await p.topKRelaxation(x0, 0.5, { k: 3, tau, rng: { seed: 1 } });
      expect(Array.from(await top.weights.read()).every(Number.isFinite)).toBe(true);
    }
  });

  it('operatorPolyFit(...).evaluateAt refuses t outside [0, 1], where the fit was never made', () => {
    const fit = operatorPolyFit({ vocabSize: 100, gammaMin: -4, gammaMax: -1, degree: 3, samples: 50 });
    for (const t of [-0.01, 1.01, Number.NaN, 2]) expect(() => fit.evaluateAt(t)).toThrow(ArgumentError);
    for (const [t, gamma] of [
      [0, -4],
      [1, -1],
    ]) {
      const err = Math.abs(fit.evaluateAt(t).alpha - diffusionTransform(gamma, 100).alpha);
      expect(err).toBeLessThanOrEqual(fit.maxError.alphaAbs * (1 + 1e-9));
    }
  });

  it('diffusionTransform keeps p, 1 − p, alpha and 1 − alpha in [0, 1] (property, large K)', () => {
    const v = diffusionTransform(-6, 1e6);
    expect(v.p).toBeLessThanOrEqual(1);
    fc.assert(
      fc.property(
        fc.double({ min: -9, max: 3, noNaN: true }),
        fc.integer({ min: 2, max: 10_000_000 }),
        (gamma, K) => {
          const r = diffusionTransform(gamma, K);
          for (const x of [r.p, r.oneMinusP, r.alpha, r.oneMinusAlpha]) {
            expect(x).toBeGreaterThanOrEqual(0);
            expect(x).toBeLessThanOrEqual(1);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
