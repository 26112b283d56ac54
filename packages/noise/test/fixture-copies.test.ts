import { existsSync, readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { localFixture, sharedFixture } from './fixtures';

const FILES = ['duo_operator.json', 'schedules.json', 'posterior.json'];

it('the repository copies of the fixtures equal ../shared/fixtures (when that folder is present)', () => {
  for (const name of FILES) {
    expect(existsSync(localFixture(name)), `test/fixtures/${name}`).toBe(true);
    if (!existsSync(sharedFixture(name))) {
      console.log(`../shared/fixtures/${name} is absent in this checkout: only the repository copy is used`);
      continue;
    }
    expect(readFileSync(localFixture(name), 'utf8')).toBe(readFileSync(sharedFixture(name), 'utf8'));
  }
});
