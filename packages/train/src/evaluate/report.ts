/**
 * An evaluation report as JSON, as a printable table, and as two SVG plots — gen-PPL against the number of
 * sampling steps (log₂ axis, one line per sampler, 95% bootstrap whiskers) and gen-PPL against the samples'
 * unigram entropy (one path per sampler through its step counts) — drawn with d3-scale / d3-shape like the
 * training curves of metrics.ts.
 */
import type { DiTConfig } from '@duality/models';
import { writeFileAtomic } from '@duality/models';
import { scaleLinear, scaleLog } from 'd3-scale';
import { line } from 'd3-shape';
import { axesSvg, fmt, type LegendEntry, plotSvg, type Scale } from '../plot';

export interface ModelInfo {
  source: string;
  algorithm: string;
  dataset?: string;
  weights: 'ema' | 'weights' | 'given';
  config: DiTConfig;
}

/** Validation NELBO (nats per token) → bits per character and perplexity per token. */
export interface ValidationFigures {
  nelbo: number;
  bpc: number;
  ppl: number;
  /** Validation windows × length scored. */
  tokens: number;
  /** Validation windows (each one diffusion time for a diffusion model). */
  windows: number;
  /** 95% percentile bootstrap interval of the BPC over windows (the report's `bootstrapResamples`). */
  bpcCi95: [number, number];
  /** Mean NELBO (nats per scored token) of each window, in stream order (with `keepWindows`). */
  windowNats?: number[];
}

/** One (sampler, steps, seed) cell. */
export interface EvaluationRow {
  sampler: string;
  steps: number;
  seed: number;
  /** exp(judge NLL per scored token); absent without a judge. */
  genPpl?: number;
  /** Judge NLL in nats per scored token. */
  judgeNll?: number;
  /** Mean over rows of each row's unigram entropy (bits). */
  entropyBits: number;
  /** Unigram entropy of all rows together (bits). */
  pooledEntropyBits: number;
  /** Sampling time (seconds) of the seed's batch. */
  seconds: number;
  /** The first row, decoded (when the tokenizer is known). */
  example?: string;
  /** The sampled ids [batch·length] (with `keepSamples`). */
  samples?: number[];
}

/** One (sampler, steps) cell over the seeds. */
export interface EvaluationSummary {
  sampler: string;
  steps: number;
  seeds: number;
  genPpl?: {
    /** Mean and standard deviation over seeds of each seed's gen-PPL. */
    mean: number;
    sd: number;
    /** gen-PPL of all seeds' rows together, and its percentile bootstrap 95% interval over rows. */
    pooled: number;
    ci95: [number, number];
  };
  entropyBits: { mean: number; sd: number };
  secondsPerSeed: number;
}

export interface EvaluationReport {
  model: ModelInfo;
  judge?: ModelInfo;
  settings: {
    batch: number;
    length: number;
    seeds: number[];
    steps: number[];
    samplers: string[];
    bootstrapResamples: number;
  };
  validation?: { model?: ValidationFigures; judge?: ValidationFigures };
  rows: EvaluationRow[];
  summary: EvaluationSummary[];
}

