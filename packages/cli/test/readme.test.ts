import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { type Io, run } from '../src/index';

// Runs the `pnpm duality …` lines of the README's first sh block in-process (paths from the repository root,
// /tmp/ → a temporary directory).
const root = join(import.meta.dirname, '..', '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'duality-readme-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
const block = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
const lines = block.split('\n').filter((l) => l.startsWith('pnpm duality'));

it('the README example runs, every line exiting 0', async () => {
  expect(lines.length).toBeGreaterThanOrEqual(5);
  for (const line of lines) {
    const args = line
      .slice('pnpm duality'.length)
      .trim()
      .split(/\s+/)
      .map((a) =>
        a.startsWith('packages/') ? join(root, a) : a.startsWith('/tmp/') ? join(tmp, a.slice(5)) : a,
      );
    const out: string[] = [];
    const err: string[] = [];
    const io: Io = {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      env: {},
      interrupt: () => new AbortController().signal,
    };
    const code = await run(args, io);
    expect({ line, code, err: err.join('') }).toEqual({ line, code: 0, err: '' });
    expect(out.join('').length).toBeGreaterThan(0);
    if (args.includes('--json')) expect(JSON.parse(out.join('')).ids).toHaveLength(2);
  }
});
