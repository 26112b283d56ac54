import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../cpu/backend';
import { ArgumentError } from '../errors';
import { philoxKey, philoxWords, streamUniform, streamWordAt, wordToUniform } from './philox';

const b = createCpuBackend({ threads: 0 });

describe('streamWordAt / streamUniform: single elements of a stream', () => {
  it('word e is philoxWords at offset e, and the uniform is what backend.uniform draws there', () => {
    fc.assert(
      fc.property(fc.nat(2 ** 40), fc.nat(2 ** 45), fc.integer({ min: 1, max: 9 }), (seed, offset, n) => {
        const key = philoxKey(seed);
        const scratch = new Uint32Array(4);
        const words = philoxWords(key, offset, n);
        const drawn = b.uniform([n], { seed, offset }, 'f64');
        const u = b.dataOf(drawn);
        for (let i = 0; i < n; i++) {
          expect(streamWordAt(key, offset + i, scratch)).toBe(words[i]);
          expect(streamUniform(seed, offset + i)).toBe(wordToUniform(words[i]));
          expect(streamUniform(seed, offset + i)).toBe(u[i]);
        }
        drawn.dispose();
      }),
      { numRuns: 100, seed: 4 },
    );
  });

  it('refuses elements that are not non-negative safe integers, and bad seeds', () => {
    for (const e of [-1, 0.5, 2 ** 53, Number.NaN]) expect(() => streamUniform(1, e)).toThrow(ArgumentError);
    expect(() => streamUniform(1, -1)).toThrow(/element -1/);
    expect(() => streamUniform(-3, 0)).toThrow(ArgumentError);
  });
});
