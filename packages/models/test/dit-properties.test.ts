import { type Backend, createBackend, DTypeError, KernelError, ShapeError } from '@duality/kernels';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DiT,
  type DiTConfig,
  ditConfig,
  initStateDict,
  nextTokenLogProbs,
  SequenceTooLongError,
  TokenOutOfVocabularyError,
} from '../src/index';
import { maxAbsDiff } from './fixture';

const config: DiTConfig = ditConfig({
  vocabSize: 11,
  hiddenSize: 16,
  condDim: 8,
  nHeads: 2,
  nBlocks: 2,
  length: 8,
  dropout: 0.25,
});
const B = 4;
const L = 6;

let backend: Backend;
let model: DiT;
beforeAll(async () => {
  backend = await createBackend('cpu', { threads: 0 });
  model = await DiT.fromStateDict(
    backend,
    config,
    initStateDict(config, { seed: 3, scheme: 'normal', std: 0.3 }),
    { dtype: 'f64' },
  );
});
afterAll(() => {
  model.dispose();
  backend.destroy();
});

const tokensArb = fc.array(fc.integer({ min: 0, max: config.vocabSize - 1 }), {
  minLength: B * L,
  maxLength: B * L,
});
const sigmaArb = fc.array(fc.double({ min: 0, max: 8, noNaN: true }), { minLength: B, maxLength: B });

async function logitsOf(m: DiT, tokens: number[], sigma: number[], rows = B, len = L): Promise<Float64Array> {
  const t = backend.tensor(tokens, [rows, len], 'i32');
  const out = await m.forward({ tokens: t }, sigma);
  t.dispose();
  const values = (await out.read()) as Float64Array;
  out.dispose();
  return values;
}

describe('DiT properties (cpu, f64, random weights)', () => {
  it('permuting the batch permutes the output', async () => {
    const perm = fc.shuffledSubarray([0, 1, 2, 3], { minLength: B, maxLength: B });
    await fc.assert(
      fc.asyncProperty(tokensArb, sigmaArb, perm, async (tokens, sigma, p) => {
        const base = await logitsOf(model, tokens, sigma);
        const permTokens = p.flatMap((r) => tokens.slice(r * L, (r + 1) * L));
        const permuted = await logitsOf(
          model,
          permTokens,
          p.map((r) => sigma[r]),
        );
        const row = L * config.vocabSize;
        for (let i = 0; i < B; i++) {
          expect(
            maxAbsDiff(
              permuted.subarray(i * row, (i + 1) * row),
              base.subarray(p[i] * row, (p[i] + 1) * row),
            ),
          ).toBeLessThan(1e-12);
        }
      }),
      { seed: 5, numRuns: 8 },
    );
  });

  it('with zeroed adaLN and head the output is uniform (log-softmax = −log V)', async () => {
    const state = initStateDict(config, { seed: 9, scheme: 'normal', std: 0.5 });
    for (const [name, t] of state)
      if (name.includes('adaLN') || name.startsWith('output_layer.linear')) t.data.fill(0);
    const zeroed = await DiT.fromStateDict(backend, config, state, { dtype: 'f64' });
    await fc.assert(
      fc.asyncProperty(tokensArb, sigmaArb, async (tokens, sigma) => {
        const logits = await logitsOf(zeroed, tokens, sigma);
        expect(logits.every((x) => x === 0)).toBe(true);
      }),
      { seed: 6, numRuns: 5 },
    );
    zeroed.dispose();
  });

  it('a one-hot soft input equals the token input, and top-k soft input is the weighted embedding', async () => {
    const tokens = Array.from({ length: B * L }, (_, i) => (i * 7) % config.vocabSize);
    const sigma = [0.1, 1, 2, 3];
    const hard = await logitsOf(model, tokens, sigma);
    const indices = backend.tensor(
      tokens.flatMap((t) => [t, (t + 1) % config.vocabSize]),
      [B, L, 2],
      'i32',
    );
    const weights = backend.tensor(
      tokens.flatMap(() => [1, 0]),
      [B, L, 2],
      'f64',
    );
    const soft = await (await model.forward({ soft: { indices, weights } }, sigma)).read();
    expect(maxAbsDiff(soft, hard)).toBeLessThan(1e-12);
    // dense logits with one dominant entry approach the same input
    const dense = new Float64Array(B * L * config.vocabSize);
    tokens.forEach((t, i) => {
      dense[i * config.vocabSize + t] = 200;
    });
    const viaDense = await (
      await model.forward({ dense: backend.tensor(dense, [B, L, config.vocabSize], 'f64') }, sigma)
    ).read();
    expect(maxAbsDiff(viaDense, hard)).toBeLessThan(1e-9);
  });

  it('sigma changes the output (the time conditioning reaches the logits)', async () => {
    const tokens = Array.from({ length: B * L }, (_, i) => i % config.vocabSize);
    const a = await logitsOf(model, tokens, [0, 0, 0, 0]);
    const b = await logitsOf(model, tokens, [3, 3, 3, 3]);
    expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-3);
  });

  it('attention is non-causal: changing the last token changes the first position', async () => {
    const tokens = Array.from({ length: B * L }, (_, i) => i % config.vocabSize);
    const changed = tokens.slice();
    changed[L - 1] = (changed[L - 1] + 1) % config.vocabSize;
    const a = await logitsOf(model, tokens, [1, 1, 1, 1]);
    const b = await logitsOf(model, changed, [1, 1, 1, 1]);
    expect(maxAbsDiff(a.subarray(0, config.vocabSize), b.subarray(0, config.vocabSize))).toBeGreaterThan(
      1e-6,
    );
  });

  it('dropout: training mode is seeded (same seed → same output), differs from eval, and p = 0 is eval', async () => {
    const tokens = backend.tensor(
      Array.from({ length: B * L }, (_, i) => i % config.vocabSize),
      [B, L],
      'i32',
    );
    const sigma = [1, 1, 1, 1];
    const evalOut = await (await model.forward({ tokens }, sigma)).read();
    const a = await (await model.forward({ tokens }, sigma, { train: { seed: 1 } })).read();
    const b = await (await model.forward({ tokens }, sigma, { train: { seed: 1 } })).read();
    const c = await (await model.forward({ tokens }, sigma, { train: { seed: 2 } })).read();
    const zero = await (await model.forward({ tokens }, sigma, { train: { seed: 1, p: 0 } })).read();
    expect(a).toEqual(b);
    expect(maxAbsDiff(a, c)).toBeGreaterThan(1e-6);
    expect(maxAbsDiff(a, evalOut)).toBeGreaterThan(1e-6);
    expect(zero).toEqual(evalOut);
  });
});

