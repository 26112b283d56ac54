import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import fixture from '../../test/fixtures/adamw.json' with { type: 'json' };
import { valueAndGrad } from '../autograd/grad';
import { gradcheck, seededValues } from '../autograd/gradcheck';
import { createCpuBackend } from '../cpu/backend';
import { ArgumentError, DTypeError, ShapeError } from '../errors';
import type { Tensor } from '../types';
import { arbShape, seeded, sizeOf, values } from './op-test-utils';
import { adamwUpdate, globalNorm } from './optim';

const b = createCpuBackend({ threads: 0 });

type Named = Record<string, { shape: number[]; data: number[] }>;
const names = fixture.names as readonly string[];
const H = fixture.hyperparameters;

/** |got − want| ≤ 1e-12·|want| + 1e-15 (the fixture's AdamW tolerance); returns the worst relative error. */
function expectClose(got: ArrayLike<number>, want: readonly number[], what: string): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    expect(err, `${what}[${i}]: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(
      1e-12 * Math.abs(want[i]) + 1e-15,
    );
    if (want[i] !== 0) worst = Math.max(worst, err / Math.abs(want[i]));
  }
  return worst;
}

describe('adamwUpdate against torch.optim.AdamW (fixture: 5 steps, clipped at steps 2, 4, 5)', () => {
  it('params, exp_avg and exp_avg_sq match every step within 1e-12 relative + 1e-15 absolute (f64)', async () => {
    const init = fixture.initial_params as Named;
    const params = names.map((k) => b.tensor(init[k].data, init[k].shape, 'f64'));
    const m = params.map((p) => b.zeros(p.shape, 'f64'));
    const v = params.map((p) => b.zeros(p.shape, 'f64'));
    let worst = 0;
    for (const [n, step] of fixture.steps.entries()) {
      const raw = fixture.grads[n] as Named;
      const grads = names.map((k) => b.tensor(raw[k].data, raw[k].shape, 'f64'));
      const total = (await values(globalNorm(grads)))[0];
      expect(Math.abs(total - step.grad_total_norm)).toBeLessThanOrEqual(1e-12 * step.grad_total_norm);
      const coef = Math.min(1, H.max_grad_norm / (total + H.clip_norm_eps));
      expect(Math.abs(coef - step.clip_coef)).toBeLessThanOrEqual(1e-12 * step.clip_coef);
      adamwUpdate(
        { params, grads, m, v },
        {
          lr: step.lr,
          beta1: H.betas[0],
          beta2: H.betas[1],
          eps: H.eps,
          weightDecay: H.weight_decay,
          step: step.step,
          clipCoef: step.clip_coef,
        },
      );
      for (const [i, k] of names.entries()) {
        worst = Math.max(
          worst,
          expectClose(await params[i].read(), (step.params as Named)[k].data, `step ${step.step} ${k}`),
        );
        worst = Math.max(
          worst,
          expectClose(await m[i].read(), (step.exp_avg as Named)[k].data, `exp_avg ${k}`),
        );
        worst = Math.max(
          worst,
          expectClose(await v[i].read(), (step.exp_avg_sq as Named)[k].data, `exp_avg_sq ${k}`),
        );
      }
    }
    // the measured worst relative error, for the README
    expect(worst).toBeLessThan(1e-12);
    console.info(`adamwUpdate vs torch fixture: worst relative error ${worst.toExponential(2)} over 5 steps`);
  });

  it('equals the textbook form p(1 − lr·wd) − lr·m̂/(√v̂ + eps) on random states (f64, 1e-12) and f32 is within 1e-6', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(1, 3, 5),
        fc.nat(1000),
        fc.record({
          lr: fc.double({ min: 0, max: 0.1, noNaN: true }),
          beta1: fc.constantFrom(0.9, 0.0, 0.6, 0.3),
          beta2: fc.constantFrom(0.999, 0.95, 0.5),
          eps: fc.constantFrom(1e-8, 1e-6),
          weightDecay: fc.constantFrom(0, 0.01, 0.1),
          step: fc.integer({ min: 1, max: 50 }),
          clipCoef: fc.double({ min: 0.1, max: 1, noNaN: true }),
        }),
        async (shape, seed, h) => {
          const n = sizeOf(shape);
          const [p0, g0, m0] = [
            seeded(n, seed, -1, 1),
            seeded(n, seed + 1, -1, 1),
            seeded(n, seed + 2, -0.1, 0.1),
          ];
          const v0 = seeded(n, seed + 3, 0, 0.01);
          const make = (d: 'f64' | 'f32') => [p0, g0, m0, v0].map((x) => b.tensor(x, shape, d));
          const [p, g, m, v] = make('f64');
          adamwUpdate({ params: [p], grads: [g], m: [m], v: [v] }, h);
          const [pv, mv, vv] = [await values(p), await values(m), await values(v)];
          for (let i = 0; i < n; i++) {
            const gi = g0[i] * h.clipCoef;
            const mi = h.beta1 * m0[i] + (1 - h.beta1) * gi;
            const vi = h.beta2 * v0[i] + (1 - h.beta2) * gi * gi;
            const mHat = mi / (1 - h.beta1 ** h.step);
            const vHat = vi / (1 - h.beta2 ** h.step);
            const pi = p0[i] * (1 - h.lr * h.weightDecay) - (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
            expect(Math.abs(mv[i] - mi)).toBeLessThanOrEqual(1e-12 * Math.abs(mi) + 1e-15);
            expect(Math.abs(vv[i] - vi)).toBeLessThanOrEqual(1e-12 * Math.abs(vi) + 1e-15);
            expect(Math.abs(pv[i] - pi)).toBeLessThanOrEqual(1e-12 * Math.abs(pi) + 1e-15);
          }
          const [p32, g32, m32, v32] = make('f32');
          adamwUpdate({ params: [p32], grads: [g32], m: [m32], v: [v32] }, h);
          const q = await values(p32);
          q.forEach((x, i) => {
            expect(Math.abs(x - pv[i])).toBeLessThanOrEqual(1e-6 * (Math.abs(pv[i]) + 1e-3));
          });
        },
      ),
      { numRuns: 40, seed: 20260630 },
    );
  });

  it('writes in place: the same tensor objects change, reshape views see it, grads are untouched', async () => {
    const p = b.tensor([1, 2, 3, 4], [2, 2], 'f64');
    const view = b.reshape(p, [4]);
    const g = b.tensor([0.5, -0.5, 1, 0], [2, 2], 'f64');
    const m = b.zeros([2, 2], 'f64');
    const v = b.zeros([2, 2], 'f64');
    adamwUpdate(
      { params: [p], grads: [g], m: [m], v: [v] },
      { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1 },
    );
    const pv = await values(p);
    expect(pv[0]).toBeCloseTo(1 - (0.1 * 0.5) / (0.5 + 1e-8), 14); // first step: −lr·g/(|g| + eps)
    expect(pv[3]).toBe(4); // zero gradient: no move
    expect(await values(view)).toEqual(pv);
    expect(await values(g)).toEqual([0.5, -0.5, 1, 0]);
    expect((await values(m))[0]).toBeCloseTo(0.05, 15);
  });

  it('refuses aliasing, mismatched shapes, bad hyperparameters and gradient scopes', async () => {
    const t = () => b.zeros([2], 'f64');
    const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1 };
    const p = t();
    expect(() => adamwUpdate({ params: [p], grads: [t()], m: [p], v: [t()] }, h)).toThrow(/distinct tensors/);
    expect(() => adamwUpdate({ params: [t()], grads: [b.zeros([3], 'f64')], m: [t()], v: [t()] }, h)).toThrow(
      ShapeError,
    );
    expect(() => adamwUpdate({ params: [t()], grads: [b.zeros([2], 'f32')], m: [t()], v: [t()] }, h)).toThrow(
      ShapeError,
    );
    expect(() => adamwUpdate({ params: [t()], grads: [], m: [t()], v: [t()] }, h)).toThrow(ArgumentError);
    expect(() => adamwUpdate({ params: [t()], grads: [t()], m: [t()], v: [t()] }, { ...h, step: 0 })).toThrow(
      /step 0/,
    );
    expect(() =>
      adamwUpdate({ params: [t()], grads: [t()], m: [t()], v: [t()] }, { ...h, beta2: 1 }),
    ).toThrow(ArgumentError);
    expect(() =>
      adamwUpdate({ params: [t()], grads: [t()], m: [t()], v: [t()] }, { ...h, lr: Number.NaN }),
    ).toThrow(ArgumentError);
    const s = { params: [t()], grads: [t()], m: [t()], v: [t()] };
    await expect(
      valueAndGrad((x: Tensor) => {
        adamwUpdate(s, h);
        return b.sum(x);
      })(t()),
    ).rejects.toThrow(/inside a gradient scope/);
  });
});

describe('globalNorm', () => {
  it('= √Σ t² by a naive loop (f64); f32 = the f64 value rounded once; gradient t/‖·‖ matches finite differences', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbShape(0, 3, 4), { minLength: 1, maxLength: 4 }),
        fc.nat(1000),
        async (shapes, seed) => {
          const data = shapes.map((s, i) => Float32Array.from(seeded(sizeOf(s), seed + i, -2, 2)));
          const t64 = shapes.map((s, i) => b.tensor(data[i], s, 'f64'));
          const t32 = shapes.map((s, i) => b.tensor(data[i], s, 'f32'));
          const n64 = (await values(globalNorm(t64)))[0];
          const want = Math.sqrt(data.reduce((acc, d) => acc + d.reduce((a, x) => a + x * x, 0), 0));
          expect(Math.abs(n64 - want)).toBeLessThanOrEqual(1e-15 * want);
          const n = globalNorm(t32);
          expect(n.shape).toEqual([]);
          expect((await values(n))[0]).toBe(Math.fround(n64));
          if (want > 0.1) {
            const r = await gradcheck(
              b,
              (...ts: Tensor[]) => globalNorm(ts),
              shapes.map((s, i) => ({ data: seededValues(sizeOf(s), seed + i, -2, 2), shape: s })),
              { seed },
            );
            expect(r.ok, r.message).toBe(true);
          }
        },
      ),
      { numRuns: 20, seed: 20260631 },
    );
  });

  it('has a zero gradient at the zero norm and refuses mixed dtypes or an empty list', async () => {
    const z = b.zeros([3], 'f64');
    const { grads } = await valueAndGrad((p: Tensor) => globalNorm([p]))(z);
    expect(await values(grads)).toEqual([0, 0, 0]);
    expect(() => globalNorm([b.zeros([1], 'f64'), b.zeros([1], 'f32')])).toThrow(DTypeError);
    expect(() => globalNorm([b.zeros([1], 'i32')])).toThrow(DTypeError);
    expect(() => globalNorm([])).toThrow(ArgumentError);
  });
});
