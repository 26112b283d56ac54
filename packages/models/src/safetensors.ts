/**
 * safetensors read and write (https://github.com/huggingface/safetensors format): an 8-byte little-endian header
 * length N, N bytes of JSON header (padded with spaces), then the raw little-endian tensor data. Every header
 * entry is validated (dtype, shape, offsets inside the data section, byte length = elements × item size, no
 * overlap) before a byte of tensor data is trusted. Tensors are read one at a time, in bounded pieces, so a
 * large checkpoint never has to sit in memory as one buffer.
 */
import { fileError, loadFs, writeFileAtomic } from './atomic-file';
import { SafetensorsFormatError, UnsupportedDTypeError } from './errors';

/** Every dtype the safetensors format names, with its item size in bytes. */
const ITEM_SIZE = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
} as const;

export type SafetensorsDType = keyof typeof ITEM_SIZE;
/** The float dtypes this package converts to and from typed arrays. */
export type FloatStorageDType = 'F64' | 'F32' | 'F16' | 'BF16';

export interface TensorInfo {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Byte offsets relative to the start of the data section, [begin, end). */
  readonly begin: number;
  readonly end: number;
}

/** Random-access bytes: an in-memory array, a file handle, a fetch with Range requests… */
export interface ByteSource {
  readonly byteLength: number;
  /** Resolves to exactly `length` bytes starting at `offset` (fewer means the source was truncated). */
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/** A tensor as stored: its dtype on disk, its shape, and its values widened to f32 (or f64 for F64). */
export interface StoredTensor {
  dtype: FloatStorageDType;
  shape: readonly number[];
  data: Float32Array | Float64Array;
}

export interface SafetensorsReadOptions {
  /** Largest header accepted, in bytes (default 100 MiB, the format's own limit). */
  maxHeaderBytes?: number;
  /** Bytes fetched from the source per read (default 16 MiB). */
  chunkBytes?: number;
}

const OP = 'safetensors';
const DEFAULT_MAX_HEADER = 100 * 1024 * 1024;
const DEFAULT_CHUNK = 16 * 1024 * 1024;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const fail = (got: string, expected: string, detail?: string): never => {
  throw new SafetensorsFormatError(OP, got, expected, detail);
};

const isNonNegativeInt = (v: unknown): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Wraps bytes already in memory as a source. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    byteLength: bytes.byteLength,
    read: async (offset, length) => bytes.subarray(offset, offset + length),
  };
}

/** The header length N from the first 8 bytes (u64 little-endian), bounds-checked against the source. */
function headerLength(prefix: Uint8Array, sourceBytes: number, maxHeaderBytes: number): number {
  if (prefix.byteLength < 8)
    fail(`${sourceBytes} bytes`, 'at least 8 bytes (u64 header length)', 'truncated file');
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (hi >= 2 ** 21 || n > maxHeaderBytes) fail(`header length ${n}`, `at most ${maxHeaderBytes} bytes`);
  if (n < 2) fail(`header length ${n}`, 'a JSON object of at least 2 bytes');
  if (8 + n > sourceBytes)
    fail(`header length ${n} in a ${sourceBytes}-byte file`, `at most ${sourceBytes - 8}`, 'truncated file');
  return n;
}

function parseHeaderJson(bytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fail('header bytes that are not UTF-8', 'a UTF-8 JSON header');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return fail('a header that is not valid JSON', 'a JSON object', (error as Error).message);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    fail(`a JSON ${Array.isArray(parsed) ? 'array' : typeof parsed} header`, 'a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** Sets an own property even for a key like "__proto__", which plain assignment would swallow. */
const setOwn = (object: Record<string, unknown>, key: string, value: unknown): void => {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
};

function parseMetadata(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(`__metadata__ ${value === null ? 'null' : `of type ${typeof value}`}`, 'an object of strings');
  }
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string')
      fail(`__metadata__.${key} of type ${v === null ? 'null' : typeof v}`, 'a string');
    setOwn(out, key, v as string);
  }
  return out;
}

