import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, createBackend } from '@duality/kernels';
import {
  type DiT,
  loadDiT,
  openSafetensorsFile,
  serializeSafetensors,
  type TensorToWrite,
} from '@duality/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  emaByName,
  readReferenceCheckpoint,
  TorchArchive,
  type TorchTensor,
  writeConverted,
} from '../src/convert/index';
import { ConvertError, ForbiddenGlobalError, TorchArchiveError } from '../src/errors';

// Fixtures made by tools/make-reference-checkpoints.py (torch): a Lightning .ckpt (Duo, EMA ≠ raw), a sharded
// Hugging Face export (MDLM, time_conditioning false), a malicious pickle, and the logits torch computes.
const FIXTURES = join(import.meta.dirname, 'fixtures');
const CKPT = join(FIXTURES, 'lightning.ckpt');
const HF = join(FIXTURES, 'hf');

interface Json {
  shape: number[];
  data: number[];
}
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
  inputs: { tokens: Json; sigma: Json };
  logits: Record<'lightning_ema' | 'lightning_raw' | 'hf', { float32: Json; float64: Json }>;
  parameter_order: string[];
};

const dir = mkdtempSync(join(tmpdir(), 'duality-convert-'));
let backend: Backend;
beforeAll(async () => {
  backend = await createBackend('cpu', { threads: 0 });
});
afterAll(() => {
  backend.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function logits(model: DiT): Promise<Float64Array> {
  const tokens = backend.tensor(expected.inputs.tokens.data, expected.inputs.tokens.shape, 'i32');
  const out = await model.forward({ tokens }, expected.inputs.sigma.data);
  const values = Float64Array.from(await out.read());
  out.dispose();
  tokens.dispose();
  return values;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Converts, loads the output with loadDiT (f32 and f64) and compares the logits with torch's. */
async function convertAndCompare(input: string, key: keyof typeof expected.logits, weights?: 'ema' | 'raw') {
  const model = await readReferenceCheckpoint(input, { weights });
  const out = await writeConverted(model, input, join(dir, `${key}.safetensors`), 'keep');
  const f32 = await loadDiT(backend, out, { dtype: 'f32' });
  const f64 = await loadDiT(backend, out, { dtype: 'f64' });
  const d32 = maxAbsDiff(await logits(f32), expected.logits[key].float32.data);
  const d64 = maxAbsDiff(await logits(f64), expected.logits[key].float64.data);
  const config = f32.config;
  f32.dispose();
  f64.dispose();
  return { d32, d64, out, config, model };
}

describe('duality convert: Lightning .ckpt', () => {
  it('EMA weights (the default) give torch’s logits: f32 to 1e-5, f64 to 1e-9', async () => {
    const { d32, d64, config, model, out } = await convertAndCompare(CKPT, 'lightning_ema');
    expect(d32).toBeLessThan(1e-5);
    expect(d64).toBeLessThan(1e-9);
    expect(model.weights).toBe('ema');
    expect(config).toMatchObject({
      vocabSize: 29,
      hiddenSize: 24,
      condDim: 16,
      nHeads: 2,
      nBlocks: 2,
      length: 10,
    });
    expect(config.timeConditioning).toBe(true);
    const reader = await openSafetensorsFile(out);
    const card = JSON.parse(reader.metadata.config);
    expect(card.algo).toMatchObject({ name: 'duo', parameterization: 'mean', time_conditioning: true });
    expect(card.noise).toEqual({ type: 'log-linear', eps: 0.001 });
    expect(reader.metadata).toMatchObject({
      weights: 'ema',
      global_step: '1200',
      converted_from: 'lightning:lightning.ckpt',
    });
    expect(reader.names().some((n) => n.startsWith('backbone.'))).toBe(false);
    await reader.close();
  });

  it('--weights raw gives the state_dict’s logits, which differ from the EMA’s', async () => {
    const raw = await convertAndCompare(CKPT, 'lightning_raw', 'raw');
    expect(raw.d32).toBeLessThan(1e-5);
    expect(raw.d64).toBeLessThan(1e-9);
    const gap = maxAbsDiff(
      expected.logits.lightning_raw.float64.data,
      expected.logits.lightning_ema.float64.data,
    );
    expect(gap).toBeGreaterThan(1e-2); // so matching one of them is a real selection
  });

  it('maps the EMA list by backbone.parameters() order (the state_dict order without the rotary buffer)', async () => {
    const archive = await TorchArchive.open(CKPT);
    try {
      const root = archive.root as Map<string, unknown>;
      const state = root.get('state_dict') as Map<string, TorchTensor>;
      const backbone: Array<[string, TorchTensor]> = [...state].map(([k, v]) => [
        k.slice('backbone.'.length),
        v,
      ]);
      const mapped = emaByName(root.get('ema'), backbone);
      const names = backbone.map(([n]) => n).filter((n) => n !== 'rotary_emb.inv_freq');
      expect(names).toEqual(expected.parameter_order);
      const shadow = (root.get('ema') as Map<string, TorchTensor[]>).get('shadow_params') as TorchTensor[];
      for (const [i, n] of names.entries()) expect(mapped.get(n)).toBe(shadow[i]);
      expect(mapped.get('rotary_emb.inv_freq')).toBe(state.get('backbone.rotary_emb.inv_freq'));
      const short = new Map([['shadow_params', shadow.slice(1)]]);
      expect(() => emaByName(short, backbone)).toThrow(ConvertError);
      const shifted = new Map([['shadow_params', [shadow[1], shadow[0], ...shadow.slice(2)]]]);
      expect(() => emaByName(shifted, backbone)).toThrow(/EMA tensor 0 of shape/);
      expect(() => emaByName(new Map(), backbone)).toThrow(/--weights raw/);
    } finally {
      archive.close();
    }
  });

  it('refuses a pickle that would run os.system, without running anything', async () => {
    const marker = '/tmp/duality-convert-must-not-exist';
    rmSync(marker, { force: true });
    await expect(readReferenceCheckpoint(join(FIXTURES, 'malicious.ckpt'))).rejects.toThrow(
      ForbiddenGlobalError,
    );
    await expect(readReferenceCheckpoint(join(FIXTURES, 'malicious.ckpt'))).rejects.toThrow(/posix\.system/);
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses a truncated archive, a corrupted storage and a file that is no zip with TorchArchiveError', async () => {
    const bytes = readFileSync(CKPT);
    for (const fraction of [0.999, 0.5, 0.01]) {
      const cut = join(dir, `cut-${fraction}.ckpt`);
      writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * fraction)));
      await expect(readReferenceCheckpoint(cut)).rejects.toThrow(TorchArchiveError);
    }
    const flipped = Buffer.from(bytes);
    const at = flipped.indexOf('lightning/data/0') + 200; // inside the first storage's data
    flipped[at] ^= 0xff;
    const bad = join(dir, 'flipped.ckpt');
    writeFileSync(bad, flipped);
    // storage 0 is the raw embedding, read with --weights raw (the EMA's storages come later)
    await expect(readReferenceCheckpoint(bad, { weights: 'raw' })).rejects.toThrow(/CRC-32/);
    const text = join(dir, 'text.ckpt');
    writeFileSync(text, 'not a checkpoint');
    await expect(readReferenceCheckpoint(text)).rejects.toThrow(/not a zip/);
  });
});

