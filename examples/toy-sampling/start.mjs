#!/usr/bin/env node
/**
 * `pnpm start:toy`: examples/toy-sampling — the known 20-strings distribution sampled with exact oracles by the
 * ancestral and Ψ samplers at 4…256 steps, live, with a table and a plot. Node with tsx and the @duality/source
 * export condition (the packages' sources, no build). Extra arguments pass through (`pnpm start:toy --quick`).
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const example = dirname(fileURLToPath(import.meta.url));
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
