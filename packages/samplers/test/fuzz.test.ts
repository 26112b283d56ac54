/**
 * Fuzz of the samplers with bad and extreme configs, requests and denoisers: every case ends in a typed error (a
 * KernelError naming what it got and expected) or a correct result (ids [B, L] in range), and no tensor of the
 * run is left live. Small sizes and few steps, so nothing can hang; a few seconds in all.
 */
import { type Backend, KernelError, type Tensor } from '@duality/kernels';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settlerFor } from '../../../scripts/test-support/fuzz';
import {
  ancestralSampler,
  cachedAncestralSampler,
  type Denoiser,
  factorizedOracle,
  type PsiConfig,
  psiSampler,
  type Sampler,
  type SamplerConfig,
} from '../src/index';
import { cpu, factorRows, makeProcess, type ProcessName, trackTensors } from './helpers';

let backend: Backend;
let tracker: ReturnType<typeof trackTensors>;
beforeAll(async () => {
  backend = await cpu();
  tracker = trackTensors(backend);
});
afterAll(() => {
  tracker.restore();
  backend.destroy();
});

const settle = settlerFor(KernelError);

const anyValue = fc.oneof(
  fc.double({ min: -2, max: 2, noNaN: true }),
  fc.constantFrom(0, 1, -1, 0.5, 2.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 32, 2 ** 53),
  fc.constantFrom(null, undefined, 'ancestral', [], {}) as fc.Arbitrary<unknown>,
);
const mostly = <T>(valid: fc.Arbitrary<T>, weight = 4) =>
  fc.oneof({ weight, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: anyValue });
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });

/** A config: mostly sensible values, each field sometimes anything. */
const configArb = fc.record({
  steps: mostly(fc.integer({ min: 1, max: 6 })),
  eps: maybe(mostly(fc.double({ min: 1e-6, max: 0.5, noNaN: true }))),
  noiseRemoval: maybe(mostly(fc.constantFrom('ancestral', 'greedy', 'none'))),
  topP: maybe(mostly(fc.double({ min: 0.1, max: 1, noNaN: true }))),
  topK: maybe(mostly(fc.integer({ min: 1, max: 3 }))),
  float64: maybe(fc.boolean()),
  validate: maybe(fc.constantFrom(true, false, { tolerance: 1e-2 }, { tolerance: Number.NaN })),
  semiAR: maybe(fc.record({ stride: mostly(fc.integer({ min: 1, max: 3 })) })),
});
const kappaArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom({ kind: 'pure-posterior' }, { kind: 'pure-pc' }, { kind: 'remdm' }, 0.5, null),
  fc.record({
    kind: fc.constantFrom('constant', 'max-capped', 'max-rescale'),
    eta: mostly(fc.double({ min: 0, max: 1, noNaN: true })),
  }),
);
const requestArb = fc.record({
  batch: mostly(fc.integer({ min: 1, max: 2 })),
  length: mostly(fc.integer({ min: 1, max: 5 })),
  seed: mostly(fc.nat(1000)),
  labels: maybe(fc.constantFrom([0], [0, 1], [5])),
});

type DenoiserKind =
  | 'oracle'
  | 'null'
  | 'f32array'
  | 'wrong-shape'
  | 'nan'
  | 'unnormalised'
  | 'throws'
  | 'short-context';
const denoiserArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant<DenoiserKind>('oracle') },
  {
    weight: 1,
    arbitrary: fc.constantFrom<DenoiserKind>(
      'null',
      'f32array',
      'wrong-shape',
      'nan',
      'unnormalised',
      'throws',
      'short-context',
    ),
  },
);

function makeDenoiser(kind: DenoiserKind, name: ProcessName): Denoiser {
  const process = makeProcess(backend, name);
  const oracle = factorizedOracle(backend, process, factorRows(name)[0], {
    contextLength: kind === 'short-context' ? 3 : undefined,
  });
  const V = process.vocabSize;
  const answer: Record<DenoiserKind, (xt: Tensor, sigma: Float64Array) => unknown> = {
    oracle: (xt, s) => oracle.predict(xt, s),
    'short-context': (xt, s) => oracle.predict(xt, s),
    null: () => null,
    f32array: (xt) => new Float32Array(xt.size * V),
    'wrong-shape': (xt) => backend.zeros([xt.shape[0], xt.shape[1], V + 1], 'f32'),
    nan: (xt) => backend.full([xt.shape[0], xt.shape[1], V], Number.NaN, 'f32'),
    unnormalised: (xt) => backend.zeros([xt.shape[0], xt.shape[1], V], 'f32'),
    throws: () => {
      throw new RangeError('a denoiser bug');
    },
  };
  return {
    vocabSize: V,
    contextLength: oracle.contextLength,
    timeConditioned: oracle.timeConditioned,
    predict: async (xt, sigma) => answer[kind](xt, sigma) as Tensor,
  };
}

describe('fuzz: samplers', () => {
  it('configs × requests × denoisers: a typed error or ids in range, nothing left live', async () => {
    const seen = { error: 0, ok: 0, foreign: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<ProcessName>('masked', 'uniform'),
        fc.constantFrom('ancestral', 'cached', 'psi'),
        configArb,
        kappaArb,
        requestArb,
        denoiserArb,
        fc.boolean(),
        async (name, kind, config, kappa, request, dkind, stream) => {
          const process = makeProcess(backend, name);
          const denoiser = makeDenoiser(dkind, name);
          const full = { ...config, process } as SamplerConfig;
          const before = tracker.live(); // the oracle's own tensors stay; the run must add none
          let outcome: 'error' | 'ok';
          try {
            outcome = await settle(
              async () => {
                const sampler: Sampler =
                  kind === 'psi'
                    ? psiSampler({ ...full, kappa } as PsiConfig)
                    : kind === 'cached'
                      ? cachedAncestralSampler(full)
                      : ancestralSampler(full);
                const req = request as { batch: number; length: number; seed: number };
                if (!stream) {
                  const out = await sampler.sample(denoiser, req); // the caller owns the result
                  const ids = Array.from(await out.read());
                  out.dispose();
                  return ids;
                }
                let last: Int32Array | undefined;
                for await (const s of sampler.run(denoiser, req)) last = s.xt;
                return Array.from(last ?? []);
              },
              (ids) => {
                const { batch, length } = request as { batch: number; length: number };
                expect(ids.length).toBe(batch * length);
                for (const id of ids) expect(id >= 0 && id < process.vocabSize).toBe(true);
              },
            );
          } catch (error) {
            // the denoiser's own bug (a RangeError it threw) passes through untouched: not ours to type
            if (dkind === 'throws' && error instanceof Error && /a denoiser bug/.test(String(error))) {
              seen.foreign++;
              expect(tracker.live()).toBe(before);
              return;
            }
            throw error;
          }
          seen[outcome]++;
          expect(tracker.live(), 'tensors left live').toBe(before);
        },
      ),
      { numRuns: 250 },
    );
    expect(seen.error).toBeGreaterThan(0);
    expect(seen.ok).toBeGreaterThan(0);
  });
});
