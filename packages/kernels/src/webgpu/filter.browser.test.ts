/**
 * topK and topP on WebGPU against the cpu backend. topK is exact (radix select on the f32 bit patterns, exactly k
 * kept, ties toward the lower index). topP decides membership from float sums: the GPU sums in f32, the cpu in
 * f64, so a row may differ only when the cpu's cumulative mass at the cut is within 1e-5 of p (checked).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { both, createPair, type Pair, randomF32, randomInts } from './test-utils';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

const rowsCase = fc.record({
  rows: fc.integer({ min: 1, max: 6 }),
  n: fc.integer({ min: 1, max: 600 }),
  ties: fc.boolean(),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
});

/** Row data: continuous values, or small integers (many ties), with a few −∞ entries. */
function logits(rows: number, n: number, ties: boolean, seed: number): Float32Array {
  const x = ties ? Float32Array.from(randomInts(rows * n, seed, -3, 3)) : randomF32(rows * n, seed, -5, 5);
  const masked = randomInts(rows * n, seed + 7, 0, 10);
  for (let i = 0; i < x.length; i++) if (masked[i] === 0) x[i] = Number.NEGATIVE_INFINITY;
  return x;
}

describe('topK', () => {
  it('keeps exactly the cpu backend’s entries (ties toward the lower index)', async () => {
    await fc.assert(
      fc.asyncProperty(rowsCase, fc.integer({ min: 1, max: 600 }), async ({ rows, n, ties, seed }, kRaw) => {
        const k = 1 + (kRaw % n);
        const r = await both(
          pair,
          [{ data: logits(rows, n, ties, seed), shape: [rows, n], dtype: 'f32' }],
          (b, [x]) => b.topK(x, k),
        );
        expect(Array.from(r.gpu)).toEqual(Array.from(r.cpu));
      }),
      { numRuns: 25, seed: 8080 },
    );
  });

  it('works on a 50257-wide row', async () => {
    const x = logits(2, 50257, false, 3);
    const r = await both(pair, [{ data: x, shape: [2, 50257], dtype: 'f32' }], (b, [t]) => b.topK(t, 50));
    expect(Array.from(r.gpu)).toEqual(Array.from(r.cpu));
    expect(r.gpu.filter((v) => v > Number.NEGATIVE_INFINITY).length).toBe(100);
  });
});

/** The cpu's cumulative softmax mass (f64) of a row's descending prefixes, to judge boundary cases. */
function prefixMasses(row: Float32Array): number[] {
  const order = Array.from(row.keys()).sort((i, j) => row[j] - row[i] || i - j);
  const m = row[order[0]];
  const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
  let mass = 0;
  return order.map((i) => {
    mass += Math.exp(row[i] - m) / z;
    return mass;
  });
}

describe('topP', () => {
  it('keeps the cpu backend’s nucleus, except when the cut mass is within 1e-5 of p', async () => {
    let differing = 0;
    await fc.assert(
      fc.asyncProperty(
        rowsCase,
        fc.double({ min: 0.05, max: 1, noNaN: true }),
        async ({ rows, n, ties, seed }, p) => {
          const x = logits(rows, n, ties, seed);
          const r = await both(pair, [{ data: x, shape: [rows, n], dtype: 'f32' }], (b, [t]) => b.topP(t, p));
          for (let row = 0; row < rows; row++) {
            const g = r.gpu.slice(row * n, (row + 1) * n);
            const c = r.cpu.slice(row * n, (row + 1) * n);
            if (g.every((v, i) => Object.is(v, c[i]))) continue;
            differing++;
            const masses = prefixMasses(x.subarray(row * n, (row + 1) * n));
            const keptG = g.filter((v) => v > Number.NEGATIVE_INFINITY).length;
            const keptC = c.filter((v) => v > Number.NEGATIVE_INFINITY).length;
            const cut = masses[Math.min(keptG, keptC) - 1];
            expect(Math.abs(cut - p), `row ${row}: gpu keeps ${keptG}, cpu ${keptC}`).toBeLessThan(1e-5);
          }
        },
      ),
      { numRuns: 30, seed: 1234 },
    );
    expect(differing).toBeLessThanOrEqual(3);
  });

  it('p = 1 keeps every finite entry; a tiny p keeps only the top entry', async () => {
    const x = Float32Array.from([0.5, 2, -1, 2, Number.NEGATIVE_INFINITY]);
    const all = await pair.gpu.topP(pair.gpu.tensor(x, [5], 'f32'), 1).read();
    expect(Array.from(all)).toEqual(Array.from(x));
    const top = await pair.gpu.topP(pair.gpu.tensor(x, [5], 'f32'), 1e-6).read();
    const inf = Number.NEGATIVE_INFINITY;
    expect(Array.from(top)).toEqual([inf, 2, inf, inf, inf]);
  });
});
