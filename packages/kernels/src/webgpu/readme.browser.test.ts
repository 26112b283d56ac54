/** The example of src/webgpu/README.md, run as written (plus checks of what it prints). */
import { expect, it } from 'vitest';
import { createBackend, type WebGPUBackend } from '../index';

it('README example: softmax and sampleCategorical on the device, same ids as the cpu backend', async () => {
  const gpu = (await createBackend('webgpu')) as WebGPUBackend;
  const logits = gpu.tensor([2, 1, 0.5, 0, -1, 3], [2, 3], 'f32');
  const probs = gpu.softmax(logits); // stays on the device
  const ids = gpu.sampleCategorical(logits, { seed: 42 }); // the same ids as the cpu backend for seed 42
  const [p, i] = [await probs.read(), await ids.read()]; // read() is the only readback
  for (const t of [logits, probs, ids]) t.dispose();
  gpu.destroy();

  const cpu = await createBackend('cpu');
  const x = cpu.tensor([2, 1, 0.5, 0, -1, 3], [2, 3], 'f32');
  expect(Array.from(i)).toEqual(Array.from(await cpu.sampleCategorical(x, { seed: 42 }).read()));
  const want = await cpu.softmax(x).read();
  for (let k = 0; k < 6; k++) expect(Math.abs(p[k] - want[k])).toBeLessThan(1e-6);
});
