import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nthElement } from '../src/cpu/select';
import { cpu, data, FC, make, rows, size } from './helpers';

/** Rows of distinct logits (a shuffled range, scaled), so "the k largest" is unambiguous. */
const arbDistinctRows = fc
  .record({
    outer: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
    n: fc.integer({ min: 1, max: 9 }),
    scale: fc.double({ min: 0.05, max: 4, noNaN: true }),
  })
  .chain(({ outer, n, scale }) =>
    fc
      .array(fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }), {
        minLength: size(outer),
        maxLength: size(outer),
      })
      .map((perms) => ({
        shape: [...outer, n],
        n,
        values: perms.flat().map((v) => Math.fround(v * scale - 2)),
      })),
  );

/** Naive reference: keep the positions of the k largest entries (ties toward the lower index). */
function naiveTopK(row: number[], k: number): number[] {
  const order = row.map((_, i) => i).sort((i, j) => (row[j] !== row[i] ? row[j] - row[i] : i - j));
  const kept = new Set(order.slice(0, k));
  return row.map((x, i) => (kept.has(i) ? x : Number.NEGATIVE_INFINITY));
}

/** Naive reference for top-p: sorted descending, keep entries whose preceding mass is < p. */
function naiveTopP(row: number[], p: number): number[] {
  const m = Math.max(...row);
  const z = row.reduce((a, x) => a + Math.exp(x - m), 0);
  const probs = row.map((x) => Math.exp(x - m) / z);
  const order = row.map((_, i) => i).sort((i, j) => (row[j] !== row[i] ? row[j] - row[i] : i - j));
  const kept = new Set<number>();
  let mass = 0;
  for (const i of order) {
    if (kept.size > 0 && mass >= p) break;
    kept.add(i);
    mass += probs[i];
  }
  return row.map((x, i) => (kept.has(i) ? x : Number.NEGATIVE_INFINITY));
}

/** Rows drawn from a tiny pool of values (with −∞), so ties are everywhere; n up to 600 (> one candidate batch). */
const arbTiedRows = fc
  .record({
    rowCount: fc.integer({ min: 1, max: 3 }),
    n: fc.integer({ min: 1, max: 600 }),
    salt: fc.nat({ max: 10000 }),
    poolSize: fc.integer({ min: 1, max: 6 }),
  })
  .map(({ rowCount, n, salt, poolSize }) => {
    const pool = [Number.NEGATIVE_INFINITY, 0, -0.5, 1.25, 2, -3].slice(0, poolSize);
    if (poolSize === 1) pool[0] = 0.5;
    const values = Array.from(
      { length: rowCount * n },
      (_, i) => pool[(i * 7 + salt + ((i * i) % 11)) % poolSize],
    );
    return { shape: [rowCount, n], n, values };
  });

describe('topK', () => {
  it('keeps exactly k finite entries, the k largest, unchanged; f32 and f64 agree with the naive sort', () => {
    fc.assert(
      fc.property(arbDistinctRows, fc.nat(), ({ shape, n, values }, kSeed) => {
        const k = 1 + (kSeed % n);
        const want = rows(values, n).flatMap((r) => naiveTopK(r, k));
        for (const dtype of ['f64', 'f32'] as const) {
          const out = cpu.topK(make(values, shape, dtype), k);
          expect(out.shape).toEqual(shape);
          expect(out.dtype).toBe(dtype);
          const got = data(out);
          expect(got).toEqual(want);
          for (const row of rows(got, n)) expect(row.filter(Number.isFinite).length).toBe(k);
        }
      }),
      FC,
    );
  });

  it('with heavy ties equals the naive stable sort (lower indices first), f32 and f64', () => {
    fc.assert(
      fc.property(arbTiedRows, fc.nat(), ({ shape, n, values }, kSeed) => {
        const k = 1 + (kSeed % n);
        const want = rows(values, n).flatMap((r) => naiveTopK(r, k));
        expect(data(cpu.topK(make(values, shape, 'f64'), k))).toEqual(want);
        expect(data(cpu.topK(make(values, shape, 'f32'), k))).toEqual(want);
      }),
      FC,
    );
  });

  it('on ties keeps the lower indices (exactly k kept)', () => {
    expect(data(cpu.topK(make([1, 3, 3, 3, 0], [5], 'f64'), 2))).toEqual([
      -Infinity,
      3,
      3,
      -Infinity,
      -Infinity,
    ]);
  });
});

