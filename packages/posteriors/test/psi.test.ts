import {
  ArgumentError,
  type CpuBackend,
  createBackend,
  IndexOutOfRangeError,
  type Tensor,
} from '@duality/kernels';
import { masked, uniform } from '@duality/noise';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  KappaRangeError,
  maskedRows,
  NonFiniteError,
  NotADistributionError,
  posterior,
  posteriorToX0,
  psiPosterior,
  psiRow,
  psiSample,
  sampleInverseCdf,
  TimeOrderError,
  uniformRows,
} from '../src/index';
import type { RowProcess } from '../src/maths/rows';
import { probVector, withoutEntry } from './arbitraries';
import { loadFixture, maxRelErr, type PosteriorCase } from './fixtures';
import { hybridPrior, interpolatingProcess, linearSchedule, uniformPrior } from './processes';

let backend: CpuBackend;
beforeAll(async () => {
  backend = (await createBackend('cpu', { threads: 0 })) as CpuBackend;
});

const fixture = loadFixture<{ uniform: PosteriorCase[]; masked: PosteriorCase[] }>('posterior.json');

/** The same process written by a researcher from backend ops (no fused-Ψ capability: the generic path). */
const researcherProcess = (kind: 'uniform' | 'masked' | 'hybrid', k: number) =>
  interpolatingProcess(backend, {
    kind,
    prior: kind === 'uniform' ? uniformPrior(k) : kind === 'masked' ? hybridPrior(k, 1) : hybridPrior(k, 0.3),
    maskId: kind === 'uniform' ? undefined : k - 1,
  });

/** The built-in processes of @duality/noise (they carry the fused-Ψ capability); hybrid: the researcher's. */
const makeProcess = (kind: 'uniform' | 'masked' | 'hybrid', k: number) =>
  kind === 'uniform'
    ? uniform(backend, { vocabSize: k, schedule: linearSchedule })
    : kind === 'masked'
      ? masked(backend, { vocabSize: k, schedule: linearSchedule })
      : researcherProcess(kind, k);

/** Batch of rows [B, L, K] in f64 from plain rows. */
function batchOf(rows: Float64Array[], b: number, dtype: 'f32' | 'f64' = 'f64') {
  const k = rows[0].length;
  const data = new Float64Array(rows.length * k);
  for (const [i, r] of rows.entries()) data.set(r, i * k);
  return backend.tensor(dtype === 'f64' ? data : Float32Array.from(data), [b, rows.length / b, k], dtype);
}

const rowsOf = async (t: Tensor, k: number) => {
  const data = await t.read();
  return Array.from({ length: data.length / k }, (_, r) => data.subarray(r * k, (r + 1) * k));
};

describe('psiPosterior on tensors matches the fixtures (float64, 1e-12)', () => {
  for (const kind of ['uniform', 'masked'] as const) {
    for (const fused of [true, false]) {
      it(`${kind}, ${fused ? 'fused cpu kernel' : 'generic over the process contract'}`, async () => {
        for (const c of fixture[kind]) {
          if (!fused && kind === 'masked' && c.xt !== c.vocab_size - 1 && c.x0hat[c.xt] === 0) continue; // Bayes 0/0
          const process = fused ? makeProcess(kind, c.vocab_size) : researcherProcess(kind, c.vocab_size);
          const x0Probs = batchOf([Float64Array.from(c.x0hat)], 1);
          const xt = backend.tensor([c.xt], [1, 1], 'i32');
          const times = { alphaS: c.alpha_s, alphaT: c.alpha_t };
          const psi = await psiPosterior(process, { x0Probs, xt, ...times, kappa: c.kappa }, { fused });
          expect(maxRelErr(await psi.read(), c.expected.psi, 1e-300)).toBeLessThan(1e-12);
          const post = await posterior(process, { x0Probs, xt, ...times }, { fused });
          expect(maxRelErr(await post.read(), c.expected.posterior)).toBeLessThan(1e-12);
          const toX0 = await posteriorToX0(process, { x0Probs, xt, alphaT: c.alpha_t }, { fused });
          expect(maxRelErr(await toX0.read(), c.expected.posterior_to_x0)).toBeLessThan(1e-12);
        }
      });
    }
  }
});

