/**
 * WebGPU (headless Chromium): the same seed gives the same ids as the cpu backend for every sampler, and with the
 * exact factorised oracle the samplers reproduce the per-position marginals on webgpu too (χ² at 1e-6).
 */
import { type Backend, createBackend } from '@duality/kernels';
import type { KappaMode } from '@duality/posteriors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ancestralSampler,
  cachedAncestralSampler,
  factorizedOracle,
  psiSampler,
  type Sampler,
  type SamplerConfig,
  SamplerConfigError,
  stringSetOracle,
} from '../src/index';
import { chiSquare, chiSquareCritical, factorRows, makeProcess, type ProcessName } from './helpers';

let gpu: Backend;
let cpu: Backend;
beforeAll(async () => {
  gpu = await createBackend('webgpu');
  cpu = await createBackend('cpu', { threads: 0 });
});
afterAll(() => {
  gpu?.destroy();
  cpu?.destroy();
});

const MODES: KappaMode[] = [
  { kind: 'pure-pc' },
  { kind: 'constant', eta: 0.5 },
  { kind: 'constant-remdm', eta: 0.3 },
  { kind: 'max-capped', eta: 0.5 },
  { kind: 'max-rescale', eta: 0.5 },
];
type Make = (c: SamplerConfig) => Sampler;
const SAMPLERS: Array<[string, Make]> = [
  ['ancestral', (c) => ancestralSampler(c)],
  ['ancestral-cache greedy', (c) => cachedAncestralSampler({ ...c, noiseRemoval: 'greedy' })],
  ...MODES.map((m): [string, Make] => [`psi ${m.kind}`, (c) => psiSampler({ ...c, kappa: m })]),
  [
    'psi 3-phase linear-constant-linear',
    (c) =>
      psiSampler({
        ...c,
        timeProfile: { kind: 'linear-constant-linear', c: 0.5, highFrac: 0.3, middleFrac: 0.4 },
        kappa: {
          high: { kind: 'pure-posterior' },
          middle: { kind: 'max-capped', eta: 0.8 },
          low: { kind: 'pure-pc' },
          highFrac: 0.3,
          middleFrac: 0.4,
        },
      }),
  ],
];

const SEQS = [
  [0, 1, 2, 0],
  [1, 1, 0, 2],
  [2, 0, 1, 1],
  [0, 0, 2, 2],
];

async function idsOn(backend: Backend, name: ProcessName, make: Make, seed: number): Promise<number[]> {
  const process = makeProcess(backend, name);
  const oracle = stringSetOracle(backend, process, SEQS, { weights: [1, 2, 3, 4] });
  const out = await make({ process, steps: 6 }).sample(oracle, { batch: 64, length: 4, seed });
  return Array.from(await out.read());
}

describe.each(['masked', 'uniform'] as const)('%s process on webgpu', (name) => {
  it.each(SAMPLERS)('%s: same seed → same ids as cpu', async (_label, make) => {
    const a = await idsOn(cpu, name, make, 21);
    const b = await idsOn(gpu, name, make, 21);
    expect(b).toEqual(a);
  });

  it('ancestral with top-p 0.8 and top-k 2: same seed → same ids as cpu', async () => {
    const make: Make = (c) => ancestralSampler({ ...c, steps: 2, topP: 0.8, topK: 2 });
    expect(await idsOn(gpu, name, make, 22)).toEqual(await idsOn(cpu, name, make, 22));
  });

  it.each(SAMPLERS.filter(([label]) => !label.includes('greedy')))(
    '%s reproduces the factorised marginals (χ² at 1e-6)',
    async (_label, make) => {
      const process = makeProcess(gpu, name);
      const oracle = factorizedOracle(gpu, process, factorRows(name));
      const ids = await (
        await make({ process, steps: 4 }).sample(oracle, { batch: 1500, length: 3, seed: 31 })
      ).read();
      const { stat, df, impossible } = chiSquare(ids, 3, factorRows(name));
      expect(impossible).toBe(0);
      expect(stat).toBeLessThan(chiSquareCritical(df, 1e-6));
    },
  );
});

it('a streamed run on webgpu ends on the ids sample() returns', async () => {
  const process = makeProcess(gpu, 'uniform');
  const oracle = stringSetOracle(gpu, process, SEQS);
  const sampler = psiSampler({ process, steps: 5, kappa: { kind: 'constant', eta: 0.4 } });
  let last: Int32Array | undefined;
  for await (const s of sampler.run(oracle, { batch: 16, length: 4, seed: 3 })) last = s.xt;
  const sampled = Array.from(await (await sampler.sample(oracle, { batch: 16, length: 4, seed: 3 })).read());
  expect(Array.from(last ?? [])).toEqual(sampled);
});

it('float64 sampling is refused on webgpu with a typed error', () => {
  expect(() => ancestralSampler({ process: makeProcess(gpu, 'masked'), steps: 2, float64: true })).toThrow(
    SamplerConfigError,
  );
});
