/**
 * The loss kernels on the cpu worker pool (rows split across threads) give the one-thread values and logits
 * gradients bit for bit, in f64 and f32, and really run on the pool.
 */
import { createCpuBackend, type Tensor, valueAndGrad } from '@duality/kernels';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { configureCpuPool, cpuPoolTesting } from '../../kernels/src/cpu/pool';
import { duoLoss, klLoss, mdlmLoss } from '../src/index';

const b = createCpuBackend();
afterAll(() => configureCpuPool({}));

/** Values in (lo, hi) from a seed (an LCG with full-mantissa outputs). */
function values(n: number, seed: number, lo: number, hi: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + ((hi - lo) * (s + 0.5 + Math.sin(s) * 0.25)) / 2 ** 32;
  });
}

type Loss = (z: Tensor) => Tensor;

/** Bits of the per-token values and of the gradient of their sum with respect to z. */
async function bits(loss: Loss, z: Tensor): Promise<number[]> {
  const value = loss(z);
  const { grads } = await valueAndGrad(async (zz: Tensor) => b.sum(loss(zz)))(z);
  const out = [...(await value.read()), ...(await (grads as Tensor).read())];
  value.dispose();
  (grads as Tensor).dispose();
  return out;
}

describe('loss kernels on the worker pool', () => {
  it('mdlmLoss, duoLoss and klLoss (both directions): threaded = one thread, bit for bit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 9, max: 40 }),
        fc.integer({ min: 300, max: 900 }),
        fc.nat(1000),
        fc.constantFrom('f32' as const, 'f64' as const),
        async (rows, k, seed, dtype) => {
          const z = b.tensor(values(rows * k, seed, -6, 6), [rows, k], dtype);
          const t = b.tensor(values(rows * k, seed + 1, -6, 6), [rows, k], dtype);
          const id = (s: number) =>
            b.tensor(
              values(rows, s, 0, k).map((v) => Math.floor(v)),
              [rows],
              'i32',
            );
          const [xt, x0] = [id(seed + 2), id(seed + 3)];
          const mask = k - 1;
          const masked = b.tensor(
            values(rows, seed + 4, 0, 1).map((u, r) => (u < 0.5 ? mask : (r * 7) % (k - 1))),
            [rows],
            'i32',
          );
          const alpha = b.tensor(values(rows, seed + 5, 0.01, 0.99), [rows], dtype);
          const dalpha = b.tensor(values(rows, seed + 6, -3, -0.1), [rows], dtype);
          const losses: Array<[string, Loss]> = [
            ['mdlm', (zz) => mdlmLoss(zz, masked, x0, dalpha, mask)],
            ['duo', (zz) => duoLoss(zz, xt, x0, alpha, dalpha)],
            ['kl student-teacher', (zz) => klLoss(zz, t, 'student-teacher')],
            ['kl teacher-student', (zz) => klLoss(zz, t, 'teacher-student')],
          ];
          for (const [name, loss] of losses) {
            configureCpuPool({ threads: 0 });
            const inline = await bits(loss, z);
            configureCpuPool({ threads: 2 });
            const before = cpuPoolTesting.stats().sharedJobs;
            const threaded = await bits(loss, z);
            expect(cpuPoolTesting.stats().sharedJobs, name).toBeGreaterThan(before);
            expect(threaded, `${name} ${dtype} ${rows}×${k}`).toEqual(inline);
            expect(
              inline.every((v) => Number.isFinite(v)),
              name,
            ).toBe(true);
          }
          for (const x of [z, t, xt, x0, masked, alpha, dalpha]) x.dispose();
        },
      ),
      { numRuns: 6, seed: 20261202 },
    );
  }, 120_000);
});
