/**
 * distill(): config errors before any work, the δ / round schedule, a tiny run from a teacher checkpoint (rounds,
 * teachers written per round, metrics, checkpoints `loadDiT` reads) and exact resume from an abort mid-round.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCpuBackend } from '@duality/kernels';
import { initStateDict, loadDiT, openSafetensorsFile } from '@duality/models';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deltaAt,
  distill,
  EMA_FILE,
  latestCheckpoint,
  loadCheckpoint,
  loadDistillTeacher,
  OPTIMIZER_FILE,
  parseDistillInput,
  parseTrainConfig,
  readMetrics,
  roundOf,
  saveCheckpoint,
  TrainConfigError,
  WEIGHTS_FILE,
} from '../src/index';
import { modelConfigOf } from '../src/trainer';

const work = mkdtempSync(join(tmpdir(), 'duality-distill-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const backend = createCpuBackend({ threads: 0 });

const tiny = { hiddenSize: 16, nBlocks: 1, nHeads: 2, condDim: 8 };
const teacherDir = join(work, 'teacher-run');
const teacherConfig = parseTrainConfig({
  algorithm: 'duo',
  steps: 10,
  model: tiny,
  data: { contextLength: 16, batchSize: 2 },
});

/** A committed "trained" checkpoint of a tiny model: random N(0, 0.2²) weights (the reference init's zero adaLN
 * and output layer would make every logit 0 and the KL identically 0), another draw as its EMA. */
async function writeTeacher(dir: string, config: ReturnType<typeof parseTrainConfig>, seed = 3) {
  const dcfg = modelConfigOf(config);
  const weights = initStateDict(dcfg, { seed, scheme: 'normal', std: 0.2 });
  const ema = initStateDict(dcfg, { seed: seed + 1, scheme: 'normal', std: 0.2 });
  await saveCheckpoint(
    `${dir}/checkpoints`,
    {
      weights,
      ema,
      optimizer: { expAvg: new Map(), expAvgSq: new Map() },
      state: { step: 10, rng: {}, cursor: { epoch: 0, index: 10 }, config },
    },
    { modelConfig: dcfg },
  );
  return weights;
}

let teacherWeights: Awaited<ReturnType<typeof writeTeacher>>;
beforeAll(async () => {
  teacherWeights = await writeTeacher(teacherDir, teacherConfig);
  await writeTeacher(
    join(work, 'mdlm-run'),
    parseTrainConfig({ algorithm: 'mdlm', steps: 10, model: tiny, data: { contextLength: 16 } }),
  );
});

const base = (over: Record<string, unknown> = {}) => ({
  teacher: teacherDir,
  distill: { rounds: 2, stepsPerRound: 2 },
  data: { contextLength: 16, batchSize: 2 },
  optimizer: { warmupSteps: 1 },
  checkpoint: { every: 1, keep: 2 },
  validation: { every: 2, batches: 1 },
  seed: 5,
  ...over,
});

const fails = async (input: unknown, path: string, message: RegExp) => {
  const error = await loadDistillTeacher(input).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TrainConfigError);
  expect((error as TrainConfigError).path).toBe(path);
  expect((error as Error).message).toMatch(message);
};

