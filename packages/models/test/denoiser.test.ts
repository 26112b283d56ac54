import { ArgumentError, type Backend, createBackend } from '@duality/kernels';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiT, DiTDenoiser, ditConfig, initStateDict } from '../src/index';

const V = 7;
const mask = V - 1;
const config = ditConfig({ vocabSize: V, hiddenSize: 8, condDim: 4, nHeads: 2, nBlocks: 1, length: 6 });
let backend: Backend;
let model: DiT;
beforeAll(async () => {
  backend = await createBackend('cpu', { threads: 0 });
  model = await DiT.fromStateDict(
    backend,
    config,
    initStateDict(config, { seed: 2, scheme: 'normal', std: 0.5 }),
    { dtype: 'f64' },
  );
});
afterAll(() => {
  model.dispose();
  backend.destroy();
});

const logSumExp = (row: ArrayLike<number>) => {
  const m = Math.max(...Array.from(row));
  return m + Math.log(Array.from(row).reduce((s, x) => s + Math.exp(x - m), 0));
};

describe('DiTDenoiser', () => {
  it('logits parameterisation: log-softmax of the network logits', async () => {
    const denoiser = new DiTDenoiser(model);
    expect(denoiser.vocabSize).toBe(V);
    const xt = backend.tensor([0, 1, 2, 3, 4, 5], [1, 6], 'i32');
    const logp = await (await denoiser.predict(xt, [0.7])).read();
    const logits = await (await model.forward({ tokens: xt }, [0.7])).read();
    for (let i = 0; i < 6; i++) {
      const row = logits.subarray(i * V, (i + 1) * V);
      const lse = logSumExp(row);
      for (let v = 0; v < V; v++) expect(logp[i * V + v]).toBeCloseTo(row[v] - lse, 12);
    }
  });

  it('SUBS: masked positions never predict the mask and normalise; unmasked positions carry their token over', async () => {
    const denoiser = new DiTDenoiser(model, { kind: 'subs', maskIndex: mask });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: 12, maxLength: 12 }),
        async (ids) => {
          const xt = backend.tensor(ids, [2, 6], 'i32');
          const out = await denoiser.predict(xt, [0.3, 2]);
          expect(out.shape).toEqual([2, 6, V]);
          const logp = await out.read();
          ids.forEach((id, i) => {
            const row = Array.from(logp.subarray(i * V, (i + 1) * V));
            if (id === mask) {
              expect(row[mask]).toBe(Number.NEGATIVE_INFINITY);
              expect(Math.abs(logSumExp(row))).toBeLessThan(1e-12);
            } else {
              expect(row).toEqual(row.map((_, v) => (v === id ? 0 : Number.NEGATIVE_INFINITY)));
            }
          });
        },
      ),
      { seed: 3, numRuns: 10 },
    );
  });

  it('refuses a mask index outside the vocabulary and causal models', async () => {
    expect(() => new DiTDenoiser(model, { kind: 'subs', maskIndex: V })).toThrow(ArgumentError);
    const causalConfig = ditConfig({ ...config, causal: true });
    const causal = await DiT.fromStateDict(backend, causalConfig, initStateDict(causalConfig, { seed: 1 }));
    expect(() => new DiTDenoiser(causal)).toThrow(/causal/);
    causal.dispose();
  });
});
