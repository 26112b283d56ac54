import { describe, expect, it } from 'vitest';
import * as api from '../src/index';

// A minifier renames classes (`class jn extends …`), so an error's `name` must not come from its constructor:
// each class is renamed here before it is constructed, and the name must still be the exported one.
const errorClasses = Object.entries(api as Record<string, unknown>).filter(
  (entry): entry is [string, new (op: string, got: string, expected: string) => Error] =>
    typeof entry[1] === 'function' && entry[1].prototype instanceof Error,
);

describe('error names survive minification', () => {
  it('the package exports its error classes', () => {
    expect(errorClasses.map(([n]) => n).sort()).toEqual(
      expect.arrayContaining([
        'CheckpointCorruptError',
        'CheckpointMismatchError',
        'DataError',
        'TrainConfigError',
        'TrainError',
      ]),
    );
  });
  it.each(errorClasses)('%s keeps its name when the class is renamed', (exported, ErrorClass) => {
    const original = Object.getOwnPropertyDescriptor(ErrorClass, 'name');
    Object.defineProperty(ErrorClass, 'name', { value: 'jn', configurable: true });
    try {
      const error = new ErrorClass('op', 'got', 'expected');
      expect(error).toBeInstanceOf(ErrorClass);
      expect(error).toBeInstanceOf(api.TrainError);
      expect(error.name).toBe(exported);
      expect(String(error)).toBe(`${exported}: op: got got, expected expected`);
    } finally {
      if (original) Object.defineProperty(ErrorClass, 'name', original);
    }
  });
  it('TrainConfigError carries the key path, CheckpointMismatchError the differing keys', () => {
    expect(new api.TrainConfigError('optimizer.lr', '-1', '> 0').path).toBe('optimizer.lr');
    expect(new api.CheckpointMismatchError('resume', 'a', 'b', undefined, ['seed']).keys).toEqual(['seed']);
  });
});
