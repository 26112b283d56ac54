/**
 * Finding, describing and loading a checkpoint given on the command line: a safetensors model file (ours or any
 * with the reference's names), a checkpoint directory (safetensors + state.json / metrics), a Hugging Face export
 * folder, or a torch.save file (Lightning `.ckpt`, `pytorch_model.bin`), the last two converted in memory.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Backend, FloatDType } from '@duality/kernels';
import {
  configFromReference,
  type DiT,
  type DiTConfig,
  loadDiT,
  openSafetensorsFile,
  serializeSafetensors,
} from '@duality/models';
import * as v from 'valibot';
import { parseWith, readJsonFile } from './config-file';
import { HF_CONFIG, readHfConfig } from './convert/hf';
import { isTorchFile, readReferenceCheckpoint } from './convert/index';
import { referenceFromHyperParameters } from './convert/lightning';
import {
  ALGO_NAMES,
  BUFFERS,
  findPrefix,
  guessTokenizer,
  outputMetadata,
  referenceCard,
  tensorsToWrite,
  withAlgo,
} from './convert/model';
import { toPlain } from './convert/plain';
import { TorchArchive, TorchTensor } from './convert/torch-archive';
import { UsageError } from './errors';

export type CheckpointKind = 'safetensors' | 'huggingface' | 'torch';

export interface Located {
  kind: CheckpointKind;
  /** The model file (safetensors, torch) or the export folder (huggingface). */
  path: string;
  /** Where state.json / metrics files may sit. */
  dir: string;
}

/**
 * Names a checkpoint directory's weights may have, in order of preference: ours, then @duality/train's
 * `step-N/` layout (`ema.safetensors` first: models are sampled with their EMA, as in the reference).
 */
const PREFERRED = ['model.safetensors', 'ema.safetensors', 'weights.safetensors'];
const PREFERRED_RAW = ['model.safetensors', 'weights.safetensors', 'ema.safetensors'];

/** The newest committed `step-<n>/` (one with a state.json) of a training run's checkpoint root. */
async function latestStep(path: string, files: string[]): Promise<string | undefined> {
  const steps = files.filter((f) => /^step-\d+$/.test(f) && existsSync(join(path, f, 'state.json')));
  return steps.length > 0 ? join(path, steps.sort().at(-1) as string) : undefined;
}

/** A Hugging Face export: its config.json has the export's flat names (a training config beside a model does not). */
async function isHfExport(dir: string): Promise<boolean> {
  if (existsSync(join(dir, 'model.safetensors.index.json'))) return true;
  const file = join(dir, 'config.json');
  if (!existsSync(file)) return false;
  try {
    const json = JSON.parse(await readFile(file, 'utf8'));
    return json !== null && typeof json === 'object' && ('hidden_dim' in json || 'model_length' in json);
  } catch {
    return false;
  }
}

/** Where a run keeps its checkpoints, relative to the folder given (@duality/train: <model>/run/checkpoints). */
const RUN_FOLDERS = ['checkpoints', 'run', join('run', 'checkpoints')];

/**
 * Resolves a path to the model it holds: a file as it is; a folder's model file (`weights: 'raw'` prefers raw
 * weights to the EMA), its single torch file, its newest committed `step-<n>/`, or the same inside `checkpoints/`,
 * `run/` or `run/checkpoints/`.
 */
