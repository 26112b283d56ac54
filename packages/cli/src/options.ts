/** Parsers for option values: commander reports a refusal as one line naming the option and the value. */
import { InvalidArgumentError } from 'commander';

/** An integer in [min, max]. */
export const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (text: string): number => {
    const v = Number(text);
    if (!/^[+-]?\d+$/.test(text.trim()) || !Number.isSafeInteger(v) || v < min || v > max)
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER
          ? `expected an integer ≥ ${min}`
          : `expected an integer in [${min}, ${max}]`,
      );
    return v;
  };

/** A finite number in the interval (low, high] (or [low, high] when `closed`). */
export const number =
  (low: number, high: number, closed = false) =>
  (text: string): number => {
    const v = Number(text);
    const inside = closed ? v >= low && v <= high : v > low && v <= high;
    if (text.trim() === '' || !Number.isFinite(v) || !inside)
      throw new InvalidArgumentError(`expected a number in ${closed ? '[' : '('}${low}, ${high}]`);
    return v;
  };
