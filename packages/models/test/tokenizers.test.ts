import { ArgumentError } from '@duality/kernels';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  brown8,
  brownChar,
  GPT2_EOS_ID,
  gpt2Tokenizer,
  normalizeBrown8,
  TokenOutOfVocabularyError,
  tokenizerByName,
  UnknownCharacterError,
} from '../src/index';

describe('brown8', () => {
  it('maps a–z to 0–25 and space to 26 (K = 27)', () => {
    expect(brown8.vocabSize).toBe(27);
    expect(brown8.encode('abz ')).toEqual([0, 1, 25, 26]);
    expect(brown8.decode([7, 8, 26, 0])).toBe('hi a');
  });

  it('normalises like text8: lower case, runs of non-letters become one space', () => {
    expect(normalizeBrown8('The Fulton County/Grand Jury said Friday, 1961.')).toBe(
      'the fulton county grand jury said friday',
    );
    expect(brown8.normalize('  A--b  ')).toBe('a b');
  });

  it('decode ∘ encode is the identity on its alphabet (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz '.split('')) }),
        (s) => brown8.decode(brown8.encode(s)) === s,
      ),
      { seed: 1 },
    );
  });

  it('refuses characters outside its alphabet and ids outside its vocabulary', () => {
    expect(() => brown8.encode('Hi')).toThrow(UnknownCharacterError);
    expect(() => brown8.encode('a.')).toThrow(/"\." at index 1/);
    expect(() => brown8.decode([27])).toThrow(TokenOutOfVocabularyError);
    expect(() => brown8.decode([1.5])).toThrow(TokenOutOfVocabularyError);
  });
});

describe('brown-char', () => {
  it('printable ASCII then newline (K = 96); round trip on any printable text', () => {
    expect(brownChar.vocabSize).toBe(96);
    expect(brownChar.encode(' A~\n')).toEqual([0, 33, 94, 95]);
    fc.assert(
      fc.property(
        fc.string({ unit: fc.integer({ min: 32, max: 126 }).map((c) => String.fromCharCode(c)) }),
        (s) => brownChar.decode(brownChar.encode(s)) === s,
      ),
      { seed: 2 },
    );
  });

  it('normalises tabs, CRLF and accents into its alphabet', () => {
    expect(brownChar.normalize('a\tb\r\ncafé “q”')).toBe('a b\ncafe q');
    expect(() => brownChar.encode('é')).toThrow(UnknownCharacterError);
  });
});

describe('GPT-2 BPE', () => {
  it('gives GPT-2 ids and decodes them back', async () => {
    const gpt2 = await gpt2Tokenizer();
    expect(gpt2.vocabSize).toBe(50257);
    expect(gpt2.encode('Hello world')).toEqual([15496, 995]);
    expect(gpt2.encode('<|endoftext|>')).toEqual([GPT2_EOS_ID]);
    const text = 'The Diffusion Duality: uniform-state diffusion, 2025.';
    expect(gpt2.decode(gpt2.encode(text))).toBe(text);
    expect(() => gpt2.decode([50257])).toThrow(TokenOutOfVocabularyError);
  });

  it('tokenizerByName finds all three and refuses others', async () => {
    expect((await tokenizerByName('brown8')).vocabSize).toBe(27);
    expect((await tokenizerByName('brown-char')).vocabSize).toBe(96);
    expect((await tokenizerByName('gpt2')).vocabSize).toBe(50257);
    await expect(tokenizerByName('bert')).rejects.toThrow(/'brown8'/);
  });

  it('non-strings and non-arrays are ArgumentErrors, not TypeErrors', async () => {
    const gpt2 = await gpt2Tokenizer();
    for (const bad of [null, undefined, 42, ['a'], new Uint8Array(2)]) {
      expect(() => brown8.encode(bad as unknown as string)).toThrow(ArgumentError);
      expect(() => brown8.normalize(bad as unknown as string)).toThrow(ArgumentError);
      expect(() => gpt2.encode(bad as unknown as string)).toThrow(ArgumentError);
    }
    expect(() => brown8.encode(null as unknown as string)).toThrow(/text of type null, expected a string/);
    for (const bad of [null, 7, undefined]) {
      expect(() => brown8.decode(bad as unknown as number[])).toThrow(ArgumentError);
      expect(() => gpt2.decode(bad as unknown as number[])).toThrow(ArgumentError);
    }
  });
});
