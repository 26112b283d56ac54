import { type CpuBackend, createBackend } from '@duality/kernels';
import { gaussian, masked, uniform } from '@duality/noise';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { posterior, psiPosterior, psiSample } from '../src/index';
import { probVector, withoutEntry } from './arbitraries';

let backend: CpuBackend;
beforeAll(async () => {
  backend = (await createBackend('cpu', { threads: 0 })) as CpuBackend;
});

const rowsOf = (data: ArrayLike<number>, k: number) =>
  Array.from({ length: data.length / k }, (_, r) => Array.from(data).slice(r * k, (r + 1) * k));

describe('with the processes of @duality/noise', () => {
  for (const kind of ['uniform', 'masked'] as const) {
    it(`${kind}: the fused kernel equals the generic path over the process contract`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 3, max: 10 }).chain((k) =>
            fc.record({
              k: fc.constant(k),
              x0: fc.array(probVector(k), { minLength: 4, maxLength: 4 }),
              xt: fc.array(fc.integer({ min: 0, max: k - 1 }), { minLength: 4, maxLength: 4 }),
              s: fc.array(fc.double({ min: 0.05, max: 0.5, noNaN: true }), { minLength: 2, maxLength: 2 }),
              dt: fc.array(fc.double({ min: 0.01, max: 0.45, noNaN: true }), { minLength: 2, maxLength: 2 }),
              kappa: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 2 }),
            }),
          ),
          async ({ k, x0, xt, s, dt, kappa }) => {
            const process =
              kind === 'uniform' ? uniform(backend, { vocabSize: k }) : masked(backend, { vocabSize: k });
            // the masked process needs no mass on the mask, and x̂0 > 0 at an unmasked x_t (else x_t is impossible)
            const rows = x0.map((p, r) => {
              const q = kind === 'masked' ? withoutEntry(p, k - 1) : p;
              if (kind === 'masked' && xt[r] !== k - 1 && q[xt[r]] === 0)
                return withoutEntry(
                  q.map((v, j) => (j === xt[r] ? 0.5 : v)),
                  k - 1,
                );
              return q;
            });
            const data = new Float64Array(4 * k);
            for (const [r, row] of rows.entries()) data.set(row, r * k);
            const x0Probs = backend.tensor(data, [2, 2, k], 'f64');
            const ids = backend.tensor(xt, [2, 2], 'i32');
            const t = s.map((v, i) => v + dt[i]);
            const args = { x0Probs, xt: ids, s, t, kappa };
            const fused = await (await psiPosterior(process, args)).read();
            const generic = await (await psiPosterior(process, args, { fused: false })).read();
            for (let i = 0; i < fused.length; i++)
              expect(Math.abs(fused[i] - generic[i])).toBeLessThan(1e-12);
            const post = await (await posterior(process, { x0Probs, xt: ids, s, t })).read();
            const direct = await process.posterior(x0Probs, ids, s, t).read();
            for (let i = 0; i < post.length; i++) expect(Math.abs(post[i] - direct[i])).toBeLessThan(1e-12);
          },
        ),
        { seed: 5, numRuns: 40 },
      );
    });
  }

  for (const kind of ['uniform', 'masked'] as const) {
    for (const fused of [true, false]) {
      it(`${kind}${fused ? '' : ' (generic)'}: s → t gives back x_t (κ = 1 at alpha_s = alpha_t is one-hot at x_t)`, async () => {
        const k = 6;
        const process =
          kind === 'uniform' ? uniform(backend, { vocabSize: k }) : masked(backend, { vocabSize: k });
        const row = [0.1, 0.3, 0.2, 0.15, 0.25, 0];
        const ids = Array.from({ length: k }, (_, i) => i).filter((i) => i !== 0 || kind === 'uniform');
        const xt = backend.tensor(ids, [1, ids.length], 'i32');
        const rows = backend.tensor(
          Array.from({ length: ids.length * k }, (_, i) => row[i % k]),
          [1, ids.length, k],
          'f64',
        );
        for (const alpha of [0.2, 0.7]) {
          const same = rowsOf(
            await (
              await posterior(
                process,
                { x0Probs: rows, xt, alphaS: alpha, alphaT: alpha },
                { fused, allowEqualTimes: true },
              )
            ).read(),
            k,
          );
          for (const [r, id] of ids.entries()) {
            for (let j = 0; j < k; j++) expect(Math.abs(same[r][j] - (j === id ? 1 : 0))).toBeLessThan(1e-12);
          }
        }
      });
    }
  }

  it('gaussian (Duo latent) process: generic Ψ is a distribution and preserves its marginals', async () => {
    const k = 5;
    const process = gaussian(backend, { vocabSize: k });
    const x0 = [0.1, 0.2, 0.3, 0.25, 0.15];
    const x0Probs = backend.tensor(
      Array.from({ length: k * k }, (_, i) => x0[i % k]),
      [1, k, k],
      'f64',
    );
    const xt = backend.tensor(
      Array.from({ length: k }, (_, i) => i),
      [1, k],
      'i32',
    );
    const [s, t] = [0.3, 0.6];
    for (const kappa of [0, 0.3, 1]) {
      const psi = rowsOf(await (await psiPosterior(process, { x0Probs, xt, s, t, kappa })).read(), k);
      const single = backend.tensor(x0, [1, 1, k], 'f64');
      const qt = await process.forward(single, t).read();
      const qs = await process.forward(single, s).read();
      for (const row of psi) expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-12);
      for (let j = 0; j < k; j++) {
        let mixture = 0;
        for (let i = 0; i < k; i++) mixture += qt[i] * psi[i][j];
        expect(Math.abs(mixture - qs[j])).toBeLessThan(1e-12);
      }
    }
  });

  it('psiSample runs through the generic path for a process without a fused kernel', async () => {
    const k = 4;
    const process = gaussian(backend, { vocabSize: k });
    const x0Probs = backend.tensor([0.4, 0.3, 0.2, 0.1], [1, 1, k], 'f64');
    const xt = backend.tensor([2], [1, 1], 'i32');
    const a = await (
      await psiSample(process, { x0Probs, xt, s: 0.2, t: 0.5, kappa: 0.5, stream: { seed: 3 } })
    ).read();
    const b = await (
      await psiSample(process, { x0Probs, xt, s: 0.2, t: 0.5, kappa: 0.5, stream: { seed: 3 } })
    ).read();
    expect(a).toEqual(b);
    expect(a[0]).toBeGreaterThanOrEqual(0);
    expect(a[0]).toBeLessThan(k);
  });
});
