/** The README's examples, run as written (imports through the package's public entry). */
import { createBackend } from '@duality/kernels';
import { expect, it } from 'vitest';
import {
  annealedTau,
  cosine,
  diffusionTransform,
  gaussian,
  gaussianCurriculum,
  logLinear,
  masked,
  operatorPolyFit,
  operatorTable,
  sigmaFromAlpha,
  temperedSoftmaxRelaxation,
  topKRelaxation,
  uniform,
} from '../src/index';

it('schedules and operator examples', () => {
  const ll = logLinear();
  const cs = cosine();
  expect(ll.alpha(1)).toBeCloseTo(1e-3, 15);
  expect(cs.dalpha(0.5) / cs.dalphaReference(0.5)).toBeCloseTo(1 - 1e-3, 15);
  const g = gaussianCurriculum({ vocabSize: 50257 });
  expect(g.gamma(0.5)).toBe(-2.625);
  expect(g.alpha(0.5)).toBe(diffusionTransform(-2.625, 50257).alpha);
  expect(sigmaFromAlpha(g.alpha(0.5))).toBeGreaterThan(0);
  const v = diffusionTransform(-2.5, 50257);
  expect(v.alpha + v.oneMinusAlpha).toBeCloseTo(1, 14);
  const table = operatorTable({ vocabSize: 50257, gammaMin: -3.5, gammaMax: -1.75 });
  expect(Math.abs(table.evaluate(-2.5).alpha - v.alpha)).toBeLessThanOrEqual(table.maxError.alphaAbs);
  const fit = operatorPolyFit({ vocabSize: 50257, degree: 9 });
  expect(fit.coefficients).toHaveLength(10);
  expect(Math.abs(fit.evaluateAt(0.3).alpha - g.alpha(0.3))).toBeLessThanOrEqual(fit.maxError.alphaAbs);
});

it('process and relaxation examples', async () => {
  const cpu = await createBackend('cpu');
  const K = 27;
  const mdlm = masked(cpu, { vocabSize: K });
  const udlm = uniform(cpu, { vocabSize: K });
  const duo = gaussian(cpu, { vocabSize: K, gammaMin: -3.5, gammaMax: -1.75, approx: 'table' });
  const x0 = cpu.tensor(
    Int32Array.from({ length: 2 * 8 }, (_, i) => i % 26),
    [2, 8],
    'i32',
  );
  const xt = duo.sample(x0, [0.2, 0.7], { seed: 1 });
  expect(xt.shape).toEqual([2, 8]);
  expect(duo.latents(x0, 0.5, { seed: 1 }).shape).toEqual([2, 8, K]);
  const probs = cpu.oneHot(x0, K, 'f64');
  expect(udlm.forward(probs, 0.5).shape).toEqual([2, 8, K]);
  const post = mdlm.posterior(probs, mdlm.sample(x0, 0.8, { seed: 2 }), 0.3, 0.8);
  expect(post.shape).toEqual([2, 8, K]);

  const V = 50257;
  const ids = cpu.tensor(
    Int32Array.from({ length: 16 }, (_, i) => (i * 7919) % V),
    [1, 16],
    'i32',
  );
  const soft = temperedSoftmaxRelaxation(cpu, ids, -2.6, V, { tau: 1e-3, rng: { seed: 3 } });
  expect(soft.weights.shape).toEqual([1, 16, V]);
  const { indices, weights, xt: xtK } = await topKRelaxation(cpu, ids, -2.6, V, { k: 64, rng: { seed: 3 } });
  expect(indices.shape).toEqual([1, 16, 64]);
  expect(weights.shape).toEqual([1, 16, 64]);
  expect(xtK.shape).toEqual([1, 16]);
  expect(annealedTau({ log10Start: -1, log10End: -3, startStep: 0, endStep: 10_000 })(2500)).toBeCloseTo(
    10 ** -1.5,
    12,
  );
  const relaxed = await duo.topKRelaxation(x0, [0.2, 0.7], { k: 4, rng: { seed: 4 } });
  expect(relaxed.indices.shape).toEqual([2, 8, 4]);
});
