#!/usr/bin/env node
/**
 * Smoke run of the WebGPU backend in Node: Dawn from the optional `webgpu` package (OpenGL ES backend, Mesa's
 * llvmpipe here, compatibility feature level), a few ops compared with the cpu backend, and a short table.
 * A smoke run, not a test: Dawn on llvmpipe may crash at random on heavy kernels on a small VM.
 *
 *   pnpm smoke:webgpu-node        (from the repository root; or: node packages/kernels/scripts/webgpu-node-smoke.mjs)
 *
 * The TypeScript sources are bundled on the fly with esbuild (tsup's own copy) into node_modules/.cache, so no
 * build is needed; `--dist` uses the built package (dist/index.js) instead.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..');

async function loadKernels() {
  if (process.argv.includes('--dist')) return import(pathToFileURL(join(pkg, 'dist/index.js')).href);
  const require = createRequire(join(pkg, 'package.json'));
  const tsupDir = dirname(require.resolve('tsup/package.json', { paths: [pkg, join(pkg, '../..')] }));
  const esbuild = createRequire(join(tsupDir, 'package.json'))('esbuild');
  const outDir = join(pkg, 'node_modules/.cache/duality-webgpu-smoke');
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, 'kernels.mjs');
  await esbuild.build({
    entryPoints: [join(pkg, 'src/index.ts')],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile,
    external: ['typegpu', 'webgpu'],
    logLevel: 'error',
  });
  return import(pathToFileURL(outfile).href);
}

const k = await loadKernels();
const started = performance.now();
const gpu = await k.createBackend('webgpu');
const cpu = await k.createBackend('cpu', { threads: 0 });
console.log(`webgpu backend in Node: device ready in ${(performance.now() - started).toFixed(0)} ms`);

/** Deterministic values in [lo, hi). */
function values(count, seed, lo = -1, hi = 1) {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return out;
}

const maxAbsDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const bitDiffs = (a, b) => {
  const x = new Uint32Array(Float32Array.from(a).buffer);
  const y = new Uint32Array(Float32Array.from(b).buffer);
  return x.reduce((n, v, i) => n + (v === y[i] ? 0 : 1), 0);
};

async function timed(backend, f) {
  const t0 = performance.now();
  const out = f(backend);
  const data = await out.read();
  return { data, ms: performance.now() - t0 };
}

const cases = [
  {
    op: 'matmul [64,256]×[256,128]',
    run: (b) =>
      b.matmul(
        b.tensor(values(64 * 256, 1), [64, 256], 'f32'),
        b.tensor(values(256 * 128, 2), [256, 128], 'f32'),
      ),
    compare: (g, c) => `max |Δ| ${maxAbsDiff(g, c).toExponential(2)}`,
  },
  {
    op: 'softmax [8,50257]',
    run: (b) => b.softmax(b.tensor(values(8 * 50257, 3, -8, 8), [8, 50257], 'f32')),
    compare: (g, c) => `max |Δ| ${maxAbsDiff(g, c).toExponential(2)}`,
  },
  {
    op: 'sampleCategorical [256,1000]',
    run: (b) => b.sampleCategorical(b.tensor(values(256 * 1000, 4, -3, 3), [256, 1000], 'f32'), { seed: 42 }),
    compare: (g, c) => `${g.reduce((n, v, i) => n + (v === c[i] ? 1 : 0), 0)}/${g.length} ids equal`,
  },
  {
    op: 'uniform [100000]',
    run: (b) => b.uniform([100000], { seed: 7n, offset: 5 }),
    compare: (g, c) => `${bitDiffs(g, c)} bit differences`,
  },
  {
    op: 'normal [100000]',
    run: (b) => b.normal([100000], { seed: 7n, offset: 5 }),
    compare: (g, c) => `${bitDiffs(g, c)} bit differences`,
  },
];

const rows = [];
for (const c of cases) {
  try {
    await timed(gpu, c.run); // first call compiles the pipeline
    const g = await timed(gpu, c.run);
    const r = await timed(cpu, c.run);
    rows.push({
      op: c.op,
      'webgpu ms': g.ms.toFixed(1),
      'cpu ms': r.ms.toFixed(1),
      'webgpu vs cpu': c.compare(g.data, r.data),
    });
  } catch (error) {
    rows.push({ op: c.op, 'webgpu ms': '-', 'cpu ms': '-', 'webgpu vs cpu': `ERROR ${error.message}` });
  }
}
console.table(rows);
gpu.destroy();
cpu.destroy();
// Dawn keeps native handles alive; leave explicitly.
process.exit(rows.some((r) => r['webgpu vs cpu'].startsWith('ERROR')) ? 1 : 0);
