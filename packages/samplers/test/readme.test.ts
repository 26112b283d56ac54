/** The README's runnable example, kept in sync by hand: it must run and give what the README says. */
import { createBackend } from '@duality/kernels';
import { masked } from '@duality/noise';
import { expect, it } from 'vitest';
import { psiSampler, stringSetOracle } from '../src/index';

it('README example: Ψ sampler on the exact string-set denoiser', async () => {
  const backend = await createBackend('cpu');
  const process = masked(backend, { vocabSize: 4 }); // ids 0..2 are letters, 3 is the mask
  const denoiser = stringSetOracle(backend, process, [
    [0, 1, 2, 0],
    [2, 2, 1, 0],
  ]);
  const sampler = psiSampler({ process, steps: 32, kappa: { kind: 'max-capped', eta: 0.05 } });

  const ids = await sampler.sample(denoiser, { batch: 8, length: 4, seed: 42 });
  const { valid, tv } = denoiser.evaluate(await ids.read());

  const states = [];
  for await (const state of sampler.run(denoiser, { batch: 8, length: 4, seed: 42 })) states.push(state);

  expect(ids.shape).toEqual([8, 4]);
  expect(valid).toBeGreaterThanOrEqual(0.75);
  expect(tv).toBeLessThan(0.5);
  expect(states).toHaveLength(33);
  expect(Array.from(states[32].xt)).toEqual(Array.from(await ids.read()));
  backend.destroy();
});