function parseEntry(name: string, value: unknown, dataBytes: number): TensorInfo {
  const where = `tensor "${name}"`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(`${where}: ${JSON.stringify(value)}`, 'an object {dtype, shape, data_offsets}');
  }
  const entry = value as Record<string, unknown>;
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string' || !(dtype in ITEM_SIZE)) {
    fail(`${where}: dtype ${JSON.stringify(dtype)}`, `one of ${Object.keys(ITEM_SIZE).join(', ')}`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInt)) {
    fail(`${where}: shape ${JSON.stringify(shape)}`, 'an array of non-negative integers');
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInt)) {
    fail(`${where}: data_offsets ${JSON.stringify(offsets)}`, '[begin, end] non-negative integers');
  }
  const [begin, end] = offsets as number[];
  if (begin > end || end > dataBytes) {
    fail(
      `${where}: data_offsets [${begin}, ${end}]`,
      `0 ≤ begin ≤ end ≤ ${dataBytes} (the data section)`,
      'offsets point outside the file',
    );
  }
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  const bytes = elements * ITEM_SIZE[dtype as SafetensorsDType];
  if (!Number.isSafeInteger(bytes) || bytes !== end - begin) {
    fail(`${where}: ${end - begin} bytes for shape [${shape}] of ${dtype}`, `${bytes} bytes`);
  }
  return { dtype: dtype as SafetensorsDType, shape: shape as number[], begin, end };
}

/**
 * The tensors must tile the data section exactly, in offset order: no overlap, no hole between two tensors and
 * no byte after the last one (the format forbids both; a stale tail could otherwise hide behind a valid header).
 */
function checkCoverage(tensors: Map<string, TensorInfo>, dataBytes: number): void {
  const spans = [...tensors.entries()].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let covered = 0;
  let last = '(the start of the data section)';
  for (const [name, t] of spans) {
    if (t.begin < covered) fail(`tensors ${last} and "${name}" overlapping`, 'disjoint byte ranges');
    if (t.begin > covered) {
      fail(
        `a hole of ${t.begin - covered} bytes before tensor "${name}"`,
        `"${name}" to begin at ${covered}`,
      );
    }
    covered = t.end;
    last = `"${name}"`;
  }
  if (covered !== dataBytes) {
    fail(`${dataBytes - covered} bytes after the last tensor`, `a data section of exactly ${covered} bytes`);
  }
}

/** Validates a header object against a data section of `dataBytes` bytes. */
function parseHeader(header: Record<string, unknown>, dataBytes: number) {
  const tensors = new Map<string, TensorInfo>();
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    tensors.set(name, parseEntry(name, value, dataBytes));
  }
  checkCoverage(tensors, dataBytes);
  return { tensors, metadata: parseMetadata(header.__metadata__) };
}

/** Decodes `count` items of `dtype` from little-endian bytes into `out` starting at `outOffset`. */
function decodeInto(
  bytes: Uint8Array,
  dtype: FloatStorageDType,
  out: Float32Array | Float64Array,
  outOffset: number,
): void {
  const count = bytes.byteLength / ITEM_SIZE[dtype];
  if (dtype === 'F32' || dtype === 'F64') {
    const Ctor = dtype === 'F32' ? Float32Array : Float64Array;
    const size = ITEM_SIZE[dtype];
    if (LITTLE_ENDIAN_HOST && bytes.byteOffset % size === 0) {
      out.set(new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, count), outOffset);
      return;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) {
      out[outOffset + i] = size === 4 ? view.getFloat32(4 * i, true) : view.getFloat64(8 * i, true);
    }
    return;
  }
  const decode = dtype === 'F16' ? f16BitsToNumber : bf16BitsToNumber;
  for (let i = 0; i < count; i++) out[outOffset + i] = decode(bytes[2 * i] | (bytes[2 * i + 1] << 8));
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** IEEE binary16 bits → number (exact). */
export function f16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits → number (exact: the upper half of an f32). */
export function bf16BitsToNumber(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0];
}

/** Right shift with round-half-to-even. */
function roundShift(value: number, shift: number): number {
  const q = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && q & 1) ? q + 1 : q;
}

/** number → IEEE binary16 bits, rounding to nearest even (via f32, like torch's `.half()`). */
export function numberToF16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp8 = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp8 === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp8 - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    return sign | roundShift(mant | 0x800000, 14 - e);
  }
  const m = roundShift(mant, 13);
  const bits = (e << 10) + m; // a mantissa carry rolls into the exponent, as it should
  return bits >= 0x7c00 ? sign | 0x7c00 : sign | bits;
}

/** number → bfloat16 bits, rounding to nearest even (via f32). */
export function numberToBf16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Reads a safetensors file from any ByteSource, one tensor at a time. */
export class SafetensorsReader {
  readonly metadata: Readonly<Record<string, string>>;
  private readonly tensors: Map<string, TensorInfo>;
  private readonly dataStart: number;
  private readonly source: ByteSource;
  private readonly chunkBytes: number;

