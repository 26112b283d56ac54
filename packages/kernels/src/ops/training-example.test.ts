/** The README's "Ops for training" example, run as written, with what it promises checked. */
import { expect, it } from 'vitest';
import { adamwUpdate, createBackend, globalNorm, softmaxCrossEntropy, tidy, valueAndGrad } from '../index';

it('the training example fits its three points', async () => {
  const losses: number[] = [];
  const b = await createBackend('cpu');
  const w = b.zeros([4, 3], 'f64'); // a linear classifier: logits = x·w
  const x = b.tensor([1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0], [3, 4], 'f64');
  const y = b.tensor([0, 1, 2], [3], 'i32');
  const m = b.zeros([4, 3], 'f64');
  const v = b.zeros([4, 3], 'f64');
  const loss = (p: { w: typeof w }) => tidy(() => b.sum(softmaxCrossEntropy(b.matmul(x, p.w), y)));
  for (let step = 1; step <= 50; step++) {
    const { value, grads } = await valueAndGrad(loss)({ w });
    const n = globalNorm([grads.w]);
    const clipCoef = Math.min(1, 1 / ((await n.read())[0] + 1e-6)); // clip_grad_norm_(max_norm = 1)
    adamwUpdate(
      { params: [w], grads: [grads.w], m: [m], v: [v] },
      { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step, clipCoef },
    );
    losses.push((await value.read())[0]);
    for (const t of [value, grads.w, n]) t.dispose();
  }
  expect(losses[0]).toBeCloseTo(3 * Math.log(3), 12);
  expect(losses[49]).toBeLessThan(0.1);
  for (let i = 1; i < losses.length; i++) expect(losses[i]).toBeLessThan(losses[i - 1]);
  console.info(`training example: loss ${losses[0].toFixed(3)} → ${losses[49].toFixed(4)}`);
  b.destroy();
});
