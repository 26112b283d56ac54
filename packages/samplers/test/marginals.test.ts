/**
 * "Same law" tests: with the exact factorised oracle every sampler (ancestral, cached, Ψ under every κ mode and
 * time profile) reproduces the per-position marginals. Pearson χ² over the positions at fixed seeds, compared with
 * the χ² quantile at tail probability 1e-6, so a correct sampler fails with probability < 1e-6 per check.
 */
import type { Backend } from '@duality/kernels';
import type { KappaMode, KappaPlan } from '@duality/posteriors';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ancestralSampler,
  cachedAncestralSampler,
  factorizedOracle,
  psiSampler,
  type Sampler,
  type SamplerConfig,
} from '../src/index';
import { chiSquare, chiSquareCritical, cpu, factorRows, makeProcess, type ProcessName } from './helpers';

const N = 2000;
const L = 3;
const ALPHA = 1e-6;

const MODES: KappaMode[] = [
  { kind: 'pure-posterior' },
  { kind: 'pure-pc' },
  { kind: 'constant', eta: 0.5 },
  { kind: 'constant-remdm', eta: 0.3 },
  { kind: 'max-capped', eta: 0.5 },
  { kind: 'max-rescale', eta: 0.5 },
  { kind: 'max-rescale', eta: 0.5, variant: 'reference' },
];

const PLAN: KappaPlan = {
  high: { kind: 'pure-posterior' },
  middle: { kind: 'max-capped', eta: 0.8 },
  low: { kind: 'pure-pc' },
  highFrac: 0.3,
  middleFrac: 0.4,
};

type Make = (base: SamplerConfig) => Sampler;
const SAMPLERS: Array<[string, Make]> = [
  ['ancestral', (c) => ancestralSampler(c)],
  ['ancestral-cache', (c) => cachedAncestralSampler(c)],
  ...MODES.map((m): [string, Make] => [
    `psi ${m.kind}${'eta' in m ? `-${m.eta}` : ''}`,
    (c) => psiSampler({ ...c, kappa: m }),
  ]),
  [
    'psi 3-phase plan, linear-constant-linear',
    (c) =>
      psiSampler({
        ...c,
        kappa: PLAN,
        timeProfile: { kind: 'linear-constant-linear', c: 0.5, highFrac: 0.3, middleFrac: 0.4 },
      }),
  ],
  [
    'psi 3-phase plan, continuous boundary',
    (c) => psiSampler({ ...c, kappa: { ...PLAN, boundary: 'continuous' } }),
  ],
];

let backend: Backend;
beforeAll(async () => {
  backend = await cpu();
});

async function lawCheck(
  name: ProcessName,
  make: Make,
  steps: number,
  seed: number,
  target?: 'posterior-mean',
) {
  const process = makeProcess(backend, name);
  const oracle = factorizedOracle(backend, process, factorRows(name), target ? { target } : {});
  const ids = await (await make({ process, steps }).sample(oracle, { batch: N, length: L, seed })).read();
  return chiSquare(ids, L, factorRows(name));
}

describe.each(['masked', 'uniform'] as const)('%s process, exact factorised oracle', (name) => {
  it.each(SAMPLERS)('%s reproduces the per-position marginals at 1 and 6 steps', async (_label, make) => {
    for (const [steps, seed] of [
      [1, 11],
      [6, 12],
    ]) {
      const { stat, df, impossible } = await lawCheck(name, make, steps, seed);
      expect(impossible).toBe(0);
      expect(stat).toBeLessThan(chiSquareCritical(df, ALPHA));
    }
  });
});

describe('the χ² check has power', () => {
  it('flags the uniform sampler fed E[x0 | x_t] (x_t counted twice in Duo Eq. 5)', async () => {
    const { stat, df } = await lawCheck('uniform', (c) => ancestralSampler(c), 6, 13, 'posterior-mean');
    expect(stat).toBeGreaterThan(chiSquareCritical(df, ALPHA));
  });

  it('flags samples compared with a shifted law', async () => {
    const process = makeProcess(backend, 'masked');
    const oracle = factorizedOracle(backend, process, factorRows('masked'));
    const ids = await (
      await ancestralSampler({ process, steps: 4 }).sample(oracle, { batch: N, length: L, seed: 14 })
    ).read();
    const shifted = factorRows('masked').map((r) => [r[0] + 0.05, r[1] - 0.05, r[2], r[3]]);
    const { stat, df } = chiSquare(ids, L, shifted);
    expect(stat).toBeGreaterThan(chiSquareCritical(df, ALPHA));
  });
});
