/** Helpers for the WebGPU parity tests (browser project): shared backends, random data, tolerant comparison. */
import { createBackend } from '../create-backend';
import type { Backend, Shape, Tensor, TypedArray, WebGPUBackend } from '../types';
import { shapeSize } from '../validate';

export interface Pair {
  gpu: WebGPUBackend;
  cpu: Backend;
}

export async function createPair(): Promise<Pair> {
  const gpu = (await createBackend('webgpu')) as WebGPUBackend;
  const cpu = await createBackend('cpu', { threads: 0 });
  return { gpu, cpu };
}

/** Deterministic f32 values in [lo, hi) from a small LCG (tests draw shapes with fast-check, data from a seed). */
export function randomF32(count: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(count);
  let s = (seed >>> 0) ^ 0x9e3779b9;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return out;
}

export function randomInts(count: number, seed: number, lo: number, hi: number): Int32Array {
  const f = randomF32(count, seed, 0, 1);
  return Int32Array.from(f, (u) => lo + Math.min(hi - lo - 1, Math.floor(u * (hi - lo))));
}

/** Runs the same op on both backends from the same host data and reads both results. */
export async function both(
  pair: Pair,
  inputs: Array<{ data: ArrayLike<number>; shape: Shape; dtype: 'f32' | 'i32' | 'u32' }>,
  op: (b: Backend, xs: Tensor[]) => Tensor,
): Promise<{ gpu: number[]; cpu: number[]; shape: Shape }> {
  const run = async (b: Backend) => {
    const xs = inputs.map((x) => b.tensor(x.data, x.shape, x.dtype));
    const out = op(b, xs);
    const data = Array.from((await out.read()) as TypedArray);
    const shape = out.shape;
    out.dispose();
    for (const x of xs) x.dispose();
    return { data, shape };
  };
  const g = await run(pair.gpu);
  const c = await run(pair.cpu);
  if (g.shape.join(',') !== c.shape.join(',')) throw new Error(`shapes differ: ${g.shape} vs ${c.shape}`);
  return { gpu: g.data, cpu: c.data, shape: g.shape };
}

/**
 * Largest violation of |got − want| ≤ abs + rel·|want| (≤ 0 means every element passes); NaN/±∞ must match
 * exactly. Returns a description of the worst element for messages.
 */
export function closeness(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: { abs?: number; rel?: number },
): { ok: boolean; worst: string } {
  if (got.length !== want.length) return { ok: false, worst: `length ${got.length} vs ${want.length}` };
  const abs = tol.abs ?? 0;
  const rel = tol.rel ?? 0;
  let worst = '';
  let worstExcess = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i];
    const w = want[i];
    if (!Number.isFinite(w) || !Number.isFinite(g)) {
      if (!Object.is(g, w) && !(Number.isNaN(g) && Number.isNaN(w)))
        return { ok: false, worst: `at ${i}: ${g} vs ${w}` };
      continue;
    }
    const excess = Math.abs(g - w) - (abs + rel * Math.abs(w));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = `at ${i}: got ${g}, want ${w}`;
    }
  }
  return { ok: worstExcess <= 0, worst };
}

export const sizeOf = shapeSize;

/** Bit patterns of f32 values (for bit-for-bit comparisons). */
export const bitsOf = (a: ArrayLike<number>) => new Uint32Array(Float32Array.from(a).buffer);