describe('fused kernel = row reference, batched with per-row times and κ', () => {
  const cases = (masked: boolean) =>
    fc.integer({ min: 3, max: 12 }).chain((k) =>
      fc.record({
        k: fc.constant(k),
        rows: fc.array(
          fc.record({
            x0: probVector(k).map((p) => (masked ? withoutEntry(p, k - 1) : p)),
            xt: fc.integer({ min: 0, max: k - 1 }),
          }),
          { minLength: 6, maxLength: 6 },
        ),
        alphaT: fc.array(fc.double({ min: 0.01, max: 0.5, noNaN: true }), { minLength: 2, maxLength: 2 }),
        gap: fc.array(fc.double({ min: 0.01, max: 0.49, noNaN: true }), { minLength: 2, maxLength: 2 }),
        kappa: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 2 }),
      }),
    );

  for (const kind of ['uniform', 'masked'] as const) {
    it(`${kind}`, async () => {
      await fc.assert(
        fc.asyncProperty(cases(kind === 'masked'), async ({ k, rows, alphaT, gap, kappa }) => {
          const process = makeProcess(kind, k);
          const reference: RowProcess = kind === 'uniform' ? uniformRows(k) : maskedRows(k);
          const alphaS = alphaT.map((a, i) => a + gap[i]);
          const x0Probs = batchOf(
            rows.map((r) => r.x0),
            2,
          );
          const xt = backend.tensor(
            rows.map((r) => r.xt),
            [2, 3],
            'i32',
          );
          const psi = await psiPosterior(process, { x0Probs, xt, alphaS, alphaT, kappa });
          const got = await rowsOf(psi, k);
          rows.forEach((r, i) => {
            const b = Math.floor(i / 3);
            const want = psiRow(reference, r.x0, r.xt, alphaS[b], alphaT[b], kappa[b]);
            for (let j = 0; j < k; j++) expect(Math.abs(got[i][j] - want[j])).toBeLessThan(1e-13);
          });
        }),
        { seed: 7, numRuns: 60 },
      );
    });
  }
});

describe('a hybrid mask + uniform process written in the test (generic Ψ over the contract)', () => {
  it('preserves the forward marginals for every κ: Σ_xt q_t(xt|x0) Ψ(·|xt, x0) = q_s(·|x0)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 3, max: 8 }).chain((k) =>
          fc.record({
            k: fc.constant(k),
            x0: probVector(k),
            m: fc.double({ min: 0, max: 1, noNaN: true }),
            s: fc.double({ min: 0.01, max: 0.5, noNaN: true }),
            dt: fc.double({ min: 0.01, max: 0.49, noNaN: true }),
            kappa: fc.double({ min: 0, max: 1, noNaN: true }),
          }),
        ),
        async ({ k, x0, m, s, dt, kappa }) => {
          const process = interpolatingProcess(backend, {
            kind: 'hybrid',
            prior: hybridPrior(k, m),
            maskId: k - 1,
          });
          // every possible x_t at once: row xt = i carries the same x0
          const x0Probs = batchOf(
            Array.from({ length: k }, () => x0),
            1,
          );
          const xt = backend.tensor(
            Array.from({ length: k }, (_, i) => i),
            [1, k],
            'i32',
          );
          const t = s + dt;
          const psi = await rowsOf(await psiPosterior(process, { x0Probs, xt, s, t, kappa }), k);
          const qt = await process.forward(batchOf([x0], 1), t).read();
          const qs = await process.forward(batchOf([x0], 1), s).read();
          for (let j = 0; j < k; j++) {
            let mixture = 0;
            for (let i = 0; i < k; i++) if (qt[i] > 0) mixture += qt[i] * psi[i][j]; // Ψ is undefined at impossible x_t
            expect(Math.abs(mixture - qs[j])).toBeLessThan(1e-12);
          }
        },
      ),
      { seed: 11, numRuns: 50 },
    );
  });

  it('κ = 1 returns exactly the process posterior', async () => {
    const k = 6;
    const process = interpolatingProcess(backend, {
      kind: 'hybrid',
      prior: hybridPrior(k, 0.4),
      maskId: k - 1,
    });
    const x0Probs = batchOf([Float64Array.of(0.1, 0.2, 0.3, 0.15, 0.25, 0)], 1);
    const xt = backend.tensor([5], [1, 1], 'i32');
    const psi = await psiPosterior(process, { x0Probs, xt, s: 0.3, t: 0.6, kappa: 1 });
    const direct = process.posterior(x0Probs, xt, 0.3, 0.6);
    expect(await psi.read()).toEqual(await direct.read());
  });
});

