/**
 * End to end: builds the page with Vite, serves it with `vite preview` (COOP/COEP headers) on a free port,
 * drives Debian's Chromium through playwright, clicks Sample and checks that the text the page writes is the
 * text the cpu backend gives in this Node process for the same model, sampler and seed — once on WebGPU
 * (SwiftShader in headless Chromium) and once on the cpu backend in the page's Web Worker. Saves a screenshot
 * of the WebGPU run to results/screenshot.png.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackend } from '@duality/kernels';
import { brown8, DiTDenoiser, loadDiT } from '@duality/models';
import { masked, uniform } from '@duality/noise';
import { ancestralSampler, psiSampler, type Sampler } from '@duality/samplers';
import { type Browser, chromium, type Page } from 'playwright';
import { build, type PreviewServer, preview } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModels, parseSources } from '../scripts/build-models';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const configFile = join(packageDir, 'vite.config.ts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let work: string;
let server: PreviewServer;
let browser: Browser;
let url: string;
const timings: Record<string, number> = {};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(address)));
    });
  });
}

const since = (t0: number) => Math.round(performance.now() - t0);

beforeAll(async () => {
  let t0 = performance.now();
  work = await mkdtemp(join(tmpdir(), 'duality-browser-'));
  const publicDir = join(work, 'public');
  const sources = parseSources(JSON.parse(await readFile(join(packageDir, 'models.json'), 'utf8')));
  await buildModels({
    outDir: join(publicDir, 'models'),
    repoRoot: join(packageDir, '..', '..'),
    bundled: sources,
  });
  const outDir = join(work, 'dist');
  await build({
    configFile,
    publicDir,
    logLevel: 'warn',
    build: { outDir, minify: false, reportCompressedSize: false },
  });
  timings.buildMs = since(t0);
  t0 = performance.now();
  const port = await freePort();
  server = await preview({
    configFile,
    logLevel: 'warn',
    build: { outDir },
    preview: { port, strictPort: true, host: '127.0.0.1', open: false },
  });
  url = `http://127.0.0.1:${port}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--enable-unsafe-webgpu',
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  timings.launchMs = since(t0);
}, 180_000); // the Vite build takes ~11 s on a quiet 2-core machine, over a minute under heavy load

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
  console.info(`browser e2e timings (ms): ${JSON.stringify(timings)}`);
});

interface Run {
  model: 'untrained-duo' | 'untrained-mdlm';
  backend: 'webgpu' | 'cpu';
  sampler: 'ancestral' | 'psi';
  kappa: { kind: 'max-capped'; eta: number };
  steps: number;
  seed: number;
}

/** The same sampling in this Node process, on the cpu backend, from the file the page served. */
async function textInNode(run: Run): Promise<string> {
  const cpu = await createBackend('cpu');
  const model = await loadDiT(cpu, join(work, 'dist', 'models', run.model, 'model.safetensors'));
  const isMasked = run.model === 'untrained-mdlm';
  const V = model.config.vocabSize;
  const process = isMasked ? masked(cpu, { vocabSize: V }) : uniform(cpu, { vocabSize: V });
  const denoiser = new DiTDenoiser(model, isMasked ? { kind: 'subs', maskIndex: V - 1 } : { kind: 'logits' });
  const sampler: Sampler =
    run.sampler === 'psi'
      ? psiSampler({ process, steps: run.steps, kappa: run.kappa })
      : ancestralSampler({ process, steps: run.steps });
  const ids = await (
    await sampler.sample(denoiser, { batch: 1, length: model.config.length, seed: run.seed })
  ).read();
  model.dispose();
  return brown8.decode(ids);
}

interface PageRun {
  text: string;
  backendInfo: string;
  rate: string;
  time: string;
  /** #step texts in the order they were painted, with the number of masked cells at each. */
  painted: Array<{ step: string; masks: number }>;
  errors: string[];
}

