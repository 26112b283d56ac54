import { describe, expect, it } from 'vitest';
import * as api from '../src/index';

// A minifier renames classes (`class jn extends …`), so an error's `name` must not come from its constructor:
// each class is renamed here before it is constructed, and the name must still be the exported one.
const errorClasses = Object.entries(api as Record<string, unknown>).filter(
  (entry): entry is [string, new (op: string, got: string, expected: string) => Error] =>
    typeof entry[1] === 'function' && entry[1].prototype instanceof Error,
);
const expectedName = (exported: string) => (({}) as Record<string, string>)[exported] ?? exported;

describe('error names survive minification', () => {
  it('the package exports error classes', () => {
    expect(errorClasses.length).toBeGreaterThanOrEqual(4);
  });
  it.each(errorClasses)('%s keeps its name when the class is renamed', (exported, ErrorClass) => {
    const original = Object.getOwnPropertyDescriptor(ErrorClass, 'name');
    Object.defineProperty(ErrorClass, 'name', { value: 'jn', configurable: true });
    try {
      const error = new ErrorClass('op', 'got', 'expected');
      expect(error).toBeInstanceOf(ErrorClass);
      expect(error.name).toBe(expectedName(exported));
      expect(String(error)).toBe(`${expectedName(exported)}: op: got got, expected expected`);
    } finally {
      if (original) Object.defineProperty(ErrorClass, 'name', original);
    }
  });
});
