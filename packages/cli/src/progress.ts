/**
 * Progress bars for long work (cli-progress) on stderr, shown only when stderr is a terminal and --json is off;
 * otherwise every call is a no-op, so pipes and logs stay clean. Extra fields (loss, tokens/s for training) are
 * named up front and given with each update; the ETA is cli-progress's.
 */
import cliProgress from 'cli-progress';
import type { CommandContext } from './context';

export interface Progress {
  /** Sets the position (and the named fields). */
  update(value: number, fields?: Record<string, string | number>): void;
  /** One unit more, with an optional stage label. */
  tick(stage?: string): void;
  /** Changes the total (when it is known only once the work has started). */
  setTotal(total: number): void;
  stop(): void;
}

const NONE: Progress = { update() {}, tick() {}, setTotal() {}, stop() {} };

export function progressBar(
  context: CommandContext,
  label: string,
  total: number,
  fields: readonly string[] = [],
): Progress {
  const stderr = context.io.stderr as NodeJS.WriteStream;
  if (stderr.isTTY !== true || context.globals.json) return NONE;
  const extra = fields.map((f) => ` | ${f} {${f}}`).join('');
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} {bar} {value}/{total}${extra} | {stage} | ETA {eta_formatted}`,
      stream: stderr,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const blank = Object.fromEntries([...fields, 'stage'].map((f) => [f, '']));
  bar.start(total, 0, blank);
  let value = 0;
  return {
    update(v, payload) {
      value = v;
      bar.update(v, payload);
    },
    tick(stage) {
      value++;
      bar.update(value, stage === undefined ? {} : { stage });
    },
    setTotal(n) {
      bar.setTotal(n);
    },
    stop() {
      bar.stop();
    },
  };
}
