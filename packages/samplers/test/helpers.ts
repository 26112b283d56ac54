import { type Backend, createBackend } from '@duality/kernels';
import { logLinear, masked, ndtri, uniform } from '@duality/noise';

export type ProcessName = 'masked' | 'uniform';

/** Data letters (3) plus the mask id for the masked process. */
export function makeProcess(backend: Backend, name: ProcessName, letters = 3) {
  const schedule = logLinear({ eps: 0 });
  return name === 'masked'
    ? masked(backend, { vocabSize: letters + 1, schedule })
    : uniform(backend, { vocabSize: letters, schedule });
}

/** Per-position laws over the data letters, padded with a 0 for the mask. */
export function factorRows(name: ProcessName): number[][] {
  const rows = [
    [0.5, 0.3, 0.2],
    [0.1, 0.6, 0.3],
    [0.25, 0.25, 0.5],
  ];
  return name === 'masked' ? rows.map((r) => [...r, 0]) : rows;
}

/**
 * Upper quantile of χ²(df) at tail probability `alpha` (Wilson–Hilferty; conservative for the tiny alphas used
 * here): a statistic above it has probability < alpha under the null.
 */
export function chiSquareCritical(df: number, alpha: number): number {
  const z = ndtri(1 - alpha);
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

/** Σ over positions of Pearson's χ² of the counts of ids [N·L] against the rows p[ℓ] (cells with p = 0 must be empty). */
export function chiSquare(
  ids: ArrayLike<number>,
  L: number,
  p: number[][],
): { stat: number; df: number; impossible: number } {
  const N = ids.length / L;
  let stat = 0;
  let df = 0;
  let impossible = 0;
  for (let l = 0; l < L; l++) {
    const counts = new Float64Array(p[l].length);
    for (let n = 0; n < N; n++) counts[ids[n * L + l]]++;
    for (let x = 0; x < p[l].length; x++) {
      if (p[l][x] === 0) {
        impossible += counts[x];
        continue;
      }
      stat += (counts[x] - N * p[l][x]) ** 2 / (N * p[l][x]);
      df++;
    }
    df--;
  }
  return { stat, df, impossible };
}

export const cpu = () => createBackend('cpu', { threads: 0 });
