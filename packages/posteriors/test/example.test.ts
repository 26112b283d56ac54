import { createBackend } from '@duality/kernels';
import { uniform } from '@duality/noise';
import { expect, it } from 'vitest';
import { kappaSchedule, parseKappaMode, psiPosterior, psiSample, samplingTimes } from '../src/index';

// The README example, line for line, with its printed values asserted.
it('README example runs', async () => {
  const backend = await createBackend('cpu');
  const process = uniform(backend, { vocabSize: 4 });

  const x0Probs = backend.tensor([0.7, 0.1, 0.1, 0.1, 0.25, 0.25, 0.25, 0.25], [1, 2, 4], 'f64');
  const xt = backend.tensor([0, 3], [1, 2], 'i32');

  const psi = await psiPosterior(process, { x0Probs, xt, s: 0.4, t: 0.5, kappa: 0.5 });
  const probs = await psi.read();
  expect(probs.length).toBe(8);
  for (const row of [probs.subarray(0, 4), probs.subarray(4)]) {
    expect(Math.abs(Array.from(row).reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-12);
  }

  const ids = await psiSample(process, { x0Probs, xt, s: 0.4, t: 0.5, kappa: 0.5, stream: { seed: 1 } });
  const drawn = await ids.read();
  expect(drawn).toBeInstanceOf(Int32Array);
  expect(drawn.length).toBe(2);

  const times = samplingTimes({ kind: 'linear' }, 16, 1e-3);
  const mode = parseKappaMode('max-rescale-0.05');
  const kappas = kappaSchedule(
    { high: mode, middle: mode, low: mode, highFrac: 0, middleFrac: 0 },
    times,
    process.schedule,
  );
  expect(kappas.length).toBe(17);
  backend.destroy();
});
