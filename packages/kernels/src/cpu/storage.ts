import type { DType, TypedArray } from '../types';

const CTORS = { f32: Float32Array, f64: Float64Array, i32: Int32Array, u32: Uint32Array } as const;

/**
 * Allocates the storage of a cpu tensor. (Owned by the cpu fast-path work: may move to SharedArrayBuffer so
 * worker threads can read and write tensors without copies.)
 */
export function allocate(dtype: DType, size: number): TypedArray {
  return new CTORS[dtype](size);
}

export function arrayCtor(dtype: DType) {
  return CTORS[dtype];
}
