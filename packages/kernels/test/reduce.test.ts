import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../src/types';
import { arbTensorData, bothDtypes, cpu, data, expectClose, FC, make, rows } from './helpers';

const arbRows = (range = 10) => arbTensorData(3, 6, range, 1);

/** Naive row references on plain arrays. */
const naive = {
  sum: (r: number[]) => r.reduce((a, b) => a + b, 0),
  max: (r: number[]) => Math.max(...r),
  logsumexp: (r: number[]) => {
    const m = Math.max(...r);
    return m + Math.log(r.reduce((a, x) => a + Math.exp(x - m), 0));
  },
};

const REDUCTIONS: Array<[keyof typeof naive, (a: Tensor) => Tensor]> = [
  ['sum', (a) => cpu.sum(a)],
  ['max', (a) => cpu.max(a)],
  ['logsumexp', (a) => cpu.logsumexp(a)],
];

describe('last-axis reductions', () => {
  for (const [name, op] of REDUCTIONS) {
    it(`${name}: drops the last axis; f64 equals the naive row loop; f32 within 1e-5 of f64`, () => {
      fc.assert(
        fc.property(arbRows(), ({ shape, values }) => {
          const { r64, r32, shape: out } = bothDtypes([{ values, shape }], op);
          expect(out).toEqual(shape.slice(0, -1));
          const n = shape[shape.length - 1];
          expectClose(r64, rows(values, n).map(naive[name]), 1e-13, 1e-12);
          expectClose(r32, r64, 1e-5, 1e-5);
        }),
        FC,
      );
    });
  }

  it('logsumexp ≥ max, is stable for huge inputs, and passes −∞ rows through', () => {
    fc.assert(
      fc.property(arbRows(1000), ({ shape, values }) => {
        const lse = data(cpu.logsumexp(make(values, shape, 'f64')));
        const mx = data(cpu.max(make(values, shape, 'f64')));
        lse.forEach((v, i) => {
          expect(Number.isFinite(v)).toBe(true);
          expect(v).toBeGreaterThanOrEqual(mx[i]);
          expect(v).toBeLessThanOrEqual(mx[i] + Math.log(shape[shape.length - 1]) + 1e-12);
        });
      }),
      FC,
    );
    expect(data(cpu.logsumexp(make([-Infinity, -Infinity], [2], 'f64')))).toEqual([-Infinity]);
    expect(data(cpu.logsumexp(make([1e308, 1e308], [2], 'f64')))[0]).toBeCloseTo(1e308 + Math.LN2, 0);
  });

  it('max propagates NaN', () => {
    expect(data(cpu.max(make([1, Number.NaN, 3], [3], 'f64')))[0]).toBeNaN();
  });
});

describe('softmax and logSoftmax', () => {
  it('softmax: f64 equals exp(x − lse) from the naive loop; rows sum to 1; f32 within 1e-6 of f64', () => {
    fc.assert(
      fc.property(arbRows(50), ({ shape, values }) => {
        const n = shape[shape.length - 1];
        const { r64, r32, shape: out } = bothDtypes([{ values, shape }], (a) => cpu.softmax(a));
        expect(out).toEqual(shape);
        const want = rows(values, n).flatMap((r) => r.map((x) => Math.exp(x - naive.logsumexp(r))));
        expectClose(r64, want, 1e-12, 1e-300);
        expectClose(r32, r64, 1e-5, 1e-6);
        for (const row of rows(r64, n)) expect(Math.abs(naive.sum(row) - 1)).toBeLessThan(1e-14 * n + 1e-15);
        for (const row of rows(r32, n)) expect(Math.abs(naive.sum(row) - 1)).toBeLessThan(1e-6 * n);
      }),
      FC,
    );
  });

  it('logSoftmax = log(softmax) and equals x − logsumexp(x) from the naive loop', () => {
    fc.assert(
      fc.property(arbRows(30), ({ shape, values }) => {
        const n = shape[shape.length - 1];
        const { r64, r32 } = bothDtypes([{ values, shape }], (a) => cpu.logSoftmax(a));
        const want = rows(values, n).flatMap((r) => r.map((x) => x - naive.logsumexp(r)));
        expectClose(r64, want, 1e-13, 1e-13);
        expectClose(r32, r64, 1e-5, 1e-5);
        const logOfSoftmax = data(cpu.log(cpu.softmax(make(values, shape, 'f64'))));
        expectClose(r64, logOfSoftmax, 1e-12, 1e-12);
      }),
      FC,
    );
  });

  it('softmax handles −∞ entries (probability 0) and huge logits without overflow', () => {
    expect(data(cpu.softmax(make([0, -Infinity, 0], [3], 'f64')))).toEqual([0.5, 0, 0.5]);
    expectClose(data(cpu.softmax(make([1000, 1000 + Math.log(3)], [2], 'f64'))), [0.25, 0.75], 1e-12);
  });
});

