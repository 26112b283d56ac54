import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { duoIntegrand, mdlmIntegrand } from '../src/maths/nelbo';
import { maskedRows, psiRow, type RowProcess, uniformRows } from '../src/maths/rows';
import { alphaPair, kappaArb, oneHot, probVector, sum, withoutEntry } from './arbitraries';

const RUNS = { seed: 20260222, numRuns: 200 };

/**
 * A researcher's hybrid prior: noise sends a token to the mask with probability m and to a uniformly drawn
 * non-mask token otherwise, so q_a(·|x0) = a·x0 + (1 − a)·π with π = m·e_mask + (1 − m)·u_{non-mask}. The posterior
 * is Bayes' rule with the two-step transition q(x_t | x_s) = (a_t/a_s)·[x_t = x_s] + (1 − a_t/a_s)·π(x_t).
 */
function hybridRows(k: number, m: number): RowProcess {
  const mask = k - 1;
  const prior = Float64Array.from({ length: k }, (_, j) => (j === mask ? m : (1 - m) / (k - 1)));
  const marginal = (x0: ArrayLike<number>, a: number) =>
    Float64Array.from(prior, (pj, j) => a * x0[j] + (1 - a) * pj);
  return {
    kind: 'hybrid',
    vocabSize: k,
    maskId: mask,
    marginal,
    bridge(x0, xt, aS, aT) {
      const qs = marginal(x0, aS);
      const ratio = aT / aS;
      const out = Float64Array.from(qs, (q, j) => ((j === xt ? ratio : 0) + (1 - ratio) * prior[xt]) * q);
      const total = sum(out);
      return out.map((v) => v / total);
    },
  };
}

const processes = (k: number): Array<[string, RowProcess, boolean]> => [
  ['uniform', uniformRows(k), false],
  ['masked', maskedRows(k), true],
  ['hybrid', hybridRows(k, 0.3), false],
];

const kArb = fc.integer({ min: 3, max: 9 });

for (const name of ['uniform', 'masked', 'hybrid'] as const) {
  const pick = (k: number) => processes(k).find(([n]) => n === name)!;
  const x0Arb = (k: number, masked: boolean) =>
    fc.oneof(
      probVector(k).map((p) => (masked ? withoutEntry(p, k - 1) : p)),
      fc.integer({ min: 0, max: masked ? k - 2 : k - 1 }).map((i) => oneHot(k, i)),
    );
  const caseArb = kArb.chain((k) =>
    fc.record({
      k: fc.constant(k),
      x0: x0Arb(k, pick(k)[2]),
      xt: fc.integer({ min: 0, max: k - 1 }),
      alphas: alphaPair,
      kappa: kappaArb,
    }),
  );

  describe(`${name} process laws (float64 rows)`, () => {
    it('posterior, q(x0|xt) and Ψ are distributions', () => {
      fc.assert(
        fc.property(caseArb, ({ k, x0, xt, alphas, kappa }) => {
          const [, proc] = pick(k);
          for (const row of [
            proc.bridge(x0, xt, alphas.alphaS, alphas.alphaT),
            proc.bridge(x0, xt, 1, alphas.alphaT),
            psiRow(proc, x0, xt, alphas.alphaS, alphas.alphaT, kappa),
          ]) {
            expect(Math.min(...row)).toBeGreaterThanOrEqual(0);
            expect(Math.abs(sum(row) - 1)).toBeLessThan(1e-12);
          }
        }),
        RUNS,
      );
    });

    it('marginal consistency: Σ_xt q_t(xt|x0) Ψ(·|xt, x0) = q_s(·|x0) for every κ in [0, 1]', () => {
      fc.assert(
        fc.property(caseArb, ({ k, x0, alphas, kappa }) => {
          const [, proc] = pick(k);
          const qt = proc.marginal(x0, alphas.alphaT);
          const mixture = new Float64Array(k);
          for (let xt = 0; xt < k; xt++) {
            if (qt[xt] === 0) continue;
            const psi = psiRow(proc, x0, xt, alphas.alphaS, alphas.alphaT, kappa);
            for (let j = 0; j < k; j++) mixture[j] += qt[xt] * psi[j];
          }
          const qs = proc.marginal(x0, alphas.alphaS);
          for (let j = 0; j < k; j++) expect(Math.abs(mixture[j] - qs[j])).toBeLessThan(1e-12);
        }),
        RUNS,
      );
    });

    it('κ = 1 is the ancestral posterior exactly; s → t gives back x_t', () => {
      fc.assert(
        fc.property(caseArb, ({ k, x0, xt, alphas }) => {
          const [, proc] = pick(k);
          const posterior = proc.bridge(x0, xt, alphas.alphaS, alphas.alphaT);
          expect(psiRow(proc, x0, xt, alphas.alphaS, alphas.alphaT, 1)).toEqual(posterior);
          if (proc.marginal(x0, alphas.alphaT)[xt] === 0) return; // xt impossible under x0
          const same = proc.bridge(x0, xt, alphas.alphaT, alphas.alphaT);
          for (let j = 0; j < k; j++) expect(Math.abs(same[j] - (j === xt ? 1 : 0))).toBeLessThan(1e-12);
          const near = proc.bridge(x0, xt, alphas.alphaT * (1 + 1e-9), alphas.alphaT);
          expect(near[xt]).toBeGreaterThan(1 - 1e-6);
        }),
        RUNS,
      );
    });
  });
}

describe('NELBO integrands', () => {
  const logsOf = (p: Float64Array) => Float64Array.from(p, (v) => Math.log(v));
  const integrandCase = fc.integer({ min: 2, max: 40 }).chain((k) =>
    fc.record({
      k: fc.constant(k),
      x0: fc.integer({ min: 0, max: k - 2 }),
      xt: fc.integer({ min: 0, max: k - 1 }),
      alpha: fc.double({ min: 1e-4, max: 1 - 1e-4, noNaN: true }),
      dalpha: fc.double({ min: -5, max: -1e-3, noNaN: true }),
      xTheta: probVector(k).map((p) => p.map((v) => 0.999 * v + 0.001 / k)),
    }),
  );

  it('Duo integrand is ≥ 0 for any x_θ and vanishes when x_θ is the truth', () => {
    fc.assert(
      fc.property(integrandCase, ({ k, x0, xt, alpha, dalpha, xTheta }) => {
        expect(duoIntegrand(logsOf(xTheta), xt, x0, alpha, dalpha)).toBeGreaterThanOrEqual(0);
        const truth = Float64Array.from({ length: k }, (_, j) => (j === x0 ? 0 : -Infinity));
        expect(duoIntegrand(truth, xt, x0, alpha, dalpha)).toBe(0);
      }),
      RUNS,
    );
  });

  it('MDLM integrand is ≥ 0, 0 at unmasked positions and at the truth', () => {
    fc.assert(
      fc.property(integrandCase, ({ k, x0, xt, alpha, dalpha, xTheta }) => {
        const mask = k - 1;
        const logs = logsOf(xTheta);
        expect(mdlmIntegrand(logs, mask, x0, alpha, dalpha, mask)).toBeGreaterThanOrEqual(0);
        if (xt !== mask) expect(mdlmIntegrand(logs, xt, x0, alpha, dalpha, mask)).toBe(0);
        const truth = Float64Array.from({ length: k }, (_, j) => (j === x0 ? 0 : -Infinity));
        expect(Math.abs(mdlmIntegrand(truth, mask, x0, alpha, dalpha, mask))).toBe(0);
      }),
      RUNS,
    );
  });
});
