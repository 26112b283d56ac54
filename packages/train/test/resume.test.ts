/**
 * Exact resume: a run killed with SIGKILL at random moments (≥ 5 times) and resumed each time ends with weights,
 * EMA and optimiser moments bit-identical to an uninterrupted run with the same seed; no kill (during a
 * checkpoint write included) leaves a corrupt checkpoint under a final name.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EMA_FILE, listCheckpoints, loadCheckpoint, OPTIMIZER_FILE, WEIGHTS_FILE } from '../src/index';

const child = fileURLToPath(new URL('./helpers/train-child.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');
const work = mkdtempSync(join(tmpdir(), 'duality-resume-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const config = {
  algorithm: 'udlm',
  steps: 24,
  seed: 7,
  model: { hiddenSize: 32, nBlocks: 1, nHeads: 2, condDim: 16, dropout: 0.1 },
  data: { dataset: 'brown8', contextLength: 32, batchSize: 4, gradAccumulation: 2 },
  optimizer: { warmupSteps: 4, weightDecay: 0.01, ema: 0.99 },
  checkpoint: { every: 2, keep: 2 },
  validation: { every: 1000, batches: 1 },
};
const configPath = join(work, 'config.json');
writeFileSync(configPath, JSON.stringify(config));

/** Runs the child; with `kill`, SIGKILLs it `delayMs` after its `afterLines`-th progress line. */
function run(
  outDir: string,
  kill?: { afterLines: number; delayMs: number },
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p: ChildProcess = spawn(
      process.execPath,
      ['--conditions=@duality/source', '--import', tsx, child, configPath, outDir],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let lines = 0;
    let timer: NodeJS.Timeout | undefined;
    p.stdout?.on('data', (d) => {
      out += d;
      lines += String(d).split('progress').length - 1;
      if (kill && !timer && lines >= kill.afterLines)
        timer = setTimeout(() => p.kill('SIGKILL'), kill.delayMs);
    });
    p.stderr?.on('data', (d) => {
      out += d;
    });
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

async function finalHashes(outDir: string) {
  const entries = (await listCheckpoints(join(outDir, 'checkpoints'))).filter((e) => e.committed);
  const last = entries[entries.length - 1];
  expect(last.step).toBe(config.steps);
  return Object.fromEntries([WEIGHTS_FILE, EMA_FILE, OPTIMIZER_FILE].map((f) => [f, sha(join(last.dir, f))]));
}

describe('kill and resume', () => {
  it('SIGKILL at ≥ 5 random points, resumed each time, ends bit-identical to the uninterrupted run', async () => {
    const straight = join(work, 'straight');
    const r = await run(straight);
    expect(r.out).toContain(`done ${config.steps}`);
    const want = await finalHashes(straight);

    const killed = join(work, 'killed');
    // deterministic "random" kill times (an LCG), spread over the run's length
    let s = 12345;
    const next = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 2 ** 32;
    };
    let kills = 0;
    for (let attempt = 0; attempt < 40; attempt++) {
      // kill after 1–6 progress lines, 0–40 ms later: mid-step, mid-validation or mid-checkpoint-write
      const plan =
        kills < 6 ? { afterLines: 1 + Math.floor(next() * 6), delayMs: Math.floor(next() * 40) } : undefined;
      const done = await run(killed, plan);
      if (done.signal === 'SIGKILL') {
        kills++;
        // every committed checkpoint loads (hashes verified): no corrupt file under a final name
        for (const e of await listCheckpoints(join(killed, 'checkpoints')))
          if (e.committed) await loadCheckpoint(e.dir);
        continue;
      }
      expect(done.code, done.out).toBe(0);
      break;
    }
    expect(kills).toBeGreaterThanOrEqual(5);
    expect(await finalHashes(killed)).toEqual(want);
  }, 600_000);
});
