/** The README's example, run as written (temporary directories instead of /tmp/run; the default data cache). */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import {
  BatchLoader,
  bitsPerCharacter,
  learningRate,
  loadCheckpoint,
  MetricsWriter,
  parseTrainConfig,
  prepareDataset,
  sampleTimes,
  saveCheckpoint,
} from '../src/index';

it('the README example runs: data, loader, times, lr, checkpoint, metrics', async () => {
  const run = mkdtempSync(join(tmpdir(), 'duality-readme-'));
  const config = parseTrainConfig({ algorithm: 'duo', steps: 5000, data: { batchSize: 16 } });
  const data = await prepareDataset(config.data.dataset);
  expect((await prepareDataset(config.data.dataset)).fromCache).toBe(true); // never tokenised twice
  expect(data.path).toMatch(/\.cache\/duality-data\/brown8-[0-9a-f]{16}\.tokens$/);
  const loader = new BatchLoader({
    stream: data.train.tokens,
    contextLength: config.data.contextLength,
    batchSize: config.data.batchSize,
    seed: config.seed,
  });
  const batch = loader.next();
  expect(batch.shape).toEqual([16, 128]);
  expect(batch.tokens).toBeInstanceOf(Int32Array);
  expect(loader.cursor).toEqual({ epoch: 0, index: 1 });
  const t = sampleTimes({ seed: config.seed, step: 1, globalBatch: 16 });
  expect(t.length).toBe(16);
  const lr = learningRate(1, { ...config.optimizer, totalSteps: config.steps });
  expect(lr).toBe(0);

  const weights = { 'vocab_embed.embedding': { shape: [27, 4], data: new Float32Array(108) } };
  const zeros = { 'vocab_embed.embedding': { shape: [27, 4], data: new Float32Array(108) } };
  const dir = await saveCheckpoint(
    join(run, 'checkpoints'),
    {
      weights,
      optimizer: { expAvg: zeros, expAvgSq: zeros },
      state: { step: 1, rng: {}, cursor: loader.cursor, config },
    },
    { keep: 3 },
  );
  const back = await loadCheckpoint(dir);
  expect(back.state.cursor).toEqual({ epoch: 0, index: 1 });
  const resumed = new BatchLoader({ ...loader, stream: data.train.tokens, cursor: back.state.cursor });
  expect(Array.from(resumed.next().tokens)).toEqual(Array.from(loader.next().tokens));

  const metrics = new MetricsWriter(join(run, 'metrics.jsonl'));
  await metrics.append({ step: 1, loss: 3.2, lr, valBpc: bitsPerCharacter(2.9), time: 0.4 });
  await metrics.writePlot({ title: 'duo on brown8' });
  expect(readFileSync(join(run, 'metrics.svg'), 'utf8')).toContain('<title>duo on brown8</title>');
  rmSync(run, { recursive: true, force: true });
});
