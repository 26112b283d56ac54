/**
 * Test utility for the ops' node and browser tests (not exported from the package): naive multi-index maths,
 * arbitraries for permutations and slices, and a reader that turns a tensor into a plain number array.
 */
import fc from 'fast-check';
import { tidy } from '../autograd/engine';
import { valueAndGrad } from '../autograd/grad';
import type { Backend, DType, Shape, Tensor } from '../types';

export const sizeOf = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

/** Multi-index of flat position i in a row-major shape. */
export function unravel(i: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

/** Flat row-major position of a multi-index. */
export function ravel(idx: readonly number[], shape: Shape): number {
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + idx[d];
  return flat;
}

export async function values(t: Tensor): Promise<number[]> {
  return Array.from(await t.read());
}

/** A shape of rank in [minRank, maxRank] with dims in [minDim, maxDim]. */
export const arbShape = (minRank = 0, maxRank = 4, maxDim = 4, minDim = 1) =>
  fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });

/** A permutation of 0…n−1. */
export const arbPerm = (n: number) =>
  fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: n, maxLength: n }).map((keys) =>
    keys
      .map((k, i) => [k, i] as const)
      .sort((a, b) => a[0] - b[0] || a[1] - b[1])
      .map(([, i]) => i),
  );

/** A shape with a random box inside it: { shape, begin, size } (non-empty boxes only with `nonEmpty`). */
export const arbSlice = (minRank = 1, maxRank = 4, maxDim = 5, nonEmpty = false) =>
  arbShape(minRank, maxRank, maxDim).chain((shape) =>
    fc
      .tuple(...shape.map((d) => fc.tuple(fc.integer({ min: 0, max: d }), fc.integer({ min: 0, max: d }))))
      .map((pairs) => {
        const begin = pairs.map(([a, b], i) => Math.min(a, b, nonEmpty ? shape[i] - 1 : a));
        const size = pairs.map(([a, b], i) =>
          nonEmpty ? Math.max(1, Math.max(a, b) - begin[i]) : Math.abs(a - b),
        );
        return { shape, begin, size };
      }),
  );

/** Deterministic values in [lo, hi) from a seed (an LCG). */
export function seeded(count: number, seed: number, lo = -1, hi = 1): Float64Array {
  const out = new Float64Array(count);
  let s = (seed >>> 0) ^ 0x9e3779b9;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return out;
}

/** One input of a parity run: host data, shape, dtype (default f32), and whether a gradient is taken. */
export interface ParityInput {
  readonly data: ArrayLike<number>;
  readonly shape: Shape;
  readonly dtype?: DType;
  readonly constant?: boolean;
}

/**
 * Runs y = f(inputs) on a backend, then the gradients of Σ c ⊙ y (c: seeded cotangent) w.r.t. the float,
 * non-constant inputs; returns y and the gradients as host arrays (for cpu-vs-webgpu comparisons).
 */
export async function valueAndGrads(
  backend: Backend,
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly ParityInput[],
  seed = 1,
): Promise<{ y: number[]; grads: number[][] }> {
  const xs = inputs.map((inp) => backend.tensor(inp.data, inp.shape, inp.dtype ?? 'f32'));
  const diff = inputs.flatMap((inp, k) => (!inp.constant && (inp.dtype ?? 'f32').startsWith('f') ? [k] : []));
  try {
    let y: number[] = [];
    const { value, grads } = await valueAndGrad(async (ps: Tensor[]) => {
      const all = xs.map((x, k) => (diff.includes(k) ? ps[diff.indexOf(k)] : x));
      const out = f(...all);
      y = Array.from(await out.read());
      return tidy(() => {
        const c = backend.tensor(seeded(out.size, seed), out.shape, out.dtype);
        return backend.sum(backend.reshape(backend.mul(out, c), [out.size]));
      });
    })(diff.map((k) => xs[k]));
    value.dispose();
    const gs = await Promise.all(grads.map(async (g) => Array.from(await g.read())));
    for (const g of grads) g.dispose();
    return { y, grads: gs };
  } finally {
    for (const x of xs) x.dispose();
  }
}