describe('duality convert: Hugging Face export', () => {
  it('a sharded export (time_conditioning false) gives torch’s logits, sigma ignored', async () => {
    const { d32, d64, config, model } = await convertAndCompare(HF, 'hf');
    expect(d32).toBeLessThan(1e-5);
    expect(d64).toBeLessThan(1e-9);
    expect(config.timeConditioning).toBe(false);
    expect(model.reference.algo).toMatchObject({
      name: 'mdlm',
      parameterization: 'subs',
      time_conditioning: false,
    });
  });

  it('a single model.safetensors folder gives the same weights as the shards', async () => {
    const single = join(dir, 'hf-single');
    mkdirSync(single, { recursive: true });
    copyFileSync(join(HF, 'config.json'), join(single, 'config.json'));
    const tensors = new Map<string, TensorToWrite>();
    for (const shard of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) {
      const reader = await openSafetensorsFile(join(HF, shard));
      for (const [name, t] of await reader.readAll()) tensors.set(name, t);
      await reader.close();
    }
    writeFileSync(join(single, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
    const { d32 } = await convertAndCompare(single, 'hf');
    expect(d32).toBeLessThan(1e-5);
  });

  it('names the key of a bad config.json, and refuses a folder without weights', async () => {
    const bad = join(dir, 'hf-bad');
    mkdirSync(bad, { recursive: true });
    const config = JSON.parse(readFileSync(join(HF, 'config.json'), 'utf8'));
    writeFileSync(join(bad, 'config.json'), JSON.stringify({ ...config, n_heads: 'two' }));
    await expect(readReferenceCheckpoint(bad)).rejects.toThrow(/n_heads = "two"/);
    writeFileSync(join(bad, 'config.json'), JSON.stringify(config));
    await expect(readReferenceCheckpoint(bad)).rejects.toThrow(/without weights/);
  });
});
