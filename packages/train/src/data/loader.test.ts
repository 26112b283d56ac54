import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchLoader, type LoaderCursor, validationBatches } from './loader';

const streamOf = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) % 251);
const rows = (loader: BatchLoader, count: number) =>
  Array.from({ length: count }, () => {
    const b = loader.next();
    return { tokens: Array.from(b.tokens), cursor: b.cursor };
  });

const setup = fc.record({
  windows: fc.integer({ min: 1, max: 40 }),
  length: fc.integer({ min: 1, max: 9 }),
  tail: fc.integer({ min: 0, max: 8 }),
  batch: fc.integer({ min: 1, max: 6 }),
  seed: fc.nat(2 ** 40),
  before: fc.integer({ min: 0, max: 30 }),
  after: fc.integer({ min: 1, max: 30 }),
});

describe('BatchLoader', () => {
  it('resuming from a saved cursor gives exactly the batches of the uninterrupted loader', () => {
    fc.assert(
      fc.property(setup, ({ windows, length, tail, batch, seed, before, after }) => {
        fc.pre(windows >= batch);
        const stream = streamOf(windows * length + (tail % length));
        const options = { stream, contextLength: length, batchSize: batch, seed };
        const straight = rows(new BatchLoader(options), before + after);
        const first = new BatchLoader(options);
        rows(first, before);
        const saved = JSON.parse(JSON.stringify(first.cursor)) as LoaderCursor; // as a checkpoint stores it
        const resumed = rows(new BatchLoader({ ...options, cursor: saved }), after);
        expect(resumed).toEqual(straight.slice(before));
      }),
    );
  });

  it('an epoch visits floor(W / B)·B distinct windows, each batch [B, L] equal to its windows', () => {
    fc.assert(
      fc.property(setup, ({ windows, length, batch, seed }) => {
        fc.pre(windows >= batch);
        const stream = streamOf(windows * length);
        const loader = new BatchLoader({ stream, contextLength: length, batchSize: batch, seed });
        expect(loader.batchesPerEpoch).toBe(Math.floor(windows / batch));
        const seen = new Set<number>();
        for (let j = 0; j < loader.batchesPerEpoch; j++) {
          const b = loader.next();
          expect(b.shape).toEqual([batch, length]);
          expect(b.cursor).toEqual({ epoch: 0, index: j });
          b.windows.forEach((w, r) => {
            seen.add(w);
            expect(Array.from(b.tokens.subarray(r * length, (r + 1) * length))).toEqual(
              Array.from(stream.subarray(w * length, (w + 1) * length)),
            );
          });
        }
        expect(seen.size).toBe(loader.batchesPerEpoch * batch);
        expect(loader.cursor).toEqual({ epoch: 1, index: 0 });
      }),
    );
  });

  it('epochs are shuffled differently; the same seed repeats them', () => {
    const stream = streamOf(64 * 4);
    const a = new BatchLoader({ stream, contextLength: 4, batchSize: 8, seed: 5 });
    expect(Array.from(a.epochOrder(0))).not.toEqual(Array.from(a.epochOrder(1)));
    const b = new BatchLoader({ stream, contextLength: 4, batchSize: 8, seed: 5 });
    expect(Array.from(b.epochOrder(3))).toEqual(Array.from(a.epochOrder(3)));
    const c = new BatchLoader({ stream, contextLength: 4, batchSize: 8, seed: 6 });
    expect(Array.from(c.epochOrder(0))).not.toEqual(Array.from(a.epochOrder(0)));
  });

  it('refuses a cursor outside the epoch, extra keys, a context the data cannot fill', () => {
    const stream = streamOf(40);
    const options = { stream, contextLength: 4, batchSize: 2, seed: 1 };
    expect(() => new BatchLoader({ ...options, cursor: { epoch: 0, index: 5 } })).toThrow(
      /index: integer in \[0, 5\)/,
    );
    expect(() => new BatchLoader({ ...options, cursor: { epoch: -1, index: 0 } })).toThrow(/epoch/);
    expect(
      () =>
        new BatchLoader({ ...options, cursor: { epoch: 0, index: 0, extra: 1 } as unknown as LoaderCursor }),
    ).toThrow(/BatchLoader.cursor/);
    expect(() => new BatchLoader({ ...options, contextLength: 41, batchSize: 1 })).toThrow(
      /data\.contextLength/,
    );
    expect(() => new BatchLoader({ ...options, batchSize: 0 })).toThrow(/batchSize 0/);
  });
});

describe('validationBatches', () => {
  it('takes windows in stream order, at most maxBatches', () => {
    const stream = streamOf(10 * 3 + 2);
    const all = validationBatches(stream, 3, 4);
    expect(all.length).toBe(2);
    expect(Array.from(all[1].windows)).toEqual([4, 5, 6, 7]);
    expect(Array.from(all[0].tokens)).toEqual(Array.from(stream.subarray(0, 12)));
    expect(validationBatches(stream, 3, 4, 1).length).toBe(1);
    expect(() => validationBatches(stream, 32, 2)).toThrow(/validation split of 32 tokens/);
  });
});
