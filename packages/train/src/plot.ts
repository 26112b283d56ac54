/**
 * The SVG scaffolding of the train package's plots (metrics curves, evaluation figures): value formatting,
 * escaping, the axes with grid, ticks and labels, the two-column legend and the titled document.
 */

/** The plot area's size and margins, in px. */
export interface PlotBox {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** A d3 continuous scale as the plots use it. */
export type Scale = ((v: number) => number) & { ticks(n?: number): number[]; range(): number[] };

/** A legend entry: a line of the series' colour (dashed when `dash` is set), then its label. */
export interface LegendEntry {
  label: string;
  color: string;
  dash?: string;
}

/** A number with `digits` significant digits, trailing zeros dropped; non-finite values as text. */
export const fmt = (x: number, digits = 4): string =>
  Number.isFinite(x) ? Number(x.toPrecision(digits)).toString() : String(x);

export const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Horizontal grid lines with y tick labels, x ticks, both axis lines and the axis labels. */
export function axesSvg(
  x: Scale,
  y: Scale,
  xTicks: readonly number[],
  xLabel: string,
  yLabel: string,
): string[] {
  const [left, right] = x.range();
  const [bottom, top] = y.range();
  const parts: string[] = [];
  for (const t of y.ticks(6)) {
    parts.push(`<line x1="${left}" x2="${right}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end" font-size="11">${fmt(t)}</text>`);
  }
  for (const t of xTicks) {
    parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${bottom}" y2="${bottom + 5}" stroke="#333"/>`);
    parts.push(`<text x="${x(t)}" y="${bottom + 18}" text-anchor="middle" font-size="11">${fmt(t)}</text>`);
  }
  parts.push(`<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${left}" x2="${left}" y1="${bottom}" y2="${top}" stroke="#333"/>`);
  parts.push(
    `<text x="${(left + right) / 2}" y="${bottom + 38}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(18,${(top + bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(yLabel)}</text>`,
  );
  return parts;
}

/** The whole SVG: white background, title, the plot's parts, a two-column legend below (taller for > 4 entries). */
export function plotSvg(
  box: PlotBox,
  title: string,
  parts: readonly string[],
  legend: readonly LegendEntry[],
): string {
  const entries = legend.map((e, i) => {
    const lx = box.left + (i % 2) * 330;
    const ly = box.height - 40 + 20 * Math.floor(i / 2);
    const dash = e.dash ? ` stroke-dasharray="${e.dash}"` : '';
    return `<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="${e.color}" stroke-width="3"${dash}/><text x="${lx + 34}" y="${ly + 4}" font-size="12">${esc(e.label)}</text>`;
  });
  const height = box.height + 20 * Math.max(0, Math.ceil(entries.length / 2) - 2);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${box.width}" height="${height}" viewBox="0 0 ${box.width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<title>${esc(title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${box.width / 2}" y="26" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
    ...parts,
    ...entries,
    '</svg>',
    '',
  ].join('\n');
}
