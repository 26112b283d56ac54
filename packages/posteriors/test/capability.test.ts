import { type CpuBackend, createBackend, type Tensor } from '@duality/kernels';
import {
  fusedPsiOf,
  gaussian,
  masked,
  type NoiseProcess,
  type Times,
  UniformProcess,
  uniform,
} from '@duality/noise';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  inverseCdfRow,
  psiPosterior,
  psiRow,
  psiSample,
  type RowProcess,
  streamUniform,
  uniformRows,
} from '../src/index';
import { probVector } from './arbitraries';
import { hybridPrior, interpolatingProcess, linearSchedule } from './processes';

// The fused Ψ kernels are chosen by a capability only the built-in processes carry, never by `kind`.

let cpu: CpuBackend;
beforeAll(async () => {
  cpu = (await createBackend('cpu', { threads: 0 })) as CpuBackend;
});
afterAll(() => cpu.destroy());

/** Host maths of an interpolating process q_a = a·x0 + (1 − a)·π, posterior by Bayes' rule (float64). */
function interpolatingRows(prior: Float64Array): RowProcess {
  const k = prior.length;
  const marginal = (x0: ArrayLike<number>, a: number) =>
    Float64Array.from({ length: k }, (_, j) => a * x0[j] + (1 - a) * prior[j]);
  return {
    kind: 'interpolating',
    vocabSize: k,
    marginal,
    bridge(x0, xt, aS, aT) {
      const qs = marginal(x0, aS);
      const r = aT / aS;
      // q(x_t | x_s = j) = r·[j = x_t] + (1 − r)·π(x_t)
      const joint = qs.map((q, j) => q * (r * (j === xt ? 1 : 0) + (1 - r) * prior[xt]));
      const evidence = joint.reduce((a, b) => a + b, 0);
      return joint.map((v) => v / evidence);
    },
  };
}

const rowsOf = (data: ArrayLike<number>, k: number) =>
  Array.from({ length: data.length / k }, (_, r) => Array.from(data).slice(r * k, (r + 1) * k));

/** Ψ of a process on a batch [1, rows, K], per row. */
async function psiOf(
  process: NoiseProcess,
  x0: Float64Array[],
  xt: number[],
  step: { alphaS: number; alphaT: number; kappa: number },
) {
  const k = process.vocabSize;
  const data = new Float64Array(x0.length * k);
  for (const [r, row] of x0.entries()) data.set(row, r * k);
  const x0Probs = cpu.tensor(data, [1, x0.length, k], 'f64');
  const ids = cpu.tensor(xt, [1, xt.length], 'i32');
  const out = await psiPosterior(process, { x0Probs, xt: ids, ...step });
  const rows = rowsOf(await out.read(), k);
  for (const t of [x0Probs, ids, out]) t.dispose();
  return rows;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
};

describe('fusedPsiOf: only the built-in masked and uniform processes carry the capability', () => {
  it('built-ins carry it; gaussian, spreads, Object.create, subclasses and kind-named processes do not', () => {
    const u = uniform(cpu, { vocabSize: 5 });
    const m = masked(cpu, { vocabSize: 5, maskId: 2 });
    expect(fusedPsiOf(u)).toEqual({ kind: 'uniform' });
    expect(fusedPsiOf(m)).toEqual({ kind: 'masked', maskId: 2 });
    expect(fusedPsiOf(new UniformProcess(cpu, { vocabSize: 5 }))).toEqual({ kind: 'uniform' });
    expect(fusedPsiOf(gaussian(cpu, { vocabSize: 5 }))).toBeUndefined();
    expect(fusedPsiOf({ ...u })).toBeUndefined();
    expect(fusedPsiOf(Object.create(u))).toBeUndefined();
    class MyUniform extends UniformProcess {}
    expect(fusedPsiOf(new MyUniform(cpu, { vocabSize: 5 }))).toBeUndefined();
    const named = interpolatingProcess(cpu, { kind: 'uniform', prior: hybridPrior(5, 0.3) });
    expect(named.kind).toBe('uniform');
    expect(fusedPsiOf(named)).toBeUndefined();
    for (const v of [undefined, null, 3, 'uniform']) expect(fusedPsiOf(v)).toBeUndefined();
    // the descriptor can be neither reassigned nor changed
    const d = fusedPsiOf(u) as { kind: string };
    expect(() => {
      d.kind = 'masked';
    }).toThrow(TypeError);
  });

  it('the built-ins take the fused path (their bridgeAt is never called), the others the generic one', async () => {
    const u = uniform(cpu, { vocabSize: 4, schedule: linearSchedule });
    const named = interpolatingProcess(cpu, { kind: 'uniform', prior: hybridPrior(4, 0.3) });
    const x0 = [Float64Array.of(0.1, 0.2, 0.3, 0.4)];
    const step = { alphaS: 0.6, alphaT: 0.3, kappa: 0.5 };
    const spyU = vi.spyOn(u, 'bridgeAt');
    const spyNamed = vi.spyOn(named, 'bridgeAt');
    await psiOf(u, x0, [1], step);
    await psiOf(named, x0, [1], step);
    expect(spyU).not.toHaveBeenCalled();
    expect(spyNamed).toHaveBeenCalled();
  });
});

