import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkFits, gatherWindows, windowCount } from './pack';

describe('packing into windows', () => {
  it('window w is ids [w·L, (w+1)·L) of the stream; the tail is dropped', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 400 }),
        fc.integer({ min: 1, max: 50 }),
        (s, L) => {
          const n = windowCount(s.length, L);
          expect(n).toBe(Math.floor(s.length / L));
          const all = gatherWindows(
            s,
            L,
            Array.from({ length: n }, (_, i) => i),
          );
          expect(Array.from(all)).toEqual(Array.from(s.subarray(0, n * L)));
        },
      ),
    );
  });

  it('rows follow the requested window order', () => {
    const s = Uint8Array.from({ length: 12 }, (_, i) => i);
    expect(Array.from(gatherWindows(s, 4, [2, 0]))).toEqual([8, 9, 10, 11, 0, 1, 2, 3]);
  });

  it('refuses a window outside the stream and a context the data cannot fill', () => {
    const s = new Uint8Array(10);
    expect(() => gatherWindows(s, 4, [2])).toThrow(/\[0, 2\)/);
    expect(() => windowCount(10, 0)).toThrow(/positive integer/);
    expect(() => checkFits('validation', 1000, 128, 8)).toThrow(/data\.contextLength: got 128 with batch 8/);
    expect(() => checkFits('validation', 1024, 128, 8)).not.toThrow();
  });
});
