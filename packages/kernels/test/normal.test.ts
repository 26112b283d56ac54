import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bitsOfF32, cosSin2Pi32, ln32, normalPair, sqrt32 } from '../src/rng/normal';
import { philoxKey, philoxWords, wordToUniform } from '../src/rng/philox';
import golden from './fixtures/normal_golden.json' with { type: 'json' };
import { cpu, data, FC } from './helpers';

/** float64 Box–Muller on the same words (the accuracy reference). */
const boxMuller64 = (w0: number, w1: number) => {
  const r = Math.sqrt(-2 * Math.log(wordToUniform(w0)));
  const th = 2 * Math.PI * wordToUniform(w1);
  return [r * Math.cos(th), r * Math.sin(th)];
};

const word = fc.nat({ max: 0xffffffff });
const f32Uniform = fc.nat({ max: 2 ** 23 - 1 }).map((k) => (k + 0.5) * 2 ** -23);

describe('normal transform (rng/normal.ts)', () => {
  it('matches the independent NumPy float32 emulation bit for bit (stream elements 20…1043, seed 0x123456789)', () => {
    expect(Array.from(philoxWords(philoxKey(golden.seed), golden.firstElement, golden.words.length))).toEqual(
      golden.words,
    );
    const t = cpu.normal([golden.normalBits.length], { seed: golden.seed, offset: golden.firstElement });
    expect(data(t).map(bitsOfF32)).toEqual(golden.normalBits);
  });

  it('matches the emulation bit for bit on edge words (u1 at both ends, quadrant boundaries of u2)', () => {
    for (const { w0, w1, bits } of golden.pairs) expect(normalPair(w0, w1).map(bitsOfF32)).toEqual(bits);
  });

  it('is within 2e-6 absolute of the float64 Box–Muller on the same words', () => {
    fc.assert(
      fc.property(word, word, (w0, w1) => {
        const got = normalPair(w0, w1);
        const want = boxMuller64(w0, w1);
        expect(Math.abs(got[0] - want[0])).toBeLessThanOrEqual(2e-6);
        expect(Math.abs(got[1] - want[1])).toBeLessThanOrEqual(2e-6);
      }),
      { ...FC, numRuns: 3000 },
    );
    for (const { w0, w1 } of golden.pairs) {
      const got = normalPair(w0, w1);
      const want = boxMuller64(w0, w1);
      expect(Math.abs(got[0] - want[0]) + Math.abs(got[1] - want[1])).toBeLessThanOrEqual(4e-6);
    }
  });

  it('its pieces are accurate: ln to 1.3e-7 relative, sqrt to 2.2e-7 relative, cos/sin to 2.2e-7 absolute', () => {
    const trig = new Float64Array(2);
    fc.assert(
      fc.property(f32Uniform, (u) => {
        const l = ln32(u);
        expect(Math.abs(l - Math.log(u))).toBeLessThanOrEqual(1.3e-7 * Math.abs(Math.log(u)));
        const x = Math.fround(-2 * l);
        expect(Math.abs(sqrt32(x) - Math.sqrt(x))).toBeLessThanOrEqual(2.2e-7 * Math.sqrt(x));
        cosSin2Pi32(u, trig);
        expect(Math.abs(trig[0] - Math.cos(2 * Math.PI * u))).toBeLessThanOrEqual(2.2e-7);
        expect(Math.abs(trig[1] - Math.sin(2 * Math.PI * u))).toBeLessThanOrEqual(2.2e-7);
      }),
      { ...FC, numRuns: 3000 },
    );
  });
});
