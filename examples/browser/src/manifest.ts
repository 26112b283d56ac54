/**
 * The demo's model manifest (`models/index.json`, written by scripts/models.ts): which models the page offers,
 * where their safetensors file is, how to tokenize and sample them. Shared by the script, the page, the worker
 * and the tests, so that all read one checked shape.
 */

export const TOKENIZERS = ['brown8', 'brown-char', 'gpt2'] as const;
export type TokenizerName = (typeof TOKENIZERS)[number];

/** masked = MDLM (absorbing mask, last id); uniform = Duo / UDLM (and their DCD-distilled students). */
export const PROCESSES = ['masked', 'uniform'] as const;
export type ProcessKind = (typeof PROCESSES)[number];

export const SAMPLERS = ['ancestral', 'psi'] as const;
export type SamplerName = (typeof SAMPLERS)[number];

/** κ modes of @duality/posteriors the page offers (Chapter II §4); the η ones take `eta`. */
export const KAPPA_KINDS = [
  'max-capped',
  'max-rescale',
  'constant',
  'constant-remdm',
  'pure-pc',
  'pure-posterior',
] as const;
export type KappaKind = (typeof KAPPA_KINDS)[number];
export const KAPPA_WITH_ETA: ReadonlySet<KappaKind> = new Set([
  'max-capped',
  'max-rescale',
  'constant',
  'constant-remdm',
]);

export const NOISE_REMOVALS = ['ancestral', 'greedy', 'none'] as const;
export type NoiseRemovalName = (typeof NOISE_REMOVALS)[number];

export interface KappaChoice {
  kind: KappaKind;
  /** η of the modes in KAPPA_WITH_ETA, in [0, 1]. */
  eta: number;
}

export interface ModelEntry {
  /** Identifier (the select's value), unique in the manifest. */
  name: string;
  /** What the user reads in the model list. */
  label: string;
  /** Random weights: the page labels it "untrained" and its text is noise. */
  untrained: boolean;
  /** The safetensors file, relative to the manifest's URL. */
  file: string;
  /** Byte size of the file (shown while loading). */
  bytes: number;
  /** A reference config JSON (e.g. a Hugging Face config.json) relative to the manifest, when the file has none. */
  config?: string;
  tokenizer: TokenizerName;
  process: ProcessKind;
  /** Model vocabulary (tokenizer ids, plus the mask for masked models). */
  vocabSize: number;
  /** Tokens to sample (at most the model's context length). */
  length: number;
  parameters: number;
  /** Recommended settings, preselected in the controls. */
  sampler: SamplerName;
  steps: number;
  kappa: KappaChoice;
  noiseRemoval: NoiseRemovalName;
}

export interface Manifest {
  version: 1;
  models: ModelEntry[];
}

/** A manifest that does not have the expected shape: names the key, what it held and what was expected. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  constructor(
    readonly key: string,
    readonly got: string,
    readonly expected: string,
  ) {
    super(`manifest ${key}: got ${got}, expected ${expected}`);
  }
}

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function oneOf<T extends string>(key: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new ManifestError(key, show(v), `one of ${allowed.join(' | ')}`);
}

function text(key: string, v: unknown): string {
  if (typeof v === 'string' && v.length > 0) return v;
  throw new ManifestError(key, show(v), 'a non-empty string');
}

function positiveInt(key: string, v: unknown): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1) return v;
  throw new ManifestError(key, show(v), 'a positive integer');
}

/** Checks a κ choice: a known mode and η in [0, 1]. */
export function parseKappa(key: string, v: unknown): KappaChoice {
  if (!isRecord(v)) throw new ManifestError(key, show(v), 'an object { kind, eta }');
  const kind = oneOf(`${key}.kind`, v.kind, KAPPA_KINDS);
  const eta = v.eta ?? 0;
  if (typeof eta !== 'number' || !(eta >= 0 && eta <= 1))
    throw new ManifestError(`${key}.eta`, show(v.eta), 'a number in [0, 1]');
  return { kind, eta };
}

/** Checks one entry; `key` names it in errors (e.g. "models[2]"). */
export function parseEntry(key: string, v: unknown): ModelEntry {
  if (!isRecord(v)) throw new ManifestError(key, show(v), 'an object');
  const entry: ModelEntry = {
    name: text(`${key}.name`, v.name),
    label: text(`${key}.label`, v.label),
    untrained: v.untrained === true,
    file: text(`${key}.file`, v.file),
    bytes: positiveInt(`${key}.bytes`, v.bytes),
    tokenizer: oneOf(`${key}.tokenizer`, v.tokenizer, TOKENIZERS),
    process: oneOf(`${key}.process`, v.process, PROCESSES),
    vocabSize: positiveInt(`${key}.vocabSize`, v.vocabSize),
    length: positiveInt(`${key}.length`, v.length),
    parameters: positiveInt(`${key}.parameters`, v.parameters),
    sampler: oneOf(`${key}.sampler`, v.sampler, SAMPLERS),
    steps: positiveInt(`${key}.steps`, v.steps),
    kappa: parseKappa(`${key}.kappa`, v.kappa),
    noiseRemoval: oneOf(`${key}.noiseRemoval`, v.noiseRemoval ?? 'ancestral', NOISE_REMOVALS),
  };
  if (v.config !== undefined) entry.config = text(`${key}.config`, v.config);
  return entry;
}

/** Parses `models/index.json`; throws ManifestError on the first key that is wrong. */
export function parseManifest(json: unknown): Manifest {
  if (!isRecord(json))
    throw new ManifestError('(root)', show(json), 'an object { version: 1, models: [...] }');
  if (json.version !== 1) throw new ManifestError('version', show(json.version), '1');
  if (!Array.isArray(json.models) || json.models.length === 0)
    throw new ManifestError('models', show(json.models), 'a non-empty array of model entries');
  const models = json.models.map((m, i) => parseEntry(`models[${i}]`, m));
  const seen = new Set<string>();
  for (const [i, m] of models.entries()) {
    if (seen.has(m.name))
      throw new ManifestError(`models[${i}].name`, show(m.name), 'a name not used before');
    seen.add(m.name);
  }
  return { version: 1, models };
}
