/**
 * No tensor of a run outlives it: leaving a streamed run early (break, return()), aborting while the denoiser is
 * still computing (its late answer is disposed), or failing on a bad denoiser output.
 */
import type { Backend, Tensor } from '@duality/kernels';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ancestralSampler,
  type Denoiser,
  DenoiserOutputError,
  factorizedOracle,
  psiSampler,
  type Sampler,
  SamplingAbortedError,
} from '../src/index';
import { cpu, factorRows, makeProcess, trackTensors } from './helpers';

let backend: Backend;
let tracker: ReturnType<typeof trackTensors>;
beforeEach(async () => {
  backend = await cpu();
  tracker = trackTensors(backend);
});
afterEach(() => {
  tracker.restore();
  backend.destroy();
});

const samplers = (name: 'masked' | 'uniform'): Array<[string, Sampler]> => {
  const process = makeProcess(backend, name);
  return [
    ['ancestral', ancestralSampler({ process, steps: 6 })],
    ['psi', psiSampler({ process, steps: 6, kappa: { kind: 'constant', eta: 0.5 } })],
  ];
};

describe('leaving sampler.run() early disposes every tensor of the run', () => {
  for (const name of ['masked', 'uniform'] as const) {
    it(`${name}: break after 1, 3 states, at the final state, and return() directly`, async () => {
      for (const [, sampler] of samplers(name)) {
        const oracle = factorizedOracle(backend, sampler.plan.process, factorRows(name));
        for (const stopAfter of [1, 3, 7]) {
          let seen = 0;
          for await (const state of sampler.run(oracle, { batch: 2, length: 3, seed: 9, x0Argmax: true })) {
            seen++;
            if (seen === stopAfter) {
              expect(state.phase).toBe(stopAfter === 7 ? 'final' : 'step');
              break;
            }
          }
          expect(tracker.live()).toBe(0);
        }
        const it = sampler.run(oracle, { batch: 2, length: 3, seed: 1 });
        await it.next();
        await it.next();
        await it.return();
        expect(tracker.live()).toBe(0);
        // a complete run leaves nothing either
        for await (const _ of sampler.run(oracle, { batch: 2, length: 3, seed: 2 })) void _;
        expect(tracker.live()).toBe(0);
      }
      expect(tracker.created()).toBeGreaterThan(50); // the counter did see the run's tensors
    });
  }

  it('semi-AR windows: break inside the second window', async () => {
    const process = makeProcess(backend, 'masked');
    const oracle = factorizedOracle(backend, process, factorRows('masked')[0], { contextLength: 4 });
    const sampler = ancestralSampler({ process, steps: 3, semiAR: { stride: 2 } });
    let n = 0;
    for await (const s of sampler.run(oracle, { batch: 1, length: 8, seed: 4 })) {
      if (s.window === 1 && ++n === 2) break;
    }
    expect(tracker.live()).toBe(0);
  });
});

describe('a denoiser that answers after the abort', () => {
  it('has its late tensor disposed; the run rejects with SamplingAbortedError and keeps nothing', async () => {
    const process = makeProcess(backend, 'uniform');
    const oracle = factorizedOracle(backend, process, factorRows('uniform'));
    const controller = new AbortController();
    let late: Tensor | undefined;
    let answered: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      answered = resolve;
    });
    let calls = 0;
    const slow: Denoiser = {
      vocabSize: oracle.vocabSize,
      async predict(xt, sigma) {
        calls++;
        if (calls < 2) return oracle.predict(xt, sigma);
        late = await oracle.predict(xt, sigma); // computed from xt before the abort (the run then frees xt)
        controller.abort(); // abort while this call is still "computing"
        await new Promise((r) => setTimeout(r, 20));
        answered();
        return late;
      },
    };
    const sampler = ancestralSampler({ process, steps: 5 });
    await expect(
      sampler.sample(slow, { batch: 2, length: 3, seed: 3, signal: controller.signal }),
    ).rejects.toBeInstanceOf(SamplingAbortedError);
    await done;
    await new Promise((r) => setTimeout(r, 0));
    expect(late?.disposed).toBe(true);
    expect(tracker.live()).toBe(0);
  });
});

describe('bad denoiser answers are typed errors and leave nothing behind', () => {
  const answers: Array<[string, (xt: Tensor) => unknown]> = [
    ['null', () => null],
    ['a Float32Array', () => new Float32Array(2 * 3 * 3)],
    ['a number', () => 1],
    ['a tensor of the wrong shape', () => backend.zeros([2, 3, 2], 'f32')],
    ['NaN log-probabilities', () => backend.full([2, 3, 3], Number.NaN, 'f32')],
  ];
  for (const [what, answer] of answers) {
    it(`${what} → DenoiserOutputError`, async () => {
      const process = makeProcess(backend, 'uniform');
      const bad = { vocabSize: 3, predict: async (xt: Tensor) => answer(xt) } as unknown as Denoiser;
      const err = await ancestralSampler({ process, steps: 2 })
        .sample(bad, { batch: 2, length: 3, seed: 1 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DenoiserOutputError);
      expect(tracker.live()).toBe(0);
    });
  }
});
