/**
 * Command-line options of `pnpm bench` and of every bench suite, parsed with node:util.parseArgs: one list of
 * options (bench/run.mjs validates them, then forwards them to each suite), values checked, and a bad command
 * line reported in one line on stderr with exit code 2 (never a NaN deep inside a suite).
 */
import { parseArgs } from 'node:util';

/** Every option: the suites share one list because `pnpm bench --quick` forwards the flags to each of them. */
export const BENCH_OPTIONS = {
  quick: { type: 'boolean', default: false },
  rounds: { type: 'string' },
  case: { type: 'string' },
  config: { type: 'string' },
  backend: { type: 'string' },
  budget: { type: 'string' },
  json: { type: 'boolean', default: false },
  'no-anchor': { type: 'boolean', default: false },
  'no-profile': { type: 'boolean', default: false },
  child: { type: 'boolean', default: false },
};

/** Prints `<prog>: <message>` and exits with code 2 (a usage error). */
export function usageError(prog, message) {
  console.error(`${prog}: ${message}`);
  process.exit(2);
}

/** `value` must be one of `allowed`; returns it. */
export function oneOf(prog, name, value, allowed) {
  if (!allowed.includes(value))
    usageError(prog, `--${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  return value;
}

/** A positive integer option (undefined stays undefined). */
export function positiveInteger(prog, name, value) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    usageError(prog, `--${name} must be a positive integer, got '${value}'`);
  }
  return n;
}

/** A positive finite number option (undefined stays undefined). */
export function positiveNumber(prog, name, value) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    usageError(prog, `--${name} must be a positive number, got '${value}'`);
  }
  return n;
}

/**
 * Parses and checks a bench command line (default: this process's arguments). Unknown options, a missing value
 * and malformed numbers or backends end the process with one line and exit code 2.
 */
export function parseBenchArgs(prog, argv = process.argv.slice(2)) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: BENCH_OPTIONS,
      strict: true,
      allowPositionals: true,
      tokens: true,
    });
  } catch (error) {
    usageError(prog, error.message.replace(/\s*\n\s*/g, ' '));
  }
  const v = parsed.values;
  return {
    quick: v.quick,
    rounds: positiveInteger(prog, 'rounds', v.rounds),
    case: v.case,
    config: v.config,
    backend: v.backend === undefined ? undefined : oneOf(prog, 'backend', v.backend, ['cpu', 'webgpu']),
    budget: positiveNumber(prog, 'budget', v.budget),
    json: v.json,
    noAnchor: v['no-anchor'],
    noProfile: v['no-profile'],
    child: v.child,
    positionals: parsed.positionals,
    /** The arguments without the positionals (what bench/run.mjs forwards to each suite). */
    flags: argv.filter((_, i) => !parsed.tokens.some((t) => t.kind === 'positional' && t.index === i)),
  };
}
