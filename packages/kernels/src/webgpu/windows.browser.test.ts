/**
 * Ops on tensors bigger than one storage binding run window by window (see windows.ts). A second
 * backend on the same device gets a tiny artificial binding limit (`maxBindingBytes`), so small tensors exercise
 * the windows quickly; its results must equal the unwindowed backend's bit for bit (same kernels, same row layout,
 * same stream positions), and the windowed runs must really submit more work than the whole ones.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError } from '../errors';
import type { Backend, Shape, Tensor, TypedArray, WebGPUBackend } from '../types';
import { createWebGPUBackend } from './backend';
import { bitsOf, createPair, type Pair, randomF32, randomInts, sizeOf } from './test-utils';

let pair: Pair;
let windowed: WebGPUBackend;
/** Small enough that every input below spans several windows; one row of n ≤ 300 f32 still fits. */
const LIMIT = 1200;
beforeAll(async () => {
  pair = await createPair();
  windowed = await createWebGPUBackend({ device: pair.gpu.device }, { maxBindingBytes: LIMIT });
});
afterAll(() => {
  windowed.destroy();
  pair.gpu.destroy();
});

interface Input {
  data: ArrayLike<number>;
  shape: Shape;
  dtype: 'f32' | 'i32' | 'u32';
}

/** Runs `op` on a backend, counting queue submissions, and returns the output's values. */
async function runOn(b: Backend, inputs: Input[], op: (b: Backend, xs: Tensor[]) => Tensor) {
  const xs = inputs.map((x) => b.tensor(x.data, x.shape, x.dtype));
  if (b.name !== 'webgpu') return { data: await readAll(op(b, xs), xs), submits: 0 };
  const queue = (b as WebGPUBackend).device.queue;
  const submit = queue.submit;
  let submits = 0;
  queue.submit = (buffers) => {
    submits++;
    submit.call(queue, buffers);
  };
  let out: Tensor;
  try {
    out = op(b, xs);
  } finally {
    queue.submit = submit;
  }
  return { data: await readAll(out, xs), submits };
}

async function readAll(out: Tensor, xs: Tensor[]): Promise<number[]> {
  const data = Array.from((await out.read()) as TypedArray);
  out.dispose();
  for (const x of xs) x.dispose();
  return data;
}

/** The windowed backend gives the same bits as the whole-binding one, through more submissions. */
async function expectSameAsWhole(inputs: Input[], op: (b: Backend, xs: Tensor[]) => Tensor) {
  const whole = await runOn(pair.gpu, inputs, op);
  const parts = await runOn(windowed, inputs, op);
  expect(bitsOf(parts.data)).toEqual(bitsOf(whole.data));
  expect(parts.submits).toBeGreaterThan(whole.submits);
  return whole.data;
}

const f32 = (shape: Shape, seed: number, scale = 4): Input => ({
  data: randomF32(sizeOf(shape), seed, -scale, scale),
  shape,
  dtype: 'f32',
});

const RUNS = { numRuns: 4, seed: 2026 };
const rowsCase = fc.record({
  rows: fc.integer({ min: 2, max: 9 }),
  // up to 300: rows of both layouts ('thread' for short rows, 'group' above 256)
  n: fc.constantFrom(17, 64, 257, 300),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
});

describe('row ops over windows of whole rows', () => {
  it('softmax, logSoftmax, logsumexp, sum, max, argmax equal the whole-binding results', async () => {
    await fc.assert(
      fc.asyncProperty(rowsCase, async ({ rows, n, seed }) => {
        const x = [f32([rows, n], seed)];
        await expectSameAsWhole(x, (b, [t]) => b.softmax(t));
        await expectSameAsWhole(x, (b, [t]) => b.logSoftmax(t));
        await expectSameAsWhole(x, (b, [t]) => b.logsumexp(t));
        await expectSameAsWhole(x, (b, [t]) => b.sum(t));
        await expectSameAsWhole(x, (b, [t]) => b.max(t));
        await expectSameAsWhole(x, (b, [t]) => b.argmax(t));
      }),
      RUNS,
    );
  });

  it('layerNorm, topK and topP equal the whole-binding results', async () => {
    await fc.assert(
      fc.asyncProperty(rowsCase, async ({ rows, n, seed }) => {
        const x = f32([rows, n], seed);
        const w = f32([n], seed + 1, 1);
        await expectSameAsWhole([x, w], (b, [t, tw]) => b.layerNorm(t, tw));
        await expectSameAsWhole([x], (b, [t]) => b.topK(t, Math.min(5, n)));
        await expectSameAsWhole([x], (b, [t]) => b.topP(t, 0.7));
      }),
      RUNS,
    );
  });

  it('sampleCategorical keeps each row on stream positions offset + r·n, matching the cpu ids', async () => {
    const shape = [3, 4, 64];
    const x = f32(shape, 99);
    const options = { seed: 1234, offset: 777 };
    const ids = await expectSameAsWhole([x], (b, [t]) => b.sampleCategorical(t, options));
    const cpu = await runOn(pair.cpu, [x], (b, [t]) => b.sampleCategorical(t, options));
    expect(ids).toEqual(cpu.data);
  });
});

