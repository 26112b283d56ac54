import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../src/command-line';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Runs `node <script> ...args` from the repository root; returns exit code and stderr lines. */
function run(script: string, args: string[]) {
  const r = spawnSync(process.execPath, [join(repo, script), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, lines: r.stderr.trim().split('\n'), stdout: r.stdout };
}

describe('pnpm start:toy: a bad command line is one clear line and exit code 2', () => {
  it.each([
    [['--batch', 'abc'], "--batch must be a positive integer, got 'abc'"],
    [['--batch', '2.5'], "--batch must be a positive integer, got '2.5'"],
    [['--batch', '0'], "--batch must be a positive integer, got '0'"],
    [['--batch', '1e3'], "--batch must be a positive integer, got '1e3'"],
    [['--batch'], "Option '--batch <value>' argument missing"],
    [['--quikc'], "Unknown option '--quikc'"],
    [['extra'], "Unexpected argument 'extra'"],
  ])('parseCommandLine(%j) is an error', (args, start) => {
    const parsed = parseCommandLine(args);
    expect('error' in parsed && parsed.error.startsWith(start)).toBe(true);
    expect('error' in parsed && parsed.error.includes('\n')).toBe(false);
  });

  it('good command lines', () => {
    expect(parseCommandLine([])).toEqual({ quick: false, batch: undefined });
    expect(parseCommandLine(['--quick', '--batch', '64'])).toEqual({ quick: true, batch: 64 });
    expect(parseCommandLine(['--batch=7'])).toEqual({ quick: false, batch: 7 });
  });

  it('the program prints the error in one line and exits with 2', () => {
    const { status, lines, stdout } = run('examples/toy-sampling/start.mjs', ['--batch', 'abc']);
    expect(status).toBe(2);
    expect(lines).toEqual([
      "toy-sampling: --batch must be a positive integer, got 'abc' (usage: [--quick] [--batch N])",
    ]);
    expect(stdout).toBe('');
  });
});
