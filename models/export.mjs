#!/usr/bin/env node
/**
 * Exports every bundled model from its training run: for each models/<name>/ with a config.json and a committed
 * checkpoint under run/, `duality export models/<name>/run models/<name>` (the EMA weights → model.safetensors,
 * metrics.json from run/metrics.jsonl) — the AR judge first, then every diffusion model with its evaluation
 * under that judge (gen-PPL and entropy; DCD students and their teacher at the few-step counts too). Then the
 * untrained network's baseline (a 1-step run of the duo config: its only update has learning rate 0, so the
 * weights are the initialisation) into models/baselines.json, and the generated tables of models/README.md.
 *
 *   node models/export.mjs                 # everything (≈ 10 min on the loaded 2-core machine)
 *   node models/export.mjs --no-eval       # weights and training figures only (seconds), evaluations kept
 *   node models/export.mjs --only duo-brown8,ar-brown8
 *   node models/export.mjs --seeds 0       # fewer evaluation seeds (default 0,1,2)
 *   node models/export.mjs --tables-only   # only the tables of models/README.md, from the metrics files
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { byBundledOrder, generated, withGenerated } from './readme-table.mjs';

const MODELS = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(MODELS);
const JUDGE = 'ar-brown8';
/** The teacher of the DCD students (its few-step and many-step figures are what a student is compared with). */
const TEACHER = 'duo-brown8';
const STEPS = { student: '1,2,4,8', teacher: '1,2,4,8,64,256', other: '8,64' };

function fail(message) {
  console.error(`models/export: ${message}`);
  process.exit(2);
}

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      eval: { type: 'boolean', default: true },
      'no-eval': { type: 'boolean', default: false },
      only: { type: 'string' },
      seeds: { type: 'string', default: '0,1,2' },
      batch: { type: 'string', default: '8' },
      'tables-only': { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (error) {
  fail(error.message.replace(/\s*\n\s*/g, ' '));
}
const evaluate = options.eval && !options['no-eval'];
if (!/^\d+(,\d+)*$/.test(options.seeds))
  fail(`--seeds must be integers separated by commas, got '${options.seeds}'`);
if (!/^[1-9]\d*$/.test(options.batch)) fail(`--batch must be a positive integer, got '${options.batch}'`);

/** `duality <args>` from the sources, at the repository root; the output is returned (and shown on failure). */
function duality(args, { quiet = false } = {}) {
  const r = spawnSync(process.execPath, [join(REPO, 'packages/cli/scripts/dev.mjs'), ...args], {
    cwd: REPO,
    env: { ...process.env, INIT_CWD: REPO },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', quiet ? 'pipe' : 'inherit'],
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) {
    if (quiet) process.stderr.write(r.stderr ?? '');
    fail(`duality ${args.join(' ')} exited with ${r.status}`);
  }
  return r.stdout;
}

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

/** models/<name>/ folders with a training (or distillation) config. */
function bundled() {
  return readdirSync(MODELS, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(MODELS, d.name, 'config.json')))
    .map((d) => {
      const config = readJson(join(MODELS, d.name, 'config.json'));
      return { name: d.name, config, student: typeof config.teacher === 'string' };
    })
    .sort((a, b) => byBundledOrder(a.name, b.name)); // the judge first: the others are evaluated under it
}

const committed = (name) => {
  const root = join(MODELS, name, 'run', 'checkpoints');
  return (
    existsSync(root) &&
    readdirSync(root).some((d) => /^step-\d+$/.test(d) && existsSync(join(root, d, 'state.json')))
  );
};

const judgeFile = join('models', JUDGE, 'model.safetensors');
const only = options['tables-only'] ? new Set() : options.only ? new Set(options.only.split(',')) : undefined;
for (const m of bundled()) {
  if (only && !only.has(m.name)) continue;
  if (!committed(m.name)) {
    console.log(`${m.name}: no committed checkpoint under models/${m.name}/run yet; skipped`);
    continue;
  }
  const dir = join('models', m.name);
  const args = ['export', join(dir, 'run'), dir];
  const diffusion = m.config.algorithm !== 'ar';
  const previous = existsSync(join(MODELS, m.name, 'metrics.json'))
    ? readJson(join(MODELS, m.name, 'metrics.json'))
    : undefined;
  if (evaluate && diffusion) {
    if (!existsSync(join(REPO, judgeFile))) fail(`the judge ${judgeFile} is not exported yet`);
    const steps = m.student ? STEPS.student : m.name === TEACHER ? STEPS.teacher : STEPS.other;
    args.push('--judge', judgeFile, '--steps', steps, '--seeds', options.seeds, '--batch', options.batch);
  }
  console.log(`$ duality ${args.join(' ')}`);
  process.stdout.write(duality(args));
  if (!evaluate && previous?.evaluation && previous.step !== undefined) {
    // weights re-exported without evaluating: keep the earlier evaluation, saying which step it was of
    const now = readJson(join(MODELS, m.name, 'metrics.json'));
    now.evaluation = { ...previous.evaluation, step: previous.evaluation.step ?? previous.step };
    writeFileSync(join(MODELS, m.name, 'metrics.json'), `${JSON.stringify(now, null, 2)}\n`);
  }
}

const baselinesPath = join(MODELS, 'baselines.json');
if (evaluate && (!only || only.has('untrained')) && existsSync(join(REPO, judgeFile))) {
  const work = mkdtempSync(join(tmpdir(), 'duality-untrained-'));
  try {
    const config = join('models', TEACHER, 'config.json');
    console.log(`$ duality train -c ${config} -o <tmp> --steps 1 --fresh   # the untrained network`);
    duality(['train', '-c', config, '-o', work, '--steps', '1', '--fresh'], { quiet: true });
    // with the greedy tail (as the models above): a flat x̂0 makes every position its first id, entropy 0;
    // with the ancestral final step: uniform random characters
    const untrained = ['greedy', 'ancestral'].map((noiseRemoval) => {
      const evalArgs = ['--json', 'eval', work, '--judge', judgeFile, '--steps', '64'];
      evalArgs.push('--seeds', options.seeds, '--batch', options.batch, '--noise-removal', noiseRemoval);
      console.log(`$ duality ${evalArgs.join(' ')}`);
      const report = JSON.parse(duality(evalArgs));
      return {
        config: relative(REPO, join(MODELS, TEACHER, 'config.json')),
        sampler: report.settings.samplers[0],
        batch: report.settings.batch,
        length: report.settings.length,
        seeds: report.settings.seeds,
        cells: report.summary.map((s) => ({
          steps: s.steps,
          genPpl: s.genPpl.pooled,
          ci95: s.genPpl.ci95,
          entropyBits: s.entropyBits.mean,
          seconds: s.secondsPerSeed,
        })),
      };
    });
    const baselines = { untrained };
    writeFileSync(baselinesPath, `${JSON.stringify(baselines, null, 2)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const metrics = bundled()
  .filter((m) => existsSync(join(MODELS, m.name, 'metrics.json')))
  .map((m) => readJson(join(MODELS, m.name, 'metrics.json')));
const baselines = existsSync(baselinesPath) ? readJson(baselinesPath) : { untrained: [] };
const readmePath = join(MODELS, 'README.md');
const readme = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : '# Bundled models\n';
writeFileSync(readmePath, withGenerated(readme, generated(metrics, baselines)));
console.log(`wrote the tables of ${relative(REPO, readmePath)} (${metrics.length} models)`);