describe('distill config', () => {
  it('defaults: the reference distillation values, steps = rounds·M, the model of the teacher', async () => {
    const { config } = await loadDistillTeacher({ teacher: teacherDir, data: { contextLength: 16 } });
    expect(config.distill).toMatchObject({
      rounds: 5,
      stepsPerRound: 10_000,
      growth: 'exponential',
      delta0: 1 / 512,
      teacherFrom: 'weights',
      studentFrom: 'weights',
      direction: 'student-teacher',
      gammaMin: -4,
      gammaMax: -1,
    });
    expect(config.steps).toBe(50_000);
    expect(config.optimizer).toMatchObject({ lr: 6e-5, warmupSteps: 500, ema: 0.999 });
    expect(config.model).toEqual(teacherConfig.model);
    expect(config.algorithm).toBe('duo');
    expect(config.teacher).toMatch(/teacher-run\/checkpoints\/step-000000010$/);
  });

  it('bad configs are TrainConfigErrors naming the key, what it got and what it expected', async () => {
    await fails(base({ distill: { roundz: 3 } }), 'distill.roundz', /unknown key "roundz".*rounds/);
    await fails(base({ steps: 3 }), 'steps', /unknown key "steps"/);
    await fails(base({ distill: { rounds: 0 } }), 'distill.rounds', /got 0.*≥ 1/);
    await fails(base({ distill: { gammaMin: -1, gammaMax: -2 } }), 'distill.gammaMin', /gammaMin < gammaMax/);
    await fails(base({ distill: { rounds: 11 } }), 'distill.delta0', /δ0·2\^\(rounds − 1\) ≤ 1/);
    await fails(
      base({ distill: { growth: 'linear', deltaMin: 0.5, deltaMax: 0.1 } }),
      'distill.deltaMin',
      /deltaMin ≤ deltaMax/,
    );
    await fails(base({ distill: { direction: 'both' } }), 'distill.direction', /student-teacher/);
    await fails(base({ teacher: undefined }), 'teacher', /nothing.*checkpoint directory/);
    await fails(base({ optimizer: { lr: -1 } }), 'optimizer.lr', /got -1.*> 0/);
    await fails(base({ data: { dataset: 'brown-char' } }), 'data.dataset', /teacher's dataset "brown8"/);
    await fails(
      base({ data: { contextLength: 64 } }),
      'data.contextLength',
      /at most model.contextLength = 16/,
    );
    await fails(
      base({ teacher: join(work, 'mdlm-run') }),
      'teacher',
      /algorithm "mdlm".*duo, duo-efficient, udlm/,
    );
  });

  it('a teacher path without a committed checkpoint is refused before any training', async () => {
    const error = await loadDistillTeacher(base({ teacher: join(work, 'nowhere') })).catch((e) => e);
    expect(error.name).toBe('CheckpointCorruptError');
    expect(error.message).toMatch(/no committed checkpoint/);
  });

  it('the distill-specific keys are checked with no I/O (parseDistillInput)', () => {
    expect(() => parseDistillInput({ teacher: '/does/not/matter', distill: { stepsPerRound: 1.5 } })).toThrow(
      /distill.stepsPerRound.*an integer/,
    );
    expect(parseDistillInput({ teacher: '/x' }).distill.rounds).toBe(5);
  });
});

describe('δ and rounds', () => {
  const section = parseDistillInput({ teacher: '/x', distill: { rounds: 5, stepsPerRound: 4 } }).distill;
  it('round = ⌊(n − 1)/M⌋ and δ = δ0·2^round (doubling at each new teacher)', () => {
    expect([1, 4, 5, 8, 9, 20].map((n) => roundOf(section, n))).toEqual([0, 0, 1, 1, 2, 4]);
    expect([1, 4, 5, 9, 20].map((n) => deltaAt(section, n))).toEqual([
      1 / 512,
      1 / 512,
      2 / 512,
      4 / 512,
      16 / 512,
    ]);
  });
  it('linear growth: δ = min + ((n − 1)/steps)(max − min), increasing, within [min, max)', () => {
    const lin = parseDistillInput({
      teacher: '/x',
      distill: { growth: 'linear', rounds: 2, stepsPerRound: 50 },
    }).distill;
    expect(deltaAt(lin, 1)).toBe(0.001);
    expect(deltaAt(lin, 51)).toBeCloseTo(0.001 + 0.5 * (0.25 - 0.001), 15);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 99 }), (n) => {
        expect(deltaAt(lin, n + 1)).toBeGreaterThan(deltaAt(lin, n));
        expect(deltaAt(lin, n)).toBeLessThan(0.25);
      }),
    );
  });
});

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const finalHashes = async (outDir: string) => {
  const dir = (await latestCheckpoint(`${outDir}/checkpoints`)) as string;
  return [WEIGHTS_FILE, EMA_FILE, OPTIMIZER_FILE].map((f) => sha(`${dir}/${f}`));
};

