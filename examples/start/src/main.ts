/**
 * `pnpm start`, the main job: the bundled Duo model writes brown8 text (a–z and space) with the denoising drawn
 * live in the terminal (the `duality sample` view of @duality/cli, run in-process), then a short table — via
 * `evaluate` of @duality/train — of gen-PPL under the bundled AR judge and unigram entropy for the few-step
 * student (1, 2, 4, 8 steps) against the many-step teacher (64 steps; 256 too with --full), with real validation
 * text as the yardstick. Until a DCD-distilled student is bundled (models/duo-dcd-brown8), the few-step rows are
 * the Duo teacher itself, and the program says so. cpu backend, no network, no GPU.
 *
 *   node --conditions=@duality/source --import tsx src/main.ts [--quick] [--full] [--seed N]
 * (--quick: 2 sequences per cell; --full: the teacher at 256 steps too and three seeds)
 */
import { cpus, loadavg } from 'node:os';
import { processIo, run } from '@duality/cli';
import { createBackend } from '@duality/kernels';
import { loadDiT } from '@duality/models';
import { type EvaluationReport, evaluate, prepareDataset, type SamplerSpec } from '@duality/train';
import { type Bundled, bundled, contextOf, describeModel, NAMES, partial } from './bundle';
import { parseCommandLine, USAGE } from './command-line';
import { type Row, realTextRow, renderTable, rowsOf } from './table';

const parsed = parseCommandLine(process.argv.slice(2));
if ('error' in parsed) {
  console.error(`pnpm start: ${parsed.error} (usage: ${USAGE})`);
  process.exit(2);
}
const { quick, full, seed } = parsed;

/** Live sample: 8 steps of Duo's ancestral sampler with the greedy tail (Duo §4.2). */
const LIVE = { steps: 8, batch: quick ? 2 : 4 };
const STUDENT_STEPS = [1, 2, 4, 8];
const TEACHER_STEPS = full ? [64, 256] : [64];
const BATCH = quick ? 2 : 8;
const SEEDS = full ? [seed, seed + 1, seed + 2] : [seed];
const SAMPLER: SamplerSpec = { kind: 'ancestral', noiseRemoval: 'greedy' };
const tty = process.stdout.isTTY === true;
const say = (line = '') => process.stdout.write(`${line}\n`);
const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ');

/** A status line on stderr while the table is computed (terminal only). */
function status(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\u001b[2K${text}`);
}

function need(name: string): Bundled {
  const m = bundled(name);
  if (!m) {
    console.error(
      `pnpm start: models/${name}/model.safetensors (with metrics.json) is missing — export it with \`node models/export.mjs\``,
    );
    process.exit(1);
  }
  return m;
}

async function main(): Promise<void> {
  const started = performance.now();
  const teacher = need(NAMES.teacher);
  const judge = need(NAMES.judge);
  const student = bundled(NAMES.student);
  const writer = student ?? teacher;
  say('Duality — a discrete diffusion language model writes text (cpu backend, no network, no GPU)');
  say(`model:   ${writer.shown}: ${describeModel(writer)}`);
  if (!student)
    say(
      `note:    no DCD-distilled student is bundled yet (models/${NAMES.student}); the "student" rows below are the Duo teacher itself sampled with few steps`,
    );
  say(`judge:   ${judge.shown}: ${describeModel(judge)}`);
  for (const m of [writer, judge])
    if (partial(m))
      say(
        `status:  ${m.name} is partially trained (${m.metrics.step} of ${m.metrics.steps} steps); a later session resumes its run from the committed checkpoint`,
      );
  say('');
  say(
    `${LIVE.batch} sequences of ${writer.metrics.dataset} text, ${LIVE.steps} denoising steps, seed ${seed}${tty ? ' (live):' : ':'}`,
  );
  const t0 = performance.now();
  const code = await run(
    [
      '--seed',
      String(seed),
      'sample',
      writer.file,
      '--steps',
      String(LIVE.steps),
      '--batch',
      String(LIVE.batch),
      '--noise-removal',
      'greedy',
    ],
    processIo(),
  );
  const liveSeconds = (performance.now() - t0) / 1000;
  if (code !== 0) process.exit(code);
  say(
    `sampling took ${liveSeconds.toFixed(2)} s (model load and ${LIVE.steps} steps, cpu backend, ${cpus().length} cores, load average ${load()})`,
  );
  say('');

  const backend = await createBackend('cpu');
  try {
    const cells = (STUDENT_STEPS.length + TEACHER_STEPS.length) * SEEDS.length;
    let done = 0;
    const length = Math.min(await contextOf(writer), await contextOf(teacher), await contextOf(judge));
    const common = { judge: judge.file, sampler: SAMPLER, seeds: SEEDS, batch: BATCH, length, backend };
    const evaluated = async (m: Bundled, steps: number[], who: string): Promise<EvaluationReport> =>
      evaluate({
        ...common,
        model: { source: m.file, algorithm: m.metrics.algorithm, dataset: 'brown8' },
        steps,
        onProgress: (p) =>
          status(
            `evaluating: ${++done}/${cells} cells done (last: ${who}, ${p.steps} steps, seed ${p.seed})`,
          ),
      });
    status(`evaluating: 0/${cells} cells done`);
    const studentWho = student ? 'student (DCD)' : 'few-step (teacher itself)';
    const few = await evaluated(writer, STUDENT_STEPS, studentWho);
    const many = await evaluated(teacher, TEACHER_STEPS, 'teacher');
    status('scoring validation text');
    const judgeModel = await loadDiT(backend, judge.file);
    const data = await prepareDataset('brown8');
    const real = await realTextRow(judgeModel, backend, data.validation.tokens, BATCH * SEEDS.length, length);
    judgeModel.dispose();
    status('');
    if (process.stderr.isTTY) process.stderr.write('\r');
    const rows: Row[] = [...rowsOf(few, studentWho), ...rowsOf(many, 'teacher (Duo)'), real];
    say(
      `gen-PPL under the AR judge and unigram entropy: ${BATCH} × ${length} characters per cell, seeds ${SEEDS.join(', ')}, ancestral sampling with the greedy tail`,
    );
    say(renderTable(rows));
    say('');
    say(
      'Lower gen-PPL is text the judge finds likelier; entropy far below the real text’s means repetitive, degenerate text.',
    );
    say(
      `Figures of every bundled model, with the commands that made them: models/README.md. Done in ${((performance.now() - started) / 1000).toFixed(1)} s.`,
    );
  } finally {
    backend.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(`pnpm start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