describe('DiT bad input', () => {
  it('tokens out of vocabulary', async () => {
    for (const bad of [-1, config.vocabSize]) {
      const t = backend.tensor([0, 1, bad, 2], [1, 4], 'i32');
      const error = await model.forward({ tokens: t }, [1]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TokenOutOfVocabularyError);
      expect((error as Error).message).toMatch(`id ${bad}`);
    }
    const soft = {
      indices: backend.tensor([0, 99], [1, 1, 2], 'i32'),
      weights: backend.tensor([0.5, 0.5], [1, 1, 2], 'f64'),
    };
    await expect(model.forward({ soft }, [1])).rejects.toThrow(TokenOutOfVocabularyError);
  });

  it('a sequence longer than the context', async () => {
    const t = backend.tensor(new Array(config.length + 1).fill(0), [1, config.length + 1], 'i32');
    const error = await model.forward({ tokens: t }, [1]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SequenceTooLongError);
    expect(error).toBeInstanceOf(KernelError);
    expect((error as Error).message).toMatch(`context length ${config.length}`);
  });

  it('wrong dtypes, shapes and sigma', async () => {
    const t = backend.tensor([0, 1], [1, 2], 'i32');
    await expect(model.forward({ tokens: backend.tensor([0, 1], [1, 2], 'f64') }, [1])).rejects.toThrow(
      DTypeError,
    );
    await expect(model.forward({ tokens: backend.tensor([0, 1], [2], 'i32') }, [1])).rejects.toThrow(
      ShapeError,
    );
    await expect(model.forward({ tokens: t }, [1, 2])).rejects.toThrow(/one per row/);
    await expect(model.forward({ tokens: t })).rejects.toThrow(/sigma/);
    await expect(model.forward({ tokens: t }, [Number.NaN])).rejects.toThrow(/finite/);
    await expect(
      model.forward({ dense: backend.tensor(new Float64Array(6), [1, 2, 3], 'f64') }, [1]),
    ).rejects.toThrow(ShapeError);
  });
});

describe('causal variant', () => {
  const causalConfig = ditConfig({ ...config, causal: true, dropout: 0 });
  let causal: DiT;
  beforeAll(async () => {
    causal = await DiT.fromStateDict(
      backend,
      causalConfig,
      initStateDict(causalConfig, { seed: 4, scheme: 'normal', std: 0.3 }),
      { dtype: 'f64' },
    );
  });
  afterAll(() => causal.dispose());

  it('has no time conditioning or adaLN tensors in its state dict', async () => {
    const names = [...(await causal.stateDict()).keys()];
    expect(names.some((n) => n.includes('adaLN') || n.startsWith('sigma_map'))).toBe(false);
  });

  it('position i depends only on tokens ≤ i (property)', async () => {
    await fc.assert(
      fc.asyncProperty(tokensArb, fc.integer({ min: 0, max: L - 1 }), async (tokens, cut) => {
        const changed = tokens.map((t, i) => (i % L > cut ? (t + 3) % config.vocabSize : t));
        const a = await logitsOf(causal, tokens, []);
        const b = await logitsOf(causal, changed, []);
        const V = config.vocabSize;
        for (let r = 0; r < B; r++) {
          const from = r * L * V;
          expect(
            maxAbsDiff(a.subarray(from, from + (cut + 1) * V), b.subarray(from, from + (cut + 1) * V)),
          ).toBeLessThan(1e-12);
        }
      }),
      { seed: 8, numRuns: 6 },
    );
  });

  it('nextTokenLogProbs gives log p(x_{i+1} | x_{≤i}) from the log-softmax of the logits', async () => {
    const tokens = [1, 4, 2, 7, 3, 0];
    const t = backend.tensor(tokens, [1, L], 'i32');
    const lp = await nextTokenLogProbs(causal, t);
    const logits = (await (await causal.forward({ tokens: t })).read()) as Float64Array;
    const V = config.vocabSize;
    for (let i = 0; i < L - 1; i++) {
      const row = logits.subarray(i * V, (i + 1) * V);
      const lse = Math.log(row.reduce((s, x) => s + Math.exp(x), 0));
      expect(lp[i]).toBeCloseTo(row[tokens[i + 1]] - lse, 12);
    }
  });
});
