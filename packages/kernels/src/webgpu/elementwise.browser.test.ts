/**
 * WebGPU elementwise ops against the cpu backend on random broadcast shapes. +, −, × of f32 operands are
 * correctly rounded on both sides (the cpu rounds an exact-enough f64 result), so they must match bit for bit;
 * ÷ may differ by WGSL's 2.5 ULP; exp/log/GELU/SiLU by the WGSL accuracy bounds stated at each test.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompareOp, Shape } from '../types';
import { createWebGPUBackend } from './backend';
import { both, closeness, createPair, type Pair, randomF32, randomInts, sizeOf } from './test-utils';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

const RUNS = { numRuns: 12, seed: 20260611 };

/** Two shapes that broadcast: a random output shape, each operand dropping leading axes / setting axes to 1. */
const broadcastPair = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 4 }).chain((out) =>
  fc
    .tuple(
      fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
      fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
      fc.integer({ min: 0, max: out.length }),
      fc.integer({ min: 1, max: 1_000_000 }),
    )
    .map(([ones, onesB, drop, seed]) => ({
      a: out.map((dd, i) => (ones[i] ? 1 : dd)) as Shape,
      b: out.slice(drop).map((dd, i) => (onesB[i + drop] ? 1 : dd)) as Shape,
      seed,
    })),
);

describe('binary ops broadcast like the cpu backend', () => {
  for (const op of ['add', 'sub', 'mul'] as const) {
    it(`${op} f32 is bit-identical`, async () => {
      await fc.assert(
        fc.asyncProperty(broadcastPair, async ({ a, b, seed }) => {
          const r = await both(
            pair,
            [
              { data: randomF32(sizeOf(a), seed, -4, 4), shape: a, dtype: 'f32' },
              { data: randomF32(sizeOf(b), seed + 1, -4, 4), shape: b, dtype: 'f32' },
            ],
            (be, [x, y]) => be[op](x, y),
          );
          expect(Array.from(r.gpu)).toEqual(Array.from(r.cpu));
        }),
        RUNS,
      );
    });
  }

  it('div f32 within 3 ULP (WGSL division is 2.5 ULP)', async () => {
    await fc.assert(
      fc.asyncProperty(broadcastPair, async ({ a, b, seed }) => {
        const r = await both(
          pair,
          [
            { data: randomF32(sizeOf(a), seed, -4, 4), shape: a, dtype: 'f32' },
            { data: randomF32(sizeOf(b), seed + 1, 0.5, 4), shape: b, dtype: 'f32' },
          ],
          (be, [x, y]) => be.div(x, y),
        );
        const c = closeness(r.gpu, r.cpu, { rel: 3 * 2 ** -23 });
        expect(c.ok, c.worst).toBe(true);
      }),
      RUNS,
    );
  });

  it('i32 add/sub/mul are exact', async () => {
    await fc.assert(
      fc.asyncProperty(broadcastPair, async ({ a, b, seed }) => {
        for (const op of ['add', 'sub', 'mul'] as const) {
          const r = await both(
            pair,
            [
              { data: randomInts(sizeOf(a), seed, -1000, 1000), shape: a, dtype: 'i32' },
              { data: randomInts(sizeOf(b), seed + 1, -1000, 1000), shape: b, dtype: 'i32' },
            ],
            (be, [x, y]) => be[op](x, y),
          );
          expect(Array.from(r.gpu)).toEqual(Array.from(r.cpu));
        }
      }),
      { ...RUNS, numRuns: 6 },
    );
  });

  it('compare and where follow the cpu backend (all six comparisons, broadcasting over three operands)', async () => {
    await fc.assert(
      fc.asyncProperty(broadcastPair, async ({ a, b, seed }) => {
        const x = randomInts(sizeOf(a), seed, -3, 3);
        const y = randomInts(sizeOf(b), seed + 1, -3, 3);
        for (const cmp of ['lt', 'le', 'gt', 'ge', 'eq', 'ne'] as CompareOp[]) {
          const r = await both(
            pair,
            [
              { data: x, shape: a, dtype: 'f32' },
              { data: y, shape: b, dtype: 'f32' },
            ],
            (be, [p, q]) => be.compare(p, q, cmp),
          );
          expect(Array.from(r.gpu), cmp).toEqual(Array.from(r.cpu));
        }
        const w = await both(
          pair,
          [
            { data: randomInts(sizeOf(a), seed + 2, 0, 2), shape: a, dtype: 'i32' },
            { data: randomF32(sizeOf(b), seed + 3), shape: b, dtype: 'f32' },
            { data: randomF32(sizeOf(a), seed + 4), shape: a, dtype: 'f32' },
          ],
          (be, [c, p, q]) => be.where(c, p, q),
        );
        expect(Array.from(w.gpu)).toEqual(Array.from(w.cpu));
      }),
      { ...RUNS, numRuns: 8 },
    );
  });
});

