import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bench = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs `node bench/run.mjs ...args`; returns exit code, stderr lines and stdout. */
function run(args: string[]) {
  const r = spawnSync(process.execPath, [join(bench, 'run.mjs'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, lines: r.stderr.trim().split('\n'), stdout: r.stdout };
}

describe('pnpm bench: options are checked before any suite runs', () => {
  it.each([
    [['--rounds', 'abc'], "bench: --rounds must be a positive integer, got 'abc'"],
    [['kernels', '--rounds=0'], "bench: --rounds must be a positive integer, got '0'"],
    [['--backend', 'gpu'], "bench: --backend must be one of cpu, webgpu, got 'gpu'"],
    [['--budget', 'soon'], "bench: --budget must be a positive number, got 'soon'"],
    [['--batch', 'abc'], "bench: Unknown option '--batch'"],
    [['--case'], "bench: Option '--case <value>' argument missing"],
    [['nosuch'], 'bench: unknown suite(s) nosuch; known: '],
  ])('%j', (args, start) => {
    const { status, lines, stdout } = run(args);
    expect(status).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0].startsWith(start)).toBe(true);
    expect(stdout).toBe(''); // no suite started
  });
});