/** The report as a fixed-width text table (validation figures first, then one line per sampler × steps). */
export function evaluationTable(report: EvaluationReport): string {
  const out: string[] = [];
  const v = report.validation;
  const valLine = (who: string, f: ValidationFigures) =>
    `${who}: validation NELBO ${fmt(f.nelbo)} nats/token, ${fmt(f.bpc)} BPC [95% CI ${fmt(f.bpcCi95[0])}, ${fmt(f.bpcCi95[1])}], perplexity ${fmt(f.ppl)} (${f.windows} windows, ${f.tokens} tokens)`;
  out.push(`model: ${report.model.algorithm} ${report.model.source} (${report.model.weights})`);
  if (report.judge)
    out.push(`judge: ${report.judge.algorithm} ${report.judge.source} (${report.judge.weights})`);
  if (v?.model) out.push(valLine('model', v.model));
  if (v?.judge) out.push(valLine('judge', v.judge));
  out.push(
    `samples: ${report.settings.batch} × ${report.settings.length} ids per seed, seeds ${report.settings.seeds.join(', ')}`,
  );
  const header = [
    'sampler',
    'steps',
    'seeds',
    'gen-PPL (mean ± sd)',
    'pooled [95% CI]',
    'entropy bits',
    's/seed',
  ];
  const rows = report.summary.map((s) => [
    s.sampler,
    String(s.steps),
    String(s.seeds),
    s.genPpl ? `${fmt(s.genPpl.mean)} ± ${fmt(s.genPpl.sd, 2)}` : '—',
    s.genPpl ? `${fmt(s.genPpl.pooled)} [${fmt(s.genPpl.ci95[0])}, ${fmt(s.genPpl.ci95[1])}]` : '—',
    `${fmt(s.entropyBits.mean)} ± ${fmt(s.entropyBits.sd, 2)}`,
    fmt(s.secondsPerSeed, 3),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const cells = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  out.push('', cells(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(cells));
  return `${out.join('\n')}\n`;
}

// ------------------------------------------------------------------------------------------------- plots

const BOX = { width: 720, height: 440, left: 70, right: 24, top: 48, bottom: 100 };
const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

interface Point {
  x: number;
  y: number;
  lo?: number;
  hi?: number;
  label?: string;
}
interface Series {
  label: string;
  color: string;
  points: Point[];
}

/** Summary points of each sampler, ordered by steps. */
function seriesBy(
  report: EvaluationReport,
  x: (s: EvaluationSummary) => number,
  withWhiskers: boolean,
): Series[] {
  return report.settings.samplers.map((label, i) => ({
    label,
    color: PALETTE[i % PALETTE.length],
    points: report.summary
      .filter((s) => s.sampler === label && s.genPpl)
      .sort((a, b) => a.steps - b.steps)
      .map((s) => {
        const g = s.genPpl as NonNullable<EvaluationSummary['genPpl']>;
        return {
          x: x(s),
          y: g.pooled,
          ...(withWhiskers ? { lo: g.ci95[0], hi: g.ci95[1] } : {}),
          label: String(s.steps),
        };
      }),
  }));
}

/** Each series' path, whiskers and points. */
function curveParts(x: Scale, y: Scale, series: Series[]): string[] {
  const parts: string[] = [];
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = line<Point>()
      .x((p) => x(p.x))
      .y((p) => y(p.y))(s.points);
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const p of s.points) {
      if (p.lo !== undefined && p.hi !== undefined)
        parts.push(
          `<line x1="${x(p.x)}" x2="${x(p.x)}" y1="${y(p.lo)}" y2="${y(p.hi)}" stroke="${s.color}" stroke-width="1.2"/>`,
        );
      parts.push(`<circle cx="${x(p.x)}" cy="${y(p.y)}" r="3" fill="${s.color}"/>`);
    }
  }
  return parts;
}

function frame(
  title: string,
  xLabel: string,
  yLabel: string,
  x: Scale,
  y: Scale,
  xTicks: number[],
  series: Series[],
): string {
  const parts = axesSvg(x, y, xTicks, xLabel, yLabel).concat(curveParts(x, y, series));
  return plotSvg(BOX, title, parts, series);
}

function yScale(series: Series[]): Scale {
  const ys = series.flatMap((s) => s.points.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]));
  const [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  const pad = (y1 - y0) * 0.05 || 0.5;
  return scaleLinear()
    .domain([y0 - pad, y1 + pad])
    .range([BOX.height - BOX.bottom, BOX.top])
    .nice() as unknown as Scale;
}

/** A series of `seriesPlotSvg`: points joined in the order given, with optional whiskers [lo, hi]. */
export interface PlotSeries {
  label: string;
  points: ReadonlyArray<{ x: number; y: number; lo?: number; hi?: number }>;
}

export interface SeriesPlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly PlotSeries[];
  /** 'linear' (default) or 'log2' (ticks at the points' x values). */
  xScale?: 'linear' | 'log2';
  /** Dashed horizontal reference lines, in the legend. */
  references?: ReadonlyArray<{ y: number; label: string }>;
}

/**
 * Any set of curves in the evaluation plots' frame (axes, palette, whiskers, legend) — the figures of a report
 * that compares several runs, such as validation BPC against training steps.
 */
