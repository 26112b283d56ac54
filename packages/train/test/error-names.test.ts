import { describe, expect, it } from 'vitest';
import { describeErrorNames } from '../../../scripts/test-support/error-names';
import * as api from '../src/index';

describeErrorNames(api, {
  names: ['CheckpointCorruptError', 'CheckpointMismatchError', 'DataError', 'TrainConfigError', 'TrainError'],
  base: api.TrainError,
});

describe('the fields of train errors', () => {
  it('TrainConfigError carries the key path, CheckpointMismatchError the differing keys', () => {
    expect(new api.TrainConfigError('optimizer.lr', '-1', '> 0').path).toBe('optimizer.lr');
    expect(new api.CheckpointMismatchError('resume', 'a', 'b', undefined, ['seed']).keys).toEqual(['seed']);
  });
});
