#!/usr/bin/env node
/**
 * `pnpm duality <command>` at the repository root: runs the CLI from its TypeScript sources (tsx, export
 * condition @duality/source, so every @duality/* import is the package's src/), like bench/run.mjs and
 * `pnpm start` do. Arguments pass through; relative paths are taken from the directory pnpm was run in.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const result = spawnSync(
  process.execPath,
  [
    '--conditions=@duality/source',
    '--import',
    import.meta.resolve('tsx'),
    join(here, '..', 'src', 'bin.ts'),
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit', cwd: process.env.INIT_CWD ?? process.cwd() },
);
process.exit(result.status ?? 1);