  private constructor(
    source: ByteSource,
    dataStart: number,
    parsed: ReturnType<typeof parseHeader>,
    chunkBytes: number,
  ) {
    this.source = source;
    this.dataStart = dataStart;
    this.tensors = parsed.tensors;
    this.metadata = parsed.metadata;
    this.chunkBytes = chunkBytes;
  }

  /** Reads and validates the header; tensor data is read later, on demand. */
  static async open(
    source: ByteSource | Uint8Array,
    options: SafetensorsReadOptions = {},
  ): Promise<SafetensorsReader> {
    const src = source instanceof Uint8Array ? bytesSource(source) : source;
    const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK;
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 8 || chunkBytes % 8 !== 0) {
      fail(`chunkBytes ${chunkBytes}`, 'a positive multiple of 8');
    }
    const prefix = await readExactly(src, 0, Math.min(8, src.byteLength));
    const n = headerLength(prefix, src.byteLength, options.maxHeaderBytes ?? DEFAULT_MAX_HEADER);
    const header = parseHeaderJson(await readExactly(src, 8, n));
    return new SafetensorsReader(src, 8 + n, parseHeader(header, src.byteLength - 8 - n), chunkBytes);
  }

  /** Tensor names in file order (by data offset). */
  names(): string[] {
    return [...this.tensors.entries()]
      .sort((a, b) => a[1].begin - b[1].begin || (a[0] < b[0] ? -1 : 1))
      .map(([n]) => n);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo | undefined {
    return this.tensors.get(name);
  }

  /** Reads one float tensor, widening to f32 (default) or f64. Big tensors are fetched in pieces. */
  read(name: string, into?: 'f32'): Promise<Float32Array>;
  read(name: string, into: 'f64'): Promise<Float64Array>;
  async read(name: string, into: 'f32' | 'f64' = 'f32'): Promise<Float32Array | Float64Array> {
    const info = this.tensors.get(name);
    if (!info) return fail(`no tensor "${name}"`, `one of ${this.tensors.size} tensors in the file`);
    const dtype = info.dtype;
    if (dtype !== 'F64' && dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') {
      throw new UnsupportedDTypeError(`${OP}.read("${name}")`, dtype, 'F64, F32, F16 or BF16');
    }
    const size = ITEM_SIZE[dtype];
    const out =
      into === 'f64'
        ? new Float64Array((info.end - info.begin) / size)
        : new Float32Array((info.end - info.begin) / size);
    const step = this.chunkBytes;
    for (let pos = info.begin; pos < info.end; pos += step) {
      const length = Math.min(step, info.end - pos);
      const bytes = await readExactly(this.source, this.dataStart + pos, length);
      decodeInto(bytes, dtype, out, (pos - info.begin) / size);
    }
    return out;
  }

  /** Reads every float tensor, keeping its stored dtype (F64 widens to f64, the others to f32). */
  async readAll(): Promise<Map<string, StoredTensor>> {
    const out = new Map<string, StoredTensor>();
    for (const name of this.names()) {
      const { dtype, shape } = this.tensors.get(name) as TensorInfo;
      const data = dtype === 'F64' ? await this.read(name, 'f64') : await this.read(name, 'f32');
      out.set(name, { dtype: dtype as FloatStorageDType, shape, data });
    }
    return out;
  }

  async close(): Promise<void> {
    await this.source.close?.();
  }
}

async function readExactly(source: ByteSource, offset: number, length: number): Promise<Uint8Array> {
  if (offset + length > source.byteLength) {
    fail(
      `a read of bytes [${offset}, ${offset + length})`,
      `reads inside the ${source.byteLength}-byte file`,
      'truncated file',
    );
  }
  const bytes = await source.read(offset, length);
  if (bytes.byteLength !== length) {
    fail(
      `${bytes.byteLength} bytes at offset ${offset}`,
      `${length} bytes`,
      'the source ended early (truncated file)',
    );
  }
  return bytes;
}

// ------------------------------------------------------------------------------------------------ writing

export interface TensorToWrite {
  dtype: FloatStorageDType;
  shape: readonly number[];
  data: ArrayLike<number>;
}

interface WritePlan {
  header: Uint8Array;
  entries: Array<[string, TensorToWrite]>;
  totalBytes: number;
}

