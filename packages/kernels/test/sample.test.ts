import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cpu, data, FC, make, rows } from './helpers';

describe('sampleCategorical', () => {
  it('frequencies match softmax(logits / T): chi-square at fixed seeds, f32 and f64', () => {
    const logits = [0.5, -1, 2, 0, 1.25];
    const v = logits.length;
    const draws = 12000;
    for (const temperature of [1, 0.7]) {
      const m = Math.max(...logits);
      const z = logits.reduce((a, x) => a + Math.exp((x - m) / temperature), 0);
      const probs = logits.map((x) => Math.exp((x - m) / temperature) / z);
      for (const dtype of ['f64', 'f32'] as const) {
        // one row per draw: row r reads stream words offset + r·V …, so rows are independent draws
        const tiled = Array.from({ length: draws }, () => logits).flat();
        const ids = data(
          cpu.sampleCategorical(make(tiled, [draws, v], dtype), { seed: 42, offset: 3, temperature }),
        );
        const counts = new Array(v).fill(0);
        for (const id of ids) counts[id]++;
        const chi2 = counts.reduce((a, c, i) => a + (c - draws * probs[i]) ** 2 / (draws * probs[i]), 0);
        // chi-square with 4 dof: P(χ² > 30) ≈ 5e-6
        expect(chi2).toBeLessThan(30);
      }
    }
  });

  it('law: temperature → 0 gives the argmax of each row', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 2, max: 8 }),
        fc.nat({ max: 2 ** 32 }),
        (r, n, seed) => {
          // distinct logits one apart, so argmax is unique and Gumbel noise (|G| < 20 here) cannot overturn it at T = 1e-3
          const values = Array.from({ length: r * n }, (_, i) => ((i * 7919) % (r * n)) - 3);
          const t = make(values, [r, n], 'f64');
          const ids = data(cpu.sampleCategorical(t, { seed, temperature: 1e-3 }));
          expect(ids).toEqual(data(cpu.argmax(t)));
        },
      ),
      FC,
    );
  });

  it('row r uses stream offset + r·V (a row sampled alone at that offset gives the same id)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 2, max: 7 }),
        fc.nat({ max: 1000 }),
        (r, n, offset) => {
          const values = Array.from({ length: r * n }, (_, i) => Math.sin(i));
          const all = data(cpu.sampleCategorical(make(values, [r, n], 'f64'), { seed: 9, offset }));
          rows(values, n).forEach((row, i) => {
            const one = data(
              cpu.sampleCategorical(make(row, [n], 'f64'), { seed: 9, offset: offset + i * n }),
            );
            expect(one).toEqual([all[i]]);
          });
        },
      ),
      FC,
    );
  });

  it('keeps the batch shape and never picks a −∞ logit; same seed, same ids', () => {
    const logits = make(
      [0, -Infinity, 1, -Infinity, 2, 0, 0, 0, -Infinity, 5, -Infinity, 1],
      [2, 2, 3],
      'f32',
    );
    const a = cpu.sampleCategorical(logits, { seed: 1n });
    expect(a.shape).toEqual([2, 2]);
    expect(a.dtype).toBe('i32');
    for (let s = 0; s < 50; s++) {
      const ids = data(cpu.sampleCategorical(logits, { seed: s }));
      expect([0, 2]).toContain(ids[0]);
      expect([1, 2]).toContain(ids[1]);
      expect([0, 1]).toContain(ids[2]);
      expect([0, 2]).toContain(ids[3]);
    }
    expect(data(cpu.sampleCategorical(logits, { seed: 1n }))).toEqual(data(a));
  });
});
