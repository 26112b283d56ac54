/**
 * softmaxCrossEntropy on webgpu against the cpu backend: loss and gradients (logits and weights) within f32
 * accumulation and exp/log error (bounds per test); an out-of-range target is reported at the next read.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IndexOutOfRangeError } from '../errors';
import type { Tensor } from '../types';
import { closeness, createPair, type Pair, randomF32, randomInts } from '../webgpu/test-utils';
import { softmaxCrossEntropy } from './loss';
import { arbShape, sizeOf, valueAndGrads } from './op-test-utils';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

describe('softmaxCrossEntropy: webgpu = cpu', () => {
  it('loss and gradients in logits and weights', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 2, 6),
        fc.integer({ min: 1, max: 300 }),
        fc.nat(1000),
        fc.boolean(),
        async (outer, n, seed, weighted) => {
          const rows = sizeOf(outer);
          const inputs = [
            { data: randomF32(rows * n, seed, -8, 8), shape: [...outer, n] },
            { data: randomInts(rows, seed + 1, 0, n), shape: outer, dtype: 'i32' as const },
            { data: randomF32(rows, seed + 2, 0, 2), shape: outer, constant: !weighted },
          ];
          const f = (z: Tensor, y: Tensor, w: Tensor) =>
            softmaxCrossEntropy(z, y, weighted ? { weights: w } : {});
          const g = await valueAndGrads(pair.gpu, f, inputs, seed);
          const c = await valueAndGrads(pair.cpu, f, inputs, seed);
          // log Σ exp over n terms in f32: |Δ| ≲ (n + 8)·2⁻²³ relative to the loss scale (≤ 16 + log n here)
          const v = closeness(g.y, c.y, { abs: 2e-5 * (1 + Math.log(n)), rel: 1e-5 });
          expect(v.ok, `loss ${v.worst}`).toBe(true);
          const gz = closeness(g.grads[0], c.grads[0], { abs: 2e-6 });
          expect(gz.ok, `d logits ${gz.worst}`).toBe(true);
          if (weighted) {
            const gw = closeness(g.grads[1], c.grads[1], { abs: 2e-5 * (1 + Math.log(n)), rel: 1e-5 });
            expect(gw.ok, `d weights ${gw.worst}`).toBe(true);
          }
        },
      ),
      { numRuns: 10, seed: 20260629 },
    );
  });

  it('an out-of-range target raises IndexOutOfRangeError at the next read', async () => {
    const z = pair.gpu.tensor(randomF32(6, 1), [2, 3], 'f32');
    const y = pair.gpu.tensor([0, 3], [2], 'i32');
    const loss = softmaxCrossEntropy(z, y);
    await expect(loss.read()).rejects.toThrow(IndexOutOfRangeError);
    for (const t of [z, y, loss]) t.dispose();
  });
});
