import { validateTopK, validateTopP } from '../checks/filter';
import type { Backend, Tensor, TypedArray } from '../types';
import { allMinusInfinity, nanLogit } from '../validate';
import { largestSorted } from './select';
import { type CpuTensor, output } from './tensor';

/** Refuses NaN logits (a NaN has no place in a ranking or a distribution). */
export function checkNoNaN(op: string, data: TypedArray, n: number): void {
  for (let i = 0; i < data.length; i++) {
    if (Number.isNaN(data[i])) throw nanLogit(op, Math.floor(i / n), i % n);
  }
}

/**
 * The cut of a row in descending order (ties toward the lower index): the entries kept are every entry
 * > `value`, then the first `equalKept` entries (by index) equal to `value`.
 */
interface Cut {
  value: number;
  equalKept: number;
}

/** The cut that keeps the first `count` entries of the descending order; `top` = the largest ≥ count, ascending. */
function cutAt(top: Float64Array, count: number): Cut {
  const n = top.length;
  const value = top[n - count];
  let greater = 0;
  while (greater < n && top[n - 1 - greater] > value) greater++;
  return { value, equalKept: count - greater };
}

/**
 * Writes each row of validated logits [rows, n] with its kept entries (the rest −∞), refusing NaN. `cut(row)`
 * gets the row as a scratch Float64Array it may rearrange, plus the row itself, and returns the cut.
 */
function filterRows(
  backend: Backend,
  op: string,
  logits: Tensor,
  { rows, n }: { rows: number; n: number },
  cut: (scratch: Float64Array, src: TypedArray, start: number) => Cut,
): CpuTensor {
  const tl = logits as CpuTensor;
  checkNoNaN(op, tl.data, n);
  const out = output(backend, tl.shape, tl.dtype);
  const src = tl.data;
  const dst = out.data;
  const scratch = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    const start = r * n;
    scratch.set(src.subarray(start, start + n));
    const { value, equalKept } = cut(scratch, src, start);
    let equalLeft = equalKept;
    for (let i = start; i < start + n; i++) {
      const x = src[i];
      const keep = x > value || (x === value && equalLeft-- > 0);
      dst[i] = keep ? x : Number.NEGATIVE_INFINITY;
    }
  }
  return out;
}

/**
 * Keeps exactly the k largest logits of each row (ties broken toward the lower index), sets the rest to −∞.
 */
export function topK(backend: Backend, logits: Tensor, k: number): CpuTensor {
  const rows = validateTopK(backend, logits, k);
  return filterRows(backend, 'topK', logits, rows, (scratch) => cutAt(largestSorted(scratch, k), k));
}

/**
 * Nucleus filtering: with probabilities softmax(row) in float64, sorted descending (ties toward the lower index),
 * keeps the shortest prefix whose cumulative mass reaches p — entry q is kept iff the mass before it is < p, so
 * the top entry is always kept — and sets the rest to −∞. A row of all −∞ (no distribution) is an ArgumentError. The normaliser sums exp(x − max) in index order; the
 * cumulative mass sums the sorted probabilities from the top.
 */
export function topP(backend: Backend, logits: Tensor, p: number): CpuTensor {
  const rows = validateTopP(backend, logits, p);
  return filterRows(backend, 'topP', logits, rows, (scratch, src, start) =>
    nucleusCut(scratch, src, start, p),
  );
}

/** Candidate counts tried before sorting a whole row: the nucleus is usually far smaller than the vocabulary. */
const FIRST_CANDIDATES = 256;

/** The cut of the shortest descending prefix whose softmax mass reaches p (at least one entry). */
function nucleusCut(scratch: Float64Array, src: TypedArray, start: number, p: number): Cut {
  const n = scratch.length;
  let m = Number.NEGATIVE_INFINITY;
  for (let i = start; i < start + n; i++) if (src[i] > m) m = src[i];
  if (m === Number.NEGATIVE_INFINITY) throw allMinusInfinity('topP', start / n);
  if (m === Number.POSITIVE_INFINITY) return cutAt(largestSorted(scratch, 1), 1);
  let z = 0;
  for (let i = start; i < start + n; i++) z += Math.exp(src[i] - m);
  for (let candidates = Math.min(n, FIRST_CANDIDATES); ; candidates = Math.min(n, candidates * 8)) {
    const top = largestSorted(scratch, candidates);
    let mass = 0;
    let q = 0;
    while (q < candidates && (q === 0 || mass < p)) {
      mass += Math.exp(top[candidates - 1 - q] - m) / z;
      q++;
    }
    if (q < candidates || mass >= p || candidates === n) return cutAt(top, q);
  }
}
