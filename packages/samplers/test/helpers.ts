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

/**
 * Counts the tensors a backend hands out and how many are still live: every method of the backend object is
 * wrapped in place (identity kept, so `tensor.backend === backend` checks still hold) and each tensor it returns
 * is remembered. `restore()` puts the original methods back.
 */
export function trackTensors(backend: Backend): { live(): number; created(): number; restore(): void } {
  const seen = new Set<{ disposed: boolean }>();
  const originals = new Map<string, unknown>();
  const target = backend as unknown as Record<string, unknown>;
  const names = new Set<string>();
  for (let o: object | null = backend; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) names.add(name);
  }
  const record = (value: unknown) => {
    if (value && typeof value === 'object' && 'disposed' in value && 'shape' in value) {
      seen.add(value as { disposed: boolean });
    }
  };
  for (const name of names) {
    if (name === 'constructor') continue;
    const descriptor = Object.getOwnPropertyDescriptor(target, name);
    if (descriptor?.get) continue;
    const fn = target[name];
    if (typeof fn !== 'function') continue;
    originals.set(name, Object.hasOwn(target, name) ? fn : undefined);
    target[name] = function (this: unknown, ...args: unknown[]) {
      const out = (fn as (...a: unknown[]) => unknown).apply(this, args);
      if (out instanceof Promise) {
        return out.then((v) => {
          record(v);
          return v;
        });
      }
      record(out);
      return out;
    };
  }
  return {
    live: () => [...seen].filter((t) => !t.disposed).length,
    created: () => seen.size,
    restore() {
      for (const [name, fn] of originals) {
        if (fn === undefined) delete target[name];
        else target[name] = fn;
      }
    },
  };
}
