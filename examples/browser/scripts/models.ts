/**
 * `pnpm models` (examples/browser): writes public/models/ — index.json, the bundled models listed in
 * models.json (copied from the repository's models/ folders) and the untrained demo models.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModels, parseSources } from './build-models';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..');
const sources = parseSources(JSON.parse(await readFile(join(packageDir, 'models.json'), 'utf8')));
await buildModels({
  outDir: join(packageDir, 'public', 'models'),
  repoRoot: join(packageDir, '..', '..'),
  bundled: sources,
  log: (line) => console.log(`models: ${line}`),
});
