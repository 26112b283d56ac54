import { describe, expect, it } from 'vitest';
import {
  configFromReference,
  configToReference,
  ditConfig,
  ModelConfigError,
  parameterCount,
  referenceStateDictShapes,
  SMALL_CONFIG,
} from '../src/index';
import { loadParityFixture } from './fixture';

describe('reference config and state-dict names', () => {
  it('the names and shapes match the reference DIT.state_dict() of the fixture, in order', () => {
    const fx = loadParityFixture();
    const c = fx.config;
    const config = ditConfig({
      vocabSize: Number(c.vocab_size),
      hiddenSize: Number(c.hidden_size),
      condDim: Number(c.cond_dim),
      nHeads: Number(c.n_heads),
      nBlocks: Number(c.n_blocks),
      length: Number(c.seq_len),
    });
    const shapes = referenceStateDictShapes(config);
    expect(shapes.map(([n]) => n)).toEqual(fx.weights.names);
    for (const [name, shape] of shapes) expect(shape).toEqual(fx.weights.shapes[name]);
  });

  it('reads the hydra model group, the hub-mixin nesting and the Hugging Face names alike', () => {
    const model = {
      hidden_size: 768,
      cond_dim: 128,
      length: 1024,
      n_blocks: 12,
      n_heads: 12,
      dropout: 0.1,
      scale_by_sigma: true,
    };
    const hydra = configFromReference({ model, algo: { causal_attention: false } }, 50257);
    expect(hydra).toEqual({ ...SMALL_CONFIG, dropout: 0.1 });
    expect(
      configFromReference({ config: { model, algo: { causal_attention: true } }, vocab_size: 50257 }).causal,
    ).toBe(true);
    const hf = configFromReference({
      vocab_size: 50258,
      hidden_dim: 768,
      cond_dim: 128,
      model_length: 1024,
      n_blocks: 12,
      n_heads: 12,
    });
    expect(hf.vocabSize).toBe(50258);
    expect(hf.length).toBe(1024);
    expect(configFromReference(configToReference(hydra))).toEqual(hydra);
  });

  it('refuses incomplete or inconsistent configs', () => {
    expect(() => configFromReference({ model: { hidden_size: 8 } }, 5)).toThrow(/cond_dim|condDim/);
    expect(() => configFromReference(null)).toThrow(ModelConfigError);
    expect(() => ditConfig({ ...SMALL_CONFIG, nHeads: 5 })).toThrow(/divisible/);
    expect(() => ditConfig({ ...SMALL_CONFIG, hiddenSize: 12, nHeads: 4 })).toThrow(/even/);
    expect(() => ditConfig({ ...SMALL_CONFIG, nBlocks: 0 })).toThrow(ModelConfigError);
    expect(() => ditConfig({ ...SMALL_CONFIG, dropout: 1 })).toThrow(/dropout/);
  });

  it('refuses a model too large to hold before allocating anything (an absurd nBlocks never lists its tensors)', () => {
    // 2^32 small blocks: each tensor fits a typed array, the whole model (≈ 2^43 parameters) does not
    const error = (() => {
      try {
        ditConfig({ ...SMALL_CONFIG, nBlocks: 2 ** 32 });
      } catch (e) {
        return e as ModelConfigError;
      }
    })();
    expect(error).toBeInstanceOf(ModelConfigError);
    expect(error?.message).toMatch(/parameters \(nBlocks 4294967296\)/);
    // the limit is the total: just under it passes, just over it fails
    const perBlock =
      parameterCount({ ...SMALL_CONFIG, nBlocks: 2 }) - parameterCount({ ...SMALL_CONFIG, nBlocks: 1 });
    const fits = Math.floor((2 ** 32 - parameterCount({ ...SMALL_CONFIG, nBlocks: 1 })) / perBlock) + 1;
    expect(parameterCount(ditConfig({ ...SMALL_CONFIG, nBlocks: fits }))).toBeLessThanOrEqual(2 ** 32);
    expect(() => ditConfig({ ...SMALL_CONFIG, nBlocks: fits + 1 })).toThrow(ModelConfigError);
  });

  it('the small config has the reference’s parameter count', () => {
    // embedding + head 2·V·D + V, sigma map 256C + C + C² + C, 12 blocks of 12D² + 2D + 4D + D + adaLN 6D(C + 1), final 2D(C + 1) + D
    const V = 50257;
    const D = 768;
    const C = 128;
    const block = 3 * D * D + D * D + 2 * D + 4 * D * D + 4 * D + 4 * D * D + D + 6 * D * C + 6 * D;
    const expected = V * D + (256 * C + C + C * C + C) + 12 * block + D + V * D + V + 2 * D * C + 2 * D;
    expect(parameterCount(SMALL_CONFIG)).toBe(expected);
  });
});
