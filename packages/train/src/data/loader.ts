/**
 * The seeded batch loader. The training stream is cut into W = floor(N / L) windows (pack.ts); epoch e visits
 * them in the order of a Fisher–Yates permutation drawn from the Philox stream (seed, shuffle domain, lane e);
 * batch j of an epoch holds windows order[j·B … (j + 1)·B − 1] as an i32 [B, L] array, and the last W mod B
 * windows of each epoch's order are skipped (drop-last), so an epoch has floor(W / B) batches.
 *
 * The position is the cursor { epoch, index } of the next batch: plain data, stored in a checkpoint as is. A
 * batch is a pure function of (stream, L, B, seed, cursor), so a loader built at a saved cursor yields exactly
 * the batches the uninterrupted loader would have.
 */
import { ArgumentError } from '@duality/kernels';
import { checkSeed, STREAM_DOMAIN, streamPermutation } from '../rng';
import { checkFits, gatherWindows, windowCount } from './pack';

/** Where a loader stands: the next batch is batch `index` of epoch `epoch`. */
export interface LoaderCursor {
  epoch: number;
  index: number;
}

export interface Batch {
  /** Token ids, row-major [batchSize, contextLength]. */
  tokens: Int32Array;
  shape: [number, number];
  /** The cursor this batch was drawn at. */
  cursor: LoaderCursor;
  /** Window index of each row. */
  windows: Uint32Array;
}

export interface LoaderOptions {
  /** The split's id stream (PreparedSplit.tokens). */
  stream: Uint8Array;
  contextLength: number;
  batchSize: number;
  seed: number | bigint;
  /** Start here instead of { epoch: 0, index: 0 } (a checkpoint's cursor). */
  cursor?: LoaderCursor;
  /** Shuffle each epoch (default true); false visits windows in stream order (validation). */
  shuffle?: boolean;
  /** The split's name in error messages (default 'train'). */
  split?: string;
}

function checkPositive(op: string, what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new ArgumentError(op, `${what} ${v}`, 'a positive integer');
}

export class BatchLoader {
  readonly contextLength: number;
  readonly batchSize: number;
  readonly seed: number | bigint;
  readonly shuffle: boolean;
  /** Whole windows in the stream. */
  readonly windows: number;
  /** Batches per epoch, floor(windows / batchSize). */
  readonly batchesPerEpoch: number;
  private readonly stream: Uint8Array;
  private position: LoaderCursor;
  private cachedEpoch = -1;
  private cachedOrder: Uint32Array = new Uint32Array(0);

  constructor(options: LoaderOptions) {
    checkPositive('BatchLoader', 'contextLength', options.contextLength);
    checkPositive('BatchLoader', 'batchSize', options.batchSize);
    checkSeed('BatchLoader', options.seed);
    checkFits(options.split ?? 'train', options.stream.length, options.contextLength, options.batchSize);
    this.stream = options.stream;
    this.contextLength = options.contextLength;
    this.batchSize = options.batchSize;
    this.seed = options.seed;
    this.shuffle = options.shuffle ?? true;
    this.windows = windowCount(this.stream.length, this.contextLength);
    this.batchesPerEpoch = Math.floor(this.windows / this.batchSize);
    this.position = this.checkCursor(options.cursor ?? { epoch: 0, index: 0 });
  }

  /** The cursor of the next batch (a copy: plain data for a checkpoint). */
  get cursor(): LoaderCursor {
    return { ...this.position };
  }

  /** Refuses a cursor that is not { epoch ≥ 0, 0 ≤ index < batchesPerEpoch } of integers. */
  checkCursor(cursor: LoaderCursor): LoaderCursor {
    const given = (cursor ?? {}) as LoaderCursor;
    const { epoch, index } = given;
    const ok =
      Number.isSafeInteger(epoch) &&
      epoch >= 0 &&
      Number.isSafeInteger(index) &&
      index >= 0 &&
      index < this.batchesPerEpoch;
    if (!ok || Object.keys(given).length !== 2) {
      throw new ArgumentError(
        'BatchLoader.cursor',
        JSON.stringify(cursor),
        `{ epoch: integer ≥ 0, index: integer in [0, ${this.batchesPerEpoch}) }`,
      );
    }
    return { epoch, index };
  }

  /** The window order of epoch e (the identity when not shuffling). */
  epochOrder(epoch: number): Uint32Array {
    if (epoch !== this.cachedEpoch) {
      this.cachedOrder = this.shuffle
        ? streamPermutation(this.seed, STREAM_DOMAIN.shuffle, epoch, this.windows)
        : Uint32Array.from({ length: this.windows }, (_, i) => i);
      this.cachedEpoch = epoch;
    }
    return this.cachedOrder;
  }

  /** The batch at a cursor, without moving. */
  batchAt(cursor: LoaderCursor): Batch {
    const { epoch, index } = this.checkCursor(cursor);
    const start = index * this.batchSize;
    const windows = this.epochOrder(epoch).slice(start, start + this.batchSize);
    return {
      tokens: gatherWindows(this.stream, this.contextLength, windows),
      shape: [this.batchSize, this.contextLength],
      cursor: { epoch, index },
      windows,
    };
  }

  /** The next batch; the cursor moves on (to the next epoch after the last batch of one). */
  next(): Batch {
    const batch = this.batchAt(this.position);
    const index = this.position.index + 1;
    this.position =
      index === this.batchesPerEpoch
        ? { epoch: this.position.epoch + 1, index: 0 }
        : { ...this.position, index };
    return batch;
  }

  *[Symbol.iterator](): Iterator<Batch> {
    for (;;) yield this.next();
  }
}

/**
 * The validation batches: windows in stream order, at most `maxBatches` batches of `batchSize` (all whole
 * batches when omitted). Refuses a context the split cannot fill once.
 */
export function validationBatches(
  stream: Uint8Array,
  contextLength: number,
  batchSize: number,
  maxBatches?: number,
): Batch[] {
  const loader = new BatchLoader({
    stream,
    contextLength,
    batchSize,
    seed: 0,
    shuffle: false,
    split: 'validation',
  });
  const count = Math.min(loader.batchesPerEpoch, maxBatches ?? Number.POSITIVE_INFINITY);
  return Array.from({ length: count }, (_, index) => loader.batchAt({ epoch: 0, index }));
}
