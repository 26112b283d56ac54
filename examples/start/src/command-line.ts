import { parseArgs } from 'node:util';

export interface Options {
  /** A smoke run: fewer sequences (the same table). */
  quick: boolean;
  /** The teacher at 256 steps too, and three seeds. */
  full: boolean;
  /** The Philox key of the live sample and of the table's first seed. */
  seed: number;
}

export const USAGE = '[--quick] [--full] [--seed N]';

/** `[--quick] [--full] [--seed N]` through node:util.parseArgs; an error is one line of text. */
export function parseCommandLine(argv: string[]): Options | { error: string } {
  let values: { quick?: boolean; full?: boolean; seed?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', default: false },
        full: { type: 'boolean', default: false },
        seed: { type: 'string' },
      },
      strict: true,
    }));
  } catch (error) {
    return { error: (error as Error).message.replace(/\s*\n\s*/g, ' ') };
  }
  const quick = values.quick === true;
  const full = values.full === true;
  if (quick && full) return { error: '--quick and --full exclude each other' };
  const text = values.seed ?? '0';
  const seed = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(seed))
    return { error: `--seed must be a non-negative integer, got '${text}'` };
  return { quick, full, seed };
}
