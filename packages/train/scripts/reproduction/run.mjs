#!/usr/bin/env node
/**
 * The reproduction report of issue 11 (docs/reproduction.md): runs every evaluation of the report as a
 * `duality eval … --json` command (the exact command is stored beside its report), into
 * docs/reproduction/runs/<job>.json, then builds the report from those files and the runs' metrics
 * (report.ts beside this script): docs/reproduction/results.json, the SVG plots under docs/reproduction/ and the
 * generated tables of docs/reproduction.md (between its markers).
 *
 *   node packages/train/scripts/reproduction/run.mjs                 # the evaluations not done yet (or whose command or checkpoints changed), then the report
 *   node packages/train/scripts/reproduction/run.mjs --only b-student,c-psi-capped
 *   node packages/train/scripts/reproduction/run.mjs --force         # every evaluation again
 *   node packages/train/scripts/reproduction/run.mjs --report-only   # only results.json, the plots and the tables, from the stored runs
 *   node packages/train/scripts/reproduction/run.mjs --list          # the jobs and their commands
 *   node packages/train/scripts/reproduction/run.mjs --seeds         # also part (a)'s seed study (4 short training runs)
 *
 * The models are the bundled runs' final checkpoints (models/<name>/run/checkpoints/step-N, read only); the
 * judge is the AR run's. ≈ 40 min on the shared 2-core machine under load.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { JOBS, SEED_RUNS } from './jobs.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..', '..', '..');
const RUNS = join(REPO, 'docs', 'reproduction', 'runs');

function fail(message) {
  console.error(`reproduction: ${message}`);
  process.exit(2);
}

/** The commit the evaluation ran on, and the files of packages/ that differed from it (they change numbers). */
function codeVersion() {
  const git = (args) => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' }).stdout;
  const dirty = git(['status', '--porcelain', '--untracked-files=no', '--', 'packages'])
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3));
  return { commit: git(['rev-parse', 'HEAD']).trim(), dirty };
}

/** SHA-256 of each checkpoint's state.json (which holds the SHA-256 of every file of the checkpoint). */
function inputsOf(job) {
  return Object.fromEntries(
    (job.needs ?? []).map((dir) => [
      dir,
      createHash('sha256')
        .update(readFileSync(join(REPO, dir, 'state.json')))
        .digest('hex'),
    ]),
  );
}

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      only: { type: 'string' },
      force: { type: 'boolean', default: false },
      'report-only': { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      seeds: { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (error) {
  fail(error.message.replace(/\s*\n\s*/g, ' '));
}

const ids = [...JOBS.map((j) => j.id), ...SEED_RUNS.map((r) => r.id)];
const only = options.only ? options.only.split(',') : undefined;
const unknown = (only ?? []).filter((id) => !ids.includes(id));
if (unknown.length > 0) fail(`unknown job(s) ${unknown.join(', ')}; known: ${ids.join(', ')}`);

if (options.list) {
  for (const j of JOBS) console.log(`${j.id}  (${j.part})\n  pnpm duality ${j.args.join(' ')}`);
  for (const j of SEED_RUNS) console.log(`${j.id}  (a, seed study)\n  pnpm duality ${j.args.join(' ')}`);
  process.exit(0);
}

if (!options['report-only']) {
  mkdirSync(RUNS, { recursive: true });
  for (const job of JOBS) {
    if (only && !only.includes(job.id)) continue;
    const path = join(RUNS, `${job.id}.json`);
    const command = `pnpm duality ${job.args.join(' ')}`;
    for (const dir of job.needs ?? [])
      if (!existsSync(join(REPO, dir, 'state.json'))) fail(`${job.id} needs the checkpoint ${dir}`);
    const inputs = inputsOf(job);
    const previous = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : undefined;
    if (
      !options.force &&
      previous?.command === command &&
      JSON.stringify(previous.inputs) === JSON.stringify(inputs)
    ) {
      console.log(`${job.id}: done (${path}); --force to run it again`);
      continue;
    }
    console.log(`$ ${command}`);
    const code = codeVersion();
    const started = new Date();
    const r = spawnSync(process.execPath, [join(REPO, 'packages/cli/scripts/dev.mjs'), ...job.args], {
      cwd: REPO,
      env: { ...process.env, INIT_CWD: REPO },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 30,
    });
    if (r.status !== 0) fail(`${job.id}: the command exited with ${r.status}`);
    const report = JSON.parse(r.stdout);
    const stored = {
      job: job.id,
      part: job.part,
      command,
      inputs,
      code,
      started: started.toISOString(),
      seconds: (Date.now() - started.getTime()) / 1000,
      report,
    };
    writeFileSync(`${path}.tmp`, `${JSON.stringify(stored, null, 1)}\n`);
    renameSync(`${path}.tmp`, path);
    console.log(`${job.id}: wrote ${path} (${stored.seconds.toFixed(0)} s)`);
  }
}

/** `duality <args>` from the sources at the repository root, its output shown; exits on failure. */
function duality(id, args) {
  const r = spawnSync(process.execPath, [join(REPO, 'packages/cli/scripts/dev.mjs'), ...args], {
    cwd: REPO,
    env: { ...process.env, INIT_CWD: REPO },
    stdio: 'inherit',
  });
  if (r.status !== 0) fail(`${id}: the command exited with ${r.status}`);
}

if (!options['report-only'] && (options.seeds || only)) {
  for (const run of SEED_RUNS) {
    if (only ? !only.includes(run.id) : !options.seeds) continue;
    const metrics = join(REPO, run.metrics);
    if (!options.force && existsSync(metrics)) {
      console.log(`${run.id}: done (${run.metrics}); --force to run it again`);
      continue;
    }
    const config = { ...JSON.parse(readFileSync(join(REPO, run.base), 'utf8')), seed: run.seed };
    mkdirSync(dirname(join(REPO, run.config)), { recursive: true });
    writeFileSync(join(REPO, run.config), `${JSON.stringify(config, null, 2)}\n`);
    console.log(`$ pnpm duality ${run.args.join(' ')}`);
    duality(run.id, run.args);
    const out = run.args[run.args.indexOf('-o') + 1];
    const text = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
    const last = JSON.parse(text.trim().split('\n').at(-1)).step;
    const until = Number(run.args[run.args.indexOf('--until') + 1]);
    if (last < until)
      fail(`${run.id} stopped at step ${last} of ${until} (interrupted?); run it again to resume`);
    writeFileSync(`${metrics}.tmp`, text);
    renameSync(`${metrics}.tmp`, metrics);
    console.log(`${run.id}: wrote ${run.metrics}`);
  }
}

const r = spawnSync(
  process.execPath,
  ['--conditions=@duality/source', '--import', import.meta.resolve('tsx'), join(HERE, 'report.ts')],
  { cwd: REPO, stdio: 'inherit' },
);
process.exit(r.status ?? 1);
