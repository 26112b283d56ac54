/**
 * The law every package's typed errors keep (each package's `test/error-names.test.ts` states it over its own
 * exports): a minifier renames classes (`class jn extends …`), so an error's `name` must not come from its
 * constructor — each exported Error class is renamed before it is constructed, and the error must still carry the
 * exported name (or the name `aliases` gives it, e.g. a DOM-style AbortError) in `name` and in its message.
 */
import { describe, expect, it } from 'vitest';

type ErrorClass = new (op: string, got: string, expected: string) => Error;

export interface ErrorNameOptions {
  /** The package exports at least this many error classes. */
  atLeast?: number;
  /** The package exports (at least) these error classes. */
  names?: readonly string[];
  /** Error classes whose `name` is another name than their export's. */
  aliases?: Readonly<Record<string, string>>;
  /** The base class every exported error class extends. */
  base?: abstract new (
    ...args: never[]
  ) => Error;
}

/** The exported Error classes of a package entry. */
export function errorClassesOf(api: object): Array<[string, ErrorClass]> {
  return Object.entries(api as Record<string, unknown>).filter(
    (entry): entry is [string, ErrorClass] =>
      typeof entry[1] === 'function' && entry[1].prototype instanceof Error,
  );
}

/** Registers the law's tests for the package entry `api`. */
export function describeErrorNames(api: object, options: ErrorNameOptions = {}): void {
  const errorClasses = errorClassesOf(api);
  const expectedName = (exported: string) => options.aliases?.[exported] ?? exported;
  describe('error names survive minification', () => {
    it('the package exports its error classes', () => {
      expect(errorClasses.length).toBeGreaterThanOrEqual(options.atLeast ?? 1);
      expect(errorClasses.map(([n]) => n)).toEqual(expect.arrayContaining([...(options.names ?? [])]));
    });
    it.each(errorClasses)('%s keeps its name when the class is renamed', (exported, ErrorClass) => {
      const original = Object.getOwnPropertyDescriptor(ErrorClass, 'name');
      Object.defineProperty(ErrorClass, 'name', { value: 'jn', configurable: true });
      try {
        const error = new ErrorClass('op', 'got', 'expected');
        expect(error).toBeInstanceOf(ErrorClass);
        if (options.base) expect(error).toBeInstanceOf(options.base);
        expect(error.name).toBe(expectedName(exported));
        expect(String(error)).toBe(`${expectedName(exported)}: op: got got, expected expected`);
      } finally {
        if (original) Object.defineProperty(ErrorClass, 'name', original);
      }
    });
  });
}
