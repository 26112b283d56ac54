/**
 * JSON config files validated by a valibot schema (the schema library @duality/train uses): the first problem is
 * reported as one line naming the file, the key, what it got and what it expected.
 */
import { readFile } from 'node:fs/promises';
import * as v from 'valibot';
import { ConfigError } from './errors';

const show = (value: unknown): string => {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/** Validates `value`; the first issue becomes a ConfigError "<source>: got <key> = <value>, expected …". */
export function parseWith<S extends v.GenericSchema>(
  schema: S,
  value: unknown,
  source: string,
): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const key = v.getDotPath(issue);
  const expected = issue.expected ?? issue.message;
  throw new ConfigError(source, key ? `${key} = ${show(issue.input)}` : show(issue.input), expected);
}

/** Reads and parses a JSON file (a missing file or bad JSON is a ConfigError naming it). */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      'config',
      `${path} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      'a readable JSON file',
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError('config', `${path}: ${(error as Error).message}`, 'valid JSON');
  }
}

/** Reads a JSON config file and validates it. */
export async function readConfigFile<S extends v.GenericSchema>(
  path: string,
  schema: S,
): Promise<v.InferOutput<S>> {
  return parseWith(schema, await readJsonFile(path), path);
}
