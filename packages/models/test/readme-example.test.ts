/** The README's example, run as written (with a temporary path). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackend, tidy, valueAndGrad } from '@duality/kernels';
import { expect, it } from 'vitest';
import { brown8, DiT, DiTDenoiser, initStateDict, loadDiT, saveDiT, TINY_CONFIG } from '../src/index';

it('the README example runs and its checkpoint loads back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'duality-readme-'));
  const backend = await createBackend('cpu');
  const model = await DiT.fromStateDict(backend, TINY_CONFIG, initStateDict(TINY_CONFIG, { seed: 0 }));
  const ids = brown8.encode(brown8.normalize('The jury said it did find that many of the voters'));
  const tokens = backend.tensor(ids, [1, ids.length], 'i32');
  const logits = await model.forward({ tokens }, [1.2]);
  expect(logits.shape).toEqual([1, ids.length, 27]);
  const denoiser = new DiTDenoiser(model);
  const logp = await (await denoiser.predict(tokens, [1.2])).read();
  // the reference initialisation zeroes the output layer: uniform predictions
  expect(Math.max(...Array.from(logp, (x) => Math.abs(x + Math.log(27))))).toBeLessThan(1e-6);
  await saveDiT(model, join(dir, 'tiny.safetensors'));
  const back = await loadDiT(backend, join(dir, 'tiny.safetensors'));
  expect(back.config).toEqual(TINY_CONFIG);
  model.dispose();
  back.dispose();
  backend.destroy();
  rmSync(dir, { recursive: true, force: true });
});

it('the README gradient example runs: a loss and a gradient per reference name, of the reference shape', async () => {
  const backend = await createBackend('cpu');
  const state = initStateDict(TINY_CONFIG, { seed: 0, scheme: 'normal' });
  const model = await DiT.fromStateDict(backend, TINY_CONFIG, state);
  const tokens = backend.tensor([7, 4, 11, 11, 14, 26, 22, 14], [1, 8], 'i32');
  const lossOf = valueAndGrad(async (params: ReturnType<DiT['parameters']>) => {
    const logits = await model.forward({ tokens }, [1.2], { train: { seed: 1, p: 0.1 }, parameters: params });
    // −mean log p(x0 = tokens): the reconstruction cross-entropy
    return tidy(() =>
      backend.scale(backend.sum(backend.sum(backend.gatherLast(backend.logSoftmax(logits), tokens))), -1 / 8),
    );
  });
  const { value, grads } = await lossOf(model.parameters());
  // random N(0, 0.02²) weights: close to the uniform cross-entropy log 27
  expect(Math.abs((await value.read())[0] - Math.log(27))).toBeLessThan(0.1);
  expect(grads['blocks.0.attn_qkv.weight'].shape).toEqual([768, 256]);
  expect(Object.keys(grads)).toEqual(Object.keys(model.parameters()));
  const g = await grads['output_layer.linear.bias'].read();
  expect(Math.max(...Array.from(g, Math.abs))).toBeGreaterThan(1e-3);
  model.dispose();
  backend.destroy();
});
