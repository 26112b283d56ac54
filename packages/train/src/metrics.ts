/**
 * Training metrics: a JSON-lines file (one object per line, appended) and an SVG plot of the training and
 * validation curves written beside it (`metrics.jsonl` → `metrics.svg`). Lines after a checkpoint's step can be
 * cut when resuming, so a resumed run's file equals an uninterrupted run's. A partial last line (a kill during
 * an append) is skipped on read. The plot's scales and paths come from d3-scale / d3-shape, as in
 * examples/toy-sampling.
 */
import { writeFileAtomic } from '@duality/models';
import { scaleLinear } from 'd3-scale';
import { line } from 'd3-shape';
import { TrainError } from './errors';
import { axesSvg, fmt, plotSvg } from './plot';

type Fs = typeof import('node:fs/promises');
const loadFs = (): Promise<Fs> => import('node:fs/promises');

/** One line of metrics; fields other than `step` and `time` appear when measured at that step. */
export interface MetricsRecord {
  /** Optimiser updates done. */
  step: number;
  /** Training loss, nats per token (the objective optimised: a surrogate under the curriculum). */
  loss?: number;
  /** Validation NELBO in nats per token (always the true NELBO). */
  valNelbo?: number;
  /** Validation bits per character. */
  valBpc?: number;
  /** Validation perplexity per token. */
  valPpl?: number;
  lr?: number;
  /** Global gradient norm before clipping. */
  gradNorm?: number;
  tokensPerSec?: number;
  peakMemMB?: number;
  /** Seconds since the run started. */
  time: number;
  [key: string]: number | string | undefined;
}

function checkRecord(r: MetricsRecord): void {
  if (!Number.isSafeInteger(r?.step) || r.step < 0) {
    throw new TrainError('MetricsWriter.append', `step ${r?.step}`, 'an integer ≥ 0');
  }
  for (const [k, x] of Object.entries(r)) {
    if (typeof x === 'number' && !Number.isFinite(x) && k !== 'loss' && k !== 'gradNorm') {
      throw new TrainError(
        'MetricsWriter.append',
        `${k} = ${x}`,
        'a finite number (only loss/gradNorm may be NaN)',
      );
    }
  }
}

/** JSON cannot hold NaN or ±Infinity: they are written as strings ("NaN") so a diverged loss stays visible. */
const encode = (r: MetricsRecord): string =>
  JSON.stringify(r, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));

const decodeNumber = (x: unknown): unknown =>
  x === 'NaN' || x === 'Infinity' || x === '-Infinity' ? Number(x) : x;

/** The records of a metrics file; a truncated last line is skipped, a malformed line elsewhere is an error. */
export async function readMetrics(path: string): Promise<MetricsRecord[]> {
  const fs = await loadFs();
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch {
    return [];
  }
  const lines = text.split('\n');
  const out: MetricsRecord[] = [];
  lines.forEach((l, i) => {
    if (l.trim() === '') return;
    try {
      out.push(JSON.parse(l, (_k, x) => decodeNumber(x)) as MetricsRecord);
    } catch {
      if (i === lines.length - 1) return; // a line cut by a kill: no newline after it
      throw new TrainError(
        'readMetrics',
        `${path} line ${i + 1}: ${l.slice(0, 60)}`,
        'one JSON object per line',
      );
    }
  });
  return out;
}

/** Appends metrics records to a JSON-lines file. */
export class MetricsWriter {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** Appends one record as one line. */
  async append(record: MetricsRecord): Promise<void> {
    checkRecord(record);
    const fs = await loadFs();
    await fs.appendFile(this.path, `${encode(record)}\n`);
  }

  /** Keeps the records with step ≤ `step` (and drops a partial last line), rewriting the file atomically. */
  async truncateAfter(step: number): Promise<MetricsRecord[]> {
    const kept = (await readMetrics(this.path)).filter((r) => r.step <= step);
    await writeFileAtomic(this.path, kept.map((r) => `${encode(r)}\n`).join(''));
    return kept;
  }

  /** The SVG path beside the JSON-lines file (`x.jsonl` → `x.svg`). */
  get plotPath(): string {
    return this.path.replace(/(\.jsonl)?$/, '.svg');
  }

