/**
 * The exact oracles against brute force: their x̂0 is the Bayes answer by direct enumeration, and with the
 * leave-one-out x̂0 the uniform and masked posteriors q(x_s | x_t, x̂0) equal the true reverse marginals.
 */
import type { Backend, CpuBackend } from '@duality/kernels';
import { psiPosterior } from '@duality/posteriors';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { factorizedOracle, SamplerConfigError, stringSetOracle } from '../src/index';
import { cpu, makeProcess, type ProcessName } from './helpers';

let backend: CpuBackend;
beforeAll(async () => {
  backend = (await cpu()) as CpuBackend;
});

const SEQS = [
  [0, 1, 2],
  [1, 1, 0],
  [2, 0, 1],
  [0, 0, 0],
  [2, 2, 1],
];
const WEIGHTS = [3, 1, 2, 1, 3];
const K_DATA = 3;
const L = 3;

/** q_α(x | x0) of one position (MDLM / Duo Eq. 2). */
function q(name: ProcessName, x: number, x0: number, alpha: number): number {
  if (name === 'masked') return x === K_DATA ? 1 - alpha : alpha * (x === x0 ? 1 : 0);
  return alpha * (x === x0 ? 1 : 0) + (1 - alpha) / K_DATA;
}

/** Brute-force Bayes over the set: p(s_n | x_t restricted to positions in `use`). */
function setPosterior(name: ProcessName, xt: number[], alpha: number, use: (m: number) => boolean): number[] {
  const z = WEIGHTS.reduce((a, b) => a + b);
  const raw = SEQS.map(
    (s, n) => (WEIGHTS[n] / z) * s.reduce((acc, v, m) => acc * (use(m) ? q(name, xt[m], v, alpha) : 1), 1),
  );
  const total = raw.reduce((a, b) => a + b);
  return raw.map((r) => r / total);
}

const vocab = (name: ProcessName) => (name === 'masked' ? K_DATA + 1 : K_DATA);

/** An x_t some sequence explains: a sequence noised position by position. */
const xtArb = (name: ProcessName) =>
  fc
    .record({
      n: fc.integer({ min: 0, max: SEQS.length - 1 }),
      noise: fc.array(fc.integer({ min: 0, max: K_DATA }), { minLength: L, maxLength: L }),
      keep: fc.array(fc.boolean(), { minLength: L, maxLength: L }),
      alpha: fc.double({ min: 0.01, max: 0.99, noNaN: true }),
    })
    .map(({ n, noise, keep, alpha }) => ({
      alpha,
      xt: SEQS[n].map((v, m) => (keep[m] ? v : name === 'masked' ? K_DATA : noise[m] % K_DATA)),
    }));

async function oracleRow(
  name: ProcessName,
  xt: number[],
  alpha: number,
  target: 'leave-one-out' | 'posterior-mean',
) {
  const process = makeProcess(backend, name);
  const oracle = stringSetOracle(backend, process, SEQS, { weights: WEIGHTS, dtype: 'f64', target });
  const out = await oracle.predict(backend.tensor(xt, [1, L], 'i32'), Float64Array.of(-Math.log(alpha)));
  return Array.from(await out.read()).map(Math.exp);
}

describe.each(['masked', 'uniform'] as const)('%s string-set oracle', (name) => {
  const K = vocab(name);

  it('posterior-mean x̂0 = Σ_n p(s_n | x_t)·1[s_n,ℓ = x] by brute force', async () => {
    await fc.assert(
      fc.asyncProperty(xtArb(name), async ({ xt, alpha }) => {
        const got = await oracleRow(name, xt, alpha, 'posterior-mean');
        const post = setPosterior(name, xt, alpha, () => true);
        for (let l = 0; l < L; l++) {
          const revealed = name === 'masked' && xt[l] !== K_DATA;
          for (let x = 0; x < K; x++) {
            const want = revealed
              ? x === xt[l]
                ? 1
                : 0
              : SEQS.reduce((a, s, n) => a + (s[l] === x ? post[n] : 0), 0);
            expect(got[l * K + x]).toBeCloseTo(want, 12);
          }
        }
      }),
      { seed: 101, numRuns: 60 },
    );
  });

  it('leave-one-out x̂0 makes q(x_s | x_t, x̂0) the true reverse marginal Σ_x0 p(x0 | x_t)·q(x_s | x_t, x0)', async () => {
    const process = makeProcess(backend, name);
    await fc.assert(
      fc.asyncProperty(
        xtArb(name),
        fc.double({ min: 0.01, max: 0.98, noNaN: true }),
        async ({ xt, alpha }, frac) => {
          const alphaS = alpha + frac * (1 - alpha);
          const x0 = await oracleRow(name, xt, alpha, 'leave-one-out');
          const probs = backend.tensor(Float64Array.from(x0), [1, L, K], 'f64');
          const ids = backend.tensor(xt, [1, L], 'i32');
          const got = await (
            await psiPosterior(process, { x0Probs: probs, xt: ids, alphaS, alphaT: alpha, kappa: 1 })
          ).read();
          const post = setPosterior(name, xt, alpha, () => true);
          for (let l = 0; l < L; l++) {
            for (let xs = 0; xs < K; xs++) {
              // true reverse: Σ_n p(s_n | x_t) q(x_t | x_s) q(x_s | s_n) / q(x_t | s_n) at position ℓ
              let want = 0;
              SEQS.forEach((s, n) => {
                const denom = q(name, xt[l], s[l], alpha);
                if (denom > 0)
                  want +=
                    (post[n] * qStep(name, xt[l], xs, alpha / alphaS) * q(name, xs, s[l], alphaS)) / denom;
              });
              expect(got[l * K + xs]).toBeCloseTo(want, 10);
            }
          }
        },
      ),
      { seed: 102, numRuns: 40 },
    );
  });
});

