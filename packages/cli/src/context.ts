/**
 * What every command gets: the streams (so tests run commands in-process), the global options, one backend
 * created on first use and destroyed when the command ends, and an AbortSignal that Ctrl-C fires.
 */
import { type Backend, createBackend } from '@duality/kernels';
import type { Command } from 'commander';

/** A writable text stream (process.stdout or a test double). */
export interface OutStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Io {
  stdout: OutStream;
  stderr: OutStream;
  env: Readonly<Record<string, string | undefined>>;
  /** An AbortSignal fired by the first Ctrl-C (a second one ends the process); installed on first call. */
  interrupt(): AbortSignal;
}

/** The process's streams; Ctrl-C aborts the running work once, then exits with 130. */
export function processIo(): Io {
  let controller: AbortController | undefined;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    interrupt() {
      if (!controller) {
        const c = new AbortController();
        controller = c;
        process.on('SIGINT', () => {
          if (c.signal.aborted) process.exit(130);
          c.abort(new Error('interrupted (Ctrl-C)'));
        });
      }
      return controller.signal;
    },
  };
}

export type BackendKind = 'cpu' | 'webgpu' | 'auto';

export interface GlobalOptions {
  backend: BackendKind;
  seed: number;
  json: boolean;
}

export class CommandContext {
  private backendPromise?: Promise<Backend>;

  constructor(
    readonly io: Io,
    private readonly program: Command,
  ) {}

  /** --backend, --seed, --json (given before or after the command name). */
  get globals(): GlobalOptions {
    return this.program.opts<GlobalOptions>();
  }

  /** The backend of --backend, created once (auto reports its choice on stderr). */
  backend(): Promise<Backend> {
    this.backendPromise ??= createBackend(this.globals.backend, { log: (m) => this.note(m) });
    return this.backendPromise;
  }

  /** A line of output (stdout). */
  print(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** The machine-readable result of --json (stdout, one JSON document). */
  printJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** A remark for the person at the terminal (stderr, so stdout stays clean for pipes and --json). */
  note(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }

  /** Whether stdout is a terminal a live view can redraw (never under --json). */
  get interactive(): boolean {
    return this.io.stdout.isTTY === true && !this.globals.json;
  }

  async dispose(): Promise<void> {
    const pending = this.backendPromise;
    this.backendPromise = undefined;
    if (pending) (await pending.catch(() => undefined))?.destroy();
  }
}