describe('unary float maps', () => {
  const shapes = fc.tuple(
    fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 3 }),
    fc.integer({ min: 1, max: 1_000_000 }),
  );

  it('scale is a·s + shift rounded like the cpu (within 1 ULP: the GPU may fuse it into one FMA)', async () => {
    await fc.assert(
      fc.asyncProperty(shapes, fc.double({ min: -3, max: 3, noNaN: true }), async ([shape, seed], s) => {
        const r = await both(
          pair,
          [{ data: randomF32(sizeOf(shape), seed), shape, dtype: 'f32' }],
          (be, [x]) => be.scale(x, s, 0.25),
        );
        const c = closeness(r.gpu, r.cpu, { rel: 2 ** -23, abs: 2 ** -24 });
        expect(c.ok, c.worst).toBe(true);
      }),
      RUNS,
    );
  });

  // WGSL: exp within 3 + 2|x| ULP; log within 3 ULP off [0.5, 2] and 2^-21 absolute on it; tanh (GELU) and the
  // exp in SiLU inherit those bounds. Inputs in [−8, 8].
  const cases = [
    { op: 'exp', lo: -8, hi: 8, tol: { rel: 20 * 2 ** -23 } },
    { op: 'log', lo: 0.01, hi: 8, tol: { rel: 4 * 2 ** -23, abs: 2 ** -20 } },
    { op: 'geluTanh', lo: -8, hi: 8, tol: { rel: 1e-5, abs: 1e-5 } },
    { op: 'silu', lo: -8, hi: 8, tol: { rel: 1e-5, abs: 1e-6 } },
  ] as const;
  for (const { op, lo, hi, tol } of cases) {
    it(`${op} matches the cpu within ${JSON.stringify(tol)}`, async () => {
      await fc.assert(
        fc.asyncProperty(shapes, async ([shape, seed]) => {
          const r = await both(
            pair,
            [{ data: randomF32(sizeOf(shape), seed, lo, hi), shape, dtype: 'f32' }],
            (be, [x]) => be[op](x),
          );
          const c = closeness(r.gpu, r.cpu, tol);
          expect(c.ok, c.worst).toBe(true);
        }),
        RUNS,
      );
    });
  }
});

describe('special values', () => {
  it('exp/log at 0, ±∞ and negative inputs match the cpu backend (log 0 = −∞, log −1 = NaN)', async () => {
    const inf = Number.POSITIVE_INFINITY;
    const input = { data: [0, -1, 1, inf, -inf, -200], shape: [6] as Shape, dtype: 'f32' as const };
    const l = await both(pair, [input], (b, [x]) => b.log(x));
    expect(Array.from(l.gpu)).toEqual(Array.from(l.cpu));
    const e = await both(pair, [input], (b, [x]) => b.exp(x));
    const c = closeness(e.gpu, e.cpu, { rel: 4 * 2 ** -23 });
    expect(c.ok, c.worst).toBe(true);
    expect([e.gpu[0], e.gpu[3], e.gpu[4], e.gpu[5]]).toEqual([1, inf, 0, 0]);
  });
});

