/**
 * The `duality` program: global options, the commands of COMMANDS, and one error policy — anything that goes
 * wrong is one `error: …` line on stderr (no stack trace unless DUALITY_DEBUG=1) and a non-zero exit code:
 * 2 for usage (commander's parse errors, ArgumentError, every *ConfigError of the packages and the evaluation's
 * VocabularyMismatchError / ModelKindError), 130 for Ctrl-C,
 * 1 for the rest (a corrupt checkpoint, a missing file…).
 */
import { ArgumentError } from '@duality/kernels';
import { Command, CommanderError, Option } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { COMMANDS } from './commands/index';
import { CommandContext, type Io, processIo } from './context';
import { integer } from './options';

export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/** The program with every command registered (output through `io`, errors thrown instead of exiting). */
export function createProgram(io: Io): { program: Command; context: CommandContext } {
  const program = new Command('duality');
  const context = new CommandContext(io, program);
  program
    .description('Discrete diffusion language models (Duo, MDLM): sample, inspect and convert checkpoints')
    .version(pkg.version, '-V, --version')
    .addOption(
      new Option('--backend <kind>', 'where tensors live').choices(['cpu', 'webgpu', 'auto']).default('cpu'),
    )
    .addOption(new Option('--seed <n>', 'random seed (Philox key)').argParser(integer(0)).default(0))
    .option('--json', 'machine-readable output on stdout', false)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`${s.trim().split('\n')[0]}\n`),
    });
  for (const command of COMMANDS) command.register(program, context);
  return { program, context };
}

/** Errors that mean "these inputs cannot go together" (a judge of another vocabulary, a causal model to sample). */
const USAGE_NAMES = /ConfigError$|^VocabularyMismatchError$|^ModelKindError$/;

const isUsage = (error: unknown): boolean =>
  error instanceof ArgumentError || (error instanceof Error && USAGE_NAMES.test(error.name));

const isInterrupt = (error: unknown): boolean =>
  error instanceof Error && (error.name === 'AbortError' || error.name === 'SamplingAbortedError');

/** Prints one line for the error and returns the exit code. */
export function reportError(error: unknown, io: Io): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage; // commander printed it
  const message = isInterrupt(error)
    ? 'interrupted (Ctrl-C)'
    : error instanceof Error
      ? error.message
      : String(error);
  io.stderr.write(`error: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  if (io.env.DUALITY_DEBUG && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
  return isInterrupt(error) ? EXIT.interrupted : isUsage(error) ? EXIT.usage : EXIT.failure;
}

/** Runs `duality <args>` and resolves to its exit code (never throws, never calls process.exit). */
export async function run(args: readonly string[], io: Io = processIo()): Promise<number> {
  const { program, context } = createProgram(io);
  try {
    if (args.length === 0) {
      program.outputHelp({ error: true });
      return EXIT.usage;
    }
    await program.parseAsync([...args], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    return reportError(error, io);
  } finally {
    await context.dispose();
  }
}
