/** The README's example, run as written (with a temporary path). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackend } from '@duality/kernels';
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
