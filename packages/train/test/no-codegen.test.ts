/**
 * The cpu backend where JavaScript cannot be compiled from strings (a Content-Security-Policy without
 * 'unsafe-eval', a browser extension, an edge runtime; here Node's --disallow-code-generation-from-strings):
 * the packages import, and training runs on the kernels' own functions, one thread, with the JS matmul — and
 * gives bit for bit what a normal process gives on the same JS matmul with every other kernel threaded.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const child = fileURLToPath(new URL('./helpers/codegen-child.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');
const work = mkdtempSync(join(tmpdir(), 'duality-no-codegen-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// Duo's curriculum (Gaussian draws, softmax over K, GELU, LayerNorm, the UDLM integrand), big enough that the
// elementwise and row kernels of the normal process go to the worker pool
const config = {
  algorithm: 'duo',
  steps: 3,
  seed: 5,
  model: { hiddenSize: 64, nBlocks: 1, nHeads: 2, condDim: 32, dropout: 0 },
  data: { dataset: 'brown8', contextLength: 64, batchSize: 8 },
  optimizer: { warmupSteps: 1, ema: 0.9 },
  checkpoint: { every: 3, keep: 1 },
  validation: { every: 3, batches: 1 },
  curriculum: { steps: 2 },
};
const configPath = join(work, 'config.json');
writeFileSync(configPath, JSON.stringify(config));

interface ChildReport {
  codegen: boolean;
  step: number;
  losses: number[];
  valBpc: number;
  files: Record<string, string>;
}

function runChild(flags: string[], outDir: string, mode: string): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const args = [...flags, '--conditions=@duality/source', '--import', tsx, child, configPath, outDir, mode];
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0) reject(new Error(`child exited ${code}: ${err}`));
      else resolve(JSON.parse(out.trim().split('\n').pop() as string));
    });
  });
}

describe('no code generation from strings', () => {
  it('trains in a process that may not compile strings, bit-identical to a normal process', async () => {
    const [strict, normal] = [
      await runChild(['--disallow-code-generation-from-strings'], join(work, 'strict'), 'default'),
      await runChild([], join(work, 'normal'), 'js-matmul'),
    ];
    expect(strict.codegen).toBe(false);
    expect(normal.codegen).toBe(true);
    expect(strict.step).toBe(3);
    expect(strict.losses).toHaveLength(3);
    expect(strict.losses.every(Number.isFinite)).toBe(true);
    expect(strict.losses).toEqual(normal.losses);
    expect(strict.valBpc).toBe(normal.valBpc);
    expect(strict.files).toEqual(normal.files);
  }, 120_000);
});
