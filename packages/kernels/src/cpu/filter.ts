import { ArgumentError } from '../errors';
import type { Backend, Tensor, TypedArray } from '../types';
import { checkDtype, checkTopK, checkTopP, FLOAT, lastAxis } from '../validate';
import { type CpuTensor, output, use } from './tensor';

/** Refuses NaN logits (a NaN has no place in a ranking or a distribution). */
export function checkNoNaN(op: string, data: TypedArray, n: number): void {
  for (let i = 0; i < data.length; i++) {
    if (Number.isNaN(data[i])) {
      throw new ArgumentError(
        op,
        `NaN logit at row ${Math.floor(i / n)}, index ${i % n}`,
        'logits without NaN',
      );
    }
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

/** The cut that keeps the first `count` entries of the descending order; `sorted` is the row sorted ascending. */
function cutAt(sorted: Float64Array, count: number): Cut {
  const n = sorted.length;
  const value = sorted[n - count];
  let greater = 0;
  while (greater < n && sorted[n - 1 - greater] > value) greater++;
  return { value, equalKept: count - greater };
}

/** Validates logits [..., N] and writes each row's kept entries (the rest −∞), the cut chosen by `cut`. */
function filterRows(
  backend: Backend,
  op: string,
  logits: Tensor,
  check: (n: number) => void,
  cut: (sorted: Float64Array) => Cut,
): CpuTensor {
  const tl = use(op, 'logits', logits, backend);
  checkDtype(op, 'logits', tl, FLOAT);
  const { rows, n } = lastAxis(op, 'logits', tl);
  check(n);
  checkNoNaN(op, tl.data, n);
  const out = output(backend, tl.shape, tl.dtype);
  const src = tl.data;
  const dst = out.data;
  const sorted = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    const start = r * n;
    sorted.set(src.subarray(start, start + n));
    sorted.sort();
    const { value, equalKept } = cut(sorted);
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
  return filterRows(
    backend,
    'topK',
    logits,
    (n) => checkTopK('topK', k, n),
    (sorted) => cutAt(sorted, k),
  );
}

/**
 * Nucleus filtering: with probabilities softmax(row) in float64, sorted descending (ties toward the lower index),
 * keeps the shortest prefix whose cumulative mass reaches p — entry q is kept iff the mass before it is < p, so
 * the top entry is always kept — and sets the rest to −∞.
 */
export function topP(backend: Backend, logits: Tensor, p: number): CpuTensor {
  return filterRows(
    backend,
    'topP',
    logits,
    () => checkTopP('topP', p),
    (sorted) => cutAt(sorted, nucleusSize(sorted, p)),
  );
}

/** Length of the shortest descending prefix whose softmax mass reaches p (at least 1); `sorted` ascending. */
function nucleusSize(sorted: Float64Array, p: number): number {
  const n = sorted.length;
  const m = sorted[n - 1];
  if (m === Number.POSITIVE_INFINITY || m === Number.NEGATIVE_INFINITY) return 1;
  let z = 0;
  for (let i = 0; i < n; i++) z += Math.exp(sorted[i] - m);
  let mass = 0;
  let q = 0;
  while (q < n && (q === 0 || mass < p)) {
    mass += Math.exp(sorted[n - 1 - q] - m) / z;
    q++;
  }
  return q;
}
