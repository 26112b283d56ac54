/**
 * What a conversion produces (the DiT's tensors under the reference's names, its config, and the reference
 * config groups the samplers need), the config taken from a reference config or inferred from the tensor
 * shapes, and the writer of the converted safetensors file.
 */
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  configToReference,
  type DiTConfig,
  type FloatStorageDType,
  inferDiTConfig,
  referenceStateDictShapes,
  type TensorToWrite,
  writeSafetensorsFile,
} from '@duality/models';
import { ConvertError, UsageError } from '../errors';
import { asObject, type Plain } from './plain';
import type { DecodedTensor } from './torch-archive';

export interface ConvertedModel {
  /**
   * 'lightning' (a .ckpt), 'torch' (a plain state dict saved with torch.save), 'huggingface' (an export folder),
   * 'safetensors' (a file with the reference's names, re-written with another dtype or algo).
   */
  source: 'lightning' | 'torch' | 'huggingface' | 'safetensors';
  config: DiTConfig;
  /** Reference config written to the output (`configToReference` plus the `algo` and `noise` groups). */
  reference: Record<string, unknown>;
  /** The DiT's tensors, reference names without a prefix. */
  tensors: Map<string, DecodedTensor>;
  /** Tensors of the input that are not the DiT's (other modules, or under another prefix). */
  ignored: string[];
  /** Which weights were taken from a Lightning checkpoint. */
  weights?: 'ema' | 'raw';
  /** Tokenizer name when the input says which (e.g. gpt2). */
  tokenizer?: string;
  /** Facts about the input worth keeping (global step, epoch, versions). */
  info: Record<string, string>;
}

export const EMBEDDING = 'vocab_embed.embedding';
/** Buffers of the reference DiT: in its state_dict, not in `parameters()` (so not in the EMA list). */
export const BUFFERS = new Set(['rotary_emb.inv_freq']);

/** The prefix under which the DiT's names sit (`backbone.` in Lightning and Hugging Face files). */
export function findPrefix(names: Iterable<string>, what: string): string {
  for (const n of names) {
    if (n === EMBEDDING) return '';
    if (n.endsWith(`.${EMBEDDING}`)) return n.slice(0, n.length - EMBEDDING.length);
  }
  throw new ConvertError('convert', `${what} without a tensor named …${EMBEDDING}`, 'a DiT state dict');
}

/** Infers the architecture from the shapes (heads from the rotary buffer Dh/2); the context length is given. */
export function inferConfig(
  shapes: ReadonlyMap<string, readonly number[]>,
  length: number | undefined,
): DiTConfig {
  const embedding = shapes.get(EMBEDDING);
  const inv = shapes.get('rotary_emb.inv_freq');
  if (!embedding || !inv)
    throw new ConvertError(
      'convert',
      'no config and no rotary_emb.inv_freq',
      'a config (--config) to tell the heads',
    );
  if (length === undefined)
    throw new UsageError(
      'convert',
      'no config in the checkpoint and no --length',
      '--length (the context length)',
    );
  return inferDiTConfig((name) => shapes.get(name), length);
}

/** The reference's algorithm names and what their models are. */
const ALGOS: Readonly<Record<string, { parameterization: string; timeConditioning: boolean }>> = {
  mdlm: { parameterization: 'subs', timeConditioning: false },
  duo: { parameterization: 'mean', timeConditioning: true },
  duo_base: { parameterization: 'mean', timeConditioning: true },
  udlm: { parameterization: 'mean', timeConditioning: true },
  ar: { parameterization: 'ar', timeConditioning: false },
};

export const ALGO_NAMES = Object.keys(ALGOS);

/**
 * Fills `algo.parameterization` / `algo.time_conditioning` from a known `algo.name` when they are missing. A name
 * given by the caller (`--algo`) must be one of ALGO_NAMES; one from the checkpoint's config that is not (the
 * reference's distillation, ot-finetune, sedd, d3pm) is kept as it is, with the groups it came with.
 */
