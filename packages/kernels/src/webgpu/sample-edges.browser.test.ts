/**
 * Edge cases of sampling and nucleus filtering on WebGPU, against the cpu backend's rules: a row of all −∞ is an
 * ArgumentError (at the next read, found on the device), tiny temperatures whose scores overflow f32 still give
 * the cpu's ids (the argmax), subnormal temperatures are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError } from '../errors';
import { MIN_TEMPERATURE } from '../validate';
import { createPair, type Pair, randomF32 } from './test-utils';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

const NEG = Number.NEGATIVE_INFINITY;
/** Row lengths of both kernel layouts: one invocation per short row, one workgroup per long row. */
const WIDTHS = [5, 3000];

/** Rows of −∞ with one finite logit each, except `emptyRow`. */
function rowsWithOneFinite(rows: number, n: number, emptyRow: number): Float32Array {
  const data = new Float32Array(rows * n).fill(NEG);
  for (let r = 0; r < rows; r++) if (r !== emptyRow) data[r * n + ((r * 37) % n)] = r - 3;
  return data;
}

describe('a row of all −∞', () => {
  it.each(WIDTHS)('sampleCategorical (n = %i): read() rejects with the cpu ArgumentError', async (n) => {
    const data = rowsWithOneFinite(4, n, 2);
    const ids = pair.gpu.sampleCategorical(pair.gpu.tensor(data, [4, n], 'f32'), { seed: 5 });
    const error = await ids.read().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ArgumentError);
    expect((error as Error).message).toBe(
      'sampleCategorical: got a row of all −∞ logits (row 2), expected at least one logit above −∞ per row',
    );
    expect(() => pair.cpu.sampleCategorical(pair.cpu.tensor(data, [4, n], 'f32'), { seed: 5 })).toThrow(
      (error as Error).message,
    );
    // the fault is cleared: the same rows with one finite logit give exactly those ids
    data[2 * n] = 0;
    const again = await pair.gpu.sampleCategorical(pair.gpu.tensor(data, [4, n], 'f32'), { seed: 5 }).read();
    expect(Array.from(again)).toEqual([0, 1, 2, 3].map((r) => (r === 2 ? 0 : (r * 37) % n)));
  });

  it.each(WIDTHS)('topP (n = %i): read() rejects with the cpu ArgumentError', async (n) => {
    const data = rowsWithOneFinite(3, n, 1);
    const kept = pair.gpu.topP(pair.gpu.tensor(data, [3, n], 'f32'), 0.9);
    await expect(kept.read()).rejects.toThrow(
      'topP: got a row of all −∞ logits (row 1), expected at least one logit above −∞ per row',
    );
    expect(() => pair.cpu.topP(pair.cpu.tensor(data, [3, n], 'f32'), 0.9)).toThrow(ArgumentError);
  });
});

describe('tiny temperatures', () => {
  it('subnormal temperatures are refused like on the cpu backend', () => {
    const logits = pair.gpu.tensor([1, 2, 3], [3], 'f32');
    for (const temperature of [1e-40, 2 ** -127, 5e-324]) {
      expect(() => pair.gpu.sampleCategorical(logits, { seed: 1, temperature })).toThrow(
        /expected a finite temperature ≥ 2\^-126/,
      );
    }
  });

  it.each(WIDTHS)(
    'n = %i: T = 2^-126 and 1e-30 give the argmax, as the cpu backend (f32 scores overflow to ±∞)',
    async (n) => {
      const rows = 6;
      // distinct values, some rows all negative (their f32 scores all overflow to −∞), some mixed
      const data = randomF32(rows * n, 11, -50, 50);
      for (let i = 0; i < 2 * n; i++) data[i] = -Math.abs(data[i]) - 1;
      for (const temperature of [MIN_TEMPERATURE, 1e-30]) {
        const opts = { seed: 77, temperature };
        const g = await pair.gpu.sampleCategorical(pair.gpu.tensor(data, [rows, n], 'f32'), opts).read();
        const c = await pair.cpu.sampleCategorical(pair.cpu.tensor(data, [rows, n], 'f32'), opts).read();
        const want = Array.from({ length: rows }, (_, r) => {
          const row = Array.from(data.subarray(r * n, (r + 1) * n));
          return row.indexOf(Math.max(...row));
        });
        expect(Array.from(c)).toEqual(want);
        expect(Array.from(g)).toEqual(want);
      }
    },
  );

  it('equal logits whose scores overflow: the lower index, on both backends', async () => {
    const data = [1, 40, 40, 2, -40, -40, -50, -41]; // ±40 · 1e37 is beyond the f32 range
    const opts = { seed: 3, temperature: 1e-37 };
    const g = await pair.gpu.sampleCategorical(pair.gpu.tensor(data, [2, 4], 'f32'), opts).read();
    const c = await pair.cpu.sampleCategorical(pair.cpu.tensor(data, [2, 4], 'f32'), opts).read();
    expect(Array.from(g)).toEqual([1, 0]);
    expect(Array.from(c)).toEqual([1, 0]);
  });
});
