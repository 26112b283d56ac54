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

/** Positions of a row in descending order of value; equal values keep ascending index order. */
function descendingOrder(src: TypedArray, start: number, n: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order.sort((i, j) => {
    const x = src[start + i];
    const y = src[start + j];
    return x > y ? -1 : x < y ? 1 : i - j;
  });
}

/** Validates logits [..., N] and fills every row with −∞ except the entries `keep` marks. */
function filterRows(
  backend: Backend,
  op: string,
  logits: Tensor,
  check: (n: number) => void,
  keep: (src: TypedArray, start: number, n: number, order: Int32Array) => number,
): CpuTensor {
  const tl = use(op, 'logits', logits, backend);
  checkDtype(op, 'logits', tl, FLOAT);
  const { rows, n } = lastAxis(op, 'logits', tl);
  check(n);
  checkNoNaN(op, tl.data, n);
  const out = output(backend, tl.shape, tl.dtype);
  out.data.fill(Number.NEGATIVE_INFINITY);
  for (let r = 0; r < rows; r++) {
    const start = r * n;
    const order = descendingOrder(tl.data, start, n);
    const kept = keep(tl.data, start, n, order);
    for (let q = 0; q < kept; q++) out.data[start + order[q]] = tl.data[start + order[q]];
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
    () => k,
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
    (src, start, n, order) => nucleusSize(src, start, n, order, p),
  );
}

/** Length of the shortest descending prefix whose softmax mass reaches p (at least 1). */
function nucleusSize(src: TypedArray, start: number, n: number, order: Int32Array, p: number): number {
  const m = src[start + order[0]];
  if (m === Number.POSITIVE_INFINITY || m === Number.NEGATIVE_INFINITY) return 1;
  let z = 0;
  for (let i = start; i < start + n; i++) z += Math.exp(src[i] - m);
  let mass = 0;
  let q = 0;
  while (q < n && (q === 0 || mass < p)) {
    mass += Math.exp(src[start + order[q]] - m) / z;
    q++;
  }
  return q;
}
