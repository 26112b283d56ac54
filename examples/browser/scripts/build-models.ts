/**
 * Writes the page's models folder: `index.json` (the manifest the page reads) and one folder per model with its
 * safetensors file. Two kinds of entries:
 *   - bundled models, listed in `models.json` beside this package (a folder under the repository, usually
 *     `models/<name>/`, holding what `saveDiT` writes: a safetensors file whose `__metadata__.config` is the
 *     reference config; or a separate reference config JSON). Adding a model = adding an entry there.
 *   - untrained demo models: tiny DiTs with random weights (`initStateDict`), written here, labelled untrained.
 */
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { createBackend } from '@duality/kernels';
import {
  configFromReference,
  DiT,
  type DiTConfig,
  ditConfig,
  initStateDict,
  openSafetensorsFile,
  parameterCount,
  saveDiT,
  tokenizerByName,
} from '@duality/models';
import {
  type KappaChoice,
  type Manifest,
  ManifestError,
  type ModelEntry,
  NOISE_REMOVALS,
  PROCESSES,
  parseEntry,
  parseKappa,
  parseManifest,
  SAMPLERS,
  TOKENIZERS,
} from '../src/manifest';

/** A bundled model as listed in models.json (paths relative to the repository root). */
export interface BundledSource {
  name: string;
  label: string;
  /** Folder of the model, relative to the repository root (e.g. "models/duo-brown8"). */
  dir: string;
  /** Weights file in that folder (default model.safetensors). */
  file?: string;
  /** A reference config JSON in that folder, when the safetensors file carries none. */
  config?: string;
  tokenizer: string;
  process: string;
  sampler: string;
  steps: number;
  kappa?: KappaChoice;
  noiseRemoval?: string;
  /** Tokens to sample (default: the model's context length). */
  length?: number;
}

/** An untrained demo model: its architecture and how to draw its weights. */
export interface UntrainedSource {
  name: string;
  label: string;
  process: 'masked' | 'uniform';
  config: DiTConfig;
  seed: number;
  /** Standard deviation of the 'normal' initialisation (large enough that the logits are not flat). */
  std: number;
  sampler: 'ancestral' | 'psi';
  steps: number;
  kappa: KappaChoice;
}

const tiny = (vocabSize: number): DiTConfig =>
  ditConfig({ vocabSize, hiddenSize: 64, condDim: 32, nHeads: 4, nBlocks: 2, length: 64 });

/** The demo's untrained models (brown8: 27 ids; the masked one adds the mask as id 27). */
export const UNTRAINED: UntrainedSource[] = [
  {
    name: 'untrained-duo',
    label: 'a tiny uniform-state (Duo-style) DiT',
    process: 'uniform',
    config: tiny(27),
    seed: 11,
    std: 0.2,
    sampler: 'psi',
    steps: 32,
    kappa: { kind: 'max-capped', eta: 0.1 },
  },
  {
    name: 'untrained-mdlm',
    label: 'a tiny masked (MDLM-style) DiT',
    process: 'masked',
    config: tiny(28),
    seed: 12,
    std: 0.2,
    sampler: 'ancestral',
    steps: 32,
    kappa: { kind: 'max-capped', eta: 0.1 },
  },
];

