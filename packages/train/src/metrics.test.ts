import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  appendMetrics,
  MetricsWriter,
  metricsPlotSvg,
  peakMemoryMB,
  readMetrics,
  writeMetricsPlot,
} from './metrics';

const dir = mkdtempSync(join(tmpdir(), 'duality-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (steps: number) =>
  Array.from({ length: steps }, (_, i) => ({
    step: i + 1,
    loss: 3.3 * Math.exp(-i / 40) + 1.2,
    lr: 3e-4,
    gradNorm: 0.5,
    tokensPerSec: 1000,
    peakMemMB: 100,
    time: i * 0.1,
    ...(i % 10 === 9 ? { valBpc: 4.7 * Math.exp(-i / 50) + 2, valNelbo: 2, valPpl: 7 } : {}),
  }));

describe('MetricsWriter', () => {
  it('appends one JSON object per line and reads them back, NaN loss included', async () => {
    const w = new MetricsWriter(join(dir, 'a.jsonl'));
    const records = run(5);
    for (const r of records) await w.append(r);
    await w.append({ step: 6, loss: Number.NaN, time: 1 });
    const text = readFileSync(w.path, 'utf8');
    expect(text.trim().split('\n').length).toBe(6);
    const back = await readMetrics(w.path);
    expect(back.slice(0, 5)).toEqual(records);
    expect(back[5].loss).toBeNaN();
  });

  it('skips a partial last line; truncateAfter(step) keeps the lines up to a checkpoint', async () => {
    const w = new MetricsWriter(join(dir, 'b.jsonl'));
    for (const r of run(20)) await w.append(r);
    appendFileSync(w.path, '{"step": 21, "lo');
    expect((await readMetrics(w.path)).length).toBe(20);
    const kept = await w.truncateAfter(12);
    expect(kept.map((r) => r.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(await readMetrics(w.path)).toEqual(run(12));
    writeFileSync(w.path, '{"step": 1, "time": 0}\nnot json\n{"step": 2, "time": 0}\n');
    await expect(readMetrics(w.path)).rejects.toThrow(/line 2/);
  });

  it('refuses a record without a step or with an infinite value', async () => {
    const w = new MetricsWriter(join(dir, 'c.jsonl'));
    await expect(w.append({ step: -1, time: 0 })).rejects.toThrow(/step -1/);
    await expect(w.append({ step: 1, lr: Number.POSITIVE_INFINITY, time: 0 })).rejects.toThrow(
      /lr = Infinity/,
    );
  });

  it('writes the SVG plot beside the file: title, both axes with labels, both curves, legend, reference line', async () => {
    const w = new MetricsWriter(join(dir, 'run.jsonl'));
    for (const r of run(100)) await w.append(r);
    const path = await w.writePlot({
      title: 'brown8 MDLM <micro>',
      references: [{ label: 'unigram entropy', value: 4.106 }],
    });
    expect(path).toBe(join(dir, 'run.svg'));
    const svg = readFileSync(path, 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('<title>brown8 MDLM &lt;micro&gt;</title>');
    expect(svg).toContain('>optimiser step</text>');
    expect(svg).toContain('>bits</text>');
    expect(svg).toContain('training loss (bits per token)');
    expect(svg).toContain('validation NELBO (bits per character)');
    expect(svg).toContain('unigram entropy (4.106)');
    expect(svg.match(/<path d="M/g)?.length).toBe(2);
    expect(svg).toContain('stroke-dasharray="5,4"');
    expect(svg).not.toContain('NaN');
  });

  it('appendMetrics and writeMetricsPlot are the functional forms', async () => {
    const path = join(dir, 'f.jsonl');
    for (const r of run(30)) await appendMetrics(path, r);
    expect(await readMetrics(path)).toEqual(run(30));
    await writeMetricsPlot(path, join(dir, 'elsewhere.svg'), { title: 'functional' });
    const svg = readFileSync(join(dir, 'elsewhere.svg'), 'utf8');
    expect(svg).toContain('<title>functional</title>');
    expect(svg.match(/<path d="M/g)?.length).toBe(2);
  });

  it('plots an empty or single-point run without NaN coordinates', () => {
    expect(metricsPlotSvg([])).not.toContain('NaN');
    expect(metricsPlotSvg([{ step: 0, loss: 1, time: 0 }])).not.toContain('NaN');
  });

  it('reports the peak resident memory in MB', () => {
    const mb = peakMemoryMB();
    expect(mb).toBeGreaterThan(10);
    expect(mb).toBeLessThan(24 * 1024);
  });
});