/** Builds the header: names sorted, data laid out in that order, JSON padded with spaces to a multiple of 8. */
function planWrite(
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): WritePlan {
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).sort((a, b) =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0,
  );
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    const checked = parseMetadata(metadata); // refuses exactly what the reader refuses
    if (Object.keys(checked).length > 0) header.__metadata__ = checked;
  }
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') fail('a tensor named "__metadata__"', 'any other name');
    if (
      t === null ||
      typeof t !== 'object' ||
      !Array.isArray(t.shape) ||
      typeof t.data?.length !== 'number'
    ) {
      fail(
        `tensor "${name}" without an array shape and array-like data`,
        '{ dtype, shape: number[], data }',
        'write',
      );
    }
    if (!(t.dtype in ITEM_SIZE) || !['F64', 'F32', 'F16', 'BF16'].includes(t.dtype)) {
      throw new UnsupportedDTypeError(`${OP}.write("${name}")`, String(t.dtype), 'F64, F32, F16 or BF16');
    }
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every(isNonNegativeInt) || elements !== t.data.length) {
      fail(
        `tensor "${name}" with shape [${t.shape}] and ${t.data.length} values`,
        'values = product of the shape',
        'write',
      );
    }
    const bytes = elements * ITEM_SIZE[t.dtype];
    setOwn(header, name, { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] });
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8);
  new DataView(head.buffer).setUint32(0, padded, true);
  head.set(json, 8);
  return { header: head, entries, totalBytes: head.byteLength + offset };
}

/** Encodes values [from, to) of a tensor as little-endian bytes of its dtype. */
function encodeRange(t: TensorToWrite, from: number, to: number): Uint8Array {
  const size = ITEM_SIZE[t.dtype];
  const out = new Uint8Array((to - from) * size);
  const view = new DataView(out.buffer);
  for (let i = from; i < to; i++) {
    const o = (i - from) * size;
    const v = t.data[i];
    if (t.dtype === 'F32') view.setFloat32(o, v, true);
    else if (t.dtype === 'F64') view.setFloat64(o, v, true);
    else view.setUint16(o, t.dtype === 'F16' ? numberToF16Bits(v) : numberToBf16Bits(v), true);
  }
  return out;
}

/** Yields the file's bytes in pieces of at most ~chunkElements values each (header first). */
export function* safetensorsChunks(
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
  chunkElements = 1 << 20,
): Generator<Uint8Array> {
  const plan = planWrite(tensors, metadata);
  yield plan.header;
  for (const [, t] of plan.entries) {
    for (let from = 0; from < t.data.length; from += chunkElements) {
      yield encodeRange(t, from, Math.min(t.data.length, from + chunkElements));
    }
  }
}

/** Serialises tensors (and string metadata) to one safetensors byte array. */
export function serializeSafetensors(
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const { totalBytes } = planWrite(tensors, metadata);
  const out = new Uint8Array(totalBytes);
  let offset = 0;
  for (const chunk of safetensorsChunks(tensors, metadata)) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ Node files

/** A ByteSource over a file opened by handle (Node): reads only what is asked for. */
export async function fileSource(path: string): Promise<ByteSource> {
  const fs = await loadFs();
  const handle = await fs.open(path, 'r').catch((error: unknown) => {
    throw fileError('fileSource', path, error);
  });
  let size: number;
  try {
    const stat = await handle.stat();
    if (stat.isDirectory())
      throw Object.assign(new Error(`EISDIR: ${path} is a directory`), { code: 'EISDIR' });
    size = stat.size;
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw fileError('fileSource', path, error);
  }
  return {
    byteLength: size,
    async read(offset, length) {
      const buffer = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return buffer.subarray(0, done);
    },
    close: () => handle.close(),
  };
}

/** Opens a safetensors file on disk (Node) without reading its tensors yet. */
export async function openSafetensorsFile(
  path: string,
  options?: SafetensorsReadOptions,
): Promise<SafetensorsReader> {
  const source = await fileSource(path);
  try {
    return await SafetensorsReader.open(source, options);
  } catch (error) {
    await source.close?.();
    throw error;
  }
}

/**
 * Writes a safetensors file (Node) piece by piece through writeFileAtomic: a uniquely named temporary in the
 * same directory, fsynced, renamed into place. Invalid tensors are refused before anything touches the disk.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  const chunks = safetensorsChunks(tensors, metadata);
  const first = chunks.next(); // runs the validation of the whole plan
  function* all(): Generator<Uint8Array> {
    if (!first.done) yield first.value;
    yield* chunks;
  }
  await writeFileAtomic(path, all());
}
