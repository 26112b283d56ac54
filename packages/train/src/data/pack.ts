/**
 * Packing: a split's id stream (documents already joined by the separator) cut into consecutive,
 * non-overlapping windows of L ids; the tail shorter than L is dropped. Window w is ids [w·L, (w + 1)·L).
 */
import { ArgumentError } from '@duality/kernels';
import { TrainConfigError } from '../errors';

/** Number of whole windows of `length` ids in a stream of `tokens` ids. */
export function windowCount(tokens: number, length: number): number {
  if (!Number.isSafeInteger(length) || length < 1) {
    throw new ArgumentError('windowCount', `length ${length}`, 'a positive integer');
  }
  return Math.floor(tokens / length);
}

/** Copies windows `windows[i]` of `stream` into rows of an i32 [windows.length, length] array. */
export function gatherWindows(stream: Uint8Array, length: number, windows: ArrayLike<number>): Int32Array {
  const count = windowCount(stream.length, length);
  const out = new Int32Array(windows.length * length);
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i];
    if (!Number.isInteger(w) || w < 0 || w >= count) {
      throw new ArgumentError('gatherWindows', `window ${w} at row ${i}`, `an integer in [0, ${count})`);
    }
    const start = w * length;
    for (let j = 0; j < length; j++) out[i * length + j] = stream[start + j];
  }
  return out;
}

/** Refuses a context length / batch the split cannot fill (a `TrainConfigError` on `data.contextLength`). */
export function checkFits(split: string, tokens: number, length: number, batch: number): void {
  if (windowCount(tokens, length) < batch) {
    throw new TrainConfigError(
      'data.contextLength',
      `${length} with batch ${batch} on the ${split} split of ${tokens} tokens`,
      `batch · contextLength ≤ ${tokens} (at least one full batch of windows)`,
    );
  }
}
