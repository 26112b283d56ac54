import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackend } from '@duality/kernels';
import { ditConfig, initStateDict, loadDiT } from '@duality/models';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CheckpointContents,
  checkResumeCompatible,
  diffKeys,
  type HostTensor,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  saveCheckpoint,
  writeCheckpointDir,
} from './checkpoint';
import { parseTrainConfig } from './config';

const root = mkdtempSync(join(tmpdir(), 'duality-ckpt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = () => join(root, `c${counter++}`);

const config = parseTrainConfig({ algorithm: 'duo', steps: 100 });
const tensor = (shape: number[], f: (i: number) => number, f64 = false): HostTensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = f64 ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = f(i);
  return { shape, data };
};
const contents = (step: number, scale = 1): CheckpointContents => ({
  weights: { 'a.weight': tensor([2, 3], (i) => i * scale), 'b.bias': tensor([4], (i) => -i / 3, true) },
  ema: { 'a.weight': tensor([2, 3], (i) => i * scale * 0.5), 'b.bias': tensor([4], (i) => i / 7, true) },
  optimizer: {
    expAvg: { 'a.weight': tensor([2, 3], (i) => i / 10), 'b.bias': tensor([4], () => 1e-3, true) },
    expAvgSq: { 'a.weight': tensor([2, 3], (i) => i / 100), 'b.bias': tensor([4], () => 1e-6, true) },
  },
  state: {
    step,
    rng: { noise: 1234 * step, dropout: 99 },
    cursor: { epoch: 1, index: step },
    config,
    metrics: { loss: 2.5 },
  },
});

const hostTensor = fc
  .tuple(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), fc.boolean())
  .chain(([shape, f64]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = fc.array(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), { minLength: n, maxLength: n });
    return values.map((v) => ({ shape, data: f64 ? Float64Array.from(v) : Float32Array.from(v) }));
  });
const tensorMap = fc.dictionary(fc.stringMatching(/^[a-z]{1,4}(\.[a-z0-9]{1,4}){0,2}$/), hostTensor, {
  minKeys: 1,
  maxKeys: 4,
});

const sameMap = (got: Map<string, HostTensor>, want: Record<string, HostTensor>) => {
  expect([...got.keys()].sort()).toEqual(Object.keys(want).sort());
  for (const [n, t] of Object.entries(want)) {
    const g = got.get(n) as HostTensor;
    expect(g.shape).toEqual(t.shape);
    expect(g.data.constructor).toBe(t.data.constructor);
    expect(Array.from(g.data)).toEqual(Array.from(t.data));
  }
};