  /** Writes the plot of the file's records beside it (atomically). */
  async writePlot(options: PlotOptions = {}): Promise<string> {
    await writeFileAtomic(this.plotPath, metricsPlotSvg(await readMetrics(this.path), options));
    return this.plotPath;
  }
}

/** Appends one record to the JSON-lines file at `path` (the functional form of MetricsWriter.append). */
export async function appendMetrics(path: string, record: MetricsRecord): Promise<void> {
  await new MetricsWriter(path).append(record);
}

/** Reads the JSON-lines file at `metricsPath` and writes its plot to `svgPath` (atomically). */
export async function writeMetricsPlot(
  metricsPath: string,
  svgPath: string,
  options: PlotOptions = {},
): Promise<void> {
  await writeFileAtomic(svgPath, metricsPlotSvg(await readMetrics(metricsPath), options));
}

/** Peak resident memory of this process so far, in MB (Node's resourceUsage().maxRSS is in KiB). */
export const peakMemoryMB = (): number => process.resourceUsage().maxRSS / 1024;

// ------------------------------------------------------------------------------------------------- plot

export interface PlotOptions {
  title?: string;
  /** Horizontal reference lines in bits (e.g. the unigram entropy of the data). */
  references?: Array<{ label: string; value: number }>;
}

const BOX = { width: 720, height: 420, left: 70, right: 24, top: 48, bottom: 100 };
const COLORS = { train: '#1f77b4', valid: '#d62728', reference: '#777' };

interface Series {
  label: string;
  color: string;
  points: Array<[number, number]>;
}

function seriesOf(records: readonly MetricsRecord[]): Series[] {
  const finite = (p: [number, number]) => Number.isFinite(p[0]) && Number.isFinite(p[1]);
  const train = records
    .filter((r) => typeof r.loss === 'number')
    .map((r): [number, number] => [r.step, (r.loss as number) / Math.LN2]);
  const valid = records
    .filter((r) => typeof r.valBpc === 'number')
    .map((r): [number, number] => [r.step, r.valBpc as number]);
  return [
    { label: 'training loss (bits per token)', color: COLORS.train, points: train.filter(finite) },
    { label: 'validation NELBO (bits per character)', color: COLORS.valid, points: valid.filter(finite) },
  ];
}

/**
 * An SVG of the training loss (in bits per token) and the validation BPC against the step: axes with ticks,
 * axis labels, a legend and a title; reference lines dashed.
 */
export function metricsPlotSvg(records: readonly MetricsRecord[], options: PlotOptions = {}): string {
  const title = options.title ?? 'Training and validation curves';
  const series = seriesOf(records);
  const refs = options.references ?? [];
  const steps = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = [...series.flatMap((s) => s.points.map((p) => p[1])), ...refs.map((r) => r.value)];
  const [x0, x1] = [Math.min(0, ...steps), Math.max(1, ...steps)];
  const [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  const pad = (y1 - y0) * 0.05 || 0.5;
  const x = scaleLinear()
    .domain([x0, x1])
    .range([BOX.left, BOX.width - BOX.right])
    .nice();
  const y = scaleLinear()
    .domain([y0 - pad, y1 + pad])
    .range([BOX.height - BOX.bottom, BOX.top])
    .nice();
  const [left, right] = x.range();
  const parts = axesSvg(x, y, x.ticks(8), 'optimiser step', 'bits');
  for (const r of refs) {
    parts.push(
      `<line x1="${left}" x2="${right}" y1="${y(r.value)}" y2="${y(r.value)}" stroke="${COLORS.reference}" stroke-dasharray="5,4"/>`,
    );
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = line<[number, number]>()
      .x((p) => x(p[0]))
      .y((p) => y(p[1]))(s.points);
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    if (s.points.length < 60)
      for (const p of s.points)
        parts.push(`<circle cx="${x(p[0])}" cy="${y(p[1])}" r="2.5" fill="${s.color}"/>`);
  }
  const legend = [
    ...series,
    ...refs.map((r) => ({ label: `${r.label} (${fmt(r.value)})`, color: COLORS.reference, dash: '5,4' })),
  ];
  return plotSvg(BOX, title, parts, legend);
}
