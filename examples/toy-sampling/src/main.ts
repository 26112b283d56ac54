/**
 * `pnpm start:toy`: samples the 20-strings toy distribution with the ancestral and Ψ samplers at 4…256 steps, for the
 * masked and uniform processes, shows the denoising live, prints valid fraction and total variation per sampler and
 * step count, and writes results/quality-vs-steps.svg, results/results.json and results/table.md.
 *
 *   node --conditions=@duality/source --import tsx src/main.ts [--quick] [--batch N]
 * (--quick: 300 samples, 4/16/64 steps, results in the temp dir)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackend } from '@duality/kernels';
import logUpdate from 'log-update';
import { parseCommandLine } from './command-line';
import { type Cell, exactFloor, runToy, SAMPLERS } from './experiment';
import { qualityPlot } from './plot';
import { LENGTH, makeToy, type ProcessName, render } from './toy';

const parsed = parseCommandLine(process.argv.slice(2));
if ('error' in parsed) {
  console.error(`toy-sampling: ${parsed.error} (usage: [--quick] [--batch N])`);
  process.exit(2);
}
const { quick, batch } = parsed;
const BATCH = batch ?? (quick ? 300 : 2000);
const STEPS = quick ? [4, 16, 64] : [4, 8, 16, 32, 64, 128, 256];
const SEED = 2026;
const SHOWN_ROWS = 4;
const live = Boolean(process.stdout.isTTY);
// --quick (a smoke run) writes to the temp dir so it never overwrites the committed full results
const resultsDir = quick
  ? join(tmpdir(), 'duality-toy-sampling')
  : join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function table(cells: Cell[], floors: Record<string, number>): string {
  const lines: string[] = [];
  for (const p of Object.keys(floors)) {
    lines.push(
      `\n**${p}** (valid strings / total variation; exact-sampler TV at this sample size ≈ ${floors[p].toFixed(3)})\n`,
    );
    lines.push(`| steps | ${SAMPLERS.map((s) => s.name).join(' | ')} |`);
    lines.push(`|---:|${SAMPLERS.map(() => '---:').join('|')}|`);
    for (const steps of STEPS) {
      const row = SAMPLERS.map((s) => {
        const c = cells.find((x) => x.process === p && x.sampler === s.name && x.steps === steps);
        return c ? `${pct(c.valid)} / ${c.tv.toFixed(3)}` : '—';
      });
      lines.push(`| ${steps} | ${row.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

async function main() {
  const backend = await createBackend('cpu');
  const cells: Cell[] = [];
  const floors: Record<string, number> = {};
  let lastFrame = 0;
  const started = performance.now();
  for (const name of ['masked', 'uniform'] as ProcessName[]) {
    const toy = makeToy(backend, name);
    floors[name] = exactFloor(toy, BATCH, 20, SEED);
    const done = await runToy(toy, {
      steps: STEPS,
      batch: BATCH,
      seed: SEED,
      onCell: (c) => {
        if (live) logUpdate.clear();
        console.log(
          `${c.process.padEnd(8)} ${c.sampler.padEnd(22)} ${String(c.steps).padStart(4)} steps  valid ${pct(c.valid).padStart(6)}  TV ${c.tv.toFixed(3)}  (${c.seconds.toFixed(1)} s)`,
        );
      },
      onState: ({ sampler, steps, state }) => {
        const now = performance.now();
        if (!live || (now - lastFrame < 40 && state.phase !== 'final')) return;
        lastFrame = now;
        const width = 30;
        const filled = Math.round((width * state.done) / state.total);
        const rows = Array.from(
          { length: SHOWN_ROWS },
          (_, r) => `    ${render(state.xt, r * LENGTH, LENGTH)}`,
        );
        logUpdate(
          [
            `${name} · ${sampler} · ${steps} steps`,
            `  [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] step ${state.done}/${state.total}  t = ${state.t.toFixed(3)}`,
            ...rows,
          ].join('\n'),
        );
      },
    });
    if (live) logUpdate.clear();
    cells.push(...done);
  }
  const md = table(cells, floors);
  console.log(md);
  mkdirSync(resultsDir, { recursive: true });
  const title = `20 strings of length 8 over a–e, exact denoiser, ${BATCH} samples per cell`;
  writeFileSync(join(resultsDir, 'quality-vs-steps.svg'), qualityPlot(cells, floors, title));
  writeFileSync(
    join(resultsDir, 'results.json'),
    `${JSON.stringify({ batch: BATCH, steps: STEPS, seed: SEED, floors, cells }, null, 2)}\n`,
  );
  writeFileSync(join(resultsDir, 'table.md'), `${md}\n`);
  console.log(
    `\nwrote ${join(resultsDir, 'quality-vs-steps.svg')} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
  );
  backend.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
