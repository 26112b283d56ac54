/**
 * The two helpers of every package's fuzz tests (`test/fuzz.test.ts`): an input either is refused with a typed
 * error whose message says what it got and what it expected, or gives a value that passes the test's check; and
 * both outcomes must occur, so a fuzz that only ever errors (or never does) is noticed.
 */
import { expect } from 'vitest';

export type Outcome = 'error' | 'ok';

/** `settle(call, check)`: a thrown error must be a `base` with a got/expected message; otherwise `check` the value. */
export function settlerFor(base: abstract new (...args: never[]) => Error) {
  return async function settle<T>(
    call: () => T | Promise<T>,
    check: (value: T) => void | Promise<void>,
  ): Promise<Outcome> {
    let value: T;
    try {
      value = await call();
    } catch (error) {
      expect(error, String(error)).toBeInstanceOf(base);
      expect((error as Error).message).toMatch(/got .*expected/s);
      return 'error';
    }
    await check(value);
    return 'ok';
  };
}

/** Counts both outcomes; `expectBoth()` fails unless some cases were refused and some succeeded. */
export function tally() {
  const seen = { error: 0, ok: 0 };
  return {
    add: (o: Outcome) => {
      seen[o]++;
    },
    expectBoth: () => {
      expect(seen.error, 'some cases must be refused').toBeGreaterThan(0);
      expect(seen.ok, 'some cases must succeed').toBeGreaterThan(0);
    },
  };
}
