/**
 * layerNormStats on webgpu: y equals the webgpu backend's own layerNorm bit for bit (same operation order, one
 * invocation per row for rows ≤ 256), and y, mean, rstd and the gradients agree with the cpu backend within f32
 * accumulation error (bounds per test).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../types';
import { closeness, createPair, type Pair, randomF32 } from '../webgpu/test-utils';
import { layerNormStats } from './norm';
import { arbShape, sizeOf, valueAndGrads } from './op-test-utils';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

describe('layerNormStats: webgpu = cpu', () => {
  it('values (y = backend layerNorm bits) and gradients in x and w', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 2, 5),
        fc.integer({ min: 2, max: 64 }),
        fc.nat(1000),
        async (outer, n, seed) => {
          const shape = [...outer, n];
          const xd = randomF32(sizeOf(shape), seed, -3, 3);
          const wd = randomF32(n, seed + 1, 0.5, 1.5);
          const x = pair.gpu.tensor(xd, shape, 'f32');
          const w = pair.gpu.tensor(wd, [n], 'f32');
          const [y, mean, rstd] = layerNormStats(x, w);
          const ref = pair.gpu.layerNorm(x, w);
          expect(Array.from(await y.read())).toEqual(Array.from(await ref.read()));
          const xc = pair.cpu.tensor(xd, shape, 'f32');
          const wc = pair.cpu.tensor(wd, [n], 'f32');
          const [, mc, rc] = layerNormStats(xc, wc);
          const m = closeness(await mean.read(), await mc.read(), { abs: n * 4e-7 });
          const r = closeness(await rstd.read(), await rc.read(), { rel: n * 4e-7 });
          expect(m.ok && r.ok, `${m.worst} ${r.worst}`).toBe(true);
          for (const t of [x, w, y, mean, rstd, ref, xc, wc, mc, rc]) t.dispose();
          const inputs = [
            { data: xd, shape },
            { data: wd, shape: [n] },
          ];
          const f = (a: Tensor, c: Tensor) => layerNormStats(a, c)[0];
          const g = await valueAndGrads(pair.gpu, f, inputs, seed);
          const k = await valueAndGrads(pair.cpu, f, inputs, seed);
          const cy = closeness(g.y, k.y, { abs: n * 1e-6 });
          const gx = closeness(g.grads[0], k.grads[0], { abs: n * 2e-6 });
          const gw = closeness(g.grads[1], k.grads[1], { abs: sizeOf(outer) * n * 2e-6 });
          expect(cy.ok && gx.ok && gw.ok, `y ${cy.worst} gx ${gx.worst} gw ${gw.worst}`).toBe(true);
        },
      ),
      { numRuns: 10, seed: 20260626 },
    );
  });
});
