import { ArgumentError, createBackend, IndexOutOfRangeError, KernelError } from '@duality/kernels';
import { logLinear, uniform } from '@duality/noise';
import { describe, expect, it } from 'vitest';
import {
  duoIntegrand,
  KAPPA_KINDS,
  type KappaMode,
  kappaAt,
  kappaSchedule,
  linspace,
  MAX_STEPS,
  maskedPriorTerm,
  mdlmIntegrand,
  parseKappaMode,
  posterior,
  posteriorToX0,
  psiPosterior,
  reconstructionTerm,
  remaskingSigma,
  samplingTimes,
  TimeOrderError,
  timeForAlpha,
  uniformPriorTerm,
} from '../src/index';

const row = [Math.log(0.5), Math.log(0.25), Math.log(0.25)];

describe('κ helpers refuse what they cannot answer', () => {
  it('kappaAt: η > 1, NaN or unordered alphas, unknown kinds', () => {
    for (const kind of ['constant', 'constant-remdm', 'max-capped', 'max-rescale'] as const) {
      expect(() => kappaAt({ kind, eta: 1.5 } as KappaMode, 0.6, 0.4)).toThrow(/η in \[0, 1\]/);
      expect(() => kappaAt({ kind, eta: Number.NaN } as KappaMode, 0.6, 0.4)).toThrow(ArgumentError);
    }
    const mode = { kind: 'max-capped', eta: 0.1 } as const;
    for (const [s, t] of [
      [Number.NaN, 0.4],
      [0.6, Number.NaN],
      [1.2, 0.4],
      [0.6, -0.1],
    ]) {
      expect(() => kappaAt(mode, s, t)).toThrow(ArgumentError);
    }
    expect(() => kappaAt(mode, 0.3, 0.4)).toThrow(TimeOrderError);
    expect(() => remaskingSigma(mode, 0.3, 0.4)).toThrow(TimeOrderError);
    const unknown = () => kappaAt({ kind: 'loop', eta: 0.1 } as unknown as KappaMode, 0.6, 0.4);
    expect(unknown).toThrow(/unknown κ kind "loop"/);
    expect(unknown).toThrow(KAPPA_KINDS.join(', '));
    for (const bad of [null, 3, 'constant']) {
      expect(() => kappaAt(bad as unknown as KappaMode, 0.6, 0.4)).toThrow(ArgumentError);
    }
    expect(() =>
      kappaAt({ kind: 'max-rescale', eta: 0.1, variant: 'x' } as unknown as KappaMode, 0.6, 0.4),
    ).toThrow(/variant/);
    expect(() => parseKappaMode('max-capped-2')).toThrow(ArgumentError);
    expect(() =>
      kappaSchedule(
        {
          high: { kind: 'nope' } as unknown as KappaMode,
          middle: mode,
          low: mode,
          highFrac: 0,
          middleFrac: 0,
        },
        [1, 0.5, 0],
        logLinear(),
      ),
    ).toThrow(/unknown κ kind "nope"/);
  });

  it('timeForAlpha, linspace and samplingTimes refuse NaN, fractional and huge sizes', () => {
    for (const alpha of [Number.NaN, -0.1, 1.1])
      expect(() => timeForAlpha(logLinear(), alpha)).toThrow(ArgumentError);
    expect(() => timeForAlpha(null as never, 0.5)).toThrow(ArgumentError);
    expect(timeForAlpha(logLinear({ eps: 0 }), 0.25)).toBeCloseTo(0.75, 12);
    for (const n of [2.5, -1, Number.NaN, 2 ** 32, MAX_STEPS + 2])
      expect(() => linspace(0, 1, n)).toThrow(ArgumentError);
    expect(() => linspace(Number.NaN, 1, 3)).toThrow(ArgumentError);
    expect(Array.from(linspace(0, 1, 3))).toEqual([0, 0.5, 1]);
    expect(linspace(0, 1, 0).length).toBe(0);
    for (const steps of [2 ** 32, MAX_STEPS + 1, 0, 1.5]) {
      expect(() => samplingTimes({ kind: 'linear' }, steps, 1e-3)).toThrow(ArgumentError);
    }
  });
});