export async function locate(path: string, weights: 'ema' | 'raw' = 'ema', depth = 0): Promise<Located> {
  const s = await stat(path).catch(() => undefined);
  if (!s)
    throw new UsageError('duality', `${path} (no such file or directory)`, 'a checkpoint file or directory');
  if (!s.isDirectory())
    return { kind: (await isTorchFile(path)) ? 'torch' : 'safetensors', path, dir: dirname(path) };
  if (await isHfExport(path)) return { kind: 'huggingface', path, dir: path };
  const files = (await readdir(path)).sort();
  const models = files.filter((f) => f.endsWith('.safetensors') && f !== 'optimizer.safetensors');
  const order = weights === 'raw' ? PREFERRED_RAW : PREFERRED;
  const pick = order.find((f) => models.includes(f)) ?? (models.length === 1 ? models[0] : undefined);
  if (pick) return { kind: 'safetensors', path: join(path, pick), dir: path };
  const ckpts = files.filter((f) => /\.(ckpt|pt|pth|bin)$/.test(f));
  if (models.length === 0 && ckpts.length === 1)
    return { kind: 'torch', path: join(path, ckpts[0]), dir: path };
  const step = models.length === 0 ? await latestStep(path, files) : undefined;
  if (step) return locate(step, weights, depth + 1);
  if (models.length === 0 && depth === 0)
    for (const sub of RUN_FOLDERS) {
      const inner = join(path, sub);
      if (!existsSync(inner)) continue;
      const found = await locate(inner, weights, depth + 1).catch(() => undefined);
      if (found) return found;
    }
  throw new UsageError(
    'duality',
    `${path} with ${models.length > 0 ? models.join(', ') : 'no model file'}`,
    `a directory with ${PREFERRED.join(' or ')}, or step-<n>/ checkpoints (or give the file)`,
  );
}

/** What @duality/train's state.json tells about the model: its algorithm and dataset (= tokenizer). */
export async function trainSidecar(dir: string): Promise<{ algo?: string; tokenizer?: string }> {
  const path = join(dir, 'state.json');
  if (!existsSync(path)) return {};
  const state = (await readJsonFile(path)) as {
    config?: { algorithm?: unknown; data?: { dataset?: unknown } };
  };
  const algorithm = state?.config?.algorithm;
  const dataset = state?.config?.data?.dataset;
  return {
    algo: typeof algorithm === 'string' ? (algorithm === 'duo-efficient' ? 'duo' : algorithm) : undefined,
    tokenizer: dataset === 'brown8' || dataset === 'brown-char' ? dataset : undefined,
  };
}

/** The card with the algo group filled from the training run's state.json when the card lacks it. */
function withSidecarAlgo(
  card: Record<string, unknown> | null,
  algo: string | undefined,
): Record<string, unknown> | null {
  const group = (card?.algo ?? {}) as Record<string, unknown>;
  if (!algo || !ALGO_NAMES.includes(algo) || group.name !== undefined || group.parameterization !== undefined)
    return card;
  return withAlgo(card ?? {}, algo);
}

export interface Description {
  path: string;
  kind: CheckpointKind | 'lightning';
  /** Bytes on disk (all shards). */
  bytes: number;
  files: string[];
  config: DiTConfig | null;
  /** The reference config groups (algo, noise) when the checkpoint has them. */
  reference: Record<string, unknown> | null;
  /** Parameters (tensors of the model without buffers such as the rotary inv_freq). */
  parameters: number;
  tensors: number;
  /** Tensors per stored dtype. */
  dtypes: Record<string, number>;
  tokenizer: string | null;
  /** Other metadata: safetensors __metadata__, Lightning's global step and epoch, EMA presence. */
  metadata: Record<string, unknown>;
  /** state.json / metrics.json / metrics.jsonl beside the model. */
  metrics: Record<string, unknown> | null;
}

interface TensorFacts {
  names: string[];
  shapes: Map<string, readonly number[]>;
  dtypes: Map<string, string>;
}

function summarize(facts: TensorFacts): Pick<Description, 'parameters' | 'tensors' | 'dtypes'> {
  const dtypes: Record<string, number> = {};
  let parameters = 0;
  let prefix = '';
  try {
    prefix = findPrefix(facts.names, 'the checkpoint');
  } catch {
    // not a DiT: count every tensor
  }
  for (const name of facts.names) {
    const dtype = facts.dtypes.get(name) as string;
    dtypes[dtype] = (dtypes[dtype] ?? 0) + 1;
    if (!BUFFERS.has(name.slice(prefix.length)))
      parameters += (facts.shapes.get(name) as readonly number[]).reduce((a, b) => a * b, 1);
  }
  return { parameters, tensors: facts.names.length, dtypes };
}

const parseCard = (text: string | undefined): Record<string, unknown> | null => {
  if (text === undefined) return null;
  try {
    const parsed = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' ? parsed : null;
  } catch {
    return null;
  }
};

