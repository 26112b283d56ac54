/**
 * Selection without a full sort (for topK/topP over large vocabularies): rearranges `a` in place so that
 * a[target] holds the value a full ascending sort would put there, everything before it is ≤ and everything
 * after it is ≥ (C++ nth_element). Three-way partitions keep runs of equal values (e.g. many −∞) linear; after
 * too many rounds the remaining range is sorted outright, so the worst case stays O(n log n). No NaN allowed.
 */
export function nthElement(a: Float64Array, target: number): void {
  let lo = 0;
  let hi = a.length - 1;
  let rounds = 0;
  const maxRounds = 2 * Math.ceil(Math.log2(a.length + 1)) + 8;
  while (hi > lo) {
    if (++rounds > maxRounds) {
      a.subarray(lo, hi + 1).sort();
      return;
    }
    const pivot = medianOfThree(a[lo], a[(lo + hi) >>> 1], a[hi]);
    // three-way partition: [lo, lt) < pivot, [lt, gt] = pivot, (gt, hi] > pivot
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const x = a[i];
      if (x < pivot) {
        a[i++] = a[lt];
        a[lt++] = x;
      } else if (x > pivot) {
        a[i] = a[gt];
        a[gt--] = x;
      } else {
        i++;
      }
    }
    if (target < lt) hi = lt - 1;
    else if (target > gt) lo = gt + 1;
    else return;
  }
}

function medianOfThree(x: number, y: number, z: number): number {
  if (x < y) return y < z ? y : x < z ? z : x;
  return x < z ? x : y < z ? z : y;
}

/** Rearranges `a` so that its last `k` entries are its k largest, sorted ascending. */
export function largestSorted(a: Float64Array, k: number): Float64Array {
  const n = a.length;
  if (k < n) nthElement(a, n - k);
  return a.subarray(n - k).sort();
}
