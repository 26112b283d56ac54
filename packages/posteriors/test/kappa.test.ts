import { ArgumentError } from '@duality/kernels';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type KappaMode,
  kappaAt,
  kappaSchedule,
  parseKappaMode,
  remaskingSigma,
  roundHalfEven,
  samplingTimes,
  timeForAlpha,
} from '../src/index';
import { linearSchedule } from './processes';

const logLinear = { name: 'loglinear', alpha: (t: number) => 1 - (1 - 1e-3) * t, dalpha: () => -(1 - 1e-3) };

describe('parseKappaMode', () => {
  it('reads every mode string of the reference config', () => {
    expect(parseKappaMode('pure-posterior')).toEqual({ kind: 'pure-posterior' });
    expect(parseKappaMode('pure-pc')).toEqual({ kind: 'pure-pc' });
    expect(parseKappaMode('constant-0.3')).toEqual({ kind: 'constant', eta: 0.3 });
    expect(parseKappaMode('constant-remdm-0.02')).toEqual({ kind: 'constant-remdm', eta: 0.02 });
    expect(parseKappaMode('max-capped-0.05')).toEqual({ kind: 'max-capped', eta: 0.05 });
    expect(parseKappaMode('max-rescale-1e-2')).toEqual({ kind: 'max-rescale', eta: 0.01 });
  });
  it('refuses unknown modes with a typed error', () => {
    for (const bad of ['loop-0.1', 'constant-', 'max-capped-x', 'constant--1']) {
      expect(() => parseKappaMode(bad)).toThrow(ArgumentError);
    }
    expect(() => parseKappaMode('nope')).toThrow(/parseKappaMode: got mode "nope"/);
  });
});

describe('κ per step (ReMDM σ_t → κ_t = clip(1 − σ_t/(1 − α_s), 0, 1))', () => {
  it('computes each mode from its formula', () => {
    const aS = 0.5;
    const aT = 0.4;
    expect(kappaAt({ kind: 'pure-posterior' }, aS, aT)).toBe(1);
    expect(kappaAt({ kind: 'pure-pc' }, aS, aT)).toBe(0);
    expect(kappaAt({ kind: 'constant', eta: 0.3 }, aS, aT)).toBe(0.3);
    // constant-remdm: σ = η
    expect(kappaAt({ kind: 'constant-remdm', eta: 0.1 }, aS, aT)).toBeCloseTo(1 - 0.1 / 0.5, 15);
    // max-capped: σ = min(η, (1 − α_s)/α_t) = min(0.5, 1.25)
    expect(remaskingSigma({ kind: 'max-capped', eta: 0.5 }, aS, aT)).toBe(0.5);
    expect(kappaAt({ kind: 'max-capped', eta: 0.5 }, aS, aT)).toBe(0);
    // max-rescale (ReMDM): σ = η·min(1, 1.25) = 0.5 → κ = 0; the reference code: η·min(η, 1.25) = 0.25 → κ = 0.5
    expect(kappaAt({ kind: 'max-rescale', eta: 0.5 }, aS, aT)).toBe(0);
    expect(kappaAt({ kind: 'max-rescale', eta: 0.5, variant: 'reference' }, aS, aT)).toBe(0.5);
    // a cap below 1: (1 − 0.9)/0.8 = 0.125 → σ = 0.2·0.125, κ = 1 − 0.025/0.1 = 0.75
    expect(kappaAt({ kind: 'max-rescale', eta: 0.2 }, 0.9, 0.8)).toBeCloseTo(0.75, 14);
  });

  it('κ stays in [0, 1] for every mode and step (property)', () => {
    const modeArb: fc.Arbitrary<KappaMode> = fc.oneof(
      fc.constant({ kind: 'pure-posterior' } as const),
      fc.constant({ kind: 'pure-pc' } as const),
      fc.double({ min: 0, max: 1, noNaN: true }).map((eta) => ({ kind: 'constant', eta }) as const),
      fc
        .tuple(
          fc.constantFrom('constant-remdm', 'max-capped', 'max-rescale'),
          fc.double({ min: 0, max: 1, noNaN: true }), // ReMDM's η ∈ [0, 1]; above, a typed error (below)
        )
        .map(([kind, eta]) => ({ kind, eta }) as KappaMode),
    );
    fc.assert(
      fc.property(
        modeArb,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (mode, a, b) => {
          const kappa = kappaAt(mode, Math.max(a, b), Math.min(a, b));
          expect(kappa).toBeGreaterThanOrEqual(0);
          expect(kappa).toBeLessThanOrEqual(1);
        },
      ),
      { seed: 3, numRuns: 500 },
    );
  });

  it('α_t = 0 uses σ = η as the reference does; α_s = 1 gives κ = 1 when σ = 0', () => {
    expect(remaskingSigma({ kind: 'max-capped', eta: 0.2 }, 0.1, 0)).toBe(0.2);
    expect(remaskingSigma({ kind: 'max-rescale', eta: 0.2 }, 0.1, 0)).toBe(0.2);
    expect(kappaAt({ kind: 'constant-remdm', eta: 0 }, 1, 0.5)).toBe(1);
    expect(kappaAt({ kind: 'constant-remdm', eta: 0.1 }, 1, 0.5)).toBe(0);
  });
});

