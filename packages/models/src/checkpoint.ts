/**
 * Loading and saving DiT checkpoints as safetensors with the reference's state-dict names. A published
 * checkpoint's tensors may sit under a prefix (`backbone.` in the Lightning/Hugging Face exports); it is found
 * from the embedding's name. The config comes from the caller, from the file's `__metadata__.config` (what
 * `saveDiT` writes), or is inferred from the tensor shapes (then the context length must be given).
 */
import type { Backend, FloatDType } from '@duality/kernels';
import { configFromReference, configToReference, type DiTConfig, ditConfig } from './config';
import { DiT } from './dit';
import { MissingTensorError, ModelConfigError } from './errors';
import {
  type ByteSource,
  type FloatStorageDType,
  openSafetensorsFile,
  SafetensorsReader,
  type StoredTensor,
  serializeSafetensors,
  type TensorToWrite,
  writeSafetensorsFile,
} from './safetensors';

export interface LoadDiTOptions {
  /** A DiTConfig, or a reference config object (hydra `model` group + vocab_size, or a Hugging Face config.json). */
  config?: DiTConfig | Record<string, unknown>;
  /** Precision of the model's tensors (default f32; f64 on the cpu backend). */
  dtype?: FloatDType;
  /** Context length, when the config is inferred from the shapes. */
  length?: number;
  /** Prefix of the state-dict names (default: found from `…vocab_embed.embedding`). */
  prefix?: string;
}

const EMBEDDING = 'vocab_embed.embedding';

/** Finds the prefix under which the reference's names live (e.g. "backbone."). */
function findPrefix(reader: SafetensorsReader): string {
  if (reader.has(EMBEDDING)) return '';
  const hit = reader.names().find((n) => n.endsWith(`.${EMBEDDING}`));
  if (!hit)
    throw new MissingTensorError(
      'loadDiT',
      `no tensor named "${EMBEDDING}" (with or without a prefix)`,
      'a DiT state dict',
    );
  return hit.slice(0, hit.length - EMBEDDING.length);
}

const isDiTConfig = (c: unknown): c is DiTConfig =>
  typeof (c as DiTConfig).vocabSize === 'number' && typeof (c as DiTConfig).hiddenSize === 'number';

/**
 * Infers the architecture from the shapes of the reference's state-dict names (nHeads from the rotary buffer's
 * length Dh/2, blocks by counting, causal = no sigma map); `shape(name)` is undefined for an absent tensor.
 */
export function inferDiTConfig(
  shape: (name: string) => readonly number[] | undefined,
  length: number | undefined,
): DiTConfig {
  const embedding = shape(EMBEDDING);
  if (!embedding)
    throw new MissingTensorError('loadDiT', `no tensor named "${EMBEDDING}"`, 'a DiT state dict');
  const [vocabSize, hiddenSize] = embedding;
  const inv = shape('rotary_emb.inv_freq');
  if (!inv)
    throw new ModelConfigError(
      'loadDiT',
      'no config and no rotary_emb.inv_freq',
      'a config (nHeads cannot be inferred)',
    );
  if (length === undefined)
    throw new ModelConfigError('loadDiT', 'no config and no length', 'options.length (the context length)');
  let nBlocks = 0;
  while (shape(`blocks.${nBlocks}.norm1.weight`)) nBlocks++;
  const sigma = shape('sigma_map.mlp.0.weight');
  const mlp = shape('blocks.0.mlp.0.weight');
  return ditConfig({
    vocabSize,
    hiddenSize,
    condDim: sigma ? sigma[0] : hiddenSize,
    nHeads: hiddenSize / (2 * inv[0]),
    nBlocks,
    length,
    mlpRatio: mlp ? mlp[0] / hiddenSize : 4,
    causal: !sigma,
  });
}

function resolveConfig(reader: SafetensorsReader, prefix: string, options: LoadDiTOptions): DiTConfig {
  if (options.config)
    return isDiTConfig(options.config) ? ditConfig(options.config) : configFromReference(options.config);
  const stored = reader.metadata.config;
  if (stored !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(stored);
    } catch {
      throw new ModelConfigError(
        'loadDiT',
        '__metadata__.config that is not JSON',
        'the JSON saveDiT writes',
      );
    }
    return configFromReference(parsed);
  }
  return inferDiTConfig((name) => reader.info(prefix + name)?.shape, options.length);
}

/** Opens a checkpoint (a path in Node, bytes, any ByteSource or an open reader) and builds the DiT on `backend`. */
export async function loadDiT(
  backend: Backend,
  source: string | Uint8Array | ByteSource | SafetensorsReader,
  options: LoadDiTOptions = {},
): Promise<DiT> {
  const ownsReader = !(source instanceof SafetensorsReader);
  const reader =
    source instanceof SafetensorsReader
      ? source
      : typeof source === 'string'
        ? await openSafetensorsFile(source)
        : await SafetensorsReader.open(source);
  try {
    const prefix = options.prefix ?? findPrefix(reader);
    const config = resolveConfig(reader, prefix, options);
    const dtype = options.dtype ?? 'f32';
    const lookup = async (name: string): Promise<StoredTensor | undefined> => {
      const info = reader.info(prefix + name);
      if (!info) return undefined;
      const data =
        dtype === 'f64' ? await reader.read(prefix + name, 'f64') : await reader.read(prefix + name, 'f32');
      return { dtype: info.dtype as FloatStorageDType, shape: info.shape, data };
    };
    return await DiT.fromStateDict(backend, config, lookup, { dtype, adopt: true }); // arrays read here are ours
  } finally {
    if (ownsReader) await reader.close();
  }
}

export interface SaveDiTOptions {
  /** Storage dtype of the weights (default F32, F64 for an f64 model). The rotary buffer stays F32. */
  dtype?: FloatStorageDType;
  /** Extra string metadata (the config is always written as `config`). */
  metadata?: Record<string, string>;
}

async function tensorsToWrite(model: DiT, options: SaveDiTOptions) {
  const state = await model.stateDict();
  const dtype = options.dtype ?? (model.dtype === 'f64' ? 'F64' : 'F32');
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of state)
    tensors.set(name, { ...t, dtype: name === 'rotary_emb.inv_freq' ? 'F32' : dtype });
  const metadata = {
    format: 'pt',
    ...options.metadata,
    config: JSON.stringify(configToReference(model.config)),
  };
  return { tensors, metadata };
}

/** The model as safetensors bytes (reference names, sorted, config in the metadata). */
export async function serializeDiT(model: DiT, options: SaveDiTOptions = {}): Promise<Uint8Array> {
  const { tensors, metadata } = await tensorsToWrite(model, options);
  return serializeSafetensors(tensors, metadata);
}

/** Writes the model to a safetensors file (Node), piece by piece. */
export async function saveDiT(model: DiT, path: string, options: SaveDiTOptions = {}): Promise<void> {
  const { tensors, metadata } = await tensorsToWrite(model, options);
  await writeSafetensorsFile(path, tensors, metadata);
}
