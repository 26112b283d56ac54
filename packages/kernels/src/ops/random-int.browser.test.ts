/** randint on webgpu is bit-identical to the cpu backend (exact integer Philox and multiply-high on both). */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPair, type Pair } from '../webgpu/test-utils';
import { arbShape } from './op-test-utils';
import { randint } from './random-int';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

describe('randint: webgpu = cpu', () => {
  it('on random shapes, ranges, bigint seeds and offsets (unaligned, past 2³²)', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbShape(0, 3, 40),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 2 ** 32 - 1 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.oneof(fc.nat(100), fc.integer({ min: 2 ** 32 - 50, max: 2 ** 32 + 50 }), fc.nat(2 ** 50)),
        async (shape, low, n, seed, offset) => {
          const high = Math.min(2 ** 31, low + n);
          const g = randint(pair.gpu, shape, low, high, { seed, offset });
          const c = randint(pair.cpu, shape, low, high, { seed, offset });
          expect(Array.from(await g.read())).toEqual(Array.from(await c.read()));
          g.dispose();
          c.dispose();
        },
      ),
      { numRuns: 25, seed: 20260623 },
    );
  });

  it('a large request (2¹⁸ elements) matches', async () => {
    const g = randint(pair.gpu, [512, 512], 0, 50257, { seed: 9, offset: 3 });
    const c = randint(pair.cpu, [512, 512], 0, 50257, { seed: 9, offset: 3 });
    expect(Array.from(await g.read())).toEqual(Array.from(await c.read()));
  });
});
