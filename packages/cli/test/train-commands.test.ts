/**
 * The commands over @duality/train, in-process through `run(args, io)` on tiny checkpoints written with
 * saveCheckpoint (random N(0, 0.2²) weights, a tiny DiT): `distill` (rounds, JSON progress, Ctrl-C checkpoints
 * and resume, config errors), `eval` (the report equals a direct `evaluate` call; table, files; bad inputs are one
 * line and exit 2) and `export` (the EMA as a bundled model file, metrics.json read from metrics.jsonl).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackend } from '@duality/kernels';
import { DiT, initStateDict, loadDiT, openSafetensorsFile, saveDiT } from '@duality/models';
import {
  evaluate,
  latestCheckpoint,
  loadCheckpoint,
  modelConfigOf,
  parseTrainConfig,
  saveCheckpoint,
} from '@duality/train';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFigures, trainingSeconds } from '../src/commands/export';
import { type Io, run } from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'duality-cli-train-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Captured {
  code: number;
  out: string;
  err: string;
}

/** `duality <args>` in-process; Ctrl-C (the interrupt signal) fires at the n-th write to stdout. */
async function duality(args: string[], options: { ctrlCAfterWrites?: number } = {}): Promise<Captured> {
  let out = '';
  let err = '';
  let writes = 0;
  const controller = new AbortController();
  const io: Io = {
    stdout: {
      write: (s: string) => {
        out += s;
        if (++writes === options.ctrlCAfterWrites) controller.abort(new Error('Ctrl-C'));
        return true;
      },
      isTTY: false,
    },
    stderr: {
      write: (s: string) => {
        err += s;
        return true;
      },
      isTTY: false,
    },
    env: {},
    interrupt: () => controller.signal,
  };
  return { code: await run(args, io), out, err };
}

function expectOneErrorLine(c: Captured, code: number, pattern: RegExp) {
  expect(c.code).toBe(code);
  const lines = c.err.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(pattern);
}

/** The JSON document at the end of --json output (after the progress lines). */
const lastJson = (out: string) => JSON.parse(out.slice(out.lastIndexOf('\n{\n') + 1));

const tiny = { hiddenSize: 16, nBlocks: 1, nHeads: 2, condDim: 8 };
const data = { contextLength: 16, batchSize: 2 };

/** A committed checkpoint of a tiny model with random weights (another draw as its EMA) under <run>/checkpoints. */
async function writeRun(run: string, input: Record<string, unknown>, step = 10, seed = 3) {
  const config = parseTrainConfig({ steps: 20, model: tiny, data, ...input });
  const dcfg = modelConfigOf(config);
  await saveCheckpoint(
    `${run}/checkpoints`,
    {
      weights: initStateDict(dcfg, { seed, scheme: 'normal', std: 0.2 }),
      ema: initStateDict(dcfg, { seed: seed + 1, scheme: 'normal', std: 0.2 }),
      optimizer: { expAvg: new Map(), expAvgSq: new Map() },
      state: { step, rng: {}, cursor: { epoch: 0, index: step }, config },
    },
    { modelConfig: dcfg },
  );
  return run;
}

const duoRun = join(dir, 'duo', 'run');
const arRun = join(dir, 'ar', 'run');
const arCharRun = join(dir, 'ar-char', 'run');
const distillConfig = join(dir, 'dcd.json');