/** The config of a reference card; a card that does not describe a DiT is noted, not fatal, for `info`. */
function configOf(
  reference: Record<string, unknown> | null,
  notes: Record<string, unknown>,
): DiTConfig | null {
  if (!reference) return null;
  try {
    return configFromReference(reference);
  } catch (error) {
    notes.config_error = (error as Error).message;
    return null;
  }
}

async function describeSafetensors(file: string): Promise<Omit<Description, 'metrics'>> {
  const reader = await openSafetensorsFile(file);
  try {
    const names = reader.names();
    const facts: TensorFacts = { names, shapes: new Map(), dtypes: new Map() };
    for (const n of names) {
      const info = reader.info(n);
      if (info) {
        facts.shapes.set(n, info.shape);
        facts.dtypes.set(n, info.dtype);
      }
    }
    const { config: text, tokenizer, ...metadata } = reader.metadata as Record<string, string | undefined>;
    const reference = parseCard(text);
    const config = configOf(reference, metadata);
    return {
      path: file,
      kind: 'safetensors',
      bytes: (await stat(file)).size,
      files: [basename(file)],
      config,
      reference,
      ...summarize(facts),
      tokenizer: tokenizer ?? (config ? (guessTokenizer(undefined, config.vocabSize) ?? null) : null),
      metadata,
    };
  } finally {
    await reader.close();
  }
}

async function describeHuggingFace(dir: string): Promise<Omit<Description, 'metrics'>> {
  const configPath = join(dir, 'config.json');
  const json = parseWith(HF_CONFIG, await readJsonFile(configPath), configPath);
  const index = join(dir, 'model.safetensors.index.json');
  const files = existsSync(index)
    ? [
        ...new Set(
          Object.values(
            parseWith(
              v.looseObject({ weight_map: v.record(v.string(), v.string()) }),
              await readJsonFile(index),
              index,
            ).weight_map,
          ),
        ),
      ]
    : ['model.safetensors'];
  const facts: TensorFacts = { names: [], shapes: new Map(), dtypes: new Map() };
  let bytes = (await stat(configPath)).size;
  for (const f of files) {
    const reader = await openSafetensorsFile(join(dir, f));
    for (const n of reader.names()) {
      const info = reader.info(n);
      if (!info) continue;
      facts.names.push(n);
      facts.shapes.set(n, info.shape);
      facts.dtypes.set(n, info.dtype);
    }
    await reader.close();
    bytes += (await stat(join(dir, f))).size;
  }
  const { config, reference } = await readHfConfig(dir);
  return {
    path: dir,
    kind: 'huggingface',
    bytes,
    files: ['config.json', ...files],
    config,
    reference: referenceCard(config, reference),
    ...summarize(facts),
    tokenizer: guessTokenizer(undefined, json.vocab_size) ?? null,
    metadata: { model_type: json.model_type ?? null },
  };
}

async function describeTorch(file: string): Promise<Omit<Description, 'metrics'>> {
  const archive = await TorchArchive.open(file);
  try {
    const root = archive.root instanceof Map ? archive.root : new Map();
    const lightning = root.has('state_dict');
    const state = lightning ? root.get('state_dict') : root;
    const facts: TensorFacts = { names: [], shapes: new Map(), dtypes: new Map() };
    if (state instanceof Map)
      for (const [k, t] of state) {
        if (typeof k !== 'string' || !(t instanceof TorchTensor)) continue;
        facts.names.push(k);
        facts.shapes.set(k, t.shape);
        facts.dtypes.set(k, t.dtype);
      }
    const reference = lightning
      ? (referenceFromHyperParameters(toPlain(root.get('hyper_parameters'))) ?? null)
      : null;
    const ema = root.get('ema');
    const shadow = ema instanceof Map ? ema.get('shadow_params') : undefined;
    const metadata: Record<string, unknown> = {
      ema: Array.isArray(shadow) ? `${shadow.length} tensors` : 'absent',
    };
    for (const key of ['global_step', 'epoch', 'pytorch-lightning_version']) {
      const value = root.get(key);
      if (typeof value === 'number' || typeof value === 'string') metadata[key] = value;
    }
    const config = configOf(reference, metadata);
    const data = reference?.data as Record<string, unknown> | undefined;
    return {
      path: file,
      kind: lightning ? 'lightning' : 'torch',
      bytes: (await stat(file)).size,
      files: [basename(file)],
      config,
      reference,
      ...summarize(facts),
      tokenizer: (config && guessTokenizer(data?.tokenizer_name_or_path, config.vocabSize)) ?? null,
      metadata,
    };
  } finally {
    archive.close();
  }
}

