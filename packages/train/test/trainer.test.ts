/** The trainer from outside: it learns a little in a few steps, refuses bad configs before any work, and never
 * touches a run directory whose checkpoint belongs to another config. */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointMismatchError, readMetrics, TrainConfigError, train } from '../src/index';

const work = mkdtempSync(join(tmpdir(), 'duality-trainer-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const tiny = {
  algorithm: 'mdlm',
  steps: 6,
  seed: 3,
  model: { hiddenSize: 32, nBlocks: 1, nHeads: 2, condDim: 16, dropout: 0 },
  data: { dataset: 'brown8', contextLength: 32, batchSize: 8 },
  optimizer: { lr: 3e-3, warmupSteps: 1, ema: 0 },
  checkpoint: { every: 3, keep: 2 },
  validation: { every: 3, batches: 2 },
};

function hashTree(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, name.name);
      h.update(p);
      if (name.isDirectory()) walk(p);
      else h.update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

describe('train', () => {
  it('runs, writes metrics with validation BPC and a plot, and the training loss falls', async () => {
    const out = join(work, 'run');
    const result = await train(tiny, { outDir: out });
    expect(result.step).toBe(6);
    expect(result.aborted).toBe(false);
    const records = await readMetrics(join(out, 'metrics.jsonl'));
    expect(records.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(records.filter((r) => r.valBpc !== undefined).map((r) => r.step)).toEqual([3, 6]);
    expect(existsSync(join(out, 'metrics.svg'))).toBe(true);
    const first = records[0].loss as number;
    const last = records[5].loss as number;
    expect(last).toBeLessThan(first);
  });

  it('refuses a bad config with a TrainConfigError naming the key, before creating anything', async () => {
    const out = join(work, 'never');
    await expect(train({ ...tiny, optimizer: { lr: -1 } }, { outDir: out })).rejects.toThrow(
      TrainConfigError,
    );
    await expect(train({ ...tiny, optimizer: { lr: -1 } }, { outDir: out })).rejects.toThrow(/optimizer\.lr/);
    await expect(train({ ...tiny, learningRate: 1 }, { outDir: out })).rejects.toThrow(
      /unknown key "learningRate"/,
    );
    await expect(
      train({ ...tiny, algorithm: 'duo', curriculum: { gammaMin: -1, gammaMax: -2 } }, { outDir: out }),
    ).rejects.toThrow(TrainConfigError);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses to resume a checkpoint of another config and leaves the run untouched', async () => {
    const out = join(work, 'run');
    const before = hashTree(out);
    const other = { ...tiny, optimizer: { ...tiny.optimizer, lr: 1e-3 } };
    await expect(train(other, { outDir: out })).rejects.toThrow(CheckpointMismatchError);
    await expect(train(other, { outDir: out })).rejects.toThrow(/optimizer\.lr/);
    expect(hashTree(out)).toBe(before);
  });

  it('an aborted run writes a checkpoint at the step it reached and resumes from it', async () => {
    const out = join(work, 'abort');
    const controller = new AbortController();
    const first = await train(
      { ...tiny, steps: 20 },
      { outDir: out, signal: controller.signal, onProgress: (p) => p.step >= 2 && controller.abort() },
    );
    expect(first.aborted).toBe(true);
    expect(first.checkpoint).toMatch(/step-0+\d+$/);
    const second = await train({ ...tiny, steps: 20 }, { outDir: out });
    expect(second.step).toBe(20);
    const steps = (await readMetrics(join(out, 'metrics.jsonl'))).map((r) => r.step);
    expect(steps).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('stopAfter stops at that update with a checkpoint; resuming ends where one uninterrupted run ends', async () => {
    const whole = join(work, 'whole');
    const staged = join(work, 'staged');
    const cfg = { ...tiny, steps: 5, checkpoint: { every: 10, keep: 1 } };
    await train(cfg, { outDir: whole });
    const first = await train(cfg, { outDir: staged, stopAfter: 2 });
    expect(first).toMatchObject({ step: 2, aborted: false });
    expect(first.checkpoint).toMatch(/step-0+2$/);
    const second = await train(cfg, { outDir: staged });
    expect(second.step).toBe(5);
    const a = await readMetrics(join(whole, 'metrics.jsonl'));
    const b = await readMetrics(join(staged, 'metrics.jsonl'));
    expect(b.map((r) => [r.step, r.loss, r.gradNorm])).toEqual(a.map((r) => [r.step, r.loss, r.gradNorm]));
    const ckpt = (root: string) => join(root, 'checkpoints', 'step-000000005');
    const files = readdirSync(ckpt(whole)).filter((f) => f.endsWith('.safetensors'));
    expect(files).toContain('weights.safetensors');
    expect(readdirSync(ckpt(staged)).filter((f) => f.endsWith('.safetensors'))).toEqual(files);
    for (const name of files)
      expect(readFileSync(join(ckpt(staged), name)).equals(readFileSync(join(ckpt(whole), name)))).toBe(true);
    for (const bad of [0, 1.5, -2])
      await expect(train(cfg, { outDir: join(work, 'bad'), stopAfter: bad })).rejects.toThrow(/stopAfter/);
    expect(existsSync(join(work, 'bad'))).toBe(false);
  });

  it('a constant-LR run extended past its end (steps raised on resume) equals one uninterrupted longer run', async () => {
    const cfg = { ...tiny, checkpoint: { every: 10, keep: 1 } };
    const whole = join(work, 'long');
    const extended = join(work, 'extended');
    await train({ ...cfg, steps: 5 }, { outDir: whole });
    await train({ ...cfg, steps: 3 }, { outDir: extended });
    const second = await train({ ...cfg, steps: 5 }, { outDir: extended });
    expect(second.step).toBe(5);
    const ckpt = (root: string, name: string) => join(root, 'checkpoints', 'step-000000005', name);
    for (const name of ['weights.safetensors', 'optimizer.safetensors'])
      expect(readFileSync(ckpt(extended, name)).equals(readFileSync(ckpt(whole, name)))).toBe(true);
    const a = await readMetrics(join(whole, 'metrics.jsonl'));
    const b = await readMetrics(join(extended, 'metrics.jsonl'));
    expect(b.map((r) => [r.step, r.loss, r.gradNorm])).toEqual(a.map((r) => [r.step, r.loss, r.gradNorm]));
    // behind the checkpoint: nothing to run, refused and the run untouched
    const before = hashTree(extended);
    await expect(train({ ...cfg, steps: 4 }, { outDir: extended })).rejects.toThrow(
      /steps = 4.*at least the checkpoint's step 5/,
    );
    expect(hashTree(extended)).toBe(before);
  });

  it('a cosine-LR run cannot change its steps on resume (its decay depends on them)', async () => {
    const cfg = {
      ...tiny,
      optimizer: { ...tiny.optimizer, schedule: 'cosine' },
      checkpoint: { every: 10, keep: 1 },
    };
    const out = join(work, 'cosine');
    await train({ ...cfg, steps: 2 }, { outDir: out });
    const before = hashTree(out);
    await expect(train({ ...cfg, steps: 4 }, { outDir: out })).rejects.toThrow(CheckpointMismatchError);
    await expect(train({ ...cfg, steps: 4 }, { outDir: out })).rejects.toThrow(/steps = 4/);
    expect(hashTree(out)).toBe(before);
  });
});
