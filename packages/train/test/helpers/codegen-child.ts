/**
 * A short training run in its own process, for the test of the cpu backend where code generation from strings is
 * disallowed: `codegen-child.ts <config.json> <outDir> [js-matmul]`. With js-matmul the f32 matmuls stay on the
 * JS path (what that context runs) while everything else may thread. Prints one JSON line: whether this process
 * can compile code from strings, the losses, and the SHA-256 of the final weights, EMA and moments.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuKernelLimits } from '../../../kernels/src/cpu/pool';
import { EMA_FILE, listCheckpoints, OPTIMIZER_FILE, readMetrics, train, WEIGHTS_FILE } from '../../src/index';

const [configPath, outDir, mode] = process.argv.slice(2);
if (mode === 'js-matmul') cpuKernelLimits.matmulWasmMinMacs = Number.POSITIVE_INFINITY;
const codegen = (() => {
  try {
    return new Function('return 1')() === 1;
  } catch {
    return false;
  }
})();
const result = await train(JSON.parse(readFileSync(configPath, 'utf8')), { outDir });
const entries = await listCheckpoints(join(outDir, 'checkpoints'));
const last = entries[entries.length - 1];
const sha = (file: string) =>
  createHash('sha256')
    .update(readFileSync(join(last.dir, file)))
    .digest('hex');
const losses = (await readMetrics(join(outDir, 'metrics.jsonl'))).map((r) => r.loss);
console.log(
  JSON.stringify({
    codegen,
    step: result.step,
    losses,
    valBpc: result.valBpc,
    files: Object.fromEntries([WEIGHTS_FILE, EMA_FILE, OPTIMIZER_FILE].map((f) => [f, sha(f)])),
  }),
);
