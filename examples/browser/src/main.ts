/**
 * The page: reads the model manifest, fills the controls, and on Sample runs the chosen sampler on WebGPU (this
 * thread) or on the cpu backend in a Web Worker, painting every denoising step.
 */
import './style.css';
import { WebGPUUnavailableError } from '@duality/kernels';
import { tokenizerByName } from '@duality/models';
import {
  KAPPA_KINDS,
  KAPPA_WITH_ETA,
  type KappaKind,
  type Manifest,
  type ModelEntry,
  parseManifest,
  type SamplerName,
} from './manifest';
import { entryUrls } from './model-source';
import { type Runner, WebGPURunner, WorkerRunner } from './runners';
import { decodeText, type Frame, type SampleSettings } from './sampling';
import { type Display, Playback, SequenceView } from './view';

const manifestUrl = new URL('models/index.json', document.baseURI).href;

const el = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
};

const ui = {
  form: el<HTMLFormElement>('controls'),
  model: el<HTMLSelectElement>('model'),
  backend: el<HTMLSelectElement>('backend'),
  sampler: el<HTMLSelectElement>('sampler'),
  kappa: el<HTMLSelectElement>('kappa'),
  eta: el<HTMLInputElement>('eta'),
  steps: el<HTMLInputElement>('steps'),
  seed: el<HTMLInputElement>('seed'),
  button: el<HTMLButtonElement>('sample'),
  note: el('model-note'),
  backendInfo: el('backend-info'),
  status: el('status'),
  step: el('step'),
  rate: el('rate'),
  time: el('time'),
  load: el('load'),
  sequence: el('sequence'),
  text: el('text'),
  error: el('error'),
};

let manifest: Manifest | undefined;
let current: AbortController | undefined;
let gpuRunner: Promise<WebGPURunner> | undefined;
let cpuRunner: WorkerRunner | undefined;

function setStatus(state: 'idle' | 'loading' | 'sampling' | 'done' | 'error', text: string): void {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
}

function selectedEntry(): ModelEntry {
  const entry = manifest?.models.find((m) => m.name === ui.model.value);
  if (!entry) throw new Error(`no model "${ui.model.value}" in the manifest`);
  return entry;
}

/** κ and η only matter for Ψ, η only for the η modes. */
function syncKappaControls(): void {
  const psi = ui.sampler.value === 'psi';
  ui.kappa.disabled = !psi;
  ui.eta.disabled = !psi || !KAPPA_WITH_ETA.has(ui.kappa.value as KappaKind);
}

/** Preselects the entry's recommended sampler, κ and steps, and says whether it is trained. */
function applyRecommended(entry: ModelEntry): void {
  ui.sampler.value = entry.sampler;
  ui.kappa.value = entry.kappa.kind;
  ui.eta.value = String(entry.kappa.eta);
  ui.steps.value = String(entry.steps);
  syncKappaControls();
  const size = `${(entry.parameters / 1e6).toFixed(2)} M parameters, ${entry.tokenizer}, ${entry.process}`;
  ui.note.textContent = entry.untrained
    ? `Untrained: ${entry.label} (${size}) has random weights, so its text is noise; it shows the machinery.`
    : `${entry.label} (${size}).`;
  ui.note.classList.toggle('untrained', entry.untrained);
}

function integer(input: HTMLInputElement, min: number, max: number): number {
  const v = Number(input.value);
  if (!Number.isSafeInteger(v) || v < min || v > max)
    throw new Error(
      `${input.id}: got ${JSON.stringify(input.value)}, expected an integer in [${min}, ${max}]`,
    );
  return v;
}

function readSettings(): SampleSettings {
  const eta = Number(ui.eta.value);
  if (!(eta >= 0 && eta <= 1))
    throw new Error(`η: got ${JSON.stringify(ui.eta.value)}, expected a number in [0, 1]`);
  return {
    sampler: ui.sampler.value as SamplerName,
    kappa: { kind: ui.kappa.value as KappaKind, eta },
    steps: integer(ui.steps, 1, 1024),
    seed: integer(ui.seed, 0, Number.MAX_SAFE_INTEGER),
  };
}

