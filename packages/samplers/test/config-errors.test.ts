import { ArgumentError, type Backend, KernelError } from '@duality/kernels';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ancestralSampler,
  factorizedOracle,
  type PsiConfig,
  psiSampler,
  type SamplerConfig,
  SamplerConfigError,
} from '../src/index';
import { cpu, factorRows, makeProcess } from './helpers';

let backend: Backend;
beforeAll(async () => {
  backend = await cpu();
});

describe('sampler configs and requests outside their domain are typed errors', () => {
  it('huge or fractional steps', () => {
    const process = makeProcess(backend, 'masked');
    for (const steps of [2 ** 32, 2 ** 24 + 1, 1.5, 0, Number.NaN]) {
      expect(() => ancestralSampler({ process, steps })).toThrow(SamplerConfigError);
    }
    expect(() => ancestralSampler(null as unknown as SamplerConfig)).toThrow(SamplerConfigError);
  });

  it('κ: a number, null, an unknown kind (listing the known ones), η > 1', () => {
    const process = makeProcess(backend, 'uniform');
    for (const kappa of [0.5, null, 'constant']) {
      const make = () => psiSampler({ process, steps: 3, kappa } as unknown as PsiConfig);
      expect(make).toThrow(SamplerConfigError);
      expect(make).toThrow(/κ plan/);
    }
    const unknown = () =>
      psiSampler({ process, steps: 3, kappa: { kind: 'remdm-loop', eta: 0.1 } } as unknown as PsiConfig);
    expect(unknown).toThrow(ArgumentError);
    expect(unknown).toThrow(
      /unknown κ kind "remdm-loop".*pure-posterior, pure-pc, constant, constant-remdm, max-capped, max-rescale/,
    );
    expect(() => psiSampler({ process, steps: 3, kappa: { kind: 'constant', eta: 2 } })).toThrow(
      /η in \[0, 1\]/,
    );
  });

  it('batch·length beyond one i32 tensor, and a missing request', async () => {
    const process = makeProcess(backend, 'uniform');
    const oracle = factorizedOracle(backend, process, factorRows('uniform')[0]);
    const sampler = ancestralSampler({ process, steps: 2 });
    for (const request of [
      { batch: 2 ** 31, length: 2, seed: 1 },
      { batch: 65536, length: 65536, seed: 1 },
      { batch: 2 ** 32, length: 1, seed: 1 },
    ]) {
      await expect(sampler.sample(oracle, request)).rejects.toThrow(SamplerConfigError);
    }
    await expect(sampler.sample(oracle, null as never)).rejects.toBeInstanceOf(KernelError);
    const gen = sampler.run(oracle, undefined as never);
    await expect(gen.next()).rejects.toBeInstanceOf(SamplerConfigError);
  });
});