export function seriesPlotSvg(o: SeriesPlotOptions): string {
  const series: Series[] = o.series.map((s, i) => ({
    label: s.label,
    color: PALETTE[i % PALETTE.length],
    points: s.points.map((p) => ({ ...p })),
  }));
  const refs = o.references ?? [];
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [1, 2];
  const range = [BOX.left + 10, BOX.width - BOX.right - 10];
  const x = (o.xScale === 'log2'
    ? scaleLog()
        .base(2)
        .domain(x0 === x1 ? [x0 / 2, x1 * 2] : [x0, x1])
        .range(range)
    : scaleLinear()
        .domain(x0 === x1 ? [x0 - 1, x1 + 1] : [x0, x1])
        .range(range)
        .nice()) as unknown as Scale;
  const withRefs = [...series, { label: '', color: '', points: refs.map((r) => ({ x: x0, y: r.y })) }];
  const y = yScale(withRefs);
  const ticks = o.xScale === 'log2' ? [...new Set(xs)].sort((a, b) => a - b) : x.ticks(8);
  const [left, right] = x.range();
  const lines = refs.map(
    (r) =>
      `<line x1="${left}" x2="${right}" y1="${y(r.y)}" y2="${y(r.y)}" stroke="#555" stroke-width="1.2" stroke-dasharray="6 4"/>`,
  );
  // the references under the curves, and in the legend after the series
  const legend: LegendEntry[] = [
    ...series.map((s) => ({ label: s.label, color: s.color })),
    ...refs.map((r) => ({ label: r.label, color: '#555', dash: '6 4' })),
  ];
  const parts = [...axesSvg(x, y, ticks, o.xLabel, o.yLabel), ...lines, ...curveParts(x, y, series)];
  return plotSvg(BOX, o.title, parts, legend);
}

/** gen-PPL (pooled over seeds, 95% bootstrap whiskers) against sampling steps on a log₂ axis; undefined without a judge. */
export function genPplVsStepsSvg(
  report: EvaluationReport,
  title = 'Generative perplexity against sampling steps',
): string | undefined {
  const series = seriesBy(report, (s) => s.steps, true);
  if (series.every((s) => s.points.length === 0)) return undefined;
  const steps = report.settings.steps;
  const lo = Math.min(...steps);
  const hi = Math.max(...steps);
  const x = scaleLog()
    .base(2)
    .domain(lo === hi ? [lo / 2, hi * 2] : [lo, hi])
    .range([BOX.left + 10, BOX.width - BOX.right - 10]) as unknown as Scale;
  return frame(
    title,
    'sampling steps',
    'gen-PPL (judge)',
    x,
    yScale(series),
    [...new Set(steps)].sort((a, b) => a - b),
    series,
  );
}

/** gen-PPL against the samples' mean unigram entropy (bits), one path per sampler through its step counts. */
export function genPplVsEntropySvg(
  report: EvaluationReport,
  title = 'Generative perplexity against sample entropy',
): string | undefined {
  const series = seriesBy(report, (s) => s.entropyBits.mean, false);
  if (series.every((s) => s.points.length === 0)) return undefined;
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const pad = (Math.max(...xs) - Math.min(...xs)) * 0.05 || 0.1;
  const x = scaleLinear()
    .domain([Math.min(...xs) - pad, Math.max(...xs) + pad])
    .range([BOX.left, BOX.width - BOX.right])
    .nice() as unknown as Scale;
  return frame(
    title,
    'unigram entropy of the samples (bits)',
    'gen-PPL (judge)',
    x,
    yScale(series),
    x.ticks(8),
    series,
  );
}

/** Writes evaluation.json, evaluation.txt and the two plots into `dir` (atomically); returns the paths written. */
export async function writeEvaluation(report: EvaluationReport, dir: string): Promise<string[]> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  const files: Array<[string, string | undefined]> = [
    ['evaluation.json', `${JSON.stringify(report, null, 2)}\n`],
    ['evaluation.txt', evaluationTable(report)],
    ['gen-ppl-vs-steps.svg', genPplVsStepsSvg(report)],
    ['gen-ppl-vs-entropy.svg', genPplVsEntropySvg(report)],
  ];
  const written: string[] = [];
  for (const [name, text] of files) {
    if (text === undefined) continue;
    await writeFileAtomic(`${dir}/${name}`, text);
    written.push(`${dir}/${name}`);
  }
  return written;
}
