import { parseArgs } from 'node:util';

export interface Options {
  quick: boolean;
  batch: number | undefined;
}

/** `[--quick] [--batch N]` (N a positive integer) through node:util.parseArgs; an error is one line of text. */
export function parseCommandLine(argv: string[]): Options | { error: string } {
  let values: { quick?: boolean; batch?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { quick: { type: 'boolean', default: false }, batch: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    return { error: (error as Error).message.replace(/\s*\n\s*/g, ' ') };
  }
  const { batch } = values;
  if (batch === undefined) return { quick: values.quick === true, batch: undefined };
  const n = Number(batch);
  if (!/^\d+$/.test(batch) || !Number.isSafeInteger(n) || n < 1) {
    return { error: `--batch must be a positive integer, got '${batch}'` };
  }
  return { quick: values.quick === true, batch: n };
}