export function withAlgo(
  reference: Record<string, unknown>,
  algoName: string | undefined,
): Record<string, unknown> {
  const algo = { ...(asObject(reference.algo as Plain) ?? {}) } as Record<string, unknown>;
  if (algoName !== undefined && !ALGOS[algoName])
    throw new UsageError('--algo', `"${algoName}"`, ALGO_NAMES.join(' | '));
  const name = algoName ?? (typeof algo.name === 'string' ? algo.name : undefined);
  const known = name === undefined ? undefined : ALGOS[name];
  if (name !== undefined) algo.name = name;
  if (known) {
    algo.parameterization ??= known.parameterization;
    algo.time_conditioning ??= known.timeConditioning;
    if (name === 'ar') algo.causal_attention ??= true;
  }
  return { ...reference, algo };
}

/** The output's reference config: the architecture in the reference's names plus the algo and noise groups. */
export function referenceCard(config: DiTConfig, source: Record<string, unknown>): Record<string, unknown> {
  const base = configToReference(config);
  const algo = { ...(asObject(source.algo as Plain) ?? {}), ...(base.algo as object) };
  const keep = ['name', 'parameterization', 'causal_attention', 'time_conditioning', 'T', 'loss_type'];
  const card: Record<string, unknown> = {
    ...base,
    algo: Object.fromEntries(Object.entries(algo).filter(([k]) => keep.includes(k))),
  };
  const noise = asObject(source.noise as Plain);
  if (noise) card.noise = noise;
  return card;
}

/** Tokenizer names this repo knows, from the reference's `data.tokenizer_name_or_path` or the vocabulary. */
export function guessTokenizer(name: unknown, vocabSize: number): string | undefined {
  if (name === 'gpt2' || vocabSize === 50257 || vocabSize === 50258) return 'gpt2';
  if (name === 'brown8' || name === 'brown-char') return name;
  return undefined;
}

export type OutputDType = 'keep' | 'f32' | 'f16' | 'bf16';

const DTYPE_OF: Readonly<Record<Exclude<OutputDType, 'keep'>, FloatStorageDType>> = {
  f32: 'F32',
  f16: 'F16',
  bf16: 'BF16',
};

/** Checks every tensor the config needs against its shape; returns the tensors to write in the output dtype. */
export function tensorsToWrite(model: ConvertedModel, dtype: OutputDType): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  const missing: string[] = [];
  for (const [name, shape] of referenceStateDictShapes(model.config)) {
    const t = model.tensors.get(name);
    if (!t) {
      missing.push(name);
      continue;
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new ConvertError('convert', `${name} of shape [${t.shape}]`, `[${shape}] for the config`);
    const keepF32 = name === 'rotary_emb.inv_freq'; // the loader checks it against 1/10000^(2j/Dh) in f32
    out.set(name, { ...t, dtype: dtype === 'keep' || keepF32 ? t.dtype : DTYPE_OF[dtype] });
  }
  if (missing.length > 0)
    throw new ConvertError(
      'convert',
      `no ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` (+${missing.length - 3} more)` : ''}`,
      'every tensor of the DiT',
    );
  return out;
}

/** `out` itself, or `out/model.safetensors` when it is a directory. */
export async function outputPath(out: string): Promise<string> {
  const s = await stat(out).catch(() => undefined);
  return s?.isDirectory() ? join(out, 'model.safetensors') : out;
}

/** The metadata written beside the tensors (all strings, as safetensors wants). */
export function outputMetadata(model: ConvertedModel, input: string): Record<string, string> {
  const meta: Record<string, string> = {
    format: 'pt',
    config: JSON.stringify(model.reference),
    converted_from: `${model.source}:${basename(input)}`,
  };
  if (model.weights) meta.weights = model.weights;
  if (model.tokenizer) meta.tokenizer = model.tokenizer;
  for (const [k, v] of Object.entries(model.info)) meta[k] = v;
  return meta;
}

/** Writes the converted model (atomically) and returns the path written. */
export async function writeConverted(
  model: ConvertedModel,
  input: string,
  out: string,
  dtype: OutputDType,
): Promise<string> {
  const path = await outputPath(out);
  await writeSafetensorsFile(path, tensorsToWrite(model, dtype), outputMetadata(model, input));
  return path;
}