describe('topP', () => {
  it('equals the naive nucleus; kept mass ≥ p; minimal; kept entries dominate dropped ones; f32 = f64 mask', () => {
    fc.assert(
      fc.property(
        arbDistinctRows,
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        ({ shape, n, values }, p) => {
          const want = rows(values, n).flatMap((r) => naiveTopP(r, p));
          const got = data(cpu.topP(make(values, shape, 'f64'), p));
          expect(got).toEqual(want);
          // the f32 tensor holds the same (f32-exact) values, and the filter computes in f64: identical output
          expect(data(cpu.topP(make(values, shape, 'f32'), p))).toEqual(want);
          rows(values, n).forEach((row, r) => {
            const out = got.slice(r * n, (r + 1) * n);
            const m = Math.max(...row);
            const z = row.reduce((a, x) => a + Math.exp(x - m), 0);
            const keptProbs = row.filter((_, i) => Number.isFinite(out[i])).map((x) => Math.exp(x - m) / z);
            const mass = keptProbs.reduce((a, b) => a + b, 0);
            expect(keptProbs.length).toBeGreaterThanOrEqual(1);
            if (keptProbs.length < n) expect(mass).toBeGreaterThanOrEqual(p - 1e-12);
            // minimal: without its smallest kept entry the set would not reach p
            if (keptProbs.length > 1) expect(mass - Math.min(...keptProbs)).toBeLessThan(p + 1e-12);
            const minKept = Math.min(...row.filter((_, i) => Number.isFinite(out[i])));
            for (let i = 0; i < n; i++) if (!Number.isFinite(out[i])) expect(row[i]).toBeLessThan(minKept);
          });
        },
      ),
      FC,
    );
  });

  it('with heavy ties and long rows (beyond the first candidate batch) equals the naive nucleus', () => {
    fc.assert(
      fc.property(arbTiedRows, fc.double({ min: 0.01, max: 1, noNaN: true }), ({ shape, n, values }, p) => {
        fc.pre(rows(values, n).every((r) => r.some(Number.isFinite)));
        const want = rows(values, n).flatMap((r) => naiveTopP(r, p));
        expect(data(cpu.topP(make(values, shape, 'f64'), p))).toEqual(want);
        expect(data(cpu.topP(make(values, shape, 'f32'), p))).toEqual(want);
      }),
      FC,
    );
    // a flat row of 5000: p = 0.9871 keeps entries while the mass before them (q/5000) is < p: 4936 of them
    const flat = make(new Array(5000).fill(0), [5000], 'f64');
    expect(data(cpu.topP(flat, 0.9871)).filter(Number.isFinite).length).toBe(4936);
  });

  it('a prefix whose mass is exactly p is the whole nucleus (mass before an entry must be < p)', () => {
    // four equal logits: probabilities exactly 0.25; 0.25 + 0.25 = 0.5 = p, so two entries, the lower indices
    expect(data(cpu.topP(make([0, 0, 0, 0], [4], 'f64'), 0.5))).toEqual([0, 0, -Infinity, -Infinity]);
    expect(data(cpu.topP(make([0, 0, 0, 0], [4], 'f32'), 0.75))).toEqual([0, 0, 0, -Infinity]);
  });

  it('always keeps the top entry, and p = 1 keeps every entry of positive probability', () => {
    expect(data(cpu.topP(make([0, 10, 1], [3], 'f64'), 1e-9))).toEqual([-Infinity, 10, -Infinity]);
    expect(data(cpu.topP(make([0, 1, -Infinity], [3], 'f64'), 1))).toEqual([0, 1, -Infinity]);
  });
});

describe('nthElement (selection behind topK/topP)', () => {
  it('puts the sorted value at the target, ≤ before and ≥ after, keeping the multiset', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.integer({ min: -3, max: 3 }),
            fc.constant(Number.NEGATIVE_INFINITY),
            fc.double({ noNaN: true }),
          ),
          {
            minLength: 1,
            maxLength: 300,
          },
        ),
        fc.nat(),
        (values, t) => {
          const target = t % values.length;
          const a = Float64Array.from(values);
          nthElement(a, target);
          const sorted = Float64Array.from(values).sort();
          expect(a[target]).toBe(sorted[target]);
          for (let i = 0; i < target; i++) expect(a[i] <= a[target]).toBe(true);
          for (let i = target + 1; i < a.length; i++) expect(a[i] >= a[target]).toBe(true);
          expect(Float64Array.from(a).sort()).toEqual(sorted);
        },
      ),
      FC,
    );
  });
});
