/**
 * Tokenizers: two character-level ones for the Brown corpus (brown8: a–z and space, K = 27 like text8;
 * brown-char: printable ASCII and newline, K = 96) and GPT-2 BPE (50257 ids) through the `gpt-tokenizer`
 * package, whose merge tables ship inside the package (no network at run time).
 */
import { ArgumentError } from '@duality/kernels';
import { TokenOutOfVocabularyError, UnknownCharacterError } from './errors';

export interface Tokenizer {
  readonly name: string;
  /** Number of ids the tokenizer produces (a masked process adds its mask id after these). */
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
}

const kindOf = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : ArrayBuffer.isView(v)
        ? `a ${v.constructor.name}`
        : typeof v;

/** encode() takes a string (a JS caller may pass anything). */
function checkText(op: string, text: unknown): asserts text is string {
  if (typeof text !== 'string') throw new ArgumentError(op, `text of type ${kindOf(text)}`, 'a string');
}

function checkIds(op: string, ids: ArrayLike<number>, vocabSize: number): void {
  if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number') {
    throw new ArgumentError(op, `ids of type ${kindOf(ids)}`, 'an array of token ids');
  }
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new TokenOutOfVocabularyError(op, `id ${id} at position ${i}`, `an integer in [0, ${vocabSize})`);
    }
  }
}

/** A tokenizer over a fixed alphabet: id = position of the character in `alphabet`. */
export class CharTokenizer implements Tokenizer {
  readonly name: string;
  readonly vocabSize: number;
  readonly alphabet: string;
  private readonly ids = new Map<string, number>();
  private readonly normalizer?: (text: string) => string;

  constructor(name: string, alphabet: string, normalize?: (text: string) => string) {
    this.name = name;
    this.alphabet = alphabet;
    this.vocabSize = alphabet.length;
    this.normalizer = normalize;
    for (let i = 0; i < alphabet.length; i++) this.ids.set(alphabet[i], i);
  }

  /** Maps raw text onto the alphabet (brown8: lower-case, anything else → one space). Identity when none. */
  normalize(text: string): string {
    checkText(`${this.name}.normalize`, text);
    return this.normalizer ? this.normalizer(text) : text;
  }

  /** Ids of each character; a character outside the alphabet is refused (normalize first to map it). */
  encode(text: string): number[] {
    checkText(`${this.name}.encode`, text);
    const out = new Array<number>(text.length);
    for (let i = 0; i < text.length; i++) {
      const id = this.ids.get(text[i]);
      if (id === undefined) {
        throw new UnknownCharacterError(
          `${this.name}.encode`,
          `character ${JSON.stringify(text[i])} at index ${i}`,
          `one of ${JSON.stringify(this.alphabet)}`,
          'call normalize() first',
        );
      }
      out[i] = id;
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    checkIds(`${this.name}.decode`, ids, this.vocabSize);
    let s = '';
    for (let i = 0; i < ids.length; i++) s += this.alphabet[ids[i]];
    return s;
  }
}

const BROWN8_ALPHABET = 'abcdefghijklmnopqrstuvwxyz ';

/** text8-style cleaning: lower-case, every run of non-letters becomes one space, trimmed. */
export function normalizeBrown8(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z]+/g, ' ')
    .trim();
}

/** brown8: ids 0–25 = a–z, 26 = space (K = 27). */
export const brown8 = new CharTokenizer('brown8', BROWN8_ALPHABET, normalizeBrown8);

/** Printable ASCII (space … '~', 95 characters) followed by '\n': a fixed alphabet, independent of the corpus. */
const BROWN_CHAR_ALPHABET = `${Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('')}\n`;

/** Tabs and CR become spaces/newlines, other characters outside the alphabet (accents, quotes) are dropped. */
export function normalizeBrownChar(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/\t/g, ' ')
    .normalize('NFKD')
    .replace(/[^\x20-\x7e\n]/g, '');
}

/** brown-char: ids 0–94 = printable ASCII from space (32) to '~' (126), 95 = newline (K = 96). */
export const brownChar = new CharTokenizer('brown-char', BROWN_CHAR_ALPHABET, normalizeBrownChar);

/** GPT-2's end-of-text id. */
export const GPT2_EOS_ID = 50256;
export const GPT2_VOCAB_SIZE = 50257;

/** GPT-2 byte-level BPE (the r50k/gpt2 encoding of `gpt-tokenizer`), loaded on first use. */
export async function gpt2Tokenizer(): Promise<Tokenizer & { eosId: number }> {
  const bpe = await import('gpt-tokenizer/encoding/gpt2');
  return {
    name: 'gpt2',
    vocabSize: GPT2_VOCAB_SIZE,
    eosId: GPT2_EOS_ID,
    encode: (text: string) => {
      checkText('gpt2.encode', text);
      return bpe.encode(text, { allowedSpecial: new Set(['<|endoftext|>']) });
    },
    decode(ids: ArrayLike<number>) {
      checkIds('gpt2.decode', ids, GPT2_VOCAB_SIZE);
      return bpe.decode(Array.from(ids));
    },
  };
}

/** A tokenizer by its name: 'brown8', 'brown-char' or 'gpt2'. */
export async function tokenizerByName(name: string): Promise<Tokenizer> {
  if (name === 'brown8') return brown8;
  if (name === 'brown-char') return brownChar;
  if (name === 'gpt2') return gpt2Tokenizer();
  throw new ArgumentError('tokenizerByName', JSON.stringify(name), "'brown8', 'brown-char' or 'gpt2'");
}
