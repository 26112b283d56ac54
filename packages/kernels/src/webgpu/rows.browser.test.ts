/**
 * Last-axis reductions and normalisations on WebGPU against the cpu backend (f32; f64 as the exact reference for
 * the softmax family), on random shapes and on one GPT-2-sized row of 50257 logits.
 * Tolerances: a sum of n terms of size ≤ 1 in f32 is within n·2^-23 of the exact sum (tree order); softmax and
 * log-softmax add the exp/log bounds of WGSL (a few ULP), stated per test.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Shape } from '../types';
import { both, closeness, createPair, type Pair, randomF32, randomInts, sizeOf } from './test-utils';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

const RUNS = { numRuns: 12, seed: 777 };
const rowsCase = fc.record({
  outer: fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 2 }),
  n: fc.integer({ min: 1, max: 700 }),
  scale: fc.constantFrom(1, 8, 30),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
});

const f32Input = (shape: Shape, seed: number, scale: number) => ({
  data: randomF32(sizeOf(shape), seed, -scale, scale),
  shape,
  dtype: 'f32' as const,
});

describe('reductions', () => {
  it('sum and max match the cpu backend (max exactly, sum within n·|x|max·2^-22)', async () => {
    await fc.assert(
      fc.asyncProperty(rowsCase, async ({ outer, n, scale, seed }) => {
        const input = f32Input([...outer, n], seed, scale);
        const s = await both(pair, [input], (b, [x]) => b.sum(x));
        const close = closeness(s.gpu, s.cpu, { abs: n * scale * 2 ** -22 });
        expect(close.ok, close.worst).toBe(true);
        const m = await both(pair, [input], (b, [x]) => b.max(x));
        expect(Array.from(m.gpu)).toEqual(Array.from(m.cpu));
      }),
      RUNS,
    );
  });

  it('argmax equals the cpu argmax, first index on ties (f32, i32 and u32 rows full of ties)', async () => {
    await fc.assert(
      fc.asyncProperty(rowsCase, async ({ outer, n, seed }) => {
        const shape = [...outer, n];
        const ints = randomInts(sizeOf(shape), seed, 0, 5);
        for (const dtype of ['f32', 'i32', 'u32'] as const) {
          const r = await both(pair, [{ data: ints, shape, dtype }], (b, [x]) => b.argmax(x));
          expect(Array.from(r.gpu), dtype).toEqual(Array.from(r.cpu));
        }
      }),
      RUNS,
    );
  });
});

describe('softmax family and layerNorm', () => {
  // |logsumexp error| ≤ log of a relative sum error (n·2^-23 + exp's 3 + 2|x| ULP) ⇒ the bounds below.
  it('logsumexp, softmax and logSoftmax match the cpu backend', async () => {
    await fc.assert(
      fc.asyncProperty(rowsCase, async ({ outer, n, scale, seed }) => {
        const input = f32Input([...outer, n], seed, scale);
        const lse = await both(pair, [input], (b, [x]) => b.logsumexp(x));
        let c = closeness(lse.gpu, lse.cpu, { abs: 2e-6 * (1 + scale), rel: 2e-6 });
        expect(c.ok, `logsumexp ${c.worst}`).toBe(true);
        const sm = await both(pair, [input], (b, [x]) => b.softmax(x));
        c = closeness(sm.gpu, sm.cpu, { rel: 1e-5 + 2e-6 * scale, abs: 1e-9 });
        expect(c.ok, `softmax ${c.worst}`).toBe(true);
        const ls = await both(pair, [input], (b, [x]) => b.logSoftmax(x));
        c = closeness(ls.gpu, ls.cpu, { abs: 4e-6 * (1 + scale), rel: 2e-6 });
        expect(c.ok, `logSoftmax ${c.worst}`).toBe(true);
      }),
      RUNS,
    );
  });

  it('softmax of a 50257-wide row (GPT-2 vocabulary) sums to 1 and matches float64 within 2e-5 relative', async () => {
    const n = 50257;
    const x = randomF32(n, 99, -12, 12);
    const g = await pair.gpu.softmax(pair.gpu.tensor(x, [1, n], 'f32')).read();
    const exact = await pair.cpu.softmax(pair.cpu.tensor(Float64Array.from(x), [1, n])).read();
    const c = closeness(g, exact, { rel: 2e-5, abs: 1e-12 });
    expect(c.ok, c.worst).toBe(true);
    const total = Array.from(g).reduce((a, b) => a + b, 0);
    expect(Math.abs(total - 1)).toBeLessThan(1e-4);
    const lse = await pair.gpu.logsumexp(pair.gpu.tensor(x, [n], 'f32')).read();
    const lseExact = await pair.cpu.logsumexp(pair.cpu.tensor(Float64Array.from(x), [n])).read();
    expect(Math.abs(lse[0] - lseExact[0])).toBeLessThan(1e-5 * Math.abs(lseExact[0]) + 1e-5);
  });

  it('many moderate rows (one invocation per row: [2048, 300]) match the cpu backend too', async () => {
    const shape = [2048, 300];
    const input = f32Input(shape, 4242, 8);
    const w = { data: randomF32(300, 7, 0.5, 2), shape: [300] as Shape, dtype: 'f32' as const };
    const ln = await both(pair, [input, w], (b, [x, y]) => b.layerNorm(x, y));
    let c = closeness(ln.gpu, ln.cpu, { abs: 2e-5 * Math.sqrt(300), rel: 2e-5 });
    expect(c.ok, `layerNorm ${c.worst}`).toBe(true);
    const sm = await both(pair, [input], (b, [x]) => b.logSoftmax(x));
    c = closeness(sm.gpu, sm.cpu, { abs: 4e-6 * 9, rel: 2e-6 });
    expect(c.ok, `logSoftmax ${c.worst}`).toBe(true);
    const am = await both(pair, [input], (b, [x]) => b.argmax(x));
    expect(am.gpu).toEqual(am.cpu);
  });

  it('rows of all −∞ give −∞ (logsumexp) and NaN (softmax), like the cpu backend', async () => {
    const inf = Number.NEGATIVE_INFINITY;
    const input = { data: [inf, inf, inf, 0, 1, 2], shape: [2, 3] as Shape, dtype: 'f32' as const };
    const lse = await both(pair, [input], (b, [x]) => b.logsumexp(x));
    expect(lse.gpu[0]).toBe(inf);
    expect(lse.cpu[0]).toBe(inf);
    const sm = await both(pair, [input], (b, [x]) => b.softmax(x));
    expect(Number.isNaN(sm.gpu[0]) && Number.isNaN(sm.cpu[0])).toBe(true);
    const ls = await both(pair, [input], (b, [x]) => b.logSoftmax(x));
    expect(Number.isNaN(ls.gpu[0]) && Number.isNaN(ls.cpu[0])).toBe(true);
  });

  it('masked (−∞) and far-below-max entries get probability exactly 0', async () => {
    const inf = Number.NEGATIVE_INFINITY;
    const input = { data: [inf, 0, -200, -1000], shape: [4] as Shape, dtype: 'f32' as const };
    const sm = await both(pair, [input], (b, [x]) => b.softmax(x));
    expect(Array.from(sm.gpu)).toEqual([0, 1, 0, 0]);
    expect(Array.from(sm.cpu)).toEqual([0, 1, 0, 0]);
  });

  it('layerNorm matches the cpu backend (biased variance, weight only)', async () => {
    await fc.assert(
      fc.asyncProperty(rowsCase, fc.constantFrom(1e-5, 1e-3), async ({ outer, n, scale, seed }, eps) => {
        const shape = [...outer, n];
        const r = await both(
          pair,
          [f32Input(shape, seed, scale), { data: randomF32(n, seed + 9, 0.5, 2), shape: [n], dtype: 'f32' }],
          (b, [x, w]) => b.layerNorm(x, w, eps),
        );
        // normalised values are O(√n) at most; f32 two-pass mean/variance keep ~1e-5 relative accuracy
        const c = closeness(r.gpu, r.cpu, { abs: 2e-5 * Math.sqrt(n), rel: 2e-5 });
        expect(c.ok, c.worst).toBe(true);
      }),
      RUNS,
    );
  });
});