/** The folder of the model and its parents up to the folder the user named (a run keeps metrics.jsonl there). */
function metricFolders(at: Located, given: string): string[] {
  const top = resolve(given);
  const out = [at.dir];
  for (let d = resolve(at.dir); d.startsWith(top) && d !== top; ) {
    d = dirname(d);
    out.push(d);
  }
  return out;
}

/**
 * state.json, metrics.json and metrics.jsonl (its last record and count), each from the first of `dirs` that has
 * it (nearest first).
 */
export async function readMetrics(dirs: string | readonly string[]): Promise<Record<string, unknown> | null> {
  const list = typeof dirs === 'string' ? [dirs] : dirs;
  const find = (name: string) => list.map((d) => join(d, name)).find((p) => existsSync(p));
  const out: Record<string, unknown> = {};
  for (const name of ['state.json', 'metrics.json']) {
    const p = find(name);
    if (p) out[name] = await readJsonFile(p);
  }
  const lines = find('metrics.jsonl');
  if (lines) {
    const records = (await readFile(lines, 'utf8')).split('\n').filter((l) => l.trim() !== '');
    let last: unknown = null;
    try {
      last = records.length > 0 ? JSON.parse(records[records.length - 1]) : null;
    } catch {
      last = records[records.length - 1];
    }
    out['metrics.jsonl'] = { records: records.length, last };
  }
  return Object.keys(out).length > 0 ? out : null;
}

/** Everything `duality info` shows. */
export async function describe(path: string): Promise<Description> {
  const at = await locate(path);
  const base =
    at.kind === 'safetensors'
      ? await describeSafetensors(at.path)
      : at.kind === 'huggingface'
        ? await describeHuggingFace(at.path)
        : await describeTorch(at.path);
  const side = await trainSidecar(at.dir);
  const reference = withSidecarAlgo(base.reference, side.algo);
  return {
    ...base,
    reference,
    tokenizer: base.tokenizer ?? side.tokenizer ?? null,
    metrics: await readMetrics(metricFolders(at, path)),
  };
}

export interface LoadedModel {
  model: DiT;
  /** The file (or folder) the weights came from. */
  path: string;
  /** The reference config groups (algo, noise) when known. */
  reference: Record<string, unknown> | null;
  /** Tokenizer named by the checkpoint. */
  tokenizer?: string;
  kind: CheckpointKind;
}

export interface LoadOptions {
  dtype?: FloatDType;
  /** For Lightning checkpoints: 'ema' (default) or 'raw'. */
  weights?: 'ema' | 'raw';
}

/** Loads the DiT of any checkpoint `locate` accepts (reference checkpoints are converted in memory). */
export async function loadModel(
  backend: Backend,
  path: string,
  options: LoadOptions = {},
): Promise<LoadedModel> {
  const at = await locate(path, options.weights);
  if (at.kind === 'safetensors') {
    const reader = await openSafetensorsFile(at.path);
    try {
      const model = await loadDiT(backend, reader, { dtype: options.dtype });
      const side = await trainSidecar(at.dir);
      return {
        model,
        reference: withSidecarAlgo(parseCard(reader.metadata.config), side.algo),
        tokenizer: reader.metadata.tokenizer ?? side.tokenizer,
        kind: at.kind,
        path: at.path,
      };
    } finally {
      await reader.close();
    }
  }
  const converted = await readReferenceCheckpoint(at.path, { weights: options.weights });
  const bytes = serializeSafetensors(tensorsToWrite(converted, 'keep'), outputMetadata(converted, at.path));
  const model = await loadDiT(backend, bytes, { dtype: options.dtype });
  return {
    model,
    reference: converted.reference,
    tokenizer: converted.tokenizer,
    kind: at.kind,
    path: at.path,
  };
}