describe('fused sampling', () => {
  const setup = (kind: 'uniform' | 'masked', k: number, rows: number, dtype: 'f32' | 'f64' = 'f64') => {
    const process = makeProcess(kind, k);
    const x0 = Array.from({ length: rows }, (_, r) => {
      const w = Float64Array.from({ length: k }, (_, j) => ((r * 7 + j * 13) % 11) + 0.5);
      if (kind === 'masked') w[k - 1] = 0;
      const total = w.reduce((a, b) => a + b, 0);
      return w.map((v) => v / total);
    });
    const x0Probs = batchOf(x0, 2, dtype);
    const xt = backend.tensor(
      Array.from({ length: rows }, (_, r) => (r % 3 === 0 ? k - 1 : (r * 5) % k)),
      [2, rows / 2],
      'i32',
    );
    return { process, x0Probs, xt };
  };
  const args = { alphaS: 0.6, alphaT: 0.3, kappa: 0.4 };

  for (const kind of ['uniform', 'masked'] as const) {
    it.each([
      [9, 400],
      [1000, 60],
    ])(
      `${kind}: inverse CDF (K = %i, several blocks) gives the ids of Ψ then the unfused sampler`,
      async (k, rows) => {
        const { process, x0Probs, xt } = setup(kind, k, rows);
        for (const seed of [1, 2, 3]) {
          const stream = { seed, offset: 17 };
          const fused = await psiSample(process, { x0Probs, xt, ...args, stream });
          const psi = await psiPosterior(process, { x0Probs, xt, ...args });
          const unfused = await sampleInverseCdf(backend, psi, stream);
          expect(await fused.read()).toEqual(await unfused.read());
        }
      },
    );

    for (const dtype of ['f64', 'f32'] as const) {
      it(`${kind} ${dtype}: Gumbel-max gives the ids of backend.sampleCategorical(log Ψ)`, async () => {
        const { process, x0Probs, xt } = setup(kind, 9, 400, dtype);
        const stream = { seed: 99, offset: 5 };
        const fused = await psiSample(process, { x0Probs, xt, ...args, stream, method: 'gumbel' });
        const psi = await psiPosterior(process, { x0Probs, xt, ...args });
        const unfused = backend.sampleCategorical(backend.log(psi), stream);
        expect(await fused.read()).toEqual(await unfused.read());
      });
    }

    it(`${kind}: the draws follow Ψ (chi-square, fixed seed)`, async () => {
      const k = 7;
      const rows = 6000;
      const process = makeProcess(kind, k);
      const x0 = Float64Array.from({ length: k }, (_, j) => (kind === 'masked' && j === k - 1 ? 0 : j + 1));
      const norm = x0.reduce((a, b) => a + b, 0);
      const row = x0.map((v) => v / norm);
      const x0Probs = batchOf(
        Array.from({ length: rows }, () => row),
        1,
      );
      const xtId = kind === 'masked' ? k - 1 : 2;
      const xt = backend.full([1, rows], xtId, 'i32');
      const ids = await (await psiSample(process, { x0Probs, xt, ...args, stream: { seed: 2024 } })).read();
      const p = psiRow(kind === 'masked' ? maskedRows(k) : uniformRows(k), row, xtId, 0.6, 0.3, 0.4);
      const counts = new Float64Array(k);
      for (const id of ids) counts[id] += 1;
      let chi2 = 0;
      let cells = 0;
      for (let j = 0; j < k; j++) {
        if (p[j] === 0) {
          expect(counts[j]).toBe(0);
          continue;
        }
        chi2 += (counts[j] - rows * p[j]) ** 2 / (rows * p[j]);
        cells += 1;
      }
      // chi-square with cells − 1 degrees of freedom (mean df, sd √(2 df)): 12 sd above the mean never trips
      const df = cells - 1;
      expect(chi2).toBeLessThan(df + 12 * Math.sqrt(2 * df));
    });
  }
});

