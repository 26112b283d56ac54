/**
 * The quality-vs-steps figure as an SVG: one panel per process, total variation (log scale) against steps
 * (log₂ scale), one line per sampler, the finite-sample floor dashed. Scales and paths come from d3-scale/d3-shape.
 */
import { scaleLog } from 'd3-scale';
import { line } from 'd3-shape';
import type { Cell } from './experiment';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const PANEL = { width: 420, height: 300, left: 60, right: 16, top: 40, bottom: 46 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function panel(
  cells: Cell[],
  process: string,
  floor: number,
  x0: number,
  samplers: string[],
  yDomain: [number, number],
): string {
  const steps = [...new Set(cells.map((c) => c.steps))].sort((a, b) => a - b);
  const x = scaleLog()
    .base(2)
    .domain([steps[0], steps[steps.length - 1]])
    .range([x0 + PANEL.left, x0 + PANEL.width - PANEL.right]);
  const y = scaleLog()
    .domain(yDomain)
    .range([PANEL.height - PANEL.bottom, PANEL.top])
    .clamp(true);
  const parts: string[] = [];
  for (const t of y.ticks(6)) {
    const label = y.tickFormat(6, '.2~f')(t);
    parts.push(
      `<line x1="${x.range()[0]}" x2="${x.range()[1]}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`,
    );
    if (label)
      parts.push(
        `<text x="${x.range()[0] - 6}" y="${y(t) + 4}" text-anchor="end" font-size="11">${label}</text>`,
      );
  }
  for (const s of steps) {
    parts.push(
      `<line x1="${x(s)}" x2="${x(s)}" y1="${y.range()[0]}" y2="${y.range()[0] + 5}" stroke="#333"/>`,
    );
    parts.push(`<text x="${x(s)}" y="${y.range()[0] + 18}" text-anchor="middle" font-size="11">${s}</text>`);
  }
  parts.push(
    `<line x1="${x.range()[0]}" x2="${x.range()[1]}" y1="${y.range()[0]}" y2="${y.range()[0]}" stroke="#333"/>`,
  );
  parts.push(
    `<line x1="${x.range()[0]}" x2="${x.range()[0]}" y1="${y.range()[0]}" y2="${y.range()[1]}" stroke="#333"/>`,
  );
  parts.push(
    `<text x="${(x.range()[0] + x.range()[1]) / 2}" y="${PANEL.height - 8}" text-anchor="middle" font-size="12">steps</text>`,
  );
  parts.push(
    `<text transform="translate(${x0 + 16},${(PANEL.top + PANEL.height - PANEL.bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="12">total variation to the true law</text>`,
  );
  parts.push(
    `<text x="${(x.range()[0] + x.range()[1]) / 2}" y="${PANEL.top - 14}" text-anchor="middle" font-size="14" font-weight="bold">${esc(process)} process</text>`,
  );
  parts.push(
    `<line x1="${x.range()[0]}" x2="${x.range()[1]}" y1="${y(floor)}" y2="${y(floor)}" stroke="#777" stroke-dasharray="5,4"/>`,
    `<text x="${x.range()[1] - 4}" y="${y(floor) + 14}" text-anchor="end" font-size="10" fill="#555">exact sampler, same sample size</text>`,
  );
  samplers.forEach((name, i) => {
    const pts = cells.filter((c) => c.sampler === name).sort((a, b) => a.steps - b.steps);
    const path = line<Cell>()
      .x((c) => x(c.steps))
      .y((c) => y(c.tv))(pts);
    parts.push(`<path d="${path}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`);
    for (const c of pts)
      parts.push(`<circle cx="${x(c.steps)}" cy="${y(c.tv)}" r="3" fill="${COLORS[i % COLORS.length]}"/>`);
  });
  return parts.join('\n');
}

/** The whole figure: panels for each process and one legend. */
export function qualityPlot(cells: Cell[], floors: Record<string, number>, title: string): string {
  const processes = [...new Set(cells.map((c) => c.process))];
  const samplers = [...new Set(cells.map((c) => c.sampler))];
  const tvs = cells.map((c) => c.tv).concat(Object.values(floors));
  const yDomain: [number, number] = [Math.min(...tvs) * 0.8, Math.min(1, Math.max(...tvs) * 1.25)];
  const width = PANEL.width * processes.length;
  const legendHeight = 24 * Math.ceil(samplers.length / 2) + 10;
  const height = PANEL.height + legendHeight + 30;
  const body = processes.map((p, i) =>
    panel(
      cells.filter((c) => c.process === p),
      p,
      floors[p],
      i * PANEL.width,
      samplers,
      yDomain,
    ),
  );
  const legend = samplers.map((name, i) => {
    const lx = 70 + (i % 2) * 360;
    const ly = 30 + PANEL.height + 22 * Math.floor(i / 2);
    return `<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="${COLORS[i % COLORS.length]}" stroke-width="3"/><text x="${lx + 34}" y="${ly + 4}" font-size="12">${esc(name)}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<title>${esc(title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    `<g transform="translate(0,10)">${body.join('\n')}</g>`,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
