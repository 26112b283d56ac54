/**
 * A Hugging Face export folder of the reference (MDLM / Duo hub models) → ConvertedModel: `config.json` with the
 * flat names (hidden_dim, model_length, n_blocks, n_heads, cond_dim, vocab_size, time_conditioning) and the
 * weights in `model.safetensors`, in shards listed by `model.safetensors.index.json`, or in `pytorch_model.bin`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  configFromReference,
  openSafetensorsFile,
  referenceStateDictShapes,
  type SafetensorsReader,
} from '@duality/models';
import * as v from 'valibot';
import { parseWith, readJsonFile } from '../config-file';
import { ConvertError } from '../errors';
import { readTorchCheckpoint } from './lightning';
import { type ConvertedModel, findPrefix, guessTokenizer, referenceCard, withAlgo } from './model';
import type { DecodedTensor } from './torch-archive';

const positive = v.pipe(v.number(), v.integer(), v.minValue(1));

/** The keys of a reference Hugging Face config.json this converter needs. */
export const HF_CONFIG = v.looseObject({
  vocab_size: positive,
  model_length: positive,
  hidden_dim: positive,
  cond_dim: positive,
  n_blocks: positive,
  n_heads: positive,
  dropout: v.optional(v.number()),
  time_conditioning: v.optional(v.boolean()),
  model_type: v.optional(v.string()),
  architectures: v.optional(v.array(v.string())),
});

const INDEX = v.looseObject({ weight_map: v.record(v.string(), v.string()) });

/** The reference algo an export is of, from model_type / architectures (mdlm, duo, udlm). */
function algoOf(config: v.InferOutput<typeof HF_CONFIG>): string | undefined {
  const names = [config.model_type ?? '', ...(config.architectures ?? [])].map((s) => s.toLowerCase());
  for (const algo of ['mdlm', 'udlm', 'duo']) if (names.some((n) => n.includes(algo))) return algo;
  return undefined;
}

/** name → shard file, for a single file or a sharded export. */
async function weightFiles(dir: string): Promise<Map<string, string> | undefined> {
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const parsed = parseWith(INDEX, await readJsonFile(index), index);
    return new Map(Object.entries(parsed.weight_map).map(([name, file]) => [name, join(dir, file)]));
  }
  const single = join(dir, 'model.safetensors');
  if (!existsSync(single)) return undefined;
  const reader = await openSafetensorsFile(single);
  try {
    return new Map(reader.names().map((n) => [n, single]));
  } finally {
    await reader.close();
  }
}

export interface HfReadOptions {
  /** The reference algo (mdlm, duo, …) when config.json does not tell. */
  algo?: string;
  /** Called after each tensor read, with the count read and the count to read. */
  onTensor?: (done: number, total: number) => void;
}

/** Reads a Hugging Face export folder. */
/** An export's config.json as a reference config (with the algo group) and the DiTConfig it gives. */
export async function readHfConfig(dir: string, algoName?: string) {
  const configPath = join(dir, 'config.json');
  const json = parseWith(HF_CONFIG, await readJsonFile(configPath), configPath);
  const algo = withAlgo(
    { algo: { time_conditioning: json.time_conditioning } },
    algoName ?? algoOf(json),
  ).algo;
  const reference = { ...json, algo };
  return { json, reference, config: configFromReference(reference) };
}

export async function readHuggingFace(dir: string, options: HfReadOptions = {}): Promise<ConvertedModel> {
  const { json, reference, config } = await readHfConfig(dir, options.algo);
  const files = await weightFiles(dir);
  if (!files) {
    if (existsSync(join(dir, 'pytorch_model.bin'))) {
      const bin = await readTorchCheckpoint(join(dir, 'pytorch_model.bin'), {
        weights: 'raw',
        config: reference,
      });
      return { ...bin, source: 'huggingface', weights: undefined };
    }
    throw new ConvertError(
      'convert',
      `${dir} without weights`,
      'model.safetensors, its sharded index or pytorch_model.bin',
    );
  }
  const prefix = findPrefix(files.keys(), dir);
  const readers = new Map<string, SafetensorsReader>();
  try {
    const tensors = new Map<string, DecodedTensor>();
    const shapes = referenceStateDictShapes(config);
    for (const [name] of shapes) {
      const file = files.get(prefix + name);
      if (!file) continue; // reported as missing by the writer's check
      let reader = readers.get(file);
      if (!reader) {
        reader = await openSafetensorsFile(file);
        readers.set(file, reader);
      }
      const info = reader.info(prefix + name);
      if (!info)
        throw new ConvertError(
          'convert',
          `${prefix + name} absent from ${file}`,
          'the shard the index names',
        );
      const dtype = info.dtype;
      if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16' && dtype !== 'F64')
        throw new ConvertError('convert', `${prefix + name} stored as ${dtype}`, 'F32, F16, BF16 or F64');
      const data =
        dtype === 'F64' ? await reader.read(prefix + name, 'f64') : await reader.read(prefix + name, 'f32');
      tensors.set(name, { dtype, shape: info.shape, data });
      options.onTensor?.(tensors.size, shapes.length);
    }
    const needed = new Set(referenceStateDictShapes(config).map(([n]) => prefix + n));
    return {
      source: 'huggingface',
      config,
      reference: referenceCard(config, reference),
      tensors,
      ignored: [...files.keys()].filter((n) => !needed.has(n)),
      tokenizer: guessTokenizer(undefined, config.vocabSize),
      info: json.model_type ? { model_type: json.model_type } : {},
    };
  } finally {
    for (const r of readers.values()) await r.close();
  }
}
