import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArgumentError, type Backend, createBackend } from '@duality/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configFromReference,
  DiT,
  ditConfig,
  initStateDict,
  loadDiT,
  MissingTensorError,
  ModelConfigError,
  SafetensorsReader,
  saveDiT,
  serializeDiT,
  serializeSafetensors,
  TensorShapeMismatchError,
} from '../src/index';
import { loadParityFixture, loadParityWeights, maxAbsDiff } from './fixture';

const fx = loadParityFixture();
const c = fx.config;
const referenceConfig = {
  vocab_size: c.vocab_size,
  model: {
    hidden_size: c.hidden_size,
    cond_dim: c.cond_dim,
    n_heads: c.n_heads,
    n_blocks: c.n_blocks,
    length: c.seq_len,
  },
};
const config = configFromReference(referenceConfig);
const dir = mkdtempSync(join(tmpdir(), 'duality-ckpt-'));
let backend: Backend;
beforeAll(async () => {
  backend = await createBackend('cpu', { threads: 0 });
});
afterAll(() => {
  backend.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** Byte equality without vitest's element-by-element deep diff (slow on large arrays). */
const sameBytes = (a: ArrayBufferView, b: ArrayBufferView): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

async function fixtureTensors() {
  return (await SafetensorsReader.open(loadParityWeights())).readAll();
}

async function tokenLogits(model: DiT): Promise<Float32Array | Float64Array> {
  const t = backend.tensor(fx.inputs.tokens.data, fx.inputs.tokens.shape, 'i32');
  return (await model.forward({ tokens: t }, fx.inputs.sigma.data)).read() as Promise<
    Float32Array | Float64Array
  >;
}

describe('DiT checkpoints', () => {
  it('a checkpoint written and read back is bit-identical (bytes and tensors)', async () => {
    const model = await loadDiT(backend, loadParityWeights(), { config });
    const bytes = await serializeDiT(model);
    const again = await loadDiT(backend, bytes);
    const bytes2 = await serializeDiT(again);
    expect(sameBytes(bytes2, bytes)).toBe(true);
    const original = await fixtureTensors();
    const written = await (await SafetensorsReader.open(bytes)).readAll();
    expect([...written.keys()].sort()).toEqual([...original.keys()].sort());
    for (const [name, t] of original) {
      const w = written.get(name);
      expect(w?.shape).toEqual(t.shape);
      expect(sameBytes(w?.data as Float32Array, t.data)).toBe(true);
    }
    model.dispose();
    again.dispose();
  });

  it('an f64 model round-trips through F64 storage, and saveDiT writes the same bytes to disk', async () => {
    const model = await loadDiT(backend, loadParityWeights(), { config, dtype: 'f64' });
    const path = join(dir, 'm.safetensors');
    await saveDiT(model, path);
    const back = await loadDiT(backend, path, { dtype: 'f64' });
    expect(sameBytes(await serializeDiT(back), await serializeDiT(model))).toBe(true);
    expect(maxAbsDiff(await tokenLogits(back), fx.expected.tokens.float64.data)).toBeLessThan(1e-9);
    model.dispose();
    back.dispose();
  });

  it('the config travels in the metadata; a reference file without it needs a config or a length', async () => {
    const model = await loadDiT(backend, loadParityWeights(), { config });
    const reader = await SafetensorsReader.open(await serializeDiT(model));
    expect(configFromReference(JSON.parse(reader.metadata.config))).toEqual(config);
    const inferred = await loadDiT(backend, loadParityWeights(), { length: Number(c.seq_len) });
    expect(inferred.config).toEqual(config);
    await expect(loadDiT(backend, loadParityWeights())).rejects.toThrow(ModelConfigError);
    model.dispose();
    inferred.dispose();
  });

  it('loads names under a prefix (Lightning / Hugging Face "backbone.") and ignores extra tensors', async () => {
    const tensors = await fixtureTensors();
    const prefixed = new Map([...tensors].map(([n, t]) => [`backbone.${n}`, t]));
    prefixed.set('noise.sigma_max', { dtype: 'F32', shape: [1], data: new Float32Array([1]) });
    const model = await loadDiT(backend, serializeSafetensors(prefixed), { config: referenceConfig });
    expect(maxAbsDiff(await tokenLogits(model), fx.expected.tokens.float32.data)).toBeLessThan(1e-4);
    model.dispose();
  });

  it('F16 and BF16 checkpoints load (values rounded to the storage precision)', async () => {
    const model = await loadDiT(backend, loadParityWeights(), { config });
    for (const dtype of ['F16', 'BF16'] as const) {
      const half = await loadDiT(backend, await serializeDiT(model, { dtype }));
      const reader = await SafetensorsReader.open(await serializeDiT(model, { dtype }));
      expect(reader.info('blocks.0.attn_qkv.weight')?.dtype).toBe(dtype);
      // weights ~N(0, 0.2²) rounded to 11 (8) significant bits move the logits by well under 0.5
      const diff = maxAbsDiff(await tokenLogits(half), fx.expected.tokens.float64.data);
      expect(diff).toBeGreaterThan(0);
      expect(diff).toBeLessThan(dtype === 'F16' ? 0.02 : 0.3);
      half.dispose();
    }
    model.dispose();
  });

  it('a missing tensor is a MissingTensorError naming it', async () => {
    const tensors = await fixtureTensors();
    tensors.delete('blocks.1.attn_out.weight');
    const error = await loadDiT(backend, serializeSafetensors(tensors), { config }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingTensorError);
    expect((error as Error).message).toMatch(/blocks\.1\.attn_out\.weight.*\[48, 48\]/);
  });

  it('a mis-shaped tensor is a TensorShapeMismatchError naming it', async () => {
    const tensors = await fixtureTensors();
    const t = tensors.get('blocks.0.mlp.0.weight');
    if (!t) throw new Error('fixture lacks blocks.0.mlp.0.weight');
    tensors.set('blocks.0.mlp.0.weight', { ...t, shape: [96, 96] });
    const error = await loadDiT(backend, serializeSafetensors(tensors), { config }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TensorShapeMismatchError);
    expect((error as Error).message).toMatch(/blocks\.0\.mlp\.0\.weight.*\[96, 96\].*\[192, 48\]/);
  });

  it('a config that does not fit the checkpoint is refused', async () => {
    await expect(
      loadDiT(backend, loadParityWeights(), { config: { ...config, nBlocks: 3 } }),
    ).rejects.toThrow(MissingTensorError);
    await expect(
      loadDiT(backend, loadParityWeights(), { config: { ...config, hiddenSize: 64, nHeads: 4 } }),
    ).rejects.toThrow(TensorShapeMismatchError);
    // a rotary buffer with another base would change the network silently
    const tensors = await fixtureTensors();
    tensors.set('rotary_emb.inv_freq', { dtype: 'F32', shape: [6], data: new Float32Array(6).fill(0.5) });
    await expect(loadDiT(backend, serializeSafetensors(tensors), { config })).rejects.toThrow(/inv_freq/);
  });

  it('a corrupt file is a typed error, not a crash', async () => {
    const bytes = loadParityWeights().slice(0, 5000);
    await expect(loadDiT(backend, bytes, { config })).rejects.toThrow(/truncated|outside/);
  });

  it('f64 weights cannot go to a backend without f64', async () => {
    const fake = { ...backend, supportsF64: false, name: backend.name } as Backend;
    await expect(DiT.fromStateDict(fake, config, await fixtureTensors(), { dtype: 'f64' })).rejects.toThrow(
      /f64/,
    );
  });
});

describe('initStateDict', () => {
  it('the reference scheme gives a network that predicts the uniform distribution', async () => {
    const cfg = ditConfig({ vocabSize: 9, hiddenSize: 8, condDim: 4, nHeads: 2, nBlocks: 1, length: 4 });
    const state = initStateDict(cfg, { seed: 1 });
    expect(state.get('vocab_embed.embedding')?.data.some((x) => x !== 0)).toBe(true);
    expect(state.get('blocks.0.norm1.weight')?.data.every((x) => x === 1)).toBe(true);
    expect(Math.max(...(state.get('blocks.0.mlp.0.weight')?.data ?? [9]).map(Math.abs))).toBeLessThanOrEqual(
      1 / Math.sqrt(8),
    );
    const model = await DiT.fromStateDict(backend, cfg, state);
    const out = await (
      await model.forward({ tokens: backend.tensor([1, 2, 3, 4], [1, 4], 'i32') }, [0.5])
    ).read();
    expect(out.every((x) => x === 0)).toBe(true);
    model.dispose();
  });

  it('is deterministic in the seed', () => {
    const cfg = ditConfig({ vocabSize: 9, hiddenSize: 8, condDim: 4, nHeads: 2, nBlocks: 1, length: 4 });
    const a = initStateDict(cfg, { seed: 5, scheme: 'normal' }).get('blocks.0.attn_qkv.weight')?.data;
    const b = initStateDict(cfg, { seed: 5, scheme: 'normal' }).get('blocks.0.attn_qkv.weight')?.data;
    const d = initStateDict(cfg, { seed: 6, scheme: 'normal' }).get('blocks.0.attn_qkv.weight')?.data;
    expect(a).toEqual(b);
    expect(a).not.toEqual(d);
  });

  it('refuses an unknown scheme and a non-finite std with ArgumentError', () => {
    const cfg = ditConfig({ vocabSize: 9, hiddenSize: 8, condDim: 4, nHeads: 2, nBlocks: 1, length: 4 });
    const xavier = () => initStateDict(cfg, { seed: 1, scheme: 'xavier' as 'normal' });
    expect(xavier).toThrow(ArgumentError);
    expect(xavier).toThrow(/scheme "xavier"/);
    expect(() => initStateDict(cfg, { seed: 1, scheme: 'normal', std: Number.POSITIVE_INFINITY })).toThrow(
      ArgumentError,
    );
  });
});
