import { expect, test } from 'vitest';
import { createPair, randomF32 } from './test-utils';

test('timing', async () => {
  const { gpu } = await createPair();
  const time = async (name: string, f: () => import('../types').Tensor) => {
    await f().read();
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) await f().read();
    console.log(name, ((performance.now() - t0) / 3).toFixed(1), 'ms');
  };
  const x = gpu.tensor(randomF32(4096 * 768, 1), [4096, 768], 'f32');
  const w = gpu.tensor(randomF32(768, 2), [768], 'f32');
  const y = gpu.tensor(randomF32(1024 * 1024, 1), [1024, 1024], 'f32');
  const wt = gpu.tensor(randomF32(768 * 768, 1), [768, 768], 'f32');
  await time('layerNorm 4096x768', () => gpu.layerNorm(x, w));
  await time('softmax 1024x1024', () => gpu.softmax(y));
  await time('matmul 4096x768 x 768x768^T', () => gpu.matmul(x, wt, { transposeB: true }));
  await time('gelu 4096x768', () => gpu.geluTanh(x));
  expect(1).toBe(1);
});
