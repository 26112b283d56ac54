import { createBackend, type Tensor, tidy, valueAndGrad } from '@duality/kernels';
import { expect, it } from 'vitest';
import { duoLoss, duoNelbo } from '../src/index';

// The README "Losses" example, line for line, with its printed values asserted.
it('README Losses example runs: valueAndGrad over duoLoss, equal to the host oracle', async () => {
  const b = await createBackend('cpu');
  const logits = b.tensor([0.5, -1, 2, 0, 1, 1, 0, -2, 0, 0, 0, 3], [1, 3, 4], 'f64');
  const xt = b.tensor([2, 0, 3], [1, 3], 'i32');
  const x0 = b.tensor([2, 1, 3], [1, 3], 'i32');
  const alpha = b.full([1, 3], 0.6, 'f64');
  const dalpha = b.full([1, 3], -1, 'f64');

  const loss = (p: { z: Tensor }) => tidy(() => b.scale(b.sum(duoLoss(p.z, xt, x0, alpha, dalpha)), 1 / 3));
  const { value, grads } = await valueAndGrad(loss)({ z: logits });
  const mean = (await value.read())[0];
  console.info(`README Losses example: mean Duo integrand ${mean}`);
  expect(mean).toBeCloseTo(1.16872179, 8);
  expect(grads.z.shape).toEqual([1, 3, 4]);

  const logp = b.logSoftmax(logits);
  const host = await duoNelbo({ logXTheta: logp, xt, x0, alphaT: 0.6, dalphaT: -1 });
  expect(host.length).toBe(3);
  expect(Math.abs(mean - (host[0] + host[1] + host[2]) / 3)).toBeLessThan(1e-12 * mean);
  expect(mean).toBeGreaterThan(0);
  // the gradient is the loss's: a central difference along one logit agrees
  const h = 1e-6;
  const at = async (d: number) => {
    const z = b.tensor(
      Float64Array.from(await logits.read(), (v, i) => (i === 5 ? v + d : v)),
      [1, 3, 4],
      'f64',
    );
    return (await loss({ z }).read())[0];
  };
  const fd = ((await at(h)) - (await at(-h))) / (2 * h);
  expect(Math.abs((await grads.z.read())[5] - fd)).toBeLessThan(1e-7);
  b.destroy();
});
