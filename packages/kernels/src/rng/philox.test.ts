import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mulhi32, philox4x32, philoxKey, philoxWords, wordToUniform } from './philox';

const hex = (a: Uint32Array) => Array.from(a, (x) => x.toString(16).padStart(8, '0'));

describe('Philox-4x32-10', () => {
  it('matches the Random123 known-answer vectors', () => {
    const out = new Uint32Array(4);
    philox4x32(0, 0, 0, 0, 0, 0, out);
    expect(hex(out)).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, out);
    expect(hex(out)).toEqual(['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']);
    philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, out);
    expect(hex(out)).toEqual(['d16cfe09', '94fdcceb', '5001e420', '24126ea1']);
  });

  it('mulhi32 equals the bigint high word (law: exact 64-bit product)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (a, b) => {
        expect(mulhi32(a, b)).toBe(Number((BigInt(a) * BigInt(b)) >> 32n));
      }),
      { seed: 1 },
    );
  });

  it('a window of a stream equals the same window read from offset 0 (law: counter addressing)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1000 }), fc.nat({ max: 50 }), fc.nat({ max: 2 ** 40 }), (offset, n, seed) => {
        const key = philoxKey(seed);
        const whole = philoxWords(key, 0, offset + n);
        expect(Array.from(philoxWords(key, offset, n))).toEqual(Array.from(whole.subarray(offset)));
      }),
      { seed: 2 },
    );
  });

  it('uniforms lie strictly inside (0, 1) and are f32-exact', () => {
    for (const x of [0, 1, 511, 512, 0xffffffff, 0x80000000]) {
      const u = wordToUniform(x);
      expect(u).toBeGreaterThan(0);
      expect(u).toBeLessThan(1);
      expect(Math.fround(u)).toBe(u);
    }
  });
});
