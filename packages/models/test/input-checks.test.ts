import { ArgumentError, type Backend, createBackend } from '@duality/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiT, ditConfig, initStateDict } from '../src/index';

const config = ditConfig({ vocabSize: 7, hiddenSize: 16, condDim: 8, nHeads: 2, nBlocks: 1, length: 4 });
let backend: Backend;
let model: DiT;
beforeAll(async () => {
  backend = await createBackend('cpu', { threads: 0 });
  model = await DiT.fromStateDict(
    backend,
    config,
    initStateDict(config, { seed: 3, scheme: 'normal', std: 0.3 }),
  );
});
afterAll(() => {
  model.dispose();
  backend.destroy();
});

const dense = (values: (i: number) => number) =>
  backend.tensor(
    Float32Array.from({ length: 2 * 4 * 7 }, (_, i) => values(i)),
    [2, 4, 7],
    'f32',
  );

describe('DiT refuses NaN dense logits and soft weights (cpu scan)', () => {
  it('dense: NaN and +∞ are ArgumentErrors naming the index; −∞ (probability 0) is allowed', async () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const err = await model
        .forward({ dense: dense((i) => (i === 9 ? bad : i % 3)) }, [0.5, 0.5])
        .catch((e) => e);
      expect(err).toBeInstanceOf(ArgumentError);
      expect(String(err)).toMatch(/DiT\.forward\(dense\).*flat index 9/);
    }
    const ok = await model.forward(
      { dense: dense((i) => (i % 7 === 0 ? Number.NEGATIVE_INFINITY : i % 3)) },
      [0.5, 0.5],
    );
    expect(Array.from(await ok.read()).every(Number.isFinite)).toBe(true);
  });

  it('soft weights: NaN and ±∞ are ArgumentErrors', async () => {
    const indices = backend.tensor(
      Int32Array.from({ length: 2 * 4 * 2 }, (_, i) => i % 7),
      [2, 4, 2],
      'i32',
    );
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const weights = backend.tensor(
        Float32Array.from({ length: 16 }, (_, i) => (i === 5 ? bad : 0.5)),
        [2, 4, 2],
        'f32',
      );
      await expect(model.forward({ soft: { indices, weights } }, [0.5, 0.5])).rejects.toThrow(
        /soft\.weights/,
      );
    }
  });

  it('a plain number as sigma says what was expected', async () => {
    const tokens = backend.tensor(Int32Array.from([1, 2, 3, 4, 5, 6, 0, 1]), [2, 4], 'i32');
    const err = await model.forward({ tokens }, 0.5 as unknown as number[]).catch((e) => e);
    expect(err).toBeInstanceOf(ArgumentError);
    expect(String(err)).toContain('a number (0.5)');
    expect(String(err)).toContain('an array of 2 numbers (one σ per row)');
    await expect(model.forward({ tokens }, null as unknown as number[])).rejects.toThrow(ArgumentError);
  });
});