beforeAll(async () => {
  await writeRun(duoRun, { algorithm: 'duo' });
  await writeRun(arRun, { algorithm: 'ar' }, 10, 7);
  await writeRun(arCharRun, { algorithm: 'ar', data: { ...data, dataset: 'brown-char' } });
  // two sessions of metrics: the second (a resume after step 6) restarts its clock at 0
  const lines = [
    { step: 2, loss: 3.1, tokensPerSec: 100, time: 4 },
    { step: 4, loss: 3.0, valBpc: 4.0, valNelbo: 2.77, valPpl: 16, tokensPerSec: 110, time: 8 },
    { step: 6, loss: 2.9, tokensPerSec: 120, time: 12 },
    { step: 8, loss: 2.8, valBpc: 3.5, valNelbo: 2.43, valPpl: 11.3, tokensPerSec: 130, time: 5 },
    { step: 10, loss: 2.7, tokensPerSec: 140, time: 9 },
    { step: 12, loss: 2.6, valBpc: 3.0, tokensPerSec: 150, time: 13 }, // past the checkpoint: not counted
  ];
  writeFileSync(join(duoRun, 'metrics.jsonl'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  writeFileSync(
    distillConfig,
    JSON.stringify({
      teacher: duoRun,
      distill: { rounds: 2, stepsPerRound: 1 },
      data,
      optimizer: { warmupSteps: 1 },
      checkpoint: { every: 1, keep: 2 },
      validation: { every: 2, batches: 1 },
      seed: 5,
    }),
  );
});

describe('duality distill', () => {
  it('distils the teacher in rounds: JSON progress per step (round, δ), the final result, a checkpoint loadDiT reads', async () => {
    const out = join(dir, 'dcd');
    const c = await duality(['--json', 'distill', '-c', distillConfig, '-o', out]);
    expect(c.code).toBe(0);
    const events = c.out
      .split('\n')
      .filter((l) => l.startsWith('{"'))
      .map((l) => JSON.parse(l));
    const steps = events.filter((e) => e.phase === 'train').map((e) => [e.step, e.round, e.delta]);
    expect(steps).toEqual([
      [1, 0, 1 / 512],
      [2, 1, 2 / 512],
    ]);
    const result = lastJson(c.out);
    expect(result).toMatchObject({ step: 2, round: 1, aborted: false });
    expect(Number.isFinite(result.valBpc)).toBe(true);
    expect(c.err).toMatch(/distilling duo from .*step-000000010: 2 rounds of 1 steps/);
    const backend = await createBackend('cpu', { threads: 0 });
    const student = await loadDiT(backend, join(result.checkpoint, 'ema.safetensors'));
    expect(student.config).toMatchObject({ vocabSize: 27, hiddenSize: 16, length: 16 });
    student.dispose();
    backend.destroy();
    // the student is what eval reads
    const e = lastJson(
      (await duality(['--json', 'eval', out, '--judge', arRun, '--steps', '1', '--batch', '2'])).out,
    );
    expect(e.model).toMatchObject({ algorithm: 'duo', dataset: 'brown8', weights: 'ema' });
    expect(e.summary[0].genPpl.pooled).toBeGreaterThan(1);
  });

  it('Ctrl-C writes a checkpoint and ends cleanly; the same command resumes from it', async () => {
    const out = join(dir, 'dcd-interrupted');
    const first = await duality(['--json', 'distill', '-c', distillConfig, '-o', out], {
      ctrlCAfterWrites: 1,
    });
    expect(first.code).toBe(0);
    expect(lastJson(first.out)).toMatchObject({ step: 1, aborted: true });
    expect(await latestCheckpoint(join(out, 'checkpoints'))).toMatch(/step-000000001$/);
    const text = await duality(['distill', '-c', distillConfig, '-o', out]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(
      /^distilled to step 2 \(round 1\), validation \d+\.\d{4} bpc; checkpoint .*step-000000002/,
    );
    expect(text.err).toMatch(/step 2\/2 .* round 1 δ 0\.00391/); // plain lines when stderr is not a terminal
  });

  it('bad configs and teachers are one line naming the key, exit 2', async () => {
    const bad = (name: string, value: unknown) => {
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(value));
      return file;
    };
    expectOneErrorLine(
      await duality(['distill', '-c', bad('roundz', { teacher: duoRun, distill: { roundz: 2 } }), '-o', dir]),
      2,
      /distill\.roundz: got an unknown key "roundz"/,
    );
    expectOneErrorLine(
      await duality(['distill', '-c', distillConfig, '-o', join(dir, 'x'), '--teacher', arRun]),
      2,
      /teacher: got a checkpoint of algorithm "ar", expected a uniform-state model/,
    );
    expectOneErrorLine(
      await duality(['distill', '-c', join(dir, 'missing.json'), '-o', dir]),
      2,
      /missing\.json \(ENOENT\)/,
    );
    expectOneErrorLine(await duality(['distill', '-c', bad('list', [1]), '-o', dir]), 2, /a JSON object/);
  });
});

describe('duality eval', () => {
  const args = ['eval', duoRun, '--judge', arRun, '--steps', '1,2', '--seeds', '0,1', '--batch', '2'];

  it('reports what evaluate reports for the same options (gen-PPL, entropy per cell), as JSON and as the table', async () => {
    const report = lastJson((await duality(['--json', ...args, '--bootstrap', '50'])).out);
    const direct = await evaluate({
      model: duoRun,
      judge: arRun,
      sampler: { kind: 'ancestral', noiseRemoval: 'ancestral' },
      steps: [1, 2],
      seeds: [0, 1],
      batch: 2,
      length: 16,
      bootstrapResamples: 50,
    });
    expect(report.summary.map((s: { genPpl: unknown }) => s.genPpl)).toEqual(
      direct.summary.map((s) => s.genPpl),
    );
    expect(report.rows.map((r: { entropyBits: number }) => r.entropyBits)).toEqual(
      direct.rows.map((r) => r.entropyBits),
    );
    expect(report.settings).toMatchObject({ batch: 2, length: 16, seeds: [0, 1], steps: [1, 2] });
    const out = join(dir, 'eval-out');
    const text = await duality([
      ...args,
      '--sampler',
      'ancestral',
      'psi',
      '--kappa',
      'max-capped-0.05',
      '--out',
      out,
    ]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/gen-PPL \(mean ± sd\)/);
    expect(text.out).toMatch(/\nancestral +1 +2 /);
    expect(text.out).toMatch(/\nΨ max-capped η=0\.05 +2 +2 /);
    for (const f of ['evaluation.json', 'evaluation.txt', 'gen-ppl-vs-steps.svg', 'gen-ppl-vs-entropy.svg'])
      expect(existsSync(join(out, f))).toBe(true);
    expect(text.err).toContain(`wrote ${join(out, 'evaluation.json')}`);
  });

  it('--validation-batches and --validation-windows: the validation of evaluate with those options', async () => {
    const flags = ['--steps', '1', '--batch', '2', '--bootstrap', '50', '--validation'];
    const extra = ['--validation-batches', '2', '--validation-windows'];
    const report = lastJson(
      (await duality(['--json', 'eval', duoRun, '--judge', arRun, ...flags, ...extra])).out,
    );
    const direct = await evaluate({
      model: duoRun,
      judge: arRun,
      sampler: { kind: 'ancestral' },
      steps: 1,
      batch: 2,
      length: 16,
      bootstrapResamples: 50,
      validation: { batches: 2, keepWindows: true },
    });
    expect(report.validation).toEqual(JSON.parse(JSON.stringify(direct.validation)));
    expect(report.validation.model.windowNats).toHaveLength(report.validation.model.windows);
    const plain = lastJson((await duality(['--json', 'eval', duoRun, '--judge', arRun, ...flags])).out);
    expect(plain.validation.model).not.toHaveProperty('windowNats');
  });

  it.each([
    [['--validation-batches', '2'], /--validation-batches without --validation/],
    [['--validation-windows'], /--validation-windows without --validation/],
    [['--validation', '--validation-batches', '0'], /--validation-batches/],
  ])('eval %j → one line, exit 2', async (extra, pattern) => {
    expectOneErrorLine(
      await duality(['eval', duoRun, '--judge', arRun, '--steps', '1', ...extra]),
      2,
      pattern,
    );
  });

  it('reads a bundled model file (algorithm and tokenizer from its metadata) and a judge file', async () => {
    const folder = join(dir, 'bundled-duo');
    expect((await duality(['export', duoRun, folder])).code).toBe(0);
    const arFolder = join(dir, 'bundled-ar');
    expect((await duality(['export', arRun, arFolder])).code).toBe(0);
    const fromFiles = lastJson(
      (await duality(['--json', 'eval', folder, '--judge', arFolder, '--steps', '2', '--batch', '2'])).out,
    );
    const fromRuns = lastJson(
      (await duality(['--json', 'eval', duoRun, '--judge', arRun, '--steps', '2', '--batch', '2'])).out,
    );
    expect(fromFiles.model).toMatchObject({ algorithm: 'duo', dataset: 'brown8' });
    expect(fromFiles.summary[0].genPpl).toEqual(fromRuns.summary[0].genPpl); // the export is the run's EMA
  });

  it.each([
    [['--steps', '0'], /--steps.*integers ≥ 1/],
    [['--steps', '1,x'], /--steps.*integers ≥ 1/],
    [['--seeds', '-1'], /--seeds.*integers ≥ 0/],
    [['--kappa', 'max-capped-0.1'], /--kappa with --sampler ancestral.*--sampler psi/],
    [['--length', '17'], /length: got 17, expected at most the model's context 16/],
  ])('eval %j → one line, exit 2', async (extra, pattern) => {
    expectOneErrorLine(await duality(['eval', duoRun, '--judge', arRun, ...extra]), 2, pattern);
  });

  it('a judge of another vocabulary or tokenizer, a bidirectional judge, a file without its algorithm: exit 2', async () => {
    expectOneErrorLine(
      await duality(['eval', duoRun, '--judge', arCharRun, '--steps', '1']),
      2,
      /judge of 96 token ids .* for samples of 27/,
    );
    expectOneErrorLine(
      await duality(['eval', duoRun, '--judge', duoRun, '--steps', '1']),
      2,
      /ModelKind|bidirectional DiT.*expected a causal DiT/,
    );
    const backend = await createBackend('cpu', { threads: 0 });
    const saved = await loadCheckpoint((await latestCheckpoint(join(arRun, 'checkpoints'))) as string);
    const judge = await DiT.fromStateDict(
      backend,
      (await loadDiT(backend, join(saved.dir, 'ema.safetensors'))).config,
      new Map(
        [...(saved.ema ?? [])].map(([n, t]) => [
          n,
          { dtype: 'F32' as const, shape: [...t.shape], data: t.data },
        ]),
      ),
    );
    const charJudge = join(dir, 'judge-says-brown-char.safetensors');
    await saveDiT(judge, charJudge, { metadata: { tokenizer: 'brown-char' } });
    const duo = await loadDiT(
      backend,
      join((await latestCheckpoint(join(duoRun, 'checkpoints'))) as string, 'ema.safetensors'),
    );
    const bare = join(dir, 'bare-duo.safetensors');
    await saveDiT(duo, bare); // no algo in its config card
    judge.dispose();
    duo.dispose();
    backend.destroy();
    expectOneErrorLine(
      await duality(['eval', duoRun, '--judge', charJudge, '--steps', '1']),
      2,
      /a model of 27 token ids, expected 96 ids of dataset "brown-char"/,
    );
    expectOneErrorLine(
      await duality(['eval', bare, '--steps', '1']),
      2,
      /does not name the algorithm.*--algorithm mdlm \| udlm \| duo \| duo-efficient/,
    );
    const named = await duality([
      '--json',
      'eval',
      bare,
      '--algorithm',
      'duo',
      '--steps',
      '1',
      '--batch',
      '1',
    ]);
    expect(lastJson(named.out).model.algorithm).toBe('duo');
  });
});

describe('duality export', () => {
  it('training time sums the sessions; figures are those at the checkpoint step', async () => {
    const records = (await readFile(join(duoRun, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(trainingSeconds(records, 10)).toBe(12 + 9);
    expect(trainingSeconds(records, 6)).toBe(12);
    expect(trainingSeconds([], 6)).toBeUndefined();
    expect(runFigures(records, 10)).toEqual({
      validation: { step: 8, bpc: 3.5, nelbo: 2.43, ppl: 11.3 },
      lastLoss: 2.7,
      trainingSeconds: 21,
      tokensPerSecond: 120,
    });
  });

  it('writes the EMA with the config card and training facts, and metrics.json; the folder samples as uniform', async () => {
    const folder = join(dir, 'models', 'duo-tiny');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'config.json'), JSON.stringify({ algorithm: 'duo', steps: 20 })); // a training config
    const c = await duality(['export', join(dir, 'duo'), folder]); // the model folder: its run/ is found
    expect(c.code).toBe(0);
    expect(c.out).toMatch(
      /wrote .*model\.safetensors \(duo, step 10 of 20, validation 3\.5000 BPC, \d+ KiB\)/,
    );
    const file = join(folder, 'model.safetensors');
    const reader = await openSafetensorsFile(file);
    const meta = reader.metadata;
    const saved = await loadCheckpoint((await latestCheckpoint(join(duoRun, 'checkpoints'))) as string);
    for (const [name, t] of saved.ema ?? [])
      expect(Array.from(await reader.read(name))).toEqual(Array.from(t.data));
    await reader.close();
    expect(JSON.parse(meta.config).algo).toMatchObject({
      name: 'duo',
      parameterization: 'mean',
      time_conditioning: true,
    });
    expect(JSON.parse(meta.config).noise).toEqual({ type: 'log-linear' });
    expect(meta).toMatchObject({
      tokenizer: 'brown8',
      weights: 'ema',
      exported_from: '../../duo/run/checkpoints/step-000000010',
    });
    expect(JSON.parse(meta.training)).toEqual({
      kind: 'train',
      algorithm: 'duo',
      dataset: 'brown8',
      step: 10,
      steps: 20,
      seed: 1,
    });
    const metrics = JSON.parse(await readFile(join(folder, 'metrics.json'), 'utf8'));
    expect(metrics).toMatchObject({
      name: 'duo-tiny',
      algorithm: 'duo',
      kind: 'train',
      step: 10,
      steps: 20,
      validation: { step: 8, bpc: 3.5 },
      trainingSeconds: 21,
      bytes: statSync(file).size,
    });
    const sampled = lastJson((await duality(['--json', 'sample', folder, '--steps', '2'])).out);
    expect(sampled).toMatchObject({ process: 'uniform', tokenizer: 'brown8', modelFile: file });
    const half = await duality(['export', duoRun, join(dir, 'half'), '--dtype', 'bf16']);
    expect(half.code).toBe(0);
    expect(statSync(join(dir, 'half', 'model.safetensors')).size).toBeLessThan(statSync(file).size * 0.6);
  });

  it('with --judge, metrics.json holds the evaluation of the exported model (what eval of the file gives)', async () => {
    const folder = join(dir, 'evaluated');
    const c = await duality([
      'export',
      duoRun,
      folder,
      '--judge',
      arRun,
      '--steps',
      '1,2',
      '--seeds',
      '0',
      '--batch',
      '2',
    ]);
    expect(c.code).toBe(0);
    const metrics = JSON.parse(await readFile(join(folder, 'metrics.json'), 'utf8'));
    const report = lastJson(
      (
        await duality([
          '--json',
          'eval',
          folder,
          '--judge',
          arRun,
          '--steps',
          '1,2',
          '--seeds',
          '0',
          '--batch',
          '2',
          '--noise-removal',
          'greedy',
        ])
      ).out,
    );
    expect(metrics.evaluation).toMatchObject({
      step: 10,
      sampler: 'ancestral greedy tail',
      batch: 2,
      length: 16,
      seeds: [0],
    });
    expect(
      metrics.evaluation.cells.map((x: { steps: number; genPpl: number }) => [x.steps, x.genPpl]),
    ).toEqual(
      report.summary.map((s: { steps: number; genPpl: { pooled: number } }) => [s.steps, s.genPpl.pooled]),
    );
    expectOneErrorLine(
      await duality(['export', arRun, join(dir, 'ar-judged'), '--judge', arRun]),
      2,
      /an AR model .* expected a diffusion model to evaluate/,
    );
    expectOneErrorLine(await duality(['export', join(dir, 'nowhere'), folder]), 2, /nowhere \(no such file/);
    mkdirSync(join(dir, 'empty'));
    expectOneErrorLine(await duality(['export', join(dir, 'empty'), folder]), 1, /no committed checkpoint/);
  });
});
