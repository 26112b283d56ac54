import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arbValues, bothDtypes, cpu, data, expectClose, FC, make, size } from './helpers';

/** Naive matmul on plain arrays: A [..., M, K] (or its transpose) times B, batch axes broadcast. */
function refMatmul(
  a: number[],
  aShape: number[],
  b: number[],
  bShape: number[],
  ta: boolean,
  tb: boolean,
  bias?: number[],
): { out: number[]; shape: number[] } {
  const ar = aShape.length;
  const br = bShape.length;
  const m = ta ? aShape[ar - 1] : aShape[ar - 2];
  const k = ta ? aShape[ar - 2] : aShape[ar - 1];
  const n = tb ? bShape[br - 2] : bShape[br - 1];
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const pa = [...new Array(rank - aBatch.length).fill(1), ...aBatch];
  const pb = [...new Array(rank - bBatch.length).fill(1), ...bBatch];
  const batch = pa.map((d, i) => Math.max(d, pb[i]));
  const out: number[] = [];
  for (let p = 0; p < size(batch); p++) {
    let rem = p;
    let ia = 0;
    let ib = 0;
    let sa = 1;
    let sb = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const idx = rem % batch[d];
      rem = Math.floor(rem / batch[d]);
      ia += (pa[d] === 1 ? 0 : idx) * sa;
      ib += (pb[d] === 1 ? 0 : idx) * sb;
      sa *= pa[d];
      sb *= pb[d];
    }
    const A = (i: number, q: number) => a[ia * m * k + (ta ? q * m + i : i * k + q)];
    const B = (q: number, j: number) => b[ib * k * n + (tb ? j * k + q : q * n + j)];
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = bias ? bias[j] : 0;
        for (let q = 0; q < k; q++) s += A(i, q) * B(q, j);
        out.push(s);
      }
    }
  }
  return { out, shape: [...batch, m, n] };
}

const arbCase = fc
  .record({
    m: fc.integer({ min: 1, max: 5 }),
    k: fc.integer({ min: 1, max: 6 }),
    n: fc.integer({ min: 1, max: 5 }),
    batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
    aOnes: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }),
    bDrop: fc.nat({ max: 2 }),
    ta: fc.boolean(),
    tb: fc.boolean(),
    bias: fc.boolean(),
  })
  .chain((c) => {
    const aBatch = c.batch.map((d, i) => (c.aOnes[i] ? 1 : d));
    const bBatch = c.batch.slice(Math.min(c.bDrop, c.batch.length));
    const aShape = [...aBatch, ...(c.ta ? [c.k, c.m] : [c.m, c.k])];
    const bShape = [...bBatch, ...(c.tb ? [c.n, c.k] : [c.k, c.n])];
    return fc
      .tuple(arbValues(size(aShape), 3), arbValues(size(bShape), 3), arbValues(c.n, 3))
      .map(([a, b, bias]) => ({ ...c, aShape, bShape, a, b, biasValues: bias }));
  });

describe('matmul', () => {
  it('f64 equals the naive triple loop (broadcast batch, transposes, bias); f32 within 1e-5 of f64', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const ref = refMatmul(c.a, c.aShape, c.b, c.bShape, c.ta, c.tb, c.bias ? c.biasValues : undefined);
        const inputs = [
          { values: c.a, shape: c.aShape },
          { values: c.b, shape: c.bShape },
          { values: c.biasValues, shape: [c.n] },
        ];
        const { r64, r32, shape } = bothDtypes(inputs, (a, b, bias) =>
          cpu.matmul(a, b, { transposeA: c.ta, transposeB: c.tb, bias: c.bias ? bias : undefined }),
        );
        expect(shape).toEqual(ref.shape);
        expectClose(r64, ref.out, 1e-13, 1e-13);
        expectClose(r32, r64, 1e-5, 1e-5);
      }),
      FC,
    );
  });

  it('law: (A B)ᵀ = Bᵀ Aᵀ via the transpose flags', () => {
    const a = make([1, 2, 3, 4, 5, 6], [2, 3], 'f64');
    const b = make([7, 8, 9, 10, 11, 12], [3, 2], 'f64');
    const ab = data(cpu.matmul(a, b));
    const btat = data(cpu.matmul(b, a, { transposeA: true, transposeB: true }));
    // (AB)ᵀ read row-major equals AB read column-major
    expect(btat).toEqual([ab[0], ab[2], ab[1], ab[3]]);
    expect(ab).toEqual([58, 64, 139, 154]);
  });
});
