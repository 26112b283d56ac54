/**
 * The bundled models are reproducible from their commands: `duality train` with the Duo teacher's committed
 * config, and `duality distill` with its DCD student's config, re-run here for their first updates in a fresh
 * directory, give exactly the losses, gradient norms and learning rates recorded in the models' committed
 * metrics.jsonl (same seed, same Philox streams, same data order; `--until` stops early without changing the
 * schedule). Only the run's own wall-clock figures (tokens/s, time, memory) differ.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Io, run } from '../src/index';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const MODELS = join(ROOT, 'models');
const dir = mkdtempSync(join(tmpdir(), 'duality-reproduce-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const UPDATES = 3;

async function duality(args: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  const sink = { write: () => true, isTTY: false };
  const io: Io = {
    stdout: sink,
    stderr: { write: (s: string) => err.push(s) > 0, isTTY: false },
    env: {},
    interrupt: () => new AbortController().signal,
  };
  const code = await run(args, io);
  return { code, err: err.join('') };
}

/** The deterministic figures of a run's first `UPDATES` records. */
function recorded(metricsFile: string): unknown[] {
  return readFileSync(metricsFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => (r.step as number) <= UPDATES)
    .map((r) => ({
      step: r.step,
      loss: r.loss,
      lr: r.lr,
      gradNorm: r.gradNorm,
      round: r.round,
      delta: r.delta,
    }));
}

describe('the bundled models from their commands', () => {
  it('duality train -c models/duo-brown8/config.json: the first updates are the recorded ones', async () => {
    const out = join(dir, 'duo');
    const config = join(MODELS, 'duo-brown8', 'config.json');
    const result = await duality(['train', '-c', config, '-o', out, '--until', String(UPDATES)]);
    expect(result.err).not.toMatch(/error/);
    expect(result.code).toBe(0);
    const ours = recorded(join(out, 'metrics.jsonl'));
    expect(ours).toHaveLength(UPDATES);
    expect(ours).toEqual(recorded(join(MODELS, 'duo-brown8', 'run', 'metrics.jsonl')));
  }, 120_000);

  it('duality distill -c models/duo-dcd-brown8/config.json: the first updates are the recorded ones', async () => {
    const out = join(dir, 'dcd');
    const config = join(MODELS, 'duo-dcd-brown8', 'config.json');
    const { teacher } = JSON.parse(readFileSync(config, 'utf8')) as { teacher: string };
    // the config's teacher path is relative to the repository root, where the bundled command runs
    const args = ['distill', '-c', config, '-o', out, '--teacher', join(ROOT, teacher)];
    const result = await duality([...args, '--until', String(UPDATES)]);
    expect(result.err).not.toMatch(/error/);
    expect(result.code).toBe(0);
    const ours = recorded(join(out, 'metrics.jsonl'));
    expect(ours).toHaveLength(UPDATES);
    expect(ours).toEqual(recorded(join(MODELS, 'duo-dcd-brown8', 'run', 'metrics.jsonl')));
  }, 120_000);
});