describe("a researcher's process gets the generic (correct) Ψ, whatever its kind or shape", () => {
  const cases = fc.integer({ min: 3, max: 8 }).chain((k) =>
    fc.record({
      k: fc.constant(k),
      x0: fc.array(probVector(k), { minLength: 3, maxLength: 3 }),
      xt: fc.array(fc.integer({ min: 0, max: k - 1 }), { minLength: 3, maxLength: 3 }),
      m: fc.double({ min: 0.1, max: 0.9, noNaN: true }),
      alphaT: fc.double({ min: 0.05, max: 0.5, noNaN: true }),
      gap: fc.double({ min: 0.05, max: 0.45, noNaN: true }),
      kappa: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  );

  it("kind 'uniform' (or 'masked') on a hybrid prior equals the exact posterior maths, not the closed form", async () => {
    let closedFormGap = 0;
    await fc.assert(
      fc.asyncProperty(cases, async ({ k, x0, xt, m, alphaT, gap, kappa }) => {
        const prior = hybridPrior(k, m);
        const exact = interpolatingRows(prior);
        const step = { alphaS: alphaT + gap, alphaT, kappa };
        for (const [kind, maskId] of [
          ['uniform', undefined],
          ['masked', k - 1],
        ] as const) {
          const process = interpolatingProcess(cpu, { kind, prior, maskId });
          const got = await psiOf(process, x0, xt, step);
          x0.forEach((row, r) => {
            const want = psiRow(exact, row, xt[r], step.alphaS, alphaT, kappa);
            expect(maxDiff(got[r], want)).toBeLessThan(1e-12);
            if (kind === 'uniform') {
              const closed = psiRow(uniformRows(k), row, xt[r], step.alphaS, alphaT, kappa);
              closedFormGap = Math.max(closedFormGap, maxDiff(closed, want));
            }
          });
        }
      }),
      { seed: 3, numRuns: 40 },
    );
    // the uniform closed form (what `kind` routing ran) is far from these processes' Ψ
    expect(closedFormGap).toBeGreaterThan(0.05);
  });

  it('the shape of a built-in without its capability (Object.create, a subclass) runs its own maths', async () => {
    const k = 5;
    const prior = hybridPrior(k, 0.4);
    const hybrid = interpolatingProcess(cpu, { kind: 'hybrid', prior });
    const base = uniform(cpu, { vocabSize: k, schedule: linearSchedule });
    const derived: NoiseProcess = Object.assign(Object.create(base), {
      bridgeAt: hybrid.bridgeAt,
      marginalAt: hybrid.marginalAt,
    });
    class HybridUniform extends UniformProcess {
      override bridgeAt(x0Probs: Tensor, xt: Tensor, alphaS: Times, alphaT: Times): Tensor {
        return hybrid.bridgeAt(x0Probs, xt, alphaS, alphaT);
      }
      override marginalAt(x0Probs: Tensor, alpha: Times): Tensor {
        return hybrid.marginalAt(x0Probs, alpha);
      }
    }
    const subclass = new HybridUniform(cpu, { vocabSize: k, schedule: linearSchedule });
    const x0 = [Float64Array.of(0.1, 0.2, 0.3, 0.25, 0.15), Float64Array.of(0.3, 0.1, 0.1, 0.2, 0.3)];
    const xt = [4, 1];
    const step = { alphaS: 0.7, alphaT: 0.35, kappa: 0.3 };
    const exact = interpolatingRows(prior);
    for (const process of [derived, subclass]) {
      expect(process.kind).toBe('uniform');
      const got = await psiOf(process, x0, xt, step);
      x0.forEach((row, r) => {
        expect(maxDiff(got[r], psiRow(exact, row, xt[r], step.alphaS, step.alphaT, step.kappa))).toBeLessThan(
          1e-12,
        );
      });
    }
  });

  it("psiSample of a kind-'uniform' researcher's process draws from its own Ψ", async () => {
    const k = 6;
    const prior = hybridPrior(k, 0.5);
    const named = interpolatingProcess(cpu, { kind: 'uniform', prior });
    const x0 = Array.from({ length: 4 }, (_, r) =>
      Float64Array.from({ length: k }, (_, j) => (((j + r) % k) + 1) / 21),
    );
    const x0Probs = cpu.tensor(Float64Array.from(x0.flatMap((row) => Array.from(row))), [2, 2, k], 'f64');
    const xtIds = [0, 5, 2, 5];
    const xt = cpu.tensor(xtIds, [2, 2], 'i32');
    const stream = { seed: 7, offset: 3 };
    const step = { alphaS: 0.8, alphaT: 0.4, kappa: 0.6 };
    const ids = await (await psiSample(named, { x0Probs, xt, ...step, stream })).read();
    // row r: inverse CDF of the exact Ψ row with the uniform at stream element offset + r·K
    const exact = interpolatingRows(prior);
    const want = x0.map((row, r) =>
      inverseCdfRow(
        psiRow(exact, row, xtIds[r], step.alphaS, step.alphaT, step.kappa),
        0,
        k,
        streamUniform(stream.seed, stream.offset + r * k),
      ),
    );
    expect(Array.from(ids)).toEqual(want);
  });
});
