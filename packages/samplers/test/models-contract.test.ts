/**
 * The Denoiser contract is owned here; @duality/models' DiT adapter must fit it structurally (models does not
 * depend on samplers). This test assigns a DiTDenoiser to `Denoiser` (checked by tsc) and samples with it.
 */
import { DiT, DiTDenoiser, ditConfig, initStateDict, SIGMA_AT_ALPHA_ZERO } from '@duality/models';
import { logLinear, masked, uniform } from '@duality/noise';
import { describe, expect, it } from 'vitest';
import { ancestralSampler, ContextLengthError, type Denoiser, psiSampler } from '../src/index';
import { cpu } from './helpers';

const config = ditConfig({ vocabSize: 6, hiddenSize: 32, condDim: 16, nHeads: 2, nBlocks: 1, length: 8 });

describe('DiTDenoiser fits the Denoiser contract', () => {
  it('samples masked (SUBS) and uniform (logits) sequences with a random tiny DiT', async () => {
    const backend = await cpu();
    const model = await DiT.fromStateDict(
      backend,
      config,
      initStateDict(config, { seed: 1, scheme: 'normal', std: 0.5 }),
    );
    const subs: Denoiser = new DiTDenoiser(model, { kind: 'subs', maskIndex: 5 });
    const logits: Denoiser = new DiTDenoiser(model);
    const m = await ancestralSampler({ process: masked(backend, { vocabSize: 6 }), steps: 4 }).sample(subs, {
      batch: 2,
      length: 8,
      seed: 3,
    });
    const u = await psiSampler({
      process: uniform(backend, { vocabSize: 6 }),
      steps: 3,
      kappa: { kind: 'constant', eta: 0.5 },
    }).sample(logits, {
      batch: 2,
      length: 8,
      seed: 3,
    });
    const mIds = Array.from(await m.read());
    expect(m.shape).toEqual([2, 8]);
    expect(mIds.every((x) => x >= 0 && x < 5)).toBe(true); // no mask left after ancestral noise removal
    expect(Array.from(await u.read()).every((x) => x >= 0 && x < 6)).toBe(true);
  });

  it("carries the DiT's context length: longer requests need semi-AR windows", async () => {
    const backend = await cpu();
    const model = await DiT.fromStateDict(
      backend,
      config,
      initStateDict(config, { seed: 2, scheme: 'normal', std: 0.5 }),
    );
    const denoiser: Denoiser = new DiTDenoiser(model);
    expect(denoiser.contextLength).toBe(8);
    expect(denoiser.timeConditioned).toBe(true);
    const process = uniform(backend, { vocabSize: 6 });
    await expect(
      ancestralSampler({ process, steps: 2 }).sample(denoiser, { batch: 1, length: 12, seed: 1 }),
    ).rejects.toThrow(ContextLengthError);
    const long = await ancestralSampler({ process, steps: 2, semiAR: { stride: 4 } }).sample(denoiser, {
      batch: 1,
      length: 12,
      seed: 1,
    });
    expect(long.shape).toEqual([1, 12]);
  });

  it('σ = +∞ at α = 0: psiSampler with masked(logLinear({ eps: 0 })) runs a DiTDenoiser', async () => {
    const backend = await cpu();
    const model = await DiT.fromStateDict(
      backend,
      config,
      initStateDict(config, { seed: 4, scheme: 'normal', std: 0.5 }),
    );
    const seen: number[] = [];
    const dit = new DiTDenoiser(model, { kind: 'subs', maskIndex: 5 });
    const forward = model.forward.bind(model);
    model.forward = async (input, sigma, options) => {
      seen.push(...Array.from(sigma as ArrayLike<number>));
      return forward(input, sigma, options);
    };
    const process = masked(backend, { vocabSize: 6, schedule: logLinear({ eps: 0 }) });
    expect(process.schedule.alpha(1)).toBe(0);
    const ids = await psiSampler({ process, steps: 4, kappa: { kind: 'constant', eta: 0.5 } }).sample(dit, {
      batch: 2,
      length: 8,
      seed: 5,
    });
    expect(Array.from(await ids.read()).every((x) => x >= 0 && x < 5)).toBe(true);
    // the first step is at α = 0: the network got the documented finite stand-in, the others their own σ
    expect(seen[0]).toBe(SIGMA_AT_ALPHA_ZERO);
    expect(seen.every(Number.isFinite)).toBe(true);
    // DiT.forward itself still refuses +∞ with a typed error (its sin/cos features have no limit there)
    const tokens = backend.tensor(new Int32Array(8).fill(5), [1, 8], 'i32');
    await expect(forward({ tokens }, [Number.POSITIVE_INFINITY])).rejects.toThrow(/sigma\[0\] = Infinity/);
    const custom = new DiTDenoiser(model, { kind: 'logits' }, { sigmaAtAlphaZero: 3 });
    seen.length = 0;
    (await custom.predict(tokens, Float64Array.of(Number.POSITIVE_INFINITY))).dispose();
    expect(seen).toEqual([3]);
    expect(() => new DiTDenoiser(model, { kind: 'logits' }, { sigmaAtAlphaZero: Number.NaN })).toThrow(
      /sigmaAtAlphaZero/,
    );
  });
});
