#!/usr/bin/env node
/**
 * `pnpm bench [suite...] [--quick] [--rounds N] [--case C] [--config C] [--backend cpu|webgpu] [--budget S]
 * [--no-anchor] [--json]` — runs the TypeScript bench suites (bench/suites/<name>.ts, bench/<name>.bench.ts) against the packages'
 * sources (tsx, export condition @duality/source), one child process per suite. No suite name = all suites.
 * Each suite prints a table and writes bench/results/<suite>.json.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs, usageError } from './lib/args.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const suitesDir = join(here, 'suites');
// a suite is bench/suites/<name>.ts (files starting with _ are helpers) or bench/<name>.bench.ts
const scripts = new Map();
for (const f of readdirSync(suitesDir)) {
  if (f.endsWith('.ts') && !f.startsWith('_')) scripts.set(f.slice(0, -3), join(suitesDir, f));
}
for (const f of readdirSync(here)) {
  if (f.endsWith('.bench.ts')) scripts.set(f.slice(0, -'.bench.ts'.length), join(here, f));
}
const known = [...scripts.keys()].sort();

// options are checked here once (one line and exit code 2 when malformed), then forwarded to every suite
const { positionals: wanted, flags } = parseBenchArgs('bench');
const unknown = wanted.filter((s) => !known.includes(s));
if (unknown.length > 0)
  usageError('bench', `unknown suite(s) ${unknown.join(', ')}; known: ${known.join(', ')}`);

const tsx = import.meta.resolve('tsx');
let failed = 0;
for (const suite of wanted.length > 0 ? wanted : known) {
  console.log(`\n=== bench ${suite} ===`);
  const result = spawnSync(
    process.execPath,
    ['--conditions=@duality/source', '--import', tsx, scripts.get(suite), ...flags],
    { stdio: 'inherit', cwd: here },
  );
  if (result.status !== 0) {
    failed++;
    console.error(`bench ${suite}: exited with ${result.status ?? result.signal}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
