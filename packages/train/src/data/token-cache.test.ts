import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeTokenCache, encodeTokenCache, type TokenCache } from './token-cache';

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
};

const cacheArb = fc.integer({ min: 2, max: 256 }).chain((vocabSize) =>
  fc.record({
    key: fc.stringMatching(/^[0-9a-f]{8,64}$/),
    dataset: fc.constantFrom('brown8', 'brown-char'),
    vocabSize: fc.constant(vocabSize),
    splits: fc.array(
      fc.record({
        name: fc.string({ minLength: 1, maxLength: 12 }),
        documents: fc.array(fc.string({ maxLength: 6 }), { maxLength: 5 }),
        tokens: fc.uint8Array({ max: vocabSize - 1, maxLength: 300 }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  }),
);

describe('token cache file', () => {
  it('round-trips every field and every id', () => {
    fc.assert(
      fc.property(cacheArb, (cache: TokenCache) => {
        const back = decodeTokenCache(concat(encodeTokenCache(cache)));
        expect(back.key).toBe(cache.key);
        expect(back.vocabSize).toBe(cache.vocabSize);
        expect(back.splits.map((s) => [s.name, s.documents, Array.from(s.tokens)])).toEqual(
          cache.splits.map((s) => [s.name, s.documents, Array.from(s.tokens)]),
        );
      }),
      { numRuns: 50 },
    );
  });

  it('refuses a truncated, extended or altered file', () => {
    fc.assert(
      fc.property(cacheArb, fc.nat(), (cache, pick) => {
        const bytes = concat(encodeTokenCache(cache));
        const cut = pick % bytes.byteLength;
        expect(() => decodeTokenCache(bytes.subarray(0, cut))).toThrow(/corrupt or partial cache file/);
        expect(() => decodeTokenCache(concat([bytes, new Uint8Array([0])]))).toThrow(/DataError|payload/);
        const payload = cache.splits.reduce((a, s) => a + s.tokens.length, 0);
        if (payload > 0) {
          const altered = bytes.slice();
          const at = bytes.byteLength - 1 - (pick % payload);
          altered[at] = (altered[at] + 1) % cache.vocabSize;
          expect(() => decodeTokenCache(altered)).toThrow(/SHA-256/);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('refuses a vocabulary that does not fit one byte', () => {
    const cache = { key: 'k', dataset: 'x', vocabSize: 257, splits: [] };
    expect(() => encodeTokenCache(cache)).toThrow(/at most 256 ids/);
  });
});