describe('row-level NELBO helpers check alpha and ids', () => {
  it('mdlmIntegrand / duoIntegrand', () => {
    expect(() => mdlmIntegrand(row, 3, 0, 0.5, -1, 2)).toThrow(IndexOutOfRangeError);
    expect(() => mdlmIntegrand(row, 2, -1, 0.5, -1, 2)).toThrow(IndexOutOfRangeError);
    expect(() => mdlmIntegrand(row, 2, 0, 0.5, -1, 7)).toThrow(IndexOutOfRangeError);
    expect(() => mdlmIntegrand(row, 2, 0.5, 0.5, -1, 2)).toThrow(IndexOutOfRangeError);
    for (const a of [1, Number.NaN, -0.2])
      expect(() => mdlmIntegrand(row, 2, 0, a, -1, 2)).toThrow(ArgumentError);
    expect(() => mdlmIntegrand(row, 2, 0, 0.5, Number.NaN, 2)).toThrow(ArgumentError);
    expect(mdlmIntegrand(row, 2, 0, 0.5, -1, 2)).toBeCloseTo((-1 / 0.5) * Math.log(0.5), 14);
    expect(() => duoIntegrand(row, 5, 0, 0.5, -1)).toThrow(IndexOutOfRangeError);
    expect(() => duoIntegrand(row, 0, 3, 0.5, -1)).toThrow(IndexOutOfRangeError);
    for (const a of [0, Number.NaN, 1.5]) expect(() => duoIntegrand(row, 0, 1, a, -1)).toThrow(ArgumentError);
    expect(Number.isFinite(duoIntegrand(row, 0, 1, 0.5, -1))).toBe(true);
    expect(() => duoIntegrand([], 0, 0, 0.5, -1)).toThrow(ArgumentError);
  });

  it('reconstruction and prior terms', () => {
    expect(() => reconstructionTerm(row, 3)).toThrow(IndexOutOfRangeError);
    expect(reconstructionTerm(row, 0)).toBeCloseTo(Math.log(2), 14);
    for (const a of [Number.NaN, -1, 2]) {
      expect(() => uniformPriorTerm(10, a)).toThrow(ArgumentError);
      expect(() => maskedPriorTerm(a)).toThrow(ArgumentError);
    }
    expect(() => uniformPriorTerm(1, 0)).toThrow(ArgumentError);
    expect(() => uniformPriorTerm(2.5, 0)).toThrow(KernelError);
    expect(uniformPriorTerm(10, 0)).toBeCloseTo(0, 14);
  });
});

describe('Promise-returning functions reject instead of throwing synchronously', () => {
  it('posteriorToX0, posterior and psiPosterior on bad arguments', async () => {
    const cpu = await createBackend('cpu', { threads: 0 });
    const p = uniform(cpu, { vocabSize: 3 });
    const x0Probs = cpu.tensor(Float64Array.from([0.2, 0.3, 0.5]), [1, 1, 3], 'f64');
    const xt = cpu.tensor(Int32Array.from([1]), [1, 1], 'i32');
    const calls: Array<() => Promise<unknown>> = [
      () => posteriorToX0(p, { x0Probs, xt, t: 2 }), // the schedule refuses t = 2
      () => posteriorToX0(p, null as never),
      () => posteriorToX0(null as never, { x0Probs, xt, t: 0.5 }),
      () => posteriorToX0(p, { x0Probs: null as never, xt, t: 0.5 }),
      () => posterior(p, null as never),
      () => psiPosterior(p, { x0Probs, xt: new Int32Array(1) as never, s: 0.2, t: 0.5, kappa: 1 }),
      () => psiPosterior(p, { x0Probs, xt, s: 0.2, t: 0.5, kappa: 1 }, null as never),
    ];
    for (const call of calls) {
      let result: Promise<unknown> | undefined;
      expect(() => {
        result = call();
      }).not.toThrow();
      await expect(result).rejects.toBeInstanceOf(KernelError);
    }
    const ok = await posteriorToX0(p, { x0Probs, xt, t: 0.5 });
    expect(Array.from(await ok.read()).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    cpu.destroy();
  });
});
