import { type CpuBackend, createBackend, type Tensor } from '@duality/kernels';
import * as noise from '@duality/noise';
import { logLinear, masked, type NoiseProcess, uniform } from '@duality/noise';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NonFiniteError, NotADistributionError, psiPosterior, psiSample } from '../src/index';

// allowEqualTimes at alpha = 0 and 1: the closed forms are 0/0 there; a bridge from a time to itself is the
// identity (EQUAL_ALPHAS in @duality/noise), so Ψ = κ·onehot(xt) + (1 − κ)·q_α(· | q(x0 | xt, x̂0)).
let cpu: CpuBackend;
beforeAll(async () => {
  cpu = (await createBackend('cpu', { threads: 0 })) as CpuBackend;
});
afterAll(() => cpu.destroy());

const K = 5;
const build = (kind: 'masked' | 'uniform'): NoiseProcess =>
  kind === 'masked'
    ? masked(cpu, { vocabSize: K, schedule: logLinear({ eps: 0 }) })
    : uniform(cpu, { vocabSize: K, schedule: logLinear({ eps: 0 }) });

/** Ψ at alpha_s = alpha_t = a from the definition, one row. */
function expected(kind: 'masked' | 'uniform', x0: number[], xt: number, a: number, kappa: number): number[] {
  const one = (j: number) => (j === xt ? 1 : 0);
  const mask = K - 1;
  return x0.map((_, j) => {
    if (a === 1) return one(j); // every term is the identity
    if (kind === 'uniform') return kappa * one(j) + (1 - kappa) / K; // a = 0: re-noised to uniform
    // masked at a = 0: re-noised to the mask; an unmasked x_t (impossible there) keeps κ
    return xt === mask ? one(j) : kappa * one(j) + (1 - kappa) * (j === mask ? 1 : 0);
  });
}

describe('psiPosterior with allowEqualTimes at alpha = 0 and 1 gives no NaN', () => {
  for (const kind of ['masked', 'uniform'] as const) {
    for (const fused of [true, false]) {
      for (const dtype of ['f64', 'f32'] as const) {
        it(`${kind}, ${fused ? 'fused' : 'generic'}, ${dtype}`, async () => {
          const p = build(kind);
          const x0 = kind === 'masked' ? [0.4, 0.3, 0.2, 0.1, 0] : [0, 0.4, 0.3, 0.2, 0.1]; // x0[xt=0] = 0 too
          const xtIds = kind === 'masked' ? [K - 1, 1] : [0, 2];
          const data =
            dtype === 'f64' ? Float64Array.from([...x0, ...x0]) : Float32Array.from([...x0, ...x0]);
          const x0Probs = cpu.tensor(data, [1, 2, K], dtype);
          const xt = cpu.tensor(Int32Array.from(xtIds), [1, 2], 'i32');
          for (const [s, t, a] of [
            [0, 0, 1],
            [1, 1, 0],
          ]) {
            for (const kappa of [0, 0.3, 1]) {
              const psi: Tensor = await psiPosterior(
                p,
                { x0Probs, xt, s, t, kappa },
                { allowEqualTimes: true, fused },
              );
              const got = Array.from(await psi.read());
              expect(got.every(Number.isFinite)).toBe(true);
              for (let r = 0; r < 2; r++) {
                const want = expected(kind, x0, xtIds[r], a, kappa);
                const rowGot = got.slice(r * K, (r + 1) * K);
                for (let j = 0; j < K; j++) expect(rowGot[j]).toBeCloseTo(want[j], 6);
              }
              const ids = await psiSample(
                p,
                { x0Probs, xt, s, t, kappa, stream: { seed: 3 } },
                { allowEqualTimes: true, fused },
              );
              const drawn = Array.from(await ids.read());
              drawn.forEach((id, r) => {
                expect(id).toBeGreaterThanOrEqual(0);
                if (a === 1 || kappa === 1) expect(id).toBe(xtIds[r]);
              });
            }
          }
        });
      }
    }
  }

  it('property: fused and generic Ψ agree along s = t for any alpha, and rows sum to 1', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('masked' as const, 'uniform' as const),
        fc.oneof(fc.constantFrom(0, 1), fc.double({ min: 0, max: 1, noNaN: true })),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: K - 1 }),
        async (kind, t, kappa, id) => {
          const p = build(kind);
          const x0 = kind === 'masked' ? [0.1, 0.2, 0.3, 0.4, 0] : [0.1, 0.2, 0.3, 0.2, 0.2];
          const x0Probs = cpu.tensor(Float64Array.from(x0), [1, 1, K], 'f64');
          const xt = cpu.tensor(Int32Array.from([id]), [1, 1], 'i32');
          const args = { x0Probs, xt, s: t, t, kappa };
          const a = await (await psiPosterior(p, args, { allowEqualTimes: true })).read();
          const b = await (await psiPosterior(p, args, { allowEqualTimes: true, fused: false })).read();
          for (let j = 0; j < K; j++) expect(a[j]).toBeCloseTo(b[j], 10);
          expect(Math.abs(Array.from(a).reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-9);
        },
      ),
      { numRuns: 120 },
    );
  });
});

describe('the row checks are the ones of @duality/noise', () => {
  it('posteriors re-exports the same error classes', () => {
    expect(NotADistributionError).toBe(noise.NotADistributionError);
    expect(NonFiniteError).toBe(noise.NonFiniteError);
  });
});