describe('checkpoint directory', () => {
  it('round-trips every tensor (dtype, shape, bits) and the state', async () => {
    await fc.assert(
      fc.asyncProperty(tensorMap, tensorMap, fc.nat(1e6), async (weights, moments, step) => {
        const dir = fresh();
        const c: CheckpointContents = {
          weights,
          optimizer: { expAvg: moments, expAvgSq: moments },
          state: { step, rng: { a: step }, cursor: { epoch: 0, index: 3 }, config },
        };
        await writeCheckpointDir(dir, c);
        const back = await loadCheckpoint(dir);
        sameMap(back.weights, weights);
        sameMap(back.optimizer.expAvg, moments);
        sameMap(back.optimizer.expAvgSq, moments);
        expect(back.ema).toBeUndefined();
        expect(back.state).toEqual(JSON.parse(JSON.stringify(c.state)));
        rmSync(dir, { recursive: true });
      }),
      { numRuns: 25 },
    );
  });

  it('has the documented layout; state.json records each file hash', async () => {
    const dir = fresh();
    await writeCheckpointDir(dir, contents(7));
    expect(readdirSync(dir).sort()).toEqual([
      'ema.safetensors',
      'optimizer.safetensors',
      'state.json',
      'weights.safetensors',
    ]);
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
    expect(state.format).toBe('duality-train-checkpoint');
    expect(Object.keys(state.files).sort()).toEqual([
      'ema.safetensors',
      'optimizer.safetensors',
      'weights.safetensors',
    ]);
    expect(state.files['weights.safetensors'].sha256).toMatch(/^[0-9a-f]{64}$/);
    const loaded = await loadCheckpoint(dir);
    expect(loaded.hashes['ema.safetensors']).toBe(state.files['ema.safetensors'].sha256);
    expect(loaded.state.cursor).toEqual({ epoch: 1, index: 7 });
    expect(loaded.state.rng).toEqual({ noise: 8638, dropout: 99 });
  });

  it('weights and EMA load with loadDiT under the reference names', async () => {
    const modelConfig = ditConfig({
      vocabSize: 27,
      hiddenSize: 32,
      condDim: 16,
      nHeads: 2,
      nBlocks: 1,
      length: 16,
    });
    const sd = initStateDict(modelConfig, { seed: 3, scheme: 'normal' });
    const dir = fresh();
    await writeCheckpointDir(
      dir,
      { weights: sd, ema: sd, optimizer: { expAvg: sd, expAvgSq: sd }, state: contents(1).state },
      { modelConfig },
    );
    const backend = await createBackend('cpu');
    for (const file of ['weights.safetensors', 'ema.safetensors']) {
      const model = await loadDiT(backend, join(dir, file));
      expect(model.config).toEqual(modelConfig);
      const back = await model.stateDict();
      for (const [name, t] of sd) expect(Array.from(back.get(name)?.data ?? [])).toEqual(Array.from(t.data));
      model.dispose();
    }
    backend.destroy();
  });

  it('a changed, truncated or missing file is a CheckpointCorruptError naming it', async () => {
    for (const file of ['weights.safetensors', 'ema.safetensors', 'optimizer.safetensors']) {
      const dir = fresh();
      await writeCheckpointDir(dir, contents(2));
      const path = join(dir, file);
      const bytes = readFileSync(path);
      bytes[bytes.length - 1] ^= 0x40;
      writeFileSync(path, bytes);
      await expect(loadCheckpoint(dir)).rejects.toMatchObject({
        name: 'CheckpointCorruptError',
        message: expect.stringContaining(file),
      });
      truncateSync(path, 10);
      await expect(loadCheckpoint(dir)).rejects.toThrow(/of 10 bytes/);
      unlinkSync(path);
      await expect(loadCheckpoint(dir)).rejects.toThrow(new RegExp(`${file} missing`));
    }
    const dir = fresh();
    await writeCheckpointDir(dir, contents(2));
    writeFileSync(join(dir, 'state.json'), '{"format": "duality-train-checkpoint", "version"');
    await expect(loadCheckpoint(dir)).rejects.toThrow(/state.json that is not JSON/);
    unlinkSync(join(dir, 'state.json'));
    await expect(loadCheckpoint(dir)).rejects.toThrow(/no readable state.json/);
  });

  it('a rewrite that fails midway leaves the directory uncommitted, never half-valid', async () => {
    const base = fresh();
    await saveCheckpoint(base, contents(1));
    await saveCheckpoint(base, contents(2));
    const broken = contents(2, 3);
    (broken.optimizer.expAvg as Record<string, HostTensor>)['a.weight'] = {
      shape: [1],
      data: new Int32Array(1) as unknown as Float32Array,
    };
    await expect(saveCheckpoint(base, broken)).rejects.toThrow(/Float32Array or Float64Array/);
    expect((await listCheckpoints(base)).map((e) => [e.step, e.committed])).toEqual([
      [1, true],
      [2, false],
    ]);
    expect(await latestCheckpoint(base)).toBe(join(base, 'step-000000001'));
    await expect(
      saveCheckpoint(base, { ...contents(3), state: { ...contents(3).state, step: -1 } }),
    ).rejects.toThrow(/step -1/);
  });

  it('keeps the newest N checkpoints under a root', async () => {
    const base = fresh();
    for (let step = 100; step <= 500; step += 100) await saveCheckpoint(base, contents(step), { keep: 2 });
    expect(readdirSync(base).sort()).toEqual(['step-000000400', 'step-000000500']);
    expect(await latestCheckpoint(base)).toBe(join(base, 'step-000000500'));
    expect((await loadCheckpoint(join(base, 'step-000000500'))).state.step).toBe(500);
    expect(await latestCheckpoint(join(base, 'nothing-here'))).toBeUndefined();
  });
});

describe('resume compatibility', () => {
  it('diffKeys lists exactly the paths that differ', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (x) => {
        expect(diffKeys(x, JSON.parse(JSON.stringify(x)))).toEqual([]);
      }),
    );
    expect(diffKeys({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { b: 2, c: [1, 3] }, e: 1 })).toEqual([
      'a.b',
      'a.c.1',
      'd',
      'e',
    ]);
  });

  it('a checkpoint of another config is a CheckpointMismatchError naming the keys and both values', () => {
    const other = parseTrainConfig({
      algorithm: 'duo',
      steps: 100,
      optimizer: { lr: 1e-3 },
      data: { batchSize: 8 },
    });
    let caught: unknown;
    try {
      checkResumeCompatible(config, other);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({
      name: 'CheckpointMismatchError',
      keys: ['data.batchSize', 'optimizer.lr'],
    });
    expect(String(caught)).toMatch(
      /optimizer\.lr = 0\.001.*expected the checkpoint's .*optimizer\.lr = 0\.0003/,
    );
    const moved = parseTrainConfig({
      algorithm: 'duo',
      steps: 100,
      checkpoint: { every: 7 },
      validation: { batches: 2 },
    });
    expect(() => checkResumeCompatible(config, moved)).not.toThrow();
    expect(() => checkResumeCompatible(config, config)).not.toThrow();
  });
});
