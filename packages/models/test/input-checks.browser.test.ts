import { ArgumentError, type Backend, createBackend } from '@duality/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiT, ditConfig, initStateDict } from '../src/index';

const config = ditConfig({ vocabSize: 7, hiddenSize: 16, condDim: 8, nHeads: 2, nBlocks: 1, length: 4 });
let gpu: Backend;
let model: DiT;
beforeAll(async () => {
  gpu = await createBackend('webgpu');
  model = await DiT.fromStateDict(
    gpu,
    config,
    initStateDict(config, { seed: 3, scheme: 'normal', std: 0.3 }),
  );
});
afterAll(() => {
  model?.dispose();
  gpu?.destroy();
});

describe('webgpu: NaN dense logits / soft weights are refused with checkValues: true', () => {
  it('dense and soft inputs', async () => {
    const dense = gpu.tensor(
      Float32Array.from({ length: 4 * 7 }, (_, i) => (i === 5 ? Number.NaN : i % 3)),
      [1, 4, 7],
      'f32',
    );
    await expect(model.forward({ dense }, [0.5], { checkValues: true })).rejects.toThrow(ArgumentError);
    await expect(model.forward({ dense }, [0.5], { checkValues: true })).rejects.toThrow(/flat index 5/);
    const indices = gpu.tensor(Int32Array.from([0, 1, 2, 3, 4, 5, 6, 0]), [1, 4, 2], 'i32');
    const weights = gpu.tensor(
      Float32Array.from([0.5, 0.5, 0.5, Number.NaN, 1, 0, 0.2, 0.8]),
      [1, 4, 2],
      'f32',
    );
    await expect(model.forward({ soft: { indices, weights } }, [0.5], { checkValues: true })).rejects.toThrow(
      /soft\.weights/,
    );
    // valid input passes the check and gives finite logits
    const clean = gpu.tensor(
      Float32Array.from({ length: 4 * 7 }, (_, i) => i % 3),
      [1, 4, 7],
      'f32',
    );
    const logits = await model.forward({ dense: clean }, [0.5], { checkValues: true });
    expect(Array.from(await logits.read()).every(Number.isFinite)).toBe(true);
  });
});
