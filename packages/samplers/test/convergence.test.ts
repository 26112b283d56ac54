/**
 * With the set-of-strings oracle the per-position x̂0 is exact but the joint is not factorised, so one step samples
 * the product of the marginals, and the ancestral and Ψ (ReMDM-like κ) samplers converge to the set's law as the
 * steps grow: total variation falls to the finite-sample floor.
 *
 * Bounds: with N samples over m atoms, E[TV] of an exact sampler ≤ ½·Σ √(p(1−p)/N) ≤ ½·√(m/N) = 0.039 here, and
 * its fluctuations are about 0.01, so "TV < 0.1 at 64 steps" and "TV > 0.2 at 1 step" (1 step samples the product
 * of the marginals: measured ≈ 0.97 masked, ≈ 0.25 uniform, whose 1-step prior already overlaps the set) leave
 * wide margins.
 */
import type { Backend } from '@duality/kernels';
import { beforeAll, describe, expect, it } from 'vitest';
import { ancestralSampler, psiSampler, type SamplerConfig, stringSetOracle } from '../src/index';
import { cpu, makeProcess } from './helpers';

const SEQS = [
  [0, 1, 2, 0, 1],
  [1, 1, 0, 2, 2],
  [2, 0, 1, 1, 0],
  [0, 0, 0, 1, 2],
  [2, 2, 1, 0, 0],
  [1, 2, 2, 2, 1],
];
const WEIGHTS = [1, 2, 3, 1, 2, 3];
const N = 1000;

let backend: Backend;
beforeAll(async () => {
  backend = await cpu();
});

const SAMPLERS = {
  ancestral: (c: SamplerConfig) => ancestralSampler(c),
  'Ψ max-capped η=0.05': (c: SamplerConfig) => psiSampler({ ...c, kappa: { kind: 'max-capped', eta: 0.05 } }),
};

describe.each(['masked', 'uniform'] as const)('%s: total variation falls as steps grow', (name) => {
  it.each(Object.entries(SAMPLERS))('%s', async (_label, make) => {
    const process = makeProcess(backend, name);
    const oracle = stringSetOracle(backend, process, SEQS, { weights: WEIGHTS });
    const tv: number[] = [];
    for (const steps of [1, 8, 64]) {
      const ids = await (
        await make({ process, steps }).sample(oracle, { batch: N, length: 5, seed: 40 + steps })
      ).read();
      tv.push(oracle.evaluate(ids).tv);
    }
    console.log(`${name} ${_label}: TV at 1, 8, 64 steps = ${tv.map((v) => v.toFixed(3)).join(', ')}`);
    expect(tv[0]).toBeGreaterThan(0.2);
    expect(tv[1]).toBeLessThan(tv[0]);
    expect(tv[2]).toBeLessThan(0.1);
  });
});