describe('creation, cast and reshape', () => {
  it('tensor/zeros/full/cast round-trip like the cpu backend', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 0, maxLength: 3 }),
        fc.integer({ min: -100, max: 100 }),
        async (shape, value) => {
          for (const dtype of ['f32', 'i32', 'u32'] as const) {
            const v = dtype === 'u32' ? Math.abs(value) : dtype === 'f32' ? value / 8 : value;
            const g = await pair.gpu.full(shape, v, dtype).read();
            const c = await pair.cpu.full(shape, v, dtype).read();
            expect(Array.from(g)).toEqual(Array.from(c));
            const z = await pair.gpu.zeros(shape, dtype).read();
            expect(Array.from(z)).toEqual(new Array(sizeOf(shape)).fill(0));
          }
          const data = randomF32(sizeOf(shape), value + 500, -50, 50);
          for (const to of ['i32', 'u32', 'f32'] as const) {
            const src = to === 'u32' ? data.map(Math.abs) : data;
            const r = await both(pair, [{ data: src, shape, dtype: 'f32' }], (be, [x]) => be.cast(x, to));
            expect(Array.from(r.gpu), to).toEqual(Array.from(r.cpu));
          }
        },
      ),
      RUNS,
    );
  });

  it('float → integer casts truncate and wrap like the cpu backend over (−2^31, 2^32)', async () => {
    const x = Float32Array.from([
      -2147483520, -3.7, -0.5, 0, 2.9, 2147483520, 2147483648, 4294967040, 123456.5,
    ]);
    for (const to of ['i32', 'u32'] as const) {
      const r = await both(pair, [{ data: x, shape: [x.length], dtype: 'f32' }], (b, [t]) => b.cast(t, to));
      expect(r.gpu, to).toEqual(r.cpu);
    }
    const ints = Int32Array.from([-5, -1, 0, 7, 2147483647]);
    const u = await both(pair, [{ data: ints, shape: [5], dtype: 'i32' }], (b, [t]) => b.cast(t, 'u32'));
    expect(u.gpu).toEqual(u.cpu);
  });

  it('reshape keeps the data and order for any factorisation (−1 inferred), like the cpu backend', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 3 }),
        async (dims, at) => {
          const size = sizeOf(dims);
          const target = [...dims].reverse();
          target[at % target.length] = -1;
          const r = await both(pair, [{ data: randomF32(size, size), shape: dims, dtype: 'f32' }], (b, [x]) =>
            b.add(b.reshape(x, target), b.zeros([1], 'f32')),
          );
          expect(r.shape).toEqual([...dims].reverse());
          expect(r.gpu).toEqual(r.cpu);
        },
      ),
      RUNS,
    );
  });

  it('reshape aliases the buffer: the view outlives the disposed original', async () => {
    const x = pair.gpu.tensor([1, 2, 3, 4, 5, 6], [2, 3], 'f32');
    const y = pair.gpu.reshape(x, [3, -1]);
    expect(y.shape).toEqual([3, 2]);
    x.dispose();
    expect(Array.from(await y.read())).toEqual([1, 2, 3, 4, 5, 6]);
    const z = pair.gpu.add(y, y);
    expect(Array.from(await z.read())).toEqual([2, 4, 6, 8, 10, 12]);
  });

  it('runs a real dispatch of 65 537 workgroups (fill and a short-row sum over 4 194 368 rows)', async () => {
    const rows = 65_536 * 64 + 64; // 64 rows per workgroup in both kernels → 65 537 workgroups each
    const x = pair.gpu.full([rows, 1], 2, 'f32');
    const s = await pair.gpu.sum(x).read();
    x.dispose();
    expect(s.length).toBe(rows);
    let wrong = 0;
    for (let i = 0; i < rows; i++) if (s[i] !== 2) wrong++;
    expect(wrong).toBe(0);
  });

  it('splits dispatches beyond the per-dimension workgroup limit into 2-D grids (limit lowered to 7)', async () => {
    // The real limit is 65535; a 65536-workgroup run takes tens of seconds on SwiftShader, so the same code path
    // is exercised with the split threshold lowered: every kernel recombines (x, y) into one workgroup index.
    const small = await createWebGPUBackend({ device: pair.gpu.device }, { maxWorkgroupsPerDimension: 7 });
    const ref = { gpu: small, cpu: pair.cpu };
    const rows = 101;
    const x = randomF32(rows * 3, 5, -9, 9);
    const w = randomF32(40 * 50, 6);
    const checks = [
      both(ref, [{ data: x, shape: [rows, 3], dtype: 'f32' }], (b, [t]) => b.sum(t)),
      both(ref, [{ data: x, shape: [rows, 3], dtype: 'f32' }], (b, [t]) => b.argmax(t)),
      both(
        ref,
        [
          { data: x, shape: [rows, 3], dtype: 'f32' },
          { data: [1, 2, 3], shape: [3], dtype: 'f32' },
        ],
        (b, [t, u]) => b.add(t, u),
      ),
      both(
        ref,
        [
          { data: w, shape: [40, 50], dtype: 'f32' },
          { data: w, shape: [50, 40], dtype: 'f32' },
        ],
        (b, [p, q]) => b.matmul(p, q),
      ),
    ];
    for (const r of await Promise.all(checks)) {
      const c = closeness(r.gpu, r.cpu, { abs: 1e-4, rel: 1e-5 });
      expect(c.ok, c.worst).toBe(true);
    }
    small.destroy();
  });
});
