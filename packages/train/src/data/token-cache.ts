/**
 * The on-disk form of a prepared dataset: one file holding the token ids of each split (one byte per id, so
 * K ≤ 256) behind a JSON header.
 *
 *   bytes 0–7   "DUOTOKS1"
 *   bytes 8–11  header length H (u32, little-endian)
 *   next H      header JSON: { key, dataset, vocabSize, payloadSha256, splits: [{ name, length, documents }] }
 *   then        the splits' ids, back to back in header order
 *
 * Decoding checks the magic, the lengths and the payload's SHA-256, so a truncated or altered file is refused
 * (a `DataError`), never half-read.
 */
import { createHash } from 'node:crypto';
import { DataError } from '../errors';

const MAGIC = 'DUOTOKS1';

export interface CachedSplit {
  name: string;
  /** Document ids in stream order. */
  documents: string[];
  tokens: Uint8Array;
}

export interface TokenCache {
  /** Hash of everything the tokens depend on (corpus version, preprocessing, tokenizer, split). */
  key: string;
  dataset: string;
  vocabSize: number;
  splits: CachedSplit[];
}

interface Header {
  key: string;
  dataset: string;
  vocabSize: number;
  payloadSha256: string;
  splits: Array<{ name: string; length: number; documents: string[] }>;
}

const sha256 = (parts: readonly Uint8Array[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** The cache file's bytes, as pieces (header, then each split's ids). */
export function encodeTokenCache(cache: TokenCache): Uint8Array[] {
  if (!(cache.vocabSize >= 1 && cache.vocabSize <= 256)) {
    throw new DataError(
      'encodeTokenCache',
      `vocabSize ${cache.vocabSize}`,
      'at most 256 ids (one byte each)',
    );
  }
  const payload = cache.splits.map((s) => s.tokens);
  const header: Header = {
    key: cache.key,
    dataset: cache.dataset,
    vocabSize: cache.vocabSize,
    payloadSha256: sha256(payload),
    splits: cache.splits.map((s) => ({ name: s.name, length: s.tokens.length, documents: s.documents })),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const prefix = new Uint8Array(12);
  prefix.set(new TextEncoder().encode(MAGIC));
  new DataView(prefix.buffer).setUint32(8, json.byteLength, true);
  return [prefix, json, ...payload];
}

const bad = (path: string, got: string, expected: string): never => {
  throw new DataError('decodeTokenCache', `${path}: ${got}`, expected, 'a corrupt or partial cache file');
};

function parseHeader(bytes: Uint8Array, path: string): { header: Header; start: number } {
  if (bytes.byteLength < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    bad(path, `${bytes.byteLength} bytes without the "${MAGIC}" magic`, 'a token cache file');
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset, 12).getUint32(8, true);
  if (12 + length > bytes.byteLength)
    bad(path, `header length ${length}`, `at most ${bytes.byteLength - 12}`);
  try {
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length))) as Header;
    if (!Array.isArray(header.splits)) bad(path, 'a header without splits', 'a splits list');
    return { header, start: 12 + length };
  } catch (error) {
    if (error instanceof DataError) throw error;
    return bad(path, 'a header that is not JSON', 'the JSON header');
  }
}

/** Reads a cache file's bytes back; refuses anything truncated, padded or altered. */
export function decodeTokenCache(bytes: Uint8Array, path = 'token cache'): TokenCache {
  const { header, start } = parseHeader(bytes, path);
  const total = header.splits.reduce((a, s) => a + s.length, 0);
  if (start + total !== bytes.byteLength) {
    bad(path, `${bytes.byteLength - start} payload bytes`, `${total} (the header's split lengths)`);
  }
  const splits: CachedSplit[] = [];
  let at = start;
  for (const s of header.splits) {
    splits.push({ name: s.name, documents: s.documents, tokens: bytes.subarray(at, at + s.length) });
    at += s.length;
  }
  const digest = sha256(splits.map((s) => s.tokens));
  if (digest !== header.payloadSha256) bad(path, `payload SHA-256 ${digest}`, header.payloadSha256);
  for (const s of splits) {
    for (let i = 0; i < s.tokens.length; i++) {
      if (s.tokens[i] >= header.vocabSize)
        bad(path, `id ${s.tokens[i]} in ${s.name}`, `< ${header.vocabSize}`);
    }
  }
  return { key: header.key, dataset: header.dataset, vocabSize: header.vocabSize, splits };
}
