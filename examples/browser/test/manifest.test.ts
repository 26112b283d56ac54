/**
 * The manifest (src/manifest.ts) and its generator (scripts/build-models.ts): valid entries round-trip, every
 * bad field is refused naming its key, bundled models are copied from their folder (config from the
 * safetensors metadata or a config JSON), missing ones are skipped, causal or mismatched ones are refused.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackend } from '@duality/kernels';
import { configToReference, DiT, ditConfig, initStateDict, saveDiT } from '@duality/models';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BundledSource, buildModels, parseSources, type UntrainedSource } from '../scripts/build-models';
import { ManifestError, type ModelEntry, parseEntry, parseManifest } from '../src/manifest';

const valid: ModelEntry = {
  name: 'duo',
  label: 'a model',
  untrained: false,
  file: 'duo/model.safetensors',
  bytes: 1000,
  tokenizer: 'brown8',
  process: 'uniform',
  vocabSize: 27,
  length: 64,
  parameters: 5000,
  sampler: 'psi',
  steps: 8,
  kappa: { kind: 'max-capped', eta: 0.1 },
  noiseRemoval: 'greedy',
};

const BAD: Record<string, unknown[]> = {
  name: ['', 3, null],
  label: ['', undefined],
  file: ['', 7],
  bytes: [0, -1, 1.5, '10'],
  tokenizer: ['gpt3', 1],
  process: ['gaussian', ''],
  vocabSize: [0, 2.5],
  length: [0, Number.NaN],
  parameters: [-3],
  sampler: ['greedy', undefined],
  steps: [0, 1.5],
  kappa: [{ kind: 'nope', eta: 0.1 }, { kind: 'constant', eta: 2 }, 'max-capped'],
  noiseRemoval: ['sometimes'],
};

describe('parseManifest', () => {
  it('accepts a valid manifest unchanged', () => {
    expect(parseManifest({ version: 1, models: [valid] })).toEqual({ version: 1, models: [valid] });
  });

  it('refuses any bad field with a ManifestError naming models[i].field', () => {
    const fields = Object.keys(BAD);
    fc.assert(
      fc.property(
        fc.constantFrom(...fields).chain((f) => fc.tuple(fc.constant(f), fc.constantFrom(...BAD[f]))),
        fc.nat(3),
        ([field, value], extra) => {
          const models = [...Array.from({ length: extra }, (_, i) => ({ ...valid, name: `m${i}` }))];
          models.push({ ...valid, [field]: value } as ModelEntry);
          try {
            parseManifest({ version: 1, models });
          } catch (error) {
            expect(error).toBeInstanceOf(ManifestError);
            expect((error as ManifestError).key).toMatch(new RegExp(`^models\\[${extra}\\]\\.${field}`));
            return;
          }
          throw new Error(`accepted ${field} = ${JSON.stringify(value)}`);
        },
      ),
    );
  });

  it('refuses a wrong version, an empty list and duplicate names', () => {
    expect(() => parseManifest({ version: 2, models: [valid] })).toThrow(
      'manifest version: got 2, expected 1',
    );
    expect(() => parseManifest({ version: 1, models: [] })).toThrow(ManifestError);
    expect(() => parseManifest({ version: 1, models: [valid, valid] })).toThrow(
      'manifest models[1].name: got "duo", expected a name not used before',
    );
  });

  it('fills the default noise removal and keeps an optional config path', () => {
    const { noiseRemoval: _, ...rest } = valid;
    expect(parseEntry('m', { ...rest, config: 'duo/config.json' })).toEqual({
      ...valid,
      noiseRemoval: 'ancestral',
      config: 'duo/config.json',
    });
  });
});

describe('buildModels', () => {
  let repo: string;
  const small = ditConfig({ vocabSize: 27, hiddenSize: 16, condDim: 8, nHeads: 2, nBlocks: 1, length: 12 });
  const untrained: UntrainedSource[] = [
    {
      name: 'u',
      label: 'untrained',
      process: 'masked',
      config: { ...small, vocabSize: 28 },
      seed: 1,
      std: 0.2,
      sampler: 'ancestral',
      steps: 4,
      kappa: { kind: 'pure-pc', eta: 0 },
    },
  ];
  const source = (over: Partial<BundledSource> = {}): BundledSource => ({
    name: 'duo',
    label: 'Duo',
    dir: 'models/duo',
    tokenizer: 'brown8',
    process: 'uniform',
    sampler: 'psi',
    steps: 8,
    ...over,
  });

  beforeAll(async () => {
    repo = await mkdtemp(join(tmpdir(), 'duality-manifest-'));
    const cpu = await createBackend('cpu', { threads: 0 });
    const write = async (dir: string, config = small, withConfigJson = false) => {
      await mkdir(join(repo, dir), { recursive: true });
      const model = await DiT.fromStateDict(cpu, config, initStateDict(config, { seed: 3 }));
      await saveDiT(model, join(repo, dir, 'model.safetensors'));
      if (withConfigJson)
        await writeFile(
          join(repo, dir, 'hf.json'),
          JSON.stringify(configToReference({ ...config, length: 10 })),
        );
    };
    await write('models/duo');
    await write('models/hf', small, true);
    await write('models/judge', { ...small, causal: true });
    await write('models/mdlm-wrong', small); // 27 ids: no room for the mask
  });
  afterAll(() => rm(repo, { recursive: true, force: true }));

  it('copies bundled models, skips missing ones, adds the untrained ones and writes index.json', async () => {
    const outDir = join(repo, 'out');
    const lines: string[] = [];
    const manifest = await buildModels({
      outDir,
      repoRoot: repo,
      bundled: [
        source(),
        source({ name: 'later', dir: 'models/later' }),
        source({ name: 'hf', dir: 'models/hf', config: 'hf.json' }),
      ],
      untrained,
      log: (l) => lines.push(l),
    });
    expect(manifest.models.map((m) => m.name)).toEqual(['duo', 'hf', 'u']);
    expect(lines[0]).toBe('skipped later: models/later/model.safetensors does not exist (yet)');
    const [duo, hf, u] = manifest.models;
    expect(duo).toMatchObject({ untrained: false, vocabSize: 27, length: 12, file: 'duo/model.safetensors' });
    expect(await readFile(join(outDir, duo.file))).toEqual(
      await readFile(join(repo, 'models/duo/model.safetensors')),
    );
    expect(hf).toMatchObject({ config: 'hf/config.json', length: 10 }); // the JSON config wins over the metadata
    expect(u).toMatchObject({ untrained: true, process: 'masked', vocabSize: 28, tokenizer: 'brown8' });
    expect(JSON.parse(await readFile(join(outDir, 'index.json'), 'utf8'))).toEqual(manifest);
  });

  it('refuses a causal model and a vocabulary that does not fit the tokenizer and process', async () => {
    const outDir = join(repo, 'out2');
    await expect(
      buildModels({ outDir, repoRoot: repo, bundled: [source({ dir: 'models/judge' })], untrained }),
    ).rejects.toThrow(/a causal model/);
    await expect(
      buildModels({
        outDir,
        repoRoot: repo,
        bundled: [source({ dir: 'models/mdlm-wrong', process: 'masked', sampler: 'ancestral' })],
        untrained,
      }),
    ).rejects.toThrow('got a model with 27 ids, expected 28 ids for brown8 with the masked process');
  });

  it('parseSources refuses a bad models.json entry naming the key', () => {
    expect(parseSources({ models: [] })).toEqual([]);
    expect(() => parseSources({ models: [{ ...source(), process: 'gaussian' }] })).toThrow(
      'manifest models.json models[0].process: got "gaussian", expected one of masked | uniform',
    );
    expect(() => parseSources({ models: [{ ...source(), steps: 0 }] })).toThrow(/models\[0\]\.steps/);
    expect(() => parseSources({})).toThrow(ManifestError);
  });
});
