import { ArgumentError } from '@duality/kernels';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffusionTransform } from '../src/operator';
import { cosine, gaussianCurriculum, logLinear, sigmaFromAlpha } from '../src/schedules';
import { type OperatorFixture, readFixture, relErr, type SchedulesFixture } from './fixtures';

const sched = readFixture<SchedulesFixture>('schedules.json');
const op = readFixture<OperatorFixture>('duo_operator.json');
const TOL = 1e-12;

describe('schedules.json', () => {
  it('logLinear matches alpha, dalpha_dt and sigma', () => {
    const s = logLinear({ eps: sched.eps });
    sched.t.forEach((t, i) => {
      expect(relErr(s.alpha(t), sched.loglinear.alpha[i])).toBeLessThan(TOL);
      expect(relErr(s.dalpha(t), sched.loglinear.dalpha_dt[i])).toBeLessThan(TOL);
      expect(Math.abs(sigmaFromAlpha(s.alpha(t)) - sched.loglinear.sigma[i])).toBeLessThan(
        TOL * (1 + sched.loglinear.sigma[i]),
      );
    });
  });

  it('cosine matches alpha, the exact dalpha/dt, the reference dalpha and sigma', () => {
    const s = cosine({ eps: sched.eps });
    sched.t.forEach((t, i) => {
      expect(relErr(s.alpha(t), sched.cosine.alpha[i])).toBeLessThan(TOL);
      expect(relErr(s.dalpha(t), sched.cosine.dalpha_dt_exact[i])).toBeLessThan(TOL);
      expect(relErr(s.dalphaReference(t), sched.cosine.dalpha_reference[i])).toBeLessThan(TOL);
      expect(Math.abs(sigmaFromAlpha(s.alpha(t)) - sched.cosine.sigma[i])).toBeLessThan(
        TOL * (1 + sched.cosine.sigma[i]),
      );
    });
    // The reference's value is d alpha/dt', off by exactly the factor (1 − eps).
    expect(s.dalpha(0.5) / s.dalphaReference(0.5)).toBeCloseTo(1 - sched.eps, 15);
  });
});

describe('gaussianCurriculum against the fixture curriculum (K = 50257, [-3.5, -1.75])', () => {
  const c = op.curriculum;
  const s = gaussianCurriculum({ vocabSize: c.vocab_size, gammaMin: c.gamma_min, gammaMax: c.gamma_max });

  it('gamma, alpha, dalpha_dt and sigma match to 1e-9 relative', () => {
    c.t.forEach((t, i) => {
      expect(relErr(s.gamma(t), c.gamma[i])).toBeLessThan(1e-15);
      expect(relErr(s.alpha(t), c.alpha[i])).toBeLessThan(1e-9);
      expect(relErr(s.dalpha(t), c.dalpha_dt[i])).toBeLessThan(1e-9);
      expect(relErr(sigmaFromAlpha(s.alpha(t)), c.sigma[i])).toBeLessThan(1e-9);
    });
  });

  it("reproduces the reference's forward-difference dalpha (step 1e-3 in gamma) and shows its bias", () => {
    const span = c.gamma_max - c.gamma_min;
    let worstBias = 0;
    c.gamma.forEach((gamma, i) => {
      const fd =
        span *
        1e3 *
        (diffusionTransform(gamma + 1e-3, c.vocab_size).alpha -
          diffusionTransform(gamma, c.vocab_size).alpha);
      expect(relErr(fd, c.dalpha_dt_reference_fd[i])).toBeLessThan(1e-9);
      worstBias = Math.max(worstBias, relErr(fd, c.dalpha_dt[i]));
    });
    // README: the reference's derivative is off by up to 0.18% relative here; ours is exact.
    expect(worstBias).toBeGreaterThan(1e-3);
    expect(worstBias).toBeLessThan(2e-3);
  });
});

describe('schedule laws', () => {
  const schedules = [
    logLinear(),
    cosine(),
    gaussianCurriculum({ vocabSize: 50257 }),
    gaussianCurriculum({ vocabSize: 27, gammaMin: -4, gammaMax: 1 }),
  ];

  it('alpha is decreasing in t, in [0, 1], and dalpha < 0', () => {
    for (const s of schedules) {
      fc.assert(
        fc.property(
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          (a, b) => {
            const [t1, t2] = a < b ? [a, b] : [b, a];
            if (t1 === t2) return;
            expect(s.alpha(t2)).toBeLessThanOrEqual(s.alpha(t1));
            expect(s.alpha(t1)).toBeGreaterThan(0);
            expect(s.alpha(t1)).toBeLessThanOrEqual(1);
            expect(s.dalpha(t1)).toBeLessThan(0);
          },
        ),
        { seed: 404, numRuns: 25 },
      );
    }
  });

  it('has the right limits: logLinear/cosine alpha(0) = 1, alpha(1) = eps-small; curriculum T(gammaMin), T(gammaMax)', () => {
    expect(logLinear().alpha(0)).toBe(1);
    expect(logLinear().alpha(1)).toBeCloseTo(1e-3, 15);
    expect(cosine().alpha(0)).toBeCloseTo(1, 15);
    expect(cosine().alpha(1)).toBeCloseTo(1 - Math.cos((Math.PI / 2) * 1e-3), 15);
    const g = gaussianCurriculum({ vocabSize: 50257 });
    expect(g.alpha(0)).toBe(diffusionTransform(-3.5, 50257).alpha);
    expect(g.alpha(1)).toBe(diffusionTransform(-1.75, 50257).alpha);
  });

  it('dalpha agrees with a central finite difference in t', () => {
    for (const s of schedules) {
      fc.assert(
        fc.property(fc.double({ min: 0.01, max: 0.99, noNaN: true }), (t) => {
          const h = 1e-5;
          const fd = (s.alpha(t + h) - s.alpha(t - h)) / (2 * h);
          // Truncation h²/6·|alpha'''| plus rounding 2^-53/h.
          expect(Math.abs(fd - s.dalpha(t))).toBeLessThan(1e-7 * Math.abs(s.dalpha(t)) + 1e-10);
        }),
        { seed: 505, numRuns: 20 },
      );
    }
  });

  it('refuses t outside [0, 1], bad eps and bad curriculum ranges with ArgumentError', () => {
    for (const s of schedules) {
      for (const t of [-0.1, 1.5, Number.NaN]) {
        expect(() => s.alpha(t)).toThrow(ArgumentError);
        expect(() => s.dalpha(t)).toThrow(ArgumentError);
      }
    }
    expect(() => logLinear({ eps: 1 })).toThrow(ArgumentError);
    expect(() => cosine({ eps: -1 })).toThrow(ArgumentError);
    expect(() => gaussianCurriculum({ vocabSize: 1 })).toThrow(ArgumentError);
    expect(() => gaussianCurriculum({ vocabSize: 27, gammaMin: 0, gammaMax: -1 })).toThrow(ArgumentError);
    expect(() => gaussianCurriculum({ vocabSize: 27, gammaMin: Number.NaN })).toThrow(ArgumentError);
    expect(() => logLinear().alpha(2)).toThrow(/logLinear.alpha: got t = 2, expected a time in \[0, 1\]/);
  });
});