/** The error `op` throws (cpu) or its read() rejects with (webgpu: device faults surface at read). */
async function errorOf(b: Backend, x: Input, op: (b: Backend, t: Tensor) => Tensor): Promise<unknown> {
  const t = b.tensor(x.data, x.shape, x.dtype);
  try {
    const out = op(b, t);
    await out.read();
    out.dispose();
  } catch (error) {
    return error;
  } finally {
    t.dispose();
  }
  return undefined;
}

describe('device faults inside a window name rows of the whole tensor', () => {
  // [12, 64] f32 rows: 4 rows per 1200-byte window, so row 9 is row 1 of the third window
  const rows = 12;
  const n = 64;
  const withRow = (row: number, fill: (values: Float32Array, start: number) => void): Input => {
    const x = f32([rows, n], 71);
    const values = Float32Array.from(x.data);
    fill(values, row * n);
    return { ...x, data: values };
  };
  const ops: Array<[string, (b: Backend, t: Tensor) => Tensor]> = [
    ['topK', (b, t) => b.topK(t, 3)],
    ['topP', (b, t) => b.topP(t, 0.9)],
    ['sampleCategorical', (b, t) => b.sampleCategorical(t, { seed: 5 })],
  ];

  it.each(ops)('a NaN logit in row 9: %s names row 9, as the cpu does', async (name, op) => {
    const x = withRow(9, (v, start) => {
      v[start + 5] = Number.NaN;
    });
    const cpu = await errorOf(pair.cpu, x, op);
    const gpu = await errorOf(windowed, x, op);
    expect((cpu as Error).message).toBe(
      `${name}: got NaN logit at row 9, index 5, expected logits without NaN`,
    );
    expect(gpu).toBeInstanceOf(ArgumentError);
    expect((gpu as Error).message).toBe((cpu as Error).message);
  });

  it.each(ops.slice(1))('a row of all −∞ in row 10: %s names row 10, as the cpu does', async (name, op) => {
    const x = withRow(10, (v, start) => {
      v.fill(Number.NEGATIVE_INFINITY, start, start + n);
    });
    const cpu = await errorOf(pair.cpu, x, op);
    const gpu = await errorOf(windowed, x, op);
    expect((cpu as Error).message).toContain(`${name}: got a row of all −∞ logits (row 10)`);
    expect(gpu).toBeInstanceOf(ArgumentError);
    expect((gpu as Error).message).toBe((cpu as Error).message);
  });
});

describe('elementwise ops over windows of elements or rows', () => {
  it('scale, exp and log equal the whole-binding results', async () => {
    const x = f32([7, 100], 5);
    await expectSameAsWhole([x], (b, [t]) => b.scale(t, 0.37, -1.5));
    await expectSameAsWhole([x], (b, [t]) => b.exp(t));
    await expectSameAsWhole([f32([1000], 6, 3)], (b, [t]) => b.log(b.exp(t)));
  });

  it('binary ops, compare and where with same-shape, last-axis and one-element operands', async () => {
    const shape = [5, 3, 40];
    const a = f32(shape, 11);
    const b = f32(shape, 12);
    const row = f32([40], 13);
    const one = f32([1], 14);
    await expectSameAsWhole([a, b], (k, [x, y]) => k.add(x, y));
    await expectSameAsWhole([a, row], (k, [x, y]) => k.sub(x, y));
    await expectSameAsWhole([row, a], (k, [x, y]) => k.mul(x, y));
    await expectSameAsWhole([a, one], (k, [x, y]) => k.div(x, y));
    await expectSameAsWhole([a, row], (k, [x, y]) => k.compare(x, y, 'lt'));
    const cond: Input = { data: randomInts(sizeOf(shape), 15, 0, 2), shape, dtype: 'i32' };
    await expectSameAsWhole([cond, a, row], (k, [c, x, y]) => k.where(c, x, y));
  });

  it('an operand varying along a leading axis is outside the window scheme: bound whole, still correct', async () => {
    const a = f32([12, 40], 21);
    const col = f32([12, 1], 22);
    const whole = await runOn(pair.gpu, [a, col], (k, [x, y]) => k.add(x, y));
    const parts = await runOn(windowed, [a, col], (k, [x, y]) => k.add(x, y));
    expect(bitsOf(parts.data)).toEqual(bitsOf(whole.data));
  });
});