describe('time profiles', () => {
  it('linear: steps + 1 points from 1 to eps', () => {
    const t = samplingTimes({ kind: 'linear' }, 4, 1e-5);
    expect(Array.from(t)).toEqual([
      1,
      1 - (1 - 1e-5) / 4,
      1 - (2 * (1 - 1e-5)) / 4,
      1 - (3 * (1 - 1e-5)) / 4,
      1e-5,
    ]);
  });

  it("linear-constant-linear sizes its phases with Python's round (half to even)", () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, 4, 2, 3]);
    // n = 10 points: round(2.5) = 2 high, round(3.5) = 4 constant, 4 low
    const t = samplingTimes(
      { kind: 'linear-constant-linear', c: 0.4, highFrac: 0.25, middleFrac: 0.35 },
      9,
      0.01,
    );
    expect(t.length).toBe(10);
    expect(Array.from(t.subarray(0, 2))).toEqual([1, 0.4]);
    expect(Array.from(t.subarray(2, 6))).toEqual([0.4, 0.4, 0.4, 0.4]);
    expect(t[6]).toBe(0.4);
    expect(t[9]).toBe(0.01);
    for (let i = 7; i < 10; i++) expect(t[i]).toBeLessThan(t[i - 1]);
  });

  it('c as an alpha level is mapped through the schedule (the -inv profiles)', () => {
    const c = timeForAlpha(logLinear, 0.5);
    expect(logLinear.alpha(c)).toBeCloseTo(0.5, 14);
    const t = samplingTimes(
      { kind: 'linear-constant-linear', c: 0.5, cIsAlpha: true, highFrac: 0.2, middleFrac: 0.2 },
      9,
      1e-3,
      logLinear,
    );
    expect(t[2]).toBe(c);
  });

  it('refuses bad arguments', () => {
    expect(() => samplingTimes({ kind: 'linear' }, 0, 0.01)).toThrow(ArgumentError);
    expect(() => samplingTimes({ kind: 'linear' }, 4, 1)).toThrow(/eps in \[0, 1\)/);
    const lcl = { kind: 'linear-constant-linear', c: 0.5, highFrac: 0.7, middleFrac: 0.5 } as const;
    expect(() => samplingTimes(lcl, 9, 0.01)).toThrow(/fractions ≥ 0 summing to ≤ 1/);
    expect(() => samplingTimes({ ...lcl, highFrac: 0.2, cIsAlpha: true }, 9, 0.01)).toThrow(/schedule/);
  });
});

describe('κ schedules over a time grid', () => {
  const times = samplingTimes({ kind: 'linear' }, 9, 1e-3); // 10 points

  it('reference boundary: each phase on its own slice, last κ of a slice = 1', () => {
    const eta = 0.05;
    const plan = {
      high: { kind: 'pure-pc' } as const,
      middle: { kind: 'max-capped', eta } as const,
      low: { kind: 'constant', eta: 0.7 } as const,
      highFrac: 0.2,
      middleFrac: 0.5,
    };
    const kappas = kappaSchedule(plan, times, linearSchedule);
    expect(kappas.length).toBe(10);
    expect(Array.from(kappas.subarray(0, 2))).toEqual([0, 0]);
    for (let i = 2; i < 6; i++) {
      const aT = 1 - times[i];
      const aS = 1 - times[i + 1];
      expect(kappas[i]).toBeCloseTo(
        Math.min(1, Math.max(0, 1 - Math.min(eta, (1 - aS) / aT) / (1 - aS))),
        14,
      );
    }
    expect(kappas[6]).toBe(1);
    expect(Array.from(kappas.subarray(7))).toEqual([0.7, 0.7, 0.7]);
  });

  it('continuous boundary: every step uses its own (t_i, t_{i+1}); the unused last point is 1', () => {
    const mode = { kind: 'max-rescale', eta: 0.3 } as const;
    const plan = {
      high: mode,
      middle: mode,
      low: mode,
      highFrac: 0.3,
      middleFrac: 0.3,
      boundary: 'continuous' as const,
    };
    const kappas = kappaSchedule(plan, times, linearSchedule);
    for (let i = 0; i < 9; i++) expect(kappas[i]).toBe(kappaAt(mode, 1 - times[i + 1], 1 - times[i]));
    expect(kappas[9]).toBe(1);
    const reference = kappaSchedule({ ...plan, boundary: 'reference' }, times, linearSchedule);
    expect(reference[2]).toBe(1); // end of the high slice
    expect(kappas[2]).not.toBe(1);
  });

  it('refuses η outside the mode domain', () => {
    const bad = { kind: 'constant', eta: 1.5 } as const;
    const plan = { high: bad, middle: bad, low: bad, highFrac: 0, middleFrac: 0 };
    expect(() => kappaSchedule(plan, times, linearSchedule)).toThrow(/η in \[0, 1\]/);
  });
});
