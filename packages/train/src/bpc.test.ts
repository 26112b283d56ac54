import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bitsPerCharacter, natsToBits, perplexity, unigramEntropyBits } from './bpc';

describe('BPC and perplexity', () => {
  it('ln 2 nats are one bit; BPC of a character tokenizer is nats / ln 2; ppl = exp(nats)', () => {
    expect(natsToBits(Math.LN2)).toBe(1);
    expect(bitsPerCharacter(Math.log(27))).toBeCloseTo(Math.log2(27), 14);
    expect(bitsPerCharacter(2 * Math.LN2, 2)).toBeCloseTo(1, 14);
    expect(perplexity(Math.log(27))).toBeCloseTo(27, 12);
    fc.assert(
      fc.property(fc.double({ min: 0, max: 20, noNaN: true }), (n) => {
        expect(Math.log2(perplexity(n))).toBeCloseTo(bitsPerCharacter(n), 10);
      }),
    );
    expect(() => bitsPerCharacter(1, 0)).toThrow(/charsPerToken 0/);
  });

  it('unigram entropy: 0 for one symbol, log2 V for a uniform stream, at most log2 of the distinct ids', () => {
    expect(unigramEntropyBits([3, 3, 3])).toBe(0);
    expect(unigramEntropyBits(Array.from({ length: 64 }, (_, i) => i % 8))).toBeCloseTo(3, 14);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 200 }), (ids) => {
        const h = unigramEntropyBits(ids);
        expect(h).toBeGreaterThanOrEqual(0);
        expect(h).toBeLessThanOrEqual(Math.log2(new Set(ids).size) + 1e-12);
        expect(unigramEntropyBits([...ids].reverse())).toBeCloseTo(h, 12);
      }),
    );
    expect(() => unigramEntropyBits([0.5])).toThrow(/integer ids/);
  });
});
