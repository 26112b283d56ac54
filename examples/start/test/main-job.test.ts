/**
 * `pnpm start` (examples/start.mjs → src/main.ts): its command line, the table's yardstick row, and one --quick
 * run of the main job in a pipe — plain text (no escape codes), the sampled lines, the timing line and a table
 * row for each step count of the few-step model and the teacher.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createCpuBackend } from '@duality/kernels';
import { DiT, ditConfig, initStateDict } from '@duality/models';
import { generativePerplexity, judgeRowNll, unigramEntropyBits } from '@duality/train';
import { describe, expect, it } from 'vitest';
import { bundled, NAMES, REPO } from '../src/bundle';
import { parseCommandLine } from '../src/command-line';
import { realTextRow, renderTable } from '../src/table';

describe('pnpm start: the command line', () => {
  it.each([
    [['--seed', 'x'], "--seed must be a non-negative integer, got 'x'"],
    [['--seed=-1'], "--seed must be a non-negative integer, got '-1'"],
    [['--quick', '--full'], '--quick and --full exclude each other'],
    [['--quikc'], "Unknown option '--quikc'"],
    [['extra'], "Unexpected argument 'extra'"],
  ])('parseCommandLine(%j) is an error', (args, start) => {
    const parsed = parseCommandLine(args);
    expect('error' in parsed && parsed.error.startsWith(start)).toBe(true);
  });

  it('good command lines', () => {
    expect(parseCommandLine([])).toEqual({ quick: false, full: false, seed: 0 });
    expect(parseCommandLine(['--quick', '--seed', '7'])).toEqual({ quick: true, full: false, seed: 7 });
    expect(parseCommandLine(['--full'])).toEqual({ quick: false, full: true, seed: 0 });
  });

  it('a bad command line is one line on stderr and exit code 2', () => {
    const r = spawnSync(process.execPath, [join(REPO, 'examples/start.mjs'), '--seed', 'x'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      "pnpm start: --seed must be a non-negative integer, got 'x' (usage: [--quick] [--full] [--seed N])",
    ]);
    expect(r.stdout).toBe('');
  });
});

describe('the table', () => {
  it('scores real text like samples: gen-PPL of evenly spread windows and their mean unigram entropy', async () => {
    const backend = createCpuBackend({ threads: 0 });
    const config = ditConfig({
      vocabSize: 27,
      hiddenSize: 16,
      condDim: 8,
      nHeads: 2,
      nBlocks: 1,
      length: 8,
      causal: true,
      timeConditioning: false,
    });
    const judge = await DiT.fromStateDict(
      backend,
      config,
      initStateDict(config, { seed: 1, scheme: 'normal', std: 0.5 }),
    );
    const stream = Uint8Array.from({ length: 100 }, (_, i) => (i * 7) % 27);
    const row = await realTextRow(judge, backend, stream, 3, 8);
    const ids = Int32Array.from([
      ...stream.subarray(0, 8),
      ...stream.subarray(46, 54),
      ...stream.subarray(92, 100),
    ]);
    const nll = await judgeRowNll(judge, backend, ids, [3, 8]);
    expect(row.genPpl).toBe(generativePerplexity(nll, 7));
    const entropy = [0, 1, 2].map((r) => unigramEntropyBits(ids.subarray(r * 8, (r + 1) * 8)));
    expect(row.entropyBits).toBeCloseTo((entropy[0] + entropy[1] + entropy[2]) / 3, 12);
    expect(row.ci95[0]).toBeLessThanOrEqual(row.genPpl);
    expect(row.ci95[1]).toBeGreaterThanOrEqual(row.genPpl);
    judge.dispose();
    backend.destroy();
    const text = renderTable([
      { who: 'teacher', steps: 64, genPpl: 57.14, ci95: [39.5, 82.6], entropyBits: 2.081, seconds: 10.1 },
      row,
    ]);
    expect(text.split('\n')[2]).toMatch(/^teacher +64 +57\.1 \[39\.5, 82\.6\] +2\.08 +10\.1$/);
    expect(text.split('\n')[3]).toMatch(/^brown8 validation text +— /);
  });
});

describe('pnpm start --quick (the main job, in a pipe)', () => {
  it('prints plain text: the model, the samples, the timing, a row per step count and the real-text yardstick', (ctx) => {
    if (!bundled(NAMES.teacher) || !bundled(NAMES.judge)) {
      console.log('skipped: the bundled models are not exported (node models/export.mjs)');
      ctx.skip();
    }
    const r = spawnSync(process.execPath, [join(REPO, 'examples/start.mjs'), '--quick'], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).not.toContain('\u001b['); // no escape codes in a pipe
    expect(out).toContain(
      `model:   models/${bundled(NAMES.student) ? NAMES.student : NAMES.teacher}/model.safetensors`,
    );
    if (!bundled(NAMES.student)) expect(out).toContain('no DCD-distilled student is bundled yet');
    const lines = out.split('\n');
    const at = lines.findIndex((l) => l.startsWith('2 sequences of brown8 text, 8 denoising steps'));
    expect(lines.slice(at + 1, at + 3).every((l) => /^[a-z ]{64}$/.test(l))).toBe(true);
    expect(out).toMatch(/sampling took \d+\.\d\d s \(model load and 8 steps, cpu backend/);
    for (const steps of [1, 2, 4, 8])
      expect(out).toMatch(new RegExp(`\\n(student \\(DCD\\)|few-step \\(teacher itself\\)) +${steps} +\\d`));
    expect(out).toMatch(/\nteacher \(Duo\) +64 +\d+\.\d \[/);
    expect(out).toMatch(/\nbrown8 validation text +— +\d+\.\d \[/);
  }, 320_000);
});
