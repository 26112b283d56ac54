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
import {
  chiSquare,
  chiSquareCritical,
  factorRows,
  makeProcess,
  type ProcessName,
  trackTensors,
} from './helpers';

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

describe('webgpu: denoiser outputs are checked on the device', () => {
  it('the [B, L, V] output is never read back; a NaN row is still a DenoiserOutputError', async () => {
    const process = makeProcess(gpu, 'uniform');
    const oracle = factorizedOracle(gpu, process, factorRows('uniform'));
    let reads = 0;
    const watched = {
      vocabSize: oracle.vocabSize,
      async predict(xt: Parameters<typeof oracle.predict>[0], sigma: Float64Array) {
        const out = await oracle.predict(xt, sigma);
        const read = out.read.bind(out);
        out.read = () => {
          reads++;
          return read();
        };
        return out;
      },
    };
    const ids = await ancestralSampler({ process, steps: 3 }).sample(watched, {
      batch: 2,
      length: 3,
      seed: 1,
    });
    expect(Array.from(await ids.read()).every((x) => x >= 0 && x < 3)).toBe(true);
    expect(reads).toBe(0);
    const nan = { vocabSize: 3, predict: async () => gpu.full([2, 3, 3], Number.NaN, 'f32') };
    await expect(
      ancestralSampler({ process, steps: 2 }).sample(nan, { batch: 2, length: 3, seed: 1 }),
    ).rejects.toThrow(/row 0 with Σ exp = (NaN|Infinity)/); // WGSL may turn exp(NaN) into +∞
    const unnormalised = { vocabSize: 3, predict: async () => gpu.full([2, 3, 3], 0, 'f32') };
    await expect(
      ancestralSampler({ process, steps: 2 }).sample(unnormalised, { batch: 2, length: 3, seed: 1 }),
    ).rejects.toThrow(/Σ exp = 3/);
  });
});

describe('webgpu: leaving a run early frees its buffers', () => {
  it('break after the second state and return() leave no live tensor', async () => {
    const tracker = trackTensors(gpu);
    try {
      const process = makeProcess(gpu, 'masked');
      const oracle = factorizedOracle(gpu, process, factorRows('masked'));
      const sampler = psiSampler({ process, steps: 5, kappa: { kind: 'constant', eta: 0.5 } });
      let n = 0;
      for await (const _ of sampler.run(oracle, { batch: 2, length: 3, seed: 7 })) if (++n === 2) break;
      expect(tracker.live()).toBe(0);
      const it = sampler.run(oracle, { batch: 2, length: 3, seed: 8 });
      await it.next();
      await it.return();
      expect(tracker.live()).toBe(0);
      expect(tracker.created()).toBeGreaterThan(10);
    } finally {
      tracker.restore();
    }
  });
});
