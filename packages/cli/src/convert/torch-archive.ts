/**
 * Reads a `torch.save` archive (the zip format of torch ≥ 1.6, which Lightning's `.ckpt` and `pytorch_model.bin`
 * use): `<name>/data.pkl` (the pickled object, read by the restricted unpickler) and `<name>/data/<key>` (the raw
 * little-endian bytes of each storage, read only when a tensor is asked for). Nothing in the file is executed.
 */
import { open as openFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { bf16BitsToNumber, type FloatStorageDType, f16BitsToNumber } from '@duality/models';
import yauzl from 'yauzl';
import { PickleFormatError, TorchArchiveError } from '../errors';
import { type PyFunction, PyGlobal, unpickle } from './pickle';

export type TorchDType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

/** torch.<X>Storage → element type (the storage_type of a persistent id). */
const STORAGE_TYPES: Readonly<Record<string, TorchDType>> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

const ITEM_SIZE: Readonly<Record<TorchDType, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** Safetensors dtype of the float element types. */
const FLOAT_STORAGE: Partial<Record<TorchDType, FloatStorageDType>> = {
  float32: 'F32',
  float64: 'F64',
  float16: 'F16',
  bfloat16: 'BF16',
};

export interface TorchStorage {
  readonly key: string;
  readonly dtype: TorchDType;
  readonly numel: number;
  readonly location: string;
}

/** A tensor as pickled: a strided view of one storage. Its data is read on demand. */
export class TorchTensor {
  constructor(
    readonly storage: TorchStorage,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
  get dtype(): TorchDType {
    return this.storage.dtype;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

/** A float tensor read out of the archive, contiguous, values widened to f32 (f64 for float64). */
export interface DecodedTensor {
  dtype: FloatStorageDType;
  shape: readonly number[];
  data: Float32Array | Float64Array;
}

const OP = 'readTorchCheckpoint';
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const MAX_PICKLE_BYTES = 1 << 30;

const isIntList = (v: unknown): v is number[] =>
  Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0);

function rebuildTensor(storage: unknown, offset: unknown, size: unknown, stride: unknown): TorchTensor {
  if (!(storage instanceof Object) || !('key' in storage))
    throw new PickleFormatError(OP, 'a tensor rebuild without a storage', 'a persistent storage id');
  if (!Number.isSafeInteger(offset) || (offset as number) < 0 || !isIntList(size) || !isIntList(stride))
    throw new PickleFormatError(OP, 'a tensor rebuild with bad offset/size/stride', 'non-negative integers');
  if (size.length !== stride.length)
    throw new PickleFormatError(OP, `size [${size}] with stride [${stride}]`, 'one stride per dimension');
  return new TorchTensor(storage as TorchStorage, offset as number, size, stride);
}

/** The torch callables a checkpoint may use: tensor and parameter rebuilds only. */
const TORCH_FUNCTIONS: Readonly<Record<string, PyFunction>> = {
  'torch._utils._rebuild_tensor_v2': (storage, offset, size, stride) =>
    rebuildTensor(storage, offset, size, stride),
  'torch._utils._rebuild_tensor': (storage, offset, size, stride) =>
    rebuildTensor(storage, offset, size, stride),
  'torch._utils._rebuild_parameter': (data) => data,
  'torch._utils._rebuild_parameter_with_state': (data) => data,
  'torch._tensor._rebuild_from_type_v2': (fn, _type, args) => {
    if (!(fn instanceof PyGlobal) || !Array.isArray(args))
      throw new PickleFormatError(
        OP,
        '_rebuild_from_type_v2 without a function',
        'a rebuild function and args',
      );
    const inner = TORCH_FUNCTIONS[fn.qualified];
    if (!inner)
      throw new PickleFormatError(OP, `_rebuild_from_type_v2 of ${fn.qualified}`, 'a tensor rebuild');
    return inner(...args);
  },
  'torch.Size': (dims) => (Array.isArray(dims) ? [...dims] : []),
  'torch.device': (...args) => args.join(':'),
};

const TORCH_DTYPE_NAMES = new Set([
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
  'float',
  'double',
  'half',
  'long',
  'int',
]);

/** Module prefixes whose classes checkpoints pickle as plain data (configs, tokenizers, trainer state). */
const DATA_MODULE_PREFIXES = [
  'omegaconf.',
  'transformers.',
  'tokenizers',
  'lightning.',
  'lightning_fabric.',
  'pytorch_lightning.',
  'numpy',
  'pathlib',
  'datetime',
];

/** Data classes of torch checkpoints: storage types, Tensor/Parameter type refs, dtypes, and the prefixes above. */
export function isTorchDataClass(q: string): boolean {
  if (q.startsWith('torch.')) {
    const name = q.slice('torch.'.length);
    return (
      name in STORAGE_TYPES ||
      name === 'Tensor' ||
      name === 'nn.parameter.Parameter' ||
      name === 'storage.UntypedStorage' ||
      name === 'storage.TypedStorage' ||
      TORCH_DTYPE_NAMES.has(name)
    );
  }
  return DATA_MODULE_PREFIXES.some((p) => q.startsWith(p));
}

function persistentStorage(pid: unknown): TorchStorage {
  // ('storage', storage_type, key, location, numel)
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage')
    throw new PickleFormatError(
      OP,
      `persistent id ${JSON.stringify(pid)?.slice(0, 80)}`,
      "('storage', …) of 5",
    );
  const [, type, key, location, numel] = pid;
  const dtype = type instanceof PyGlobal && type.module === 'torch' ? STORAGE_TYPES[type.name] : undefined;
  if (!dtype)
    throw new TorchArchiveError(
      OP,
      `storage type ${String(type?.qualified ?? type)}`,
      'a torch storage type',
    );
  if (typeof key !== 'string' || !Number.isSafeInteger(numel) || numel < 0)
    throw new PickleFormatError(OP, 'a storage id with a bad key or size', 'a string key and a size ≥ 0');
  return { key, dtype, numel, location: String(location) };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Magic bytes: a zip (PK\x03\x04) or the legacy torch format (a pickled magic number, protocol 2). */
async function checkMagic(path: string): Promise<void> {
  const handle = await openFile(path, 'r');
  try {
    const head = new Uint8Array(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    if (bytesRead === 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4) return;
    if (bytesRead >= 2 && head[0] === 0x80 && head[1] === 0x02)
      throw new TorchArchiveError(
        OP,
        `${path}: the legacy torch.save format`,
        'the zip format of torch ≥ 1.6 (re-save with torch.save(obj, path))',
      );
    throw new TorchArchiveError(OP, `${path}: a file that is not a zip archive`, 'a torch.save checkpoint');
  } finally {
    await handle.close();
  }
}

/** An opened torch.save archive: the unpickled object and on-demand tensor data. */
export class TorchArchive {
  private constructor(
    readonly path: string,
    readonly root: unknown,
    private readonly zip: yauzl.ZipFile,
    private readonly entries: ReadonlyMap<string, yauzl.Entry>,
    /** Entry prefix, e.g. "archive/" (torch names it after the file). */
    readonly prefix: string,
  ) {}

  static async open(path: string): Promise<TorchArchive> {
    await checkMagic(path);
    let zip: yauzl.ZipFile;
    const entries = new Map<string, yauzl.Entry>();
    try {
      zip = await yauzl.openPromise(path, {
        autoClose: false,
        validateEntrySizes: true,
        strictFileNames: true,
      });
      for await (const entry of zip.eachEntry()) entries.set(entry.fileName, entry);
    } catch (error) {
      throw new TorchArchiveError(
        OP,
        `${path}: ${(error as Error).message}`,
        'a complete zip archive',
        'truncated or corrupt',
      );
    }
    try {
      const pkl = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
      if (pkl.length !== 1)
        throw new TorchArchiveError(OP, `${path}: ${pkl.length} <name>/data.pkl entries`, 'exactly one');
      const prefix = pkl[0].slice(0, -'data.pkl'.length);
      const order = entries.get(`${prefix}byteorder`);
      if (order) {
        const text = new TextDecoder().decode(await readEntry(zip, order, path));
        if (text.trim() !== 'little')
          throw new TorchArchiveError(OP, `${path}: byteorder "${text.trim()}"`, 'little-endian storages');
      }
      const entry = entries.get(pkl[0]) as yauzl.Entry;
      if (entry.uncompressedSize > MAX_PICKLE_BYTES)
        throw new TorchArchiveError(
          OP,
          `a ${entry.uncompressedSize}-byte data.pkl`,
          `at most ${MAX_PICKLE_BYTES}`,
        );
      const root = unpickle(await readEntry(zip, entry, path), {
        functions: TORCH_FUNCTIONS,
        dataClasses: isTorchDataClass,
        persistentLoad: persistentStorage,
      });
      return new TorchArchive(path, root, zip, entries, prefix);
    } catch (error) {
      zip.close();
      throw error;
    }
  }

  /** Reads a float tensor (contiguous copy in the tensor's shape, f32 or f64 values, stored dtype kept). */
  async read(tensor: TorchTensor): Promise<DecodedTensor> {
    const dtype = FLOAT_STORAGE[tensor.dtype];
    if (!dtype) throw new TorchArchiveError(`${OP}.read`, `a ${tensor.dtype} tensor`, 'a float tensor');
    const entry = this.entries.get(`${this.prefix}data/${tensor.storage.key}`);
    if (!entry)
      throw new TorchArchiveError(OP, `no entry data/${tensor.storage.key} in ${this.path}`, 'every storage');
    const size = ITEM_SIZE[tensor.dtype];
    if (entry.uncompressedSize !== tensor.storage.numel * size)
      throw new TorchArchiveError(
        OP,
        `storage ${tensor.storage.key} of ${entry.uncompressedSize} bytes`,
        `${tensor.storage.numel} × ${size} bytes`,
      );
    const bytes = await readEntry(this.zip, entry, this.path);
    return { dtype, shape: tensor.shape, data: gather(tensor, decode(bytes, tensor.dtype)) };
  }

  close(): void {
    this.zip.close();
  }
}

async function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readAll(await zip.openReadStreamPromise(entry));
  } catch (error) {
    throw new TorchArchiveError(
      OP,
      `${path}: ${entry.fileName}: ${(error as Error).message}`,
      'a readable entry',
    );
  }
  if (crc32(bytes) !== entry.crc32)
    throw new TorchArchiveError(
      OP,
      `${path}: ${entry.fileName} with a bad CRC-32`,
      'intact data',
      'corrupt file',
    );
  return bytes;
}

/** Storage bytes (little-endian) → values. */
function decode(bytes: Uint8Array, dtype: TorchDType): Float32Array | Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / ITEM_SIZE[dtype];
  if (dtype === 'float64') {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
    return out;
  }
  if (dtype === 'float32' && LITTLE_ENDIAN_HOST) {
    const aligned = new Uint8Array(bytes.byteLength); // a copy of its own (a Buffer may be a view of a pool)
    aligned.set(bytes);
    return new Float32Array(aligned.buffer);
  }
  const out = new Float32Array(n);
  if (dtype === 'float32') for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  else if (dtype === 'float16')
    for (let i = 0; i < n; i++) out[i] = f16BitsToNumber(view.getUint16(2 * i, true));
  else for (let i = 0; i < n; i++) out[i] = bf16BitsToNumber(view.getUint16(2 * i, true));
  return out;
}

/** The strided view as a contiguous row-major array (checked against the storage's bounds). */
function gather(t: TorchTensor, storage: Float32Array | Float64Array): Float32Array | Float64Array {
  const n = t.numel;
  const span = t.shape.reduce((s, d, i) => s + (d - 1) * t.stride[i], 0);
  if (n > 0 && t.offset + span >= storage.length)
    throw new TorchArchiveError(
      OP,
      `a view [${t.shape}] stride [${t.stride}] at offset ${t.offset}`,
      `one inside its storage of ${storage.length} elements`,
    );
  const out = new (storage.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(n);
  const contiguous = t.stride.every(
    (s, i) => t.shape[i] === 1 || s === t.shape.slice(i + 1).reduce((a, b) => a * b, 1),
  );
  if (contiguous) {
    out.set(storage.subarray(t.offset, t.offset + n));
    return out;
  }
  const index = new Array<number>(t.shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    let at = t.offset;
    for (let d = 0; d < index.length; d++) at += index[d] * t.stride[d];
    out[k] = storage[at];
    for (let d = index.length - 1; d >= 0; d--) {
      if (++index[d] < t.shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}
