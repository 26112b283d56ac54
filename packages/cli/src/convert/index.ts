/** Reads any supported reference checkpoint (a torch.save file or a Hugging Face folder) into a ConvertedModel. */
import { open, stat } from 'node:fs/promises';
import { readHuggingFace } from './hf';
import { readTorchCheckpoint, type TorchReadOptions } from './lightning';
import type { ConvertedModel } from './model';
import { readSafetensorsModel } from './safetensors';

export type ReadCheckpointOptions = TorchReadOptions;

export async function readReferenceCheckpoint(
  input: string,
  options: ReadCheckpointOptions = {},
): Promise<ConvertedModel> {
  const s = await stat(input);
  if (s.isDirectory()) return readHuggingFace(input, { algo: options.algo, onTensor: options.onTensor });
  return (await isTorchFile(input))
    ? readTorchCheckpoint(input, options)
    : readSafetensorsModel(input, options);
}

/** torch.save archives: zips (PK\x03\x04) or a torch file name; anything else is read as safetensors. */
export async function isTorchFile(path: string): Promise<boolean> {
  if (/\.(ckpt|pt|pth|bin)$/i.test(path)) return true;
  const handle = await open(path, 'r');
  try {
    const head = new Uint8Array(4);
    await handle.read(head, 0, 4, 0);
    return head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4;
  } finally {
    await handle.close();
  }
}

export { readHuggingFace } from './hf';
export {
  emaByName,
  readTorchCheckpoint,
  referenceFromHyperParameters,
  type TorchReadOptions,
} from './lightning';
export {
  ALGO_NAMES,
  type ConvertedModel,
  type OutputDType,
  outputMetadata,
  tensorsToWrite,
  writeConverted,
} from './model';
export { PyGlobal, PyObject, type UnpickleOptions, unpickle } from './pickle';
export { toPlain } from './plain';
export { readSafetensorsModel } from './safetensors';
export { type DecodedTensor, TorchArchive, TorchTensor } from './torch-archive';
