/**
 * One sampling session, the same on both sides of the page: the main thread runs it on the webgpu backend, the
 * Web Worker (src/worker.ts) on the cpu backend. It loads a manifest entry's safetensors bytes with `loadDiT`,
 * builds the noise process and the sampler the controls ask for, and streams every intermediate state.
 */
import type { Backend } from '@duality/kernels';
import { type DiT, DiTDenoiser, loadDiT, type Tokenizer, tokenizerByName } from '@duality/models';
import { masked, type NoiseProcess, uniform } from '@duality/noise';
import type { KappaMode } from '@duality/posteriors';
import { ancestralSampler, psiSampler, type Sampler } from '@duality/samplers';
import type { KappaChoice, ModelEntry, SamplerName } from './manifest';

export interface SampleSettings {
  sampler: SamplerName;
  /** Used by the Ψ sampler only. */
  kappa: KappaChoice;
  steps: number;
  seed: number;
}

/** One state of the denoising, as the page draws it. */
export interface Frame {
  phase: 'step' | 'final';
  /** Denoising steps done, of `total` (the final state, after noise removal, repeats the total). */
  done: number;
  total: number;
  /** x_t of the single sequence. */
  ids: Int32Array;
  /** argmax of the model's x̂0 at this step (absent on the final state). */
  x0?: Int32Array;
  /** Milliseconds since sampling started (model loading excluded). */
  elapsedMs: number;
}

export interface LoadedModel {
  entry: ModelEntry;
  model: DiT;
  process: NoiseProcess;
  denoiser: DiTDenoiser;
  tokenizer: Tokenizer;
  /** The mask id of a masked model, else undefined. */
  maskId?: number;
}

/** A model that does not fit its manifest entry (vocabulary, context). */
export class ModelMismatchError extends Error {
  override readonly name = 'ModelMismatchError';
}

/** Builds the DiT of `entry` from its safetensors bytes on `backend` (config: the file's, or `config`). */
export async function loadModel(
  backend: Backend,
  entry: ModelEntry,
  bytes: Uint8Array,
  config?: Record<string, unknown>,
): Promise<LoadedModel> {
  const model = await loadDiT(backend, bytes, config ? { config } : {});
  const V = model.config.vocabSize;
  const tokenizer = await tokenizerByName(entry.tokenizer);
  const expected = entry.process === 'masked' ? tokenizer.vocabSize + 1 : tokenizer.vocabSize;
  if (V !== entry.vocabSize || V !== expected || entry.length > model.config.length) {
    model.dispose();
    throw new ModelMismatchError(
      `${entry.name}: got a model with ${V} ids and context ${model.config.length}, expected ${expected} ids ` +
        `(${entry.tokenizer}${entry.process === 'masked' ? ' + mask' : ''}) and context ≥ ${entry.length}`,
    );
  }
  if (entry.process === 'masked') {
    const maskId = V - 1; // the masked process's default absorbing id: the last one
    const process = masked(backend, { vocabSize: V, maskId });
    const denoiser = new DiTDenoiser(model, { kind: 'subs', maskIndex: maskId });
    return { entry, model, process, denoiser, tokenizer, maskId };
  }
  const process = uniform(backend, { vocabSize: V });
  return { entry, model, process, denoiser: new DiTDenoiser(model), tokenizer };
}

/** The page's κ choice as a @duality/posteriors KappaMode. */
export function kappaMode(choice: KappaChoice): KappaMode {
  switch (choice.kind) {
    case 'pure-pc':
    case 'pure-posterior':
      return { kind: choice.kind };
    default:
      return { kind: choice.kind, eta: choice.eta };
  }
}

/** The sampler the controls describe, on the model's process. */
export function makeSampler(loaded: LoadedModel, settings: SampleSettings): Sampler {
  const common = {
    process: loaded.process,
    steps: settings.steps,
    noiseRemoval: loaded.entry.noiseRemoval,
  };
  return settings.sampler === 'psi'
    ? psiSampler({ ...common, kappa: kappaMode(settings.kappa) })
    : ancestralSampler(common);
}

/** Streams the denoising of one sequence of `entry.length` tokens; `signal` stops it between steps. */
export async function* denoise(
  loaded: LoadedModel,
  settings: SampleSettings,
  signal?: AbortSignal,
): AsyncGenerator<Frame> {
  const sampler = makeSampler(loaded, settings);
  const start = performance.now();
  const request = { batch: 1, length: loaded.entry.length, seed: settings.seed, x0Argmax: true, signal };
  for await (const state of sampler.run(loaded.denoiser, request)) {
    yield {
      phase: state.phase,
      done: state.done,
      total: state.total,
      ids: state.xt,
      x0: state.phase === 'step' ? state.x0Argmax : undefined,
      elapsedMs: performance.now() - start,
    };
  }
}

/** What one token looks like on the page: its text, or the mask glyph. */
export function tokenText(loaded: Pick<LoadedModel, 'tokenizer' | 'maskId'>, id: number): string {
  if (id === loaded.maskId) return MASK_GLYPH;
  if (id < 0) return ' '; // a semi-AR window not started yet
  return loaded.tokenizer.decode([id]);
}

export const MASK_GLYPH = '▒';

/** The final text: every token decoded (a masked model leaves no mask after noise removal). */
export function decodeText(loaded: Pick<LoadedModel, 'tokenizer' | 'maskId'>, ids: Int32Array): string {
  const kept = Array.from(ids).filter((id) => id !== loaded.maskId && id >= 0);
  return loaded.tokenizer.decode(kept);
}