/** The runner for the backend choice; 'auto' falls back to the cpu worker when WebGPU is absent. */
async function pickRunner(choice: string): Promise<{ runner: Runner; note?: string }> {
  if (choice !== 'cpu') {
    gpuRunner ??= WebGPURunner.create();
    try {
      return { runner: await gpuRunner };
    } catch (error) {
      gpuRunner = undefined;
      if (choice === 'webgpu' || !(error instanceof WebGPUUnavailableError)) throw error;
      cpuRunner ??= new WorkerRunner();
      return { runner: cpuRunner, note: `WebGPU unavailable (${error.message})` };
    }
  }
  cpuRunner ??= new WorkerRunner();
  return { runner: cpuRunner };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

function showFrame(view: SequenceView, display: Display, frame: Frame): void {
  view.draw(frame);
  const final = frame.phase === 'final';
  ui.step.textContent = final
    ? `${frame.total}/${frame.total} + noise removal`
    : `${frame.done}/${frame.total}`;
  ui.rate.textContent = (frame.done / (frame.elapsedMs / 1000)).toFixed(2);
  ui.time.textContent = seconds(frame.elapsedMs);
  if (final) {
    ui.text.textContent = decodeText(display, frame.ids);
    ui.text.dataset.done = 'true';
  }
}

async function sample(): Promise<void> {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  ui.error.textContent = '';
  ui.text.textContent = '';
  ui.text.dataset.done = 'false';
  for (const m of [ui.step, ui.rate, ui.time, ui.load]) m.textContent = '–';
  const entry = selectedEntry();
  const settings = readSettings();
  setStatus('loading', `loading ${entry.name} (${(entry.bytes / 1e6).toFixed(1)} MB)`);
  const { runner, note } = await pickRunner(ui.backend.value);
  const display: Display = {
    tokenizer: await tokenizerByName(entry.tokenizer),
    maskId: entry.process === 'masked' ? entry.vocabSize - 1 : undefined,
  };
  const view = new SequenceView(ui.sequence, display, entry.length);
  const playback = new Playback((frame) => {
    if (current === controller) showFrame(view, display, frame);
  });
  controller.signal.addEventListener('abort', () => playback.clear(), { once: true });
  await runner.run({
    entry,
    ...entryUrls(entry, manifestUrl),
    settings,
    signal: controller.signal,
    onLoaded: ({ loadMs, backend }) => {
      ui.backendInfo.textContent = note ? `${backend} — ${note}` : backend;
      ui.load.textContent = seconds(loadMs);
      setStatus('sampling', `sampling on ${runner.kind}`);
    },
    onFrame: (frame) => playback.push(frame),
  });
  await playback.drained();
  if (current === controller) setStatus('done', 'done');
}

function fail(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  ui.error.textContent = message;
  setStatus('error', 'error');
  console.error(error);
}

async function init(): Promise<void> {
  for (const kind of KAPPA_KINDS) ui.kappa.add(new Option(kind, kind));
  const response = await fetch(manifestUrl);
  if (!response.ok)
    throw new Error(
      `${manifestUrl}: got HTTP ${response.status}; run \`pnpm models\` in examples/browser first`,
    );
  manifest = parseManifest(await response.json());
  for (const m of manifest.models)
    ui.model.add(new Option(m.untrained ? `${m.name} (untrained)` : m.name, m.name));
  applyRecommended(manifest.models[0]);
  ui.seed.value = '1';
  ui.model.addEventListener('change', () => applyRecommended(selectedEntry()));
  ui.sampler.addEventListener('change', syncKappaControls);
  ui.kappa.addEventListener('change', syncKappaControls);
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    sample().catch(fail);
  });
  ui.button.disabled = false;
  ui.backendInfo.textContent =
    'navigator.gpu' in navigator ? 'WebGPU present' : 'no WebGPU: cpu in a Web Worker';
}

init().catch(fail);
