/**
 * The short table of the main job: gen-PPL under the AR judge (with its 95% bootstrap interval over sequences)
 * and unigram entropy, one row per (model, steps), plus the same two figures for real validation text as the
 * yardstick.
 */
import type { Backend } from '@duality/kernels';
import type { DiT } from '@duality/models';
import {
  bootstrapPerplexity,
  type EvaluationReport,
  generativePerplexity,
  judgeRowNll,
  rowEntropyBits,
} from '@duality/train';

export interface Row {
  who: string;
  /** Sampling steps (undefined for real text). */
  steps?: number;
  genPpl: number;
  ci95: [number, number];
  entropyBits: number;
  /** Sampling seconds per seed. */
  seconds?: number;
}

/** Rows of an evaluation report (one per steps count), labelled `who`. */
export function rowsOf(report: EvaluationReport, who: string): Row[] {
  return report.summary.map((s) => ({
    who,
    steps: s.steps,
    genPpl: s.genPpl?.pooled ?? Number.NaN,
    ci95: s.genPpl?.ci95 ?? [Number.NaN, Number.NaN],
    entropyBits: s.entropyBits.mean,
    seconds: s.secondsPerSeed,
  }));
}

/**
 * `rows` windows of `length` ids spread evenly over the validation stream, scored like samples: gen-PPL under
 * the judge (ids 1 … L − 1) and mean per-window unigram entropy.
 */
export async function realTextRow(
  judge: DiT,
  backend: Backend,
  stream: Uint8Array,
  rows: number,
  length: number,
): Promise<Row> {
  const ids = new Int32Array(rows * length);
  for (let r = 0; r < rows; r++) {
    const start = Math.floor((r * (stream.length - length)) / Math.max(rows - 1, 1));
    ids.set(stream.subarray(start, start + length), r * length);
  }
  const nll = await judgeRowNll(judge, backend, ids, [rows, length]);
  const entropy = rowEntropyBits(ids, [rows, length]);
  return {
    who: 'brown8 validation text',
    genPpl: generativePerplexity(nll, length - 1),
    ci95: bootstrapPerplexity(nll, length - 1, { resamples: 1000 }),
    entropyBits: entropy.reduce((a, b) => a + b, 0) / rows,
  };
}

const num = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : '—');

/** The rows as a fixed-width text table. */
export function renderTable(rows: readonly Row[]): string {
  const header = ['', 'steps', 'gen-PPL [95% CI]', 'entropy (bits)', 's / seed'];
  const cells = rows.map((r) => [
    r.who,
    r.steps === undefined ? '—' : String(r.steps),
    `${num(r.genPpl, 1)} [${num(r.ci95[0], 1)}, ${num(r.ci95[1], 1)}]`,
    num(r.entropyBits, 2),
    r.seconds === undefined ? '' : num(r.seconds, 1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i])))
      .join('   ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('   '), ...cells.map(line)].join('\n');
}
