/**
 * Test helpers: random shapes and values for fast-check, and naive reference maths on plain number arrays
 * (obviously-correct loops over multi-indices, independent of the backend's broadcasting code).
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { createCpuBackend } from '../src/cpu/backend';
import type { CpuBackend, DType, Shape, Tensor } from '../src/types';

export const cpu: CpuBackend = createCpuBackend();

export const FC = { seed: 20260522, numRuns: 60 } as const;

export const size = (shape: Shape) => shape.reduce((a, b) => a * b, 1);

/** Multi-index of flat position i in a row-major shape. */
export function unravel(i: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

/** Flat position of the multi-index (aligned to the trailing axes, size-1 axes read index 0). */
export function ravelBroadcast(idx: number[], shape: Shape): number {
  let flat = 0;
  const lead = idx.length - shape.length;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + (shape[d] === 1 ? 0 : idx[lead + d]);
  return flat;
}

export const arbShape = (maxRank = 3, maxDim = 4) =>
  fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: 0, maxLength: maxRank });

/** An output shape and two shapes that broadcast to it (leading axes dropped, some axes set to 1). */
export const arbBroadcastPair = fc
  .tuple(
    arbShape(4, 4),
    fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    fc.nat({ max: 4 }),
    fc.nat({ max: 4 }),
  )
  .map(([out, onesA, onesB, dropA, dropB]) => {
    const a = out.slice(Math.min(dropA, out.length)).map((d, i) => (onesA[i] ? 1 : d));
    const b = out.slice(Math.min(dropB, out.length)).map((d, i) => (onesB[i] ? 1 : d));
    return { a, b };
  });

/** Values of a given count in [-range, range]. */
export const arbValues = (n: number, range = 10) =>
  fc.array(fc.double({ min: -range, max: range, noNaN: true, noDefaultInfinity: true }), {
    minLength: n,
    maxLength: n,
  });

/** Shape plus values for one tensor. */
export const arbTensorData = (maxRank = 3, maxDim = 5, range = 10, minRank = 0) =>
  fc
    .array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank })
    .chain((shape) => arbValues(size(shape), range).map((values) => ({ shape, values })));

export const f32 = (values: readonly number[]) => Array.from(Float32Array.from(values));

/** Reads a cpu tensor synchronously as a number array. */
export const data = (t: Tensor) => Array.from(cpu.dataOf(t));

export const make = (values: readonly number[], shape: Shape, dtype: DType) =>
  cpu.tensor(values, shape, dtype);

/** |got − want| ≤ atol + rtol·|want| elementwise (equal infinities and NaNs pass). */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol = 0): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (Number.isNaN(w) || !Number.isFinite(w)) {
      expect(g, `index ${i}`).toBe(w);
      continue;
    }
    if (Math.abs(g - w) > atol + rtol * Math.abs(w)) {
      throw new Error(`index ${i}: got ${g}, want ${w} (rtol ${rtol}, atol ${atol})`);
    }
  }
}

/** Runs `op` on f64 and f32 copies of the inputs; returns both outputs as arrays. */
export function bothDtypes(
  inputs: Array<{ values: readonly number[]; shape: Shape }>,
  op: (...ts: Tensor[]) => Tensor,
): { r64: number[]; r32: number[]; shape: Shape } {
  const t64 = inputs.map((x) => make(x.values, x.shape, 'f64'));
  const t32 = inputs.map((x) => make(f32(x.values), x.shape, 'f32'));
  const o64 = op(...t64);
  const o32 = op(...t32);
  expect(o32.shape).toEqual(o64.shape);
  expect(o64.dtype).toBe('f64');
  expect(o32.dtype).toBe('f32');
  return { r64: data(o64), r32: data(o32), shape: o64.shape };
}

/** Asserts that `fn` throws `cls` and that the message names the op and contains each fragment. */
export function expectKernelError(
  fn: () => unknown,
  cls: abstract new (...args: never[]) => Error,
  op: string,
  ...fragments: string[]
): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${cls.name} from ${op}`).toBeInstanceOf(cls);
  const message = (caught as Error).message;
  expect(message.startsWith(`${op}: got `), message).toBe(true);
  expect(message).toContain('expected');
  for (const f of fragments) expect(message).toContain(f);
}

/** Rows of a flat array with row length n. */
export function rows(values: readonly number[], n: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < values.length; i += n) out.push(values.slice(i, i + n));
  return out;
}
