import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arbValues, bothDtypes, cpu, data, expectClose, FC, make, size } from './helpers';

const arbTable = fc
  .record({ v: fc.integer({ min: 1, max: 6 }), d: fc.integer({ min: 1, max: 4 }) })
  .chain(({ v, d }) => arbValues(v * d, 5).map((values) => ({ v, d, values })));

const arbIds = (v: number, maxRank = 2) =>
  fc
    .array(fc.integer({ min: 1, max: 4 }), { maxLength: maxRank })
    .chain((shape) =>
      fc
        .array(fc.nat({ max: v - 1 }), { minLength: size(shape), maxLength: size(shape) })
        .map((ids) => ({ shape, ids })),
    );

describe('embedding', () => {
  it('row ids[i] of the table, shape [...ids, D]; f32 equals f64 rounded', () => {
    fc.assert(
      fc.property(
        arbTable.chain((t) => arbIds(t.v).map((ids) => ({ t, ids }))),
        ({ t, ids }) => {
          for (const idType of ['i32', 'u32'] as const) {
            const idT = make(ids.ids, ids.shape, idType);
            const want = ids.ids.flatMap((id) => t.values.slice(id * t.d, (id + 1) * t.d));
            const out = cpu.embedding(make(t.values, [t.v, t.d], 'f64'), idT);
            expect(out.shape).toEqual([...ids.shape, t.d]);
            expect(data(out)).toEqual(want);
            const out32 = cpu.embedding(make(t.values, [t.v, t.d], 'f32'), idT);
            expect(data(out32)).toEqual(Array.from(Float32Array.from(want)));
          }
        },
      ),
      FC,
    );
  });
});

describe('embeddingBag', () => {
  it('Σ_k w[..., k]·table[idx[..., k]] equals the naive sum; f32 within 1e-5 of f64', () => {
    fc.assert(
      fc.property(
        arbTable.chain((t) =>
          fc.tuple(arbIds(t.v, 2), fc.integer({ min: 1, max: 4 })).chain(([outer, k]) =>
            fc
              .tuple(
                fc.array(fc.nat({ max: t.v - 1 }), {
                  minLength: size(outer.shape) * k,
                  maxLength: size(outer.shape) * k,
                }),
                arbValues(size(outer.shape) * k, 2),
              )
              .map(([idx, w]) => ({ t, shape: [...outer.shape, k], idx, w, k })),
          ),
        ),
        ({ t, shape, idx, w, k }) => {
          const want: number[] = [];
          for (let bag = 0; bag < idx.length / k; bag++) {
            for (let c = 0; c < t.d; c++) {
              let s = 0;
              for (let j = bag * k; j < (bag + 1) * k; j++) s += w[j] * t.values[idx[j] * t.d + c];
              want.push(s);
            }
          }
          const ids = make(idx, shape, 'i32');
          const {
            r64,
            r32,
            shape: outShape,
          } = bothDtypes(
            [
              { values: t.values, shape: [t.v, t.d] },
              { values: w, shape },
            ],
            (table, weights) => cpu.embeddingBag(table, ids, weights),
          );
          expect(outShape).toEqual([...shape.slice(0, -1), t.d]);
          expectClose(r64, want, 1e-13, 1e-13);
          expectClose(r32, r64, 1e-5, 1e-5);
        },
      ),
      FC,
    );
  });

  it('with one-hot weights equals embedding (law)', () => {
    const table = make([1, 2, 3, 4, 5, 6], [3, 2], 'f64');
    const bag = cpu.embeddingBag(table, make([2, 0], [1, 2], 'i32'), make([1, 0], [1, 2], 'f64'));
    expect(data(bag)).toEqual(data(cpu.embedding(table, make([2], [1], 'i32'))));
  });
});

describe('gatherLast and oneHot', () => {
  it('gatherLast picks x[..., ids[...]] for every dtype', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 2 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 1000 }),
        (outer, n, salt) => {
          const values = Array.from({ length: size(outer) * n }, (_, i) => (i * 13 + salt) % 97);
          const ids = Array.from({ length: size(outer) }, (_, i) => (i * 5 + salt) % n);
          const want = ids.map((id, r) => values[r * n + id]);
          for (const dtype of ['f64', 'f32', 'i32', 'u32'] as const) {
            const out = cpu.gatherLast(make(values, [...outer, n], dtype), make(ids, outer, 'i32'));
            expect(out.shape).toEqual(outer);
            expect(out.dtype).toBe(dtype);
            expect(data(out)).toEqual(want);
          }
        },
      ),
      FC,
    );
  });

  it('oneHot puts a single 1 at each id; gatherLast of the one-hot at ids is 1 and rows sum to 1 (law)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }).chain((depth) => arbIds(depth).map((ids) => ({ depth, ids }))),
        ({ depth, ids }) => {
          for (const dtype of ['f32', 'f64'] as const) {
            const idT = make(ids.ids, ids.shape, 'i32');
            const oh = cpu.oneHot(idT, depth, dtype);
            expect(oh.shape).toEqual([...ids.shape, depth]);
            expect(oh.dtype).toBe(dtype);
            const want = ids.ids.flatMap((id) => Array.from({ length: depth }, (_, j) => (j === id ? 1 : 0)));
            expect(data(oh)).toEqual(want);
            expect(data(cpu.gatherLast(oh, idT))).toEqual(ids.ids.map(() => 1));
            expect(data(cpu.sum(oh))).toEqual(ids.ids.map(() => 1));
          }
        },
      ),
      FC,
    );
  });
});

describe('scatterAdd', () => {
  it('returns target plus src rows added at indices (repeats accumulate), input untouched', () => {
    fc.assert(
      fc.property(
        arbTable.chain((t) =>
          fc
            .integer({ min: 0, max: 6 })
            .chain((n) =>
              fc
                .tuple(
                  fc.array(fc.nat({ max: t.v - 1 }), { minLength: n, maxLength: n }),
                  arbValues(n * t.d, 3),
                )
                .map(([idx, src]) => ({ t, n, idx, src })),
            ),
        ),
        ({ t, n, idx, src }) => {
          const want = [...t.values];
          idx.forEach((row, i) => {
            for (let c = 0; c < t.d; c++) want[row * t.d + c] += src[i * t.d + c];
          });
          const ids = make(idx, [n], 'i32');
          const target = make(t.values, [t.v, t.d], 'f64');
          const { r64, r32 } = bothDtypes(
            [
              { values: t.values, shape: [t.v, t.d] },
              { values: src, shape: [n, t.d] },
            ],
            (tg, s) => cpu.scatterAdd(tg, ids, s),
          );
          expectClose(r64, want, 1e-14, 1e-14);
          expectClose(r32, r64, 1e-5, 1e-5);
          cpu.scatterAdd(target, ids, make(src, [n, t.d], 'f64'));
          expect(data(target)).toEqual(t.values);
        },
      ),
      FC,
    );
  });
});
