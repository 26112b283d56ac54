import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALGORITHMS, checkConfigFitsData, parseTrainConfig, trainConfigJsonSchema } from './config';
import { TrainConfigError } from './errors';

const expectConfigError = (input: unknown, path: string, message: RegExp) => {
  let caught: unknown;
  try {
    parseTrainConfig(input);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(TrainConfigError);
  expect((caught as TrainConfigError).name).toBe('TrainConfigError');
  expect((caught as TrainConfigError).path).toBe(path);
  expect(String(caught)).toMatch(message);
};

const validConfig = fc.record(
  {
    algorithm: fc.constantFrom('mdlm', 'udlm', 'ar', 'duo'),
    steps: fc.integer({ min: 1, max: 1e6 }),
    optimizer: fc.record(
      {
        lr: fc.double({ min: 1e-6, max: 1, noNaN: true }),
        warmupSteps: fc.nat(10000),
        schedule: fc.constantFrom('constant', 'cosine'),
        weightDecay: fc.double({ min: 0, max: 1, noNaN: true }),
      },
      { requiredKeys: [] },
    ),
    data: fc.record(
      { dataset: fc.constantFrom('brown8', 'brown-char'), batchSize: fc.integer({ min: 1, max: 64 }) },
      { requiredKeys: [] },
    ),
    seed: fc.nat(),
  },
  { requiredKeys: ['algorithm', 'steps'] },
);

describe('parseTrainConfig', () => {
  it("fills the reference's defaults", () => {
    const c = parseTrainConfig({ algorithm: 'duo', steps: 1000 });
    expect(c.optimizer).toEqual({
      lr: 3e-4,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 0,
      warmupSteps: 2500,
      schedule: 'constant',
      minLrRatio: 0,
      clipNorm: 1,
      ema: 0.9999,
    });
    expect(c.curriculum).toEqual({
      gammaMin: -3.5,
      gammaMax: -1.75,
      tau: 1e-3,
      steps: 500,
      operator: 'exact',
      derivative: 'exact',
    });
    expect(c.time).toEqual({ sampling: 'stratified', eps: 1e-3 });
    expect(c.model).toEqual({
      hiddenSize: 128,
      nBlocks: 4,
      nHeads: 4,
      condDim: 128,
      contextLength: 128,
      dropout: 0.1,
      timeConditioning: true,
    });
    expect(c.seed).toBe(1);
    expect(parseTrainConfig({ algorithm: 'mdlm', steps: 1 }).model.timeConditioning).toBe(false);
    expect(parseTrainConfig({ algorithm: 'mdlm', steps: 1 }).curriculum).toBeUndefined();
    const eff = parseTrainConfig({ algorithm: 'duo-efficient', steps: 10, curriculum: { k: 3 } });
    expect(eff.curriculum?.k).toBe(3);
    expect(eff.curriculum?.operator).toBe('poly9');
  });

  it('a parsed config is a fixed point and survives JSON (what a checkpoint stores)', () => {
    fc.assert(
      fc.property(validConfig, (input) => {
        const c = parseTrainConfig(input);
        expect(parseTrainConfig(JSON.parse(JSON.stringify(c)))).toEqual(c);
      }),
    );
  });

  it('an unknown key anywhere is refused with its path and the allowed keys', () => {
    fc.assert(
      fc.property(
        validConfig,
        fc.constantFrom('', 'optimizer', 'data', 'model', 'time', 'checkpoint', 'validation'),
        fc.stringMatching(/^zz[a-z]{0,6}$/),
        (input, section, key) => {
          const bad = JSON.parse(JSON.stringify(input));
          if (section === '') bad[key] = 1;
          else bad[section] = { ...(bad[section] ?? {}), [key]: 1 };
          const path = section === '' ? key : `${section}.${key}`;
          expectConfigError(bad, path, new RegExp(`unknown key "${key}", expected one of the keys`));
        },
      ),
    );
  });

  it('a negative or zero learning rate, wrong types and unknown names are refused', () => {
    fc.assert(
      fc.property(fc.double({ max: 0, noNaN: true, noDefaultInfinity: true }), (lr) => {
        expectConfigError({ algorithm: 'mdlm', steps: 1, optimizer: { lr } }, 'optimizer.lr', /a value > 0/);
      }),
    );
    expectConfigError({ algorithm: 'mdlm', steps: '10' }, 'steps', /got "10", expected a number/);
    expectConfigError({ algorithm: 'mdlm', steps: 1.5 }, 'steps', /expected an integer/);
    expectConfigError({ algorithm: 'mdm', steps: 1 }, 'algorithm', /one of \("mdlm"/);
    expectConfigError({ steps: 1 }, 'algorithm', /got nothing/);
    expectConfigError(
      { algorithm: 'ar', steps: 1, optimizer: { betas: [0.9] } },
      'optimizer.betas.1',
      /a number/,
    );
    expectConfigError({ algorithm: 'ar', steps: 1, data: { dataset: 'text8' } }, 'data.dataset', /brown8/);
    expectConfigError({ algorithm: 'ar', steps: 1, optimizer: { lr: Number.NaN } }, 'optimizer.lr', /NaN/);
    expectConfigError(null, 'config', /got null, expected an object/);
    expectConfigError({ algorithm: 'ar', steps: 1, dtype: 'f64', backend: 'webgpu' }, 'dtype', /cpu only/);
  });

  it('gammaMin ≥ gammaMax is refused on curriculum.gammaMin', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -10, max: 5, noNaN: true }),
        fc.double({ min: 0, max: 5, noNaN: true }),
        (a, d) => {
          const curriculum = { gammaMin: a + d, gammaMax: a };
          expectConfigError(
            { algorithm: 'duo', steps: 1, curriculum },
            'curriculum.gammaMin',
            /gammaMin < gammaMax/,
          );
        },
      ),
    );
  });

  it('k is required for duo-efficient, must be in [2, K−1], and belongs to duo-efficient only', () => {
    expectConfigError({ algorithm: 'duo-efficient', steps: 1 }, 'curriculum.k', /required for duo-efficient/);
    fc.assert(
      fc.property(
        fc.constantFrom(['brown8', 27] as const, ['brown-char', 96] as const),
        fc.nat(200),
        ([dataset, K], extra) => {
          const input = {
            algorithm: 'duo-efficient',
            steps: 1,
            data: { dataset },
            curriculum: { k: K + extra },
          };
          expectConfigError(input, 'curriculum.k', new RegExp(`k < K = ${K}`));
          const ok = parseTrainConfig({ ...input, curriculum: { k: 2 + (extra % (K - 2)) } });
          expect(ok.curriculum?.k).toBeLessThan(K);
        },
      ),
    );
    expectConfigError({ algorithm: 'duo-efficient', steps: 1, curriculum: { k: 1 } }, 'curriculum.k', /≥ 2/);
    expectConfigError({ algorithm: 'duo', steps: 1, curriculum: { k: 3 } }, 'curriculum.k', /no k/);
    expectConfigError(
      { algorithm: 'mdlm', steps: 1, curriculum: {} },
      'curriculum',
      /duo and duo-efficient only/,
    );
  });

  it('a τ annealing names its missing keys and its step order', () => {
    const tau = { log10From: -1, log10To: -2, startStep: 10, endStep: 5 };
    expectConfigError(
      { algorithm: 'duo', steps: 1, curriculum: { tau } },
      'curriculum.tau.endStep',
      /≥ startStep/,
    );
    expectConfigError(
      { algorithm: 'duo', steps: 1, curriculum: { tau: { log10From: -1 } } },
      'curriculum.tau.log10To',
      /a number \(a required key\)/,
    );
    const ok = parseTrainConfig({ algorithm: 'duo', steps: 1, curriculum: { tau: { ...tau, endStep: 20 } } });
    expect(ok.curriculum?.tau).toEqual({ ...tau, endStep: 20 });
  });

  it('the model: heads must divide the width into even head sizes; the data context fits the model', () => {
    expectConfigError({ algorithm: 'ar', steps: 1, model: { nHeads: 3 } }, 'model.nHeads', /even head width/);
    expectConfigError(
      { algorithm: 'ar', steps: 1, model: { contextLength: 64 }, data: { contextLength: 128 } },
      'data.contextLength',
      /at most model.contextLength = 64/,
    );
  });

  it('a context the data cannot fill is refused on data.contextLength', () => {
    const c = parseTrainConfig({
      algorithm: 'mdlm',
      steps: 1,
      data: { contextLength: 1024, batchSize: 300 },
    });
    expect(() => checkConfigFitsData(c, { train: 5_482_405, validation: 286_965 })).toThrow(
      /data\.contextLength: got 1024 with batch 300 on the validation split of 286965 tokens/,
    );
    const small = parseTrainConfig({ algorithm: 'mdlm', steps: 1 });
    expect(() => checkConfigFitsData(small, { train: 5_482_405, validation: 286_965 })).not.toThrow();
  });
});

describe('trainConfigJsonSchema', () => {
  it('describes every key, forbids others and carries the defaults', () => {
    const schema = trainConfigJsonSchema() as {
      properties: Record<string, { properties?: Record<string, { default?: unknown }>; enum?: string[] }>;
      required: string[];
      additionalProperties: boolean;
    };
    expect(schema.required).toEqual(['algorithm', 'steps']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.algorithm.enum).toEqual([...ALGORITHMS]);
    expect(schema.properties.optimizer.properties?.lr.default).toBe(3e-4);
    expect(schema.properties.curriculum.properties?.gammaMin.default).toBe(-3.5);
    expect(Object.keys(schema.properties)).toEqual(
      Object.keys(parseTrainConfig({ algorithm: 'duo', steps: 2 })).sort(
        (a, b) => Object.keys(schema.properties).indexOf(a) - Object.keys(schema.properties).indexOf(b),
      ),
    );
  });
});
