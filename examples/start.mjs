#!/usr/bin/env node
/**
 * `pnpm start`: the main job for now, examples/toy-sampling. Runs it like bench/run.mjs runs the suites: Node with
 * tsx and the @duality/source export condition, so it uses the packages' sources (no build needed). Extra
 * arguments pass through (e.g. `pnpm start --quick`).
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const example = join(dirname(fileURLToPath(import.meta.url)), 'toy-sampling');
const result = spawnSync(
  process.execPath,
  [
    '--conditions=@duality/source',
    '--import',
    'tsx',
    join(example, 'src', 'main.ts'),
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit', cwd: example },
);
process.exit(result.status ?? 1);