/** q(x_t | x_s) of one position with α_{t|s} = α_t/α_s. */
function qStep(name: ProcessName, xt: number, xs: number, a: number): number {
  if (name === 'masked')
    return xs === K_DATA ? (xt === K_DATA ? 1 : 0) : xt === xs ? a : xt === K_DATA ? 1 - a : 0;
  return a * (xt === xs ? 1 : 0) + (1 - a) / K_DATA;
}

describe('factorised oracle', () => {
  it('uniform posterior-mean is Bayes p(x)·q(x_t | x) normalised; leave-one-out is p itself', async () => {
    const process = makeProcess(backend, 'uniform');
    const p = [0.5, 0.3, 0.2];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (xt, alpha) => {
          const mean = factorizedOracle(backend, process, [p], { dtype: 'f64', target: 'posterior-mean' });
          const loo = factorizedOracle(backend, process, [p], { dtype: 'f64' });
          const ids = backend.tensor([xt], [1, 1], 'i32');
          const sigma = Float64Array.of(-Math.log(alpha));
          const got = Array.from(await (await mean.predict(ids, sigma)).read()).map(Math.exp);
          const raw = p.map((v, x) => v * q('uniform', xt, x, alpha));
          const z = raw.reduce((a, b) => a + b);
          expect(got).toEqual(raw.map((r) => expect.closeTo(r / z, 12)));
          const plain = Array.from(await (await loo.predict(ids, sigma)).read()).map(Math.exp);
          expect(plain).toEqual(p.map((v) => expect.closeTo(v, 12)));
        },
      ),
      { seed: 103, numRuns: 40 },
    );
  });

  it('masked: the law at a mask, one-hot at a revealed token', async () => {
    const process = makeProcess(backend, 'masked');
    const oracle = factorizedOracle(backend, process, [[0.5, 0.3, 0.2, 0]], { dtype: 'f64' });
    const out = Array.from(
      await (await oracle.predict(backend.tensor([3, 1], [1, 2], 'i32'), Float64Array.of(1))).read(),
    ).map(Math.exp);
    expect(out).toEqual([0.5, 0.3, 0.2, 0, 0, 1, 0, 0].map((v) => expect.closeTo(v, 15)));
  });
});

describe('oracle input checks', () => {
  it.each([
    ['a row not summing to 1', [[0.5, 0.3, 0.3, 0]]],
    ['mass on the mask', [[0.5, 0.3, 0.1, 0.1]]],
    ['a negative entry', [[1.2, -0.2, 0, 0]]],
    ['a short row', [[0.5, 0.5]]],
  ])('factorizedOracle refuses %s', (_label, rows) => {
    expect(() => factorizedOracle(backend as Backend, makeProcess(backend, 'masked'), rows)).toThrow(
      SamplerConfigError,
    );
  });

  it.each([
    ['the mask id in a sequence', [[0, 3, 1]], undefined],
    [
      'sequences of different lengths',
      [
        [0, 1, 2],
        [0, 1],
      ],
      undefined,
    ],
    [
      'a repeated sequence',
      [
        [0, 1, 2],
        [0, 1, 2],
      ],
      undefined,
    ],
    ['negative weights', [[0, 1, 2]], [-1]],
    ['a weight count mismatch', [[0, 1, 2]], [1, 2]],
  ])('stringSetOracle refuses %s', (_label, seqs, weights) => {
    expect(() =>
      stringSetOracle(backend, makeProcess(backend, 'masked'), seqs, weights ? { weights } : {}),
    ).toThrow(SamplerConfigError);
  });

  it('evaluate: valid fraction and total variation of samples against the set', () => {
    const oracle = stringSetOracle(backend, makeProcess(backend, 'uniform'), [
      [0, 1, 2],
      [1, 1, 1],
    ]);
    // half the rows are [0,1,2], a quarter [1,1,1], a quarter invalid: TV = ½(0 + 0.25 + 0.25)
    const res = oracle.evaluate([0, 1, 2, 0, 1, 2, 1, 1, 1, 2, 2, 2]);
    expect(res.valid).toBe(0.75);
    expect(res.tv).toBeCloseTo(0.25, 15);
  });
});
