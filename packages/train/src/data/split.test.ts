import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitDocuments } from './split';

const ids = fc.uniqueArray(fc.stringMatching(/^[a-z]{1,3}\d{2}$/), { minLength: 1, maxLength: 80 });

describe('splitDocuments', () => {
  it('partitions the ids: disjoint, complete, validation of size round(f·N)', () => {
    fc.assert(
      fc.property(ids, fc.double({ min: 0, max: 0.99, noNaN: true }), (list, f) => {
        const { train, validation } = splitDocuments(list, f);
        expect(train.length + validation.length).toBe(list.length);
        expect(new Set([...train, ...validation])).toEqual(new Set(list));
        expect(validation.length).toBe(Math.round(f * list.length));
      }),
    );
  });

  it('does not depend on the order of the ids', () => {
    fc.assert(
      fc.property(
        ids.chain((list) =>
          fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length })),
        ),
        ([list, shuffled]) => {
          expect(splitDocuments(shuffled)).toEqual(splitDocuments(list));
        },
      ),
    );
  });

  it('a document stays on its side when the fraction grows (validation sets are nested)', () => {
    fc.assert(
      fc.property(ids, fc.double({ min: 0, max: 0.5, noNaN: true }), (list, f) => {
        const small = splitDocuments(list, f).validation;
        const large = new Set(splitDocuments(list, f + 0.4).validation);
        for (const id of small) expect(large.has(id)).toBe(true);
      }),
    );
  });

  it('refuses repeated ids and a fraction outside [0, 1)', () => {
    expect(() => splitDocuments(['a', 'a'])).toThrow(/distinct ids/);
    expect(() => splitDocuments(['a'], 1)).toThrow(/\[0, 1\)/);
    expect(() => splitDocuments(['a'], Number.NaN)).toThrow(/\[0, 1\)/);
  });
});