export interface BuildOptions {
  /** Where index.json and the model folders go (cleared first). */
  outDir: string;
  /** Folders of bundled models are resolved against this (the repository root). */
  repoRoot: string;
  bundled: BundledSource[];
  untrained?: UntrainedSource[];
  log?: (line: string) => void;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The bundled entry's DiT config: from its config JSON, else from the safetensors metadata. */
async function bundledConfig(
  weights: string,
  configFile: string | undefined,
  key: string,
): Promise<DiTConfig> {
  if (configFile) return configFromReference(JSON.parse(await readFile(configFile, 'utf8')));
  const reader = await openSafetensorsFile(weights);
  try {
    const stored = reader.metadata.config;
    if (stored === undefined)
      throw new ManifestError(
        `${key}.config`,
        'nothing (no __metadata__.config in the file)',
        'a config JSON file',
      );
    return configFromReference(JSON.parse(stored));
  } finally {
    await reader.close();
  }
}

/** Vocabulary the tokenizer and process need (masked adds the mask id). */
async function expectedVocab(tokenizer: string, process: string): Promise<number> {
  const t = await tokenizerByName(tokenizer);
  return process === 'masked' ? t.vocabSize + 1 : t.vocabSize;
}

async function addBundled(
  source: BundledSource,
  i: number,
  options: BuildOptions,
): Promise<ModelEntry | null> {
  const key = `models.json models[${i}]`;
  const dir = resolve(options.repoRoot, source.dir);
  const weights = join(dir, source.file ?? 'model.safetensors');
  if (!(await exists(weights))) {
    options.log?.(`skipped ${source.name}: ${relative(options.repoRoot, weights)} does not exist (yet)`);
    return null;
  }
  const configPath = source.config ? join(dir, source.config) : undefined;
  const config = await bundledConfig(weights, configPath, key);
  if (config.causal)
    throw new ManifestError(
      `${key}.dir`,
      `${source.dir} (a causal model)`,
      'a bidirectional DiT (not the AR judge)',
    );
  const vocab = await expectedVocab(source.tokenizer, source.process);
  if (config.vocabSize !== vocab)
    throw new ManifestError(
      `${key}`,
      `a model with ${config.vocabSize} ids`,
      `${vocab} ids for ${source.tokenizer} with the ${source.process} process`,
    );
  const out = join(options.outDir, source.name);
  await mkdir(out, { recursive: true });
  await copyFile(weights, join(out, 'model.safetensors'));
  if (configPath) await copyFile(configPath, join(out, 'config.json'));
  return parseEntry(key, {
    name: source.name,
    label: source.label,
    untrained: false,
    file: `${source.name}/model.safetensors`,
    bytes: (await stat(weights)).size,
    config: configPath ? `${source.name}/config.json` : undefined,
    tokenizer: source.tokenizer,
    process: source.process,
    vocabSize: config.vocabSize,
    length: source.length ?? config.length,
    parameters: parameterCount(config),
    sampler: source.sampler,
    steps: source.steps,
    kappa: source.kappa ?? { kind: 'max-capped', eta: 0.1 },
    noiseRemoval: source.noiseRemoval,
  });
}

async function addUntrained(source: UntrainedSource, options: BuildOptions): Promise<ModelEntry> {
  const backend = await createBackend('cpu', { threads: 0 });
  const weights = initStateDict(source.config, { seed: source.seed, scheme: 'normal', std: source.std });
  const model = await DiT.fromStateDict(backend, source.config, weights);
  const path = join(options.outDir, source.name, 'model.safetensors');
  await mkdir(dirname(path), { recursive: true });
  await saveDiT(model, path, { metadata: { duality_demo: 'untrained: random weights (initStateDict)' } });
  model.dispose();
  return parseEntry(source.name, {
    name: source.name,
    label: source.label,
    untrained: true,
    file: `${source.name}/model.safetensors`,
    bytes: (await stat(path)).size,
    tokenizer: 'brown8',
    process: source.process,
    vocabSize: source.config.vocabSize,
    length: source.config.length,
    parameters: parameterCount(source.config),
    sampler: source.sampler,
    steps: source.steps,
    kappa: source.kappa,
  });
}

/** Checks models.json: an object with a `models` array of bundled sources. */
export function parseSources(json: unknown): BundledSource[] {
  const models = (json as { models?: unknown } | null)?.models;
  if (!Array.isArray(models))
    throw new ManifestError('models.json models', JSON.stringify(models), 'an array');
  return models.map((m, i) => {
    const key = `models.json models[${i}]`;
    const s = m as BundledSource;
    for (const field of ['name', 'label', 'dir'] as const)
      if (typeof s?.[field] !== 'string' || s[field].length === 0)
        throw new ManifestError(`${key}.${field}`, JSON.stringify(s?.[field]), 'a non-empty string');
    const check = (field: keyof BundledSource, allowed: readonly string[]) => {
      if (!allowed.includes(s[field] as string))
        throw new ManifestError(`${key}.${field}`, JSON.stringify(s[field]), `one of ${allowed.join(' | ')}`);
    };
    check('tokenizer', TOKENIZERS);
    check('process', PROCESSES);
    check('sampler', SAMPLERS);
    if (s.noiseRemoval !== undefined) check('noiseRemoval', NOISE_REMOVALS);
    if (s.kappa !== undefined) parseKappa(`${key}.kappa`, s.kappa);
    if (!Number.isSafeInteger(s.steps) || s.steps < 1)
      throw new ManifestError(`${key}.steps`, JSON.stringify(s.steps), 'a positive integer');
    return s;
  });
}

/** Writes outDir/index.json and every model's files; returns the manifest. */
export async function buildModels(options: BuildOptions): Promise<Manifest> {
  await rm(options.outDir, { recursive: true, force: true });
  await mkdir(options.outDir, { recursive: true });
  const entries: ModelEntry[] = [];
  for (const [i, source] of options.bundled.entries()) {
    const entry = await addBundled(source, i, options);
    if (entry) entries.push(entry);
  }
  for (const source of options.untrained ?? UNTRAINED) entries.push(await addUntrained(source, options));
  const manifest = parseManifest({ version: 1, models: entries });
  await writeFile(join(options.outDir, 'index.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const m of manifest.models)
    options.log?.(
      `${m.name}: ${m.file} (${m.bytes} bytes, ${m.parameters} parameters${m.untrained ? ', untrained' : ''})`,
    );
  return manifest;
}