describe('bad input gets typed errors', () => {
  const k = 5;
  const good = () => ({
    x0Probs: batchOf([Float64Array.of(0.2, 0.2, 0.2, 0.4, 0)], 1),
    xt: backend.tensor([4], [1, 1], 'i32'),
    s: 0.2,
    t: 0.5,
    kappa: 0.5,
  });
  for (const kind of ['uniform', 'masked', 'hybrid'] as const) {
    for (const fused of [true, false]) {
      const label = `${kind}${fused ? '' : ' (generic)'}`;
      it(`${label}: κ outside [0, 1], s ≥ t, bad sums, NaN, ids out of range`, async () => {
        const process = makeProcess(kind, k);
        const call = (patch: Record<string, unknown>) =>
          psiPosterior(process, { ...good(), ...patch }, { fused });
        await expect(call({ kappa: 1.5 })).rejects.toBeInstanceOf(KappaRangeError);
        await expect(call({ kappa: -0.1 })).rejects.toThrow(
          /psiPosterior: got kappa = -0.1, expected kappa in \[0, 1\]/,
        );
        await expect(call({ kappa: Number.NaN })).rejects.toBeInstanceOf(KappaRangeError);
        await expect(call({ s: 0.5, t: 0.5 })).rejects.toBeInstanceOf(TimeOrderError);
        await expect(call({ s: 0.7, t: 0.5 })).rejects.toThrow(/s = 0.7, t = 0.5/);
        await expect(call({ s: Number.NaN })).rejects.toBeInstanceOf(NonFiniteError);
        await expect(
          call({ x0Probs: batchOf([Float64Array.of(0.2, 0.2, 0.2, 0.2, 0)], 1) }),
        ).rejects.toBeInstanceOf(NotADistributionError);
        await expect(call({ x0Probs: batchOf([Float64Array.of(0.6, 0.6, -0.2, 0, 0)], 1) })).rejects.toThrow(
          /entries ≥ 0/,
        );
        await expect(
          call({ x0Probs: batchOf([Float64Array.of(Number.NaN, 0.2, 0.2, 0.6, 0)], 1) }),
        ).rejects.toBeInstanceOf(NonFiniteError);
        await expect(call({ xt: backend.tensor([5], [1, 1], 'i32') })).rejects.toBeInstanceOf(
          IndexOutOfRangeError,
        );
        await expect(call({ xt: backend.tensor([-1], [1, 1], 'i32') })).rejects.toThrow(/xt\[0\] = -1/);
        // a sum within the stated tolerance passes
        const nearly = batchOf([Float64Array.of(0.2, 0.2, 0.2, 0.4 + 5e-10, 0)], 1);
        await expect(call({ x0Probs: nearly })).resolves.toBeDefined();
      });
    }
  }

  it('psiSample refuses the same inputs', async () => {
    const process = makeProcess('uniform', k);
    const stream = { seed: 1 };
    await expect(psiSample(process, { ...good(), kappa: 2, stream })).rejects.toBeInstanceOf(KappaRangeError);
    await expect(
      psiSample(process, { ...good(), xt: backend.tensor([9], [1, 1], 'i32'), stream }),
    ).rejects.toBeInstanceOf(IndexOutOfRangeError);
  });

  it('psiSample refuses bad streams and methods', async () => {
    const process = makeProcess('uniform', k);
    for (const stream of [
      { seed: -1 },
      { seed: 1.5 },
      { seed: 1, offset: -4 },
      { seed: 1, offset: 2 ** 53 },
    ]) {
      await expect(psiSample(process, { ...good(), stream })).rejects.toBeInstanceOf(ArgumentError);
    }
    await expect(
      psiSample(process, { ...good(), stream: { seed: 1 }, method: 'top' as 'gumbel' }),
    ).rejects.toThrow(/method "top"/);
  });

  it('s = t is accepted only as an explicit corrector step', async () => {
    const process = makeProcess('uniform', k);
    const psi = await psiPosterior(process, { ...good(), s: 0.5, t: 0.5 }, { allowEqualTimes: true });
    const row = await psi.read();
    expect(Array.from(row).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });
});
