import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SAMPLING_EPS, sampleTimes, timesFromUniforms } from './time';

const strata = (t: Float64Array, n: number, eps: number) =>
  Array.from(t, (x) => Math.floor(((x - eps) / (1 - eps)) * n));

describe('sampleTimes', () => {
  it('stratified: row i lies in stratum i of [eps, 1) (eps = 0: exactly; eps = 1e-3: through the affine map)', () => {
    fc.assert(
      fc.property(fc.nat(2 ** 40), fc.nat(1e6), fc.integer({ min: 1, max: 257 }), (seed, step, n) => {
        const t0 = sampleTimes({ seed, step, globalBatch: n, eps: 0 });
        expect(strata(t0, n, 0)).toEqual(Array.from({ length: n }, (_, i) => i));
        const t = sampleTimes({ seed, step, globalBatch: n });
        t.forEach((x, i) => {
          expect(x).toBeGreaterThanOrEqual(SAMPLING_EPS);
          expect(x).toBeLessThan(1);
          expect(x).toBeCloseTo(t0[i] * (1 - SAMPLING_EPS) + SAMPLING_EPS, 14);
        });
      }),
    );
  });

  it('systematic: one shift u, each stratum hit exactly once, consecutive rows 1/n apart mod 1', () => {
    fc.assert(
      fc.property(fc.nat(2 ** 40), fc.nat(1e6), fc.integer({ min: 1, max: 257 }), (seed, step, n) => {
        const t = sampleTimes({ seed, step, globalBatch: n, mode: 'systematic', eps: 0 });
        expect(strata(t, n, 0).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
        for (let i = 1; i < n; i++) expect((t[i] - t[i - 1] + 1) % 1).toBeCloseTo(1 / n, 12);
      }),
    );
  });

  it('gradient-accumulation slices concatenate to the global batch', () => {
    fc.assert(
      fc.property(
        fc.nat(2 ** 30),
        fc.nat(1000),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom('stratified' as const, 'systematic' as const, 'iid' as const),
        (seed, step, b, m, mode) => {
          const whole = sampleTimes({ seed, step, globalBatch: b * m, mode });
          const parts = Array.from({ length: m }, (_, k) =>
            Array.from(sampleTimes({ seed, step, globalBatch: b * m, start: k * b, count: b, mode })),
          );
          expect(parts.flat()).toEqual(Array.from(whole));
        },
      ),
    );
  });

  it('depends on the step and the seed, and only on them', () => {
    const a = Array.from(sampleTimes({ seed: 1, step: 10, globalBatch: 16 }));
    expect(Array.from(sampleTimes({ seed: 1, step: 10, globalBatch: 16 }))).toEqual(a);
    expect(Array.from(sampleTimes({ seed: 1, step: 11, globalBatch: 16 }))).not.toEqual(a);
    expect(Array.from(sampleTimes({ seed: 2, step: 10, globalBatch: 16 }))).not.toEqual(a);
  });

  it('stratified times are uniform on [eps, 1): their mean over many steps is (1 + eps)/2', () => {
    // mean of 64·2000 stratified draws: sd ≤ (1/√12)/64/√2000 ≈ 1e-4; bound 1e-3 (10 sd).
    let sum = 0;
    for (let step = 0; step < 2000; step++)
      for (const t of sampleTimes({ seed: 9, step, globalBatch: 64 })) sum += t;
    expect(Math.abs(sum / (64 * 2000) - (1 + SAMPLING_EPS) / 2)).toBeLessThan(1e-3);
  });

  it('timesFromUniforms is the formula; bad arguments are refused', () => {
    const t = timesFromUniforms([0.5, 0.25], 2, 'stratified', 0.1);
    expect(Array.from(t)).toEqual([0.25 * 0.9 + 0.1, 0.625 * 0.9 + 0.1]);
    expect(Array.from(timesFromUniforms([0.75], 2, 'systematic', 0))).toEqual([0.75, 0.25]);
    expect(Array.from(timesFromUniforms([0.3], 1, 'iid', 0))).toEqual([0.3]);
    expect(() => timesFromUniforms([1], 1)).toThrow(/uniform 1/);
    expect(() => timesFromUniforms([0.5], 1, 'stratified', 1)).toThrow(/eps 1/);
    expect(() => timesFromUniforms([0.5], 1, 'bad' as 'iid')).toThrow(/mode "bad"/);
    expect(() => sampleTimes({ seed: 0, step: 0, globalBatch: 0 })).toThrow(/globalBatch 0/);
    expect(() => sampleTimes({ seed: 0, step: 0, globalBatch: 4, start: 3, count: 2 })).toThrow(/\[3, 5\)/);
  });
});