describe('embedding and output-head matmul with a weight bigger than one binding', () => {
  it('embedding over vocab windows equals the whole-binding gather (i32 and u32 ids)', async () => {
    const table = f32([50, 16], 31);
    for (const dtype of ['i32', 'u32'] as const) {
      const ids: Input = { data: randomInts(2 * 9, 32, 0, 50), shape: [2, 9], dtype };
      await expectSameAsWhole([table, ids], (k, [t, i]) => k.embedding(t, i));
    }
  });

  it('an id outside the vocabulary still gives IndexOutOfRangeError through the windows', async () => {
    const table = windowed.tensor(randomF32(50 * 16, 33), [50, 16], 'f32');
    const ids = windowed.tensor([3, 50, 7], [3], 'i32');
    const out = windowed.embedding(table, ids);
    await expect(out.read()).rejects.toThrow(/embedding.*id 50.*ids in \[0, 50\)/s);
    for (const t of [table, ids, out]) t.dispose();
  });

  it('x·Wᵀ (+ bias) over windows of W rows, and a big A over windows of its rows, equal the whole-binding matmul', async () => {
    const x = f32([2, 3, 8], 41, 1);
    const w = f32([70, 8], 42, 1);
    const bias = f32([70], 43, 1);
    await expectSameAsWhole([x, w], (k, [a, b]) => k.matmul(a, b, { transposeB: true }));
    await expectSameAsWhole([x, w, bias], (k, [a, b, c]) => k.matmul(a, b, { transposeB: true, bias: c }));
    const xt = f32([8, 5], 44, 1);
    const big = f32([3, 20, 8], 45, 1);
    const small = f32([8, 6], 46, 1);
    await expectSameAsWhole([big, small], (k, [a, b]) => k.matmul(a, b));
    const smallT = f32([6, 8], 47, 1);
    const smallBias = f32([6], 48, 1);
    await expectSameAsWhole([big, smallT, smallBias], (k, [a, b, c]) =>
      k.matmul(a, b, { transposeB: true, bias: c }),
    );
    await expectSameAsWhole([xt, w], (k, [a, b]) => k.matmul(a, b, { transposeA: true, transposeB: true }));
  });
});

describe('casts, streams, gathers and scatters over windows', () => {
  const ints = (shape: Shape, seed: number, hi: number, dtype: 'i32' | 'u32' = 'i32'): Input => ({
    data: randomInts(sizeOf(shape), seed, 0, hi),
    shape,
    dtype,
  });

  it('cast (f32 → i32, i32 → f32, u32 → i32) over element windows', async () => {
    const x = f32([7, 100], 51, 1000);
    await expectSameAsWhole([x], (b, [t]) => b.cast(t, 'i32'));
    await expectSameAsWhole([ints([7, 100], 52, 5000)], (b, [t]) => b.cast(t, 'f32'));
    await expectSameAsWhole([ints([7, 100], 53, 5000, 'u32')], (b, [t]) => b.cast(t, 'i32'));
  });

  it('uniform, normal and the raw words over element windows keep every element at its stream position', async () => {
    const stream = { seed: 77, offset: 3 };
    const words = (b: Backend) => b as WebGPUBackend & { uniformWords(s: Shape, r: typeof stream): Tensor };
    const ones = f32([1], 1);
    const uniform = await expectSameAsWhole([ones], (b) => b.uniform([1001], stream));
    await expectSameAsWhole([ones], (b) => b.normal([4, 250], stream));
    await expectSameAsWhole([ones], (b) => words(b).uniformWords([999], stream));
    const cpu = await runOn(pair.cpu, [ones], (b) => b.uniform([1001], stream));
    expect(bitsOf(uniform)).toEqual(bitsOf(cpu.data));
  });

  it('embedding over windows of ids (the table fits), embeddingBag over windows of bags', async () => {
    const table = f32([20, 8], 61);
    await expectSameAsWhole([table, ints([2, 60], 62, 20)], (k, [t, i]) => k.embedding(t, i));
    const weights = f32([50, 3], 63, 1);
    await expectSameAsWhole([table, ints([50, 3], 64, 20, 'u32'), weights], (k, [t, i, w]) =>
      k.embeddingBag(t, i, w),
    );
  });

  it('gatherLast over windows of rows, oneHot over windows of ids', async () => {
    await expectSameAsWhole([f32([40, 17], 65), ints([40], 66, 17)], (k, [x, i]) => k.gatherLast(x, i));
    await expectSameAsWhole([ints([100], 67, 10)], (k, [i]) => k.oneHot(i, 10, 'f32'));
  });

  it('scatterAdd over windows of columns accumulates repeated indices in order', async () => {
    const indices: Input = { data: [3, 0, 3, 29, 7, 3, 0, 12, 12, 5, 3, 28], shape: [12], dtype: 'i32' };
    const sums = await expectSameAsWhole([f32([30, 20], 68), indices, f32([12, 20], 69)], (k, [t, i, x]) =>
      k.scatterAdd(t, i, x),
    );
    const cpu = await runOn(pair.cpu, [f32([30, 20], 68), indices, f32([12, 20], 69)], (k, [t, i, x]) =>
      k.scatterAdd(t, i, x),
    );
    cpu.data.forEach((want, i) => {
      expect(Math.abs(sums[i] - want)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want)));
    });
  });

  it('an id outside its range still gives IndexOutOfRangeError through windows of ids', async () => {
    const table = windowed.tensor(randomF32(20 * 8, 70), [20, 8], 'f32');
    const ids = windowed.tensor(
      Int32Array.from({ length: 60 }, (_, i) => (i === 41 ? 20 : i % 20)),
      [60],
      'i32',
    );
    const out = windowed.embedding(table, ids);
    await expect(out.read()).rejects.toThrow(/embedding.*id 20.*ids in \[0, 20\)/s);
    for (const t of [table, ids, out]) t.dispose();
  });
});
