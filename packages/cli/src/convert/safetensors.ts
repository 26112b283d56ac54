/**
 * A safetensors file with the reference's names (ours, or `safetensors.torch.save_file(state_dict)` of the
 * reference) → ConvertedModel, so `convert` can re-write it with another dtype, a config or an algo.
 */
import { basename } from 'node:path';
import { configFromReference, openSafetensorsFile, referenceStateDictShapes } from '@duality/models';
import { ConvertError } from '../errors';
import type { TorchReadOptions } from './lightning';
import {
  type ConvertedModel,
  findPrefix,
  guessTokenizer,
  inferConfig,
  referenceCard,
  withAlgo,
} from './model';
import type { DecodedTensor } from './torch-archive';

export async function readSafetensorsModel(
  path: string,
  options: TorchReadOptions = {},
): Promise<ConvertedModel> {
  const reader = await openSafetensorsFile(path);
  try {
    const names = reader.names();
    const prefix = findPrefix(names, path);
    let stored: Record<string, unknown> | undefined;
    if (reader.metadata.config !== undefined) {
      try {
        stored = JSON.parse(reader.metadata.config);
      } catch {
        throw new ConvertError('convert', `${basename(path)}: __metadata__.config that is not JSON`, 'JSON');
      }
    }
    const reference = withAlgo(options.config ?? stored ?? {}, options.algo);
    const shapes = new Map(
      names
        .filter((n) => n.startsWith(prefix))
        .map((n) => [n.slice(prefix.length), reader.info(n)?.shape ?? []]),
    );
    const config =
      options.config || stored ? configFromReference(reference) : inferConfig(shapes, options.length);
    const tensors = new Map<string, DecodedTensor>();
    const needed = referenceStateDictShapes(config).map(([n]) => n);
    for (const name of needed) {
      const info = reader.info(prefix + name);
      if (!info) continue; // reported by the writer's check
      const dtype = info.dtype;
      if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16' && dtype !== 'F64')
        throw new ConvertError('convert', `${prefix + name} stored as ${dtype}`, 'F32, F16, BF16 or F64');
      const data =
        dtype === 'F64' ? await reader.read(prefix + name, 'f64') : await reader.read(prefix + name, 'f32');
      tensors.set(name, { dtype, shape: info.shape, data });
      options.onTensor?.(tensors.size, needed.length);
    }
    const { config: _config, format: _format, converted_from: _from, ...info } = reader.metadata;
    const wanted = new Set(needed.map((n) => prefix + n));
    return {
      source: 'safetensors',
      config,
      reference: referenceCard(config, reference),
      tensors,
      ignored: names.filter((n) => !wanted.has(n)),
      tokenizer: reader.metadata.tokenizer ?? guessTokenizer(undefined, config.vocabSize),
      info,
    };
  } finally {
    await reader.close();
  }
}