describe('distill run', () => {
  const straight = join(work, 'straight');
  it('runs the rounds: one teacher per round (round 1 = the student after step 2), δ doubling, metrics, checkpoints', async () => {
    const progress: Array<{ step: number; round: number; delta: number }> = [];
    const r = await distill(base({ checkpoint: { every: 1, keep: 4 } }), {
      outDir: straight,
      backend,
      onProgress: (p) => {
        if (p.phase === 'train') progress.push({ step: p.step, round: p.round, delta: p.delta });
      },
    });
    expect(r.aborted).toBe(false);
    expect(r.step).toBe(4);
    expect(r.round).toBe(1);
    expect(progress.map((p) => [p.step, p.round, p.delta])).toEqual([
      [1, 0, 1 / 512],
      [2, 0, 1 / 512],
      [3, 1, 2 / 512],
      [4, 1, 2 / 512],
    ]);
    const records = await readMetrics(`${straight}/metrics.jsonl`);
    expect(records.map((x) => x.step)).toEqual([1, 2, 3, 4]);
    for (const x of records) {
      expect(x.loss as number).toBeGreaterThan(0);
      expect(x.gradNorm as number).toBeGreaterThan(0);
    }
    expect(records.filter((x) => x.valBpc !== undefined).map((x) => x.step)).toEqual([2, 4]);
    expect(Number.isFinite(r.valBpc)).toBe(true);
    // the teachers: only the current round's file is kept; round 1 = the student's raw weights after step 2
    expect(readdirSync(`${straight}/teachers`)).toEqual(['round-1.safetensors']);
    const t1 = await openSafetensorsFile(`${straight}/teachers/round-1.safetensors`);
    expect(t1.metadata).toMatchObject({ round: '1', afterStep: '2' });
    const step2 = await loadCheckpoint(`${straight}/checkpoints/step-000000002`);
    for (const name of ['vocab_embed.embedding', 'blocks.0.attn_qkv.weight', 'output_layer.linear.bias']) {
      const want = step2.weights.get(name)?.data as Float32Array;
      expect(Array.from(await t1.read(name))).toEqual(Array.from(want));
    }
    await t1.close();
    const initial = teacherWeights.get('vocab_embed.embedding')?.data as Float32Array;
    const moved = step2.weights.get('vocab_embed.embedding')?.data as Float32Array;
    expect(Array.from(moved)).not.toEqual(Array.from(initial)); // the student moved in round 0
    const asModel = await loadDiT(backend, `${straight}/teachers/round-1.safetensors`);
    expect(asModel.config.hiddenSize).toBe(16);
    asModel.dispose();
    // the final checkpoint loads as a DiT (weights and EMA) and state.json holds the distill config
    const last = await loadCheckpoint(r.checkpoint as string);
    expect((last.state.config as { distill: { rounds: number } }).distill.rounds).toBe(2);
    const student = await loadDiT(backend, `${r.checkpoint}/${EMA_FILE}`);
    expect(student.config.vocabSize).toBe(27);
    student.dispose();
  });

  it('resumes bit-identically after an abort mid-round (the round-1 teacher read back from teachers/)', async () => {
    const resumed = join(work, 'resumed');
    const controller = new AbortController();
    const first = await distill(base(), {
      outDir: resumed,
      backend,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'train' && p.step === 3) controller.abort();
      },
    });
    expect(first.aborted).toBe(true);
    expect(first.step).toBe(3);
    const second = await distill(base(), { outDir: resumed, backend });
    expect(second.step).toBe(4);
    expect(await finalHashes(resumed)).toEqual(await finalHashes(straight));
    const a = (await readMetrics(`${straight}/metrics.jsonl`)).map((x) => x.loss);
    const b = (await readMetrics(`${resumed}/metrics.jsonl`)).map((x) => x.loss);
    expect(b).toEqual(a);
  });

  it("teacherFrom 'ema': a round's teacher is the EMA as it stands; studentFrom 'ema' starts from the checkpoint's EMA", async () => {
    const out = join(work, 'ema-teacher');
    await distill(
      base({
        distill: { rounds: 2, stepsPerRound: 2, teacherFrom: 'ema', studentFrom: 'ema' },
        checkpoint: { every: 1, keep: 4 },
      }),
      { outDir: out, backend },
    );
    const step1 = await loadCheckpoint(`${out}/checkpoints/step-000000001`);
    const step2 = await loadCheckpoint(`${out}/checkpoints/step-000000002`);
    const t1 = await openSafetensorsFile(`${out}/teachers/round-1.safetensors`);
    const name = 'blocks.0.mlp.0.weight';
    expect(Array.from(await t1.read(name))).toEqual(Array.from(step2.ema?.get(name)?.data as Float32Array));
    expect(Array.from(await t1.read(name))).not.toEqual(
      Array.from(step2.weights.get(name)?.data as Float32Array),
    );
    await t1.close();
    // step 1 has lr 0 (warm-up), so the raw weights after it are still the teacher checkpoint's EMA
    const start = (await loadCheckpoint((await latestCheckpoint(`${teacherDir}/checkpoints`)) as string)).ema;
    expect(Array.from(step1.weights.get(name)?.data as Float32Array)).toEqual(
      Array.from(start?.get(name)?.data as Float32Array),
    );
  });

  it('refuses to resume with another distill config (CheckpointMismatchError naming the key)', async () => {
    const error = await distill(
      base({ distill: { rounds: 2, stepsPerRound: 2, direction: 'teacher-student' } }),
      {
        outDir: straight,
        backend,
      },
    ).catch((e) => e);
    expect(error.name).toBe('CheckpointMismatchError');
    expect(error.keys).toEqual(['distill.direction']);
  });

  it('knows its teacher by the weights’ hash: resumes from a moved copy of it, refuses another teacher', async () => {
    const run = join(work, 'moved');
    await distill(base({ distill: { rounds: 2, stepsPerRound: 1 } }), { outDir: run, backend, stopAfter: 1 });
    const saved = (await loadCheckpoint((await latestCheckpoint(`${run}/checkpoints`)) as string)).state
      .config as { teacherHash?: string };
    const teacherCkpt = await loadCheckpoint((await latestCheckpoint(`${teacherDir}/checkpoints`)) as string);
    expect(saved.teacherHash).toBe(teacherCkpt.hashes[WEIGHTS_FILE]);
    // the same teacher somewhere else (another clone of the repository): the run continues
    const moved = join(work, 'teacher-moved');
    cpSync(teacherDir, moved, { recursive: true });
    const more = await distill(base({ teacher: moved, distill: { rounds: 2, stepsPerRound: 1 } }), {
      outDir: run,
      backend,
    });
    expect(more.step).toBe(2);
    // another teacher: refused, naming the hash
    const other = join(work, 'teacher-other');
    await writeTeacher(other, teacherConfig, 11);
    const error = await distill(base({ teacher: other, distill: { rounds: 2, stepsPerRound: 1 } }), {
      outDir: run,
      backend,
    }).catch((e) => e);
    expect(error.name).toBe('CheckpointMismatchError');
    expect(error.keys).toEqual(['teacherHash']);
  });
});