describe('layerNorm', () => {
  it('f64 equals the naive (x − mean)/√(var + eps)·w; f32 within 1e-5 of f64', () => {
    fc.assert(
      fc.property(
        arbTensorData(3, 6, 10, 1).filter(({ shape }) => shape[shape.length - 1] >= 2),
        fc.double({ min: 1e-6, max: 1e-2, noNaN: true }),
        ({ shape, values }, eps) => {
          const n = shape[shape.length - 1];
          const w = Array.from({ length: n }, (_, i) => 0.5 + i / n);
          const { r64, r32 } = bothDtypes(
            [
              { values, shape },
              { values: w, shape: [n] },
            ],
            (x, wt) => cpu.layerNorm(x, wt, eps),
          );
          const want = rows(values, n).flatMap((r) => {
            const mean = naive.sum(r) / n;
            const variance = naive.sum(r.map((x) => (x - mean) ** 2)) / n;
            return r.map((x, i) => ((x - mean) / Math.sqrt(variance + eps)) * w[i]);
          });
          expectClose(r64, want, 1e-12, 1e-12);
          expectClose(r32, r64, 1e-4, 1e-4);
        },
      ),
      FC,
    );
  });

  it('law: with weight 1 each row has mean 0 and biased variance var/(var + eps)', () => {
    fc.assert(
      fc.property(
        arbTensorData(2, 8, 10, 1).filter(({ shape }) => shape[shape.length - 1] >= 2),
        ({ shape, values }) => {
          const n = shape[shape.length - 1];
          const out = data(cpu.layerNorm(make(values, shape, 'f64'), cpu.full([n], 1, 'f64')));
          rows(values, n).forEach((r, i) => {
            const o = out.slice(i * n, (i + 1) * n);
            const mean = naive.sum(r) / n;
            const v = naive.sum(r.map((x) => (x - mean) ** 2)) / n;
            expect(Math.abs(naive.sum(o) / n)).toBeLessThan(1e-12);
            expect(naive.sum(o.map((x) => x * x)) / n).toBeCloseTo(v / (v + 1e-5), 10);
          });
        },
      ),
      FC,
    );
  });
});

describe('argmax', () => {
  it('returns an index of a maximum, the first one on ties (law: x[argmax] = max)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 2 }),
        fc.integer({ min: 1, max: 7 }),
        fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 200 }),
        (outer, n, pool) => {
          const shape = [...outer, n];
          const count = shape.reduce((a, b) => a * b, 1);
          const values = Array.from({ length: count }, (_, i) => pool[i % pool.length]);
          for (const dtype of ['f64', 'f32', 'i32'] as const) {
            const out = cpu.argmax(make(values, shape, dtype));
            expect(out.dtype).toBe('i32');
            expect(out.shape).toEqual(outer);
            expect(data(out)).toEqual(rows(values, n).map((r) => r.indexOf(Math.max(...r))));
          }
        },
      ),
      FC,
    );
  });
});
