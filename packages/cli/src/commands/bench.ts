/**
 * `duality bench [suite...]`: runs the repository's benchmark runner (bench/run.mjs, the same as `pnpm bench`)
 * when `duality` runs from a checkout of the repository; an installed package has no benchmarks and says so.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { CommandContext } from '../context';
import { ChildProcessError, RepoRequiredError, UsageError } from '../errors';
import type { CommandModule } from './index';

/** The checkout's bench/ folder: searched upwards from this file, then from the working directory. */
export function findBenchDir(starts: readonly string[]): string | undefined {
  for (const start of starts) {
    let dir = resolve(start);
    for (;;) {
      if (existsSync(join(dir, 'bench', 'run.mjs')) && existsSync(join(dir, 'pnpm-workspace.yaml')))
        return join(dir, 'bench');
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  return undefined;
}

/** Suite names as bench/run.mjs finds them: bench/suites/<name>.ts (not _*) and bench/<name>.bench.ts. */
export function benchSuites(benchDir: string): string[] {
  const suites = new Set<string>();
  const dir = join(benchDir, 'suites');
  if (existsSync(dir))
    for (const f of readdirSync(dir)) if (f.endsWith('.ts') && !f.startsWith('_')) suites.add(f.slice(0, -3));
  for (const f of readdirSync(benchDir))
    if (f.endsWith('.bench.ts')) suites.add(f.slice(0, -'.bench.ts'.length));
  return [...suites].sort();
}

function runRunner(context: CommandContext, benchDir: string, args: string[]): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(benchDir, 'run.mjs'), ...args], { cwd: benchDir });
    child.stdout.on('data', (b: Buffer) => context.io.stdout.write(b.toString()));
    child.stderr.on('data', (b: Buffer) => context.io.stderr.write(b.toString()));
    child.on('error', fail);
    child.on('close', (code) => done(code ?? 1));
  });
}

export const bench: CommandModule = {
  register(program: Command, context: CommandContext) {
    program
      .command('bench')
      .description("run the repository's benchmarks (bench/run.mjs; needs a checkout of the repository)")
      .argument('[suite...]', 'suites to run (default: all; --list shows them)')
      .option('--quick', 'fewer repetitions (a smoke run, not figures to quote)', false)
      .option('--list', 'list the suites and exit', false)
      .addHelpText('after', '\nExamples:\n  duality bench --list\n  duality bench samplers --quick')
      .action(async (suites: string[], options: { quick: boolean; list: boolean }) => {
        const here = dirname(fileURLToPath(import.meta.url));
        const benchDir = findBenchDir([here, process.cwd()]);
        if (!benchDir)
          throw new RepoRequiredError(
            'bench',
            `no bench/run.mjs above ${here} or ${process.cwd()}`,
            'a checkout of the Duality repository (the benchmarks and their PyTorch anchors live there)',
          );
        const known = benchSuites(benchDir);
        if (options.list) {
          if (context.globals.json) context.printJson({ benchDir, suites: known });
          else for (const s of known) context.print(s);
          return;
        }
        const unknown = suites.filter((s) => !known.includes(s));
        if (unknown.length > 0)
          throw new UsageError('bench', `suite ${unknown.join(', ')}`, known.join(' | '));
        const code = await runRunner(context, benchDir, [...suites, ...(options.quick ? ['--quick'] : [])]);
        if (code !== 0)
          throw new ChildProcessError('bench', `bench/run.mjs exiting with ${code}`, 'exit code 0');
      });
  },
};