/** Sets the controls, clicks Sample and waits for the final text. */
async function sampleInPage(page: Page, run: Run): Promise<PageRun> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(`${m.text()} (${m.location().url})`));
  await page.goto(url);
  await page.waitForSelector('#sample:not([disabled])');
  await page.selectOption('#model', run.model);
  await page.selectOption('#backend', run.backend);
  await page.selectOption('#sampler', run.sampler);
  if (run.sampler === 'psi') {
    await page.selectOption('#kappa', run.kappa.kind);
    await page.fill('#eta', String(run.kappa.eta));
  }
  await page.fill('#steps', String(run.steps));
  await page.fill('#seed', String(run.seed));
  await page.evaluate(() => {
    const log: Array<{ step: string; masks: number }> = [];
    (window as unknown as { painted: typeof log }).painted = log;
    const step = document.getElementById('step') as HTMLElement;
    new MutationObserver(() => {
      if (step.textContent !== '–')
        log.push({
          step: step.textContent ?? '',
          masks: document.querySelectorAll('#sequence .mask').length,
        });
    }).observe(step, { childList: true, characterData: true, subtree: true });
  });
  await page.click('#sample');
  await page.waitForSelector('#text[data-done="true"]', { timeout: 100_000 });
  await page.waitForSelector('#status[data-state="done"]');
  const read = (selector: string) => page.textContent(selector).then((t) => t ?? '');
  return {
    text: await read('#text'),
    backendInfo: await read('#backend-info'),
    rate: await read('#rate'),
    time: await read('#time'),
    painted: await page.evaluate(() => (window as unknown as { painted: PageRun['painted'] }).painted),
    errors,
  };
}

const stepLabels = (steps: number) => [
  ...Array.from({ length: steps }, (_, i) => `${i + 1}/${steps}`),
  `${steps}/${steps} + noise removal`,
];

describe('the browser demo', () => {
  it('on WebGPU writes the text the cpu backend gives in Node for the same seed', async () => {
    const run: Run = {
      model: 'untrained-duo',
      backend: 'webgpu',
      sampler: 'psi',
      kappa: { kind: 'max-capped', eta: 0.1 },
      steps: 12,
      seed: 7,
    };
    const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
    const t0 = performance.now();
    const got = await sampleInPage(page, run);
    timings.webgpuPageMs = since(t0);
    console.info(`webgpu page: ${got.backendInfo}; ${got.rate} steps/s, sampling ${got.time}`);
    await mkdir(join(packageDir, 'results'), { recursive: true });
    await page.screenshot({ path: join(packageDir, 'results', 'screenshot.png'), fullPage: true });
    await page.close();
    expect(got.errors).toEqual([]);
    expect(got.backendInfo).toMatch(/^webgpu · /);
    expect(got.painted.map((p) => p.step)).toEqual(stepLabels(run.steps)); // every step drawn, in order
    expect(got.text).toHaveLength(64);
    expect(got.text).toMatch(/^[a-z ]+$/);
    expect(got.text).toBe(await textInNode(run));
  }, 120_000); // SwiftShader runs every dispatch on the CPU: ~10 s here, more when the machine is loaded

  it('on the cpu backend in a Web Worker writes the same text as Node, masks visible until revealed', async () => {
    const run: Run = {
      model: 'untrained-mdlm',
      backend: 'cpu',
      sampler: 'ancestral',
      kappa: { kind: 'max-capped', eta: 0.1 },
      steps: 12,
      seed: 3,
    };
    const page = await browser.newPage();
    const t0 = performance.now();
    const got = await sampleInPage(page, run);
    timings.cpuPageMs = since(t0);
    console.info(`cpu page: ${got.backendInfo}; ${got.rate} steps/s, sampling ${got.time}`);
    const isolated = await page.evaluate(() => crossOriginIsolated);
    await page.close();
    expect(got.errors).toEqual([]);
    expect(isolated).toBe(true); // the COOP/COEP headers of the preview server
    expect(got.backendInfo).toMatch(/^cpu \(Web Worker, /);
    expect(got.painted.map((p) => p.step)).toEqual(stepLabels(run.steps));
    expect(got.painted[0].masks).toBeGreaterThan(0); // early states show masked positions
    expect(got.painted.at(-1)?.masks).toBe(0); // noise removal reveals every position
    expect(got.text).toBe(await textInNode(run));
  }, 120_000);
});
