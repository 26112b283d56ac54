#!/usr/bin/env node
/**
 * `pnpm start`: the main job, examples/start — the bundled Duo model writes text with live denoising, then a
 * short gen-PPL / entropy table of the few-step student against the many-step teacher. Runs like bench/run.mjs
 * runs the suites: Node with tsx and the @duality/source export condition, so it uses the packages' sources (no
 * build needed). Extra arguments pass through (`pnpm start --quick`, `pnpm start --full`). The toy-oracle demo is
 * `pnpm start:toy` (examples/toy-sampling/start.mjs).
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const example = join(dirname(fileURLToPath(import.meta.url)), 'start');
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
