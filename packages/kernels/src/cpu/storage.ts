import { AllocationError, describeShape } from '../errors';
import type { DType, Shape, TypedArray } from '../types';
import { canShareMemory } from './pool';

const CTORS = { f32: Float32Array, f64: Float64Array, i32: Int32Array, u32: Uint32Array } as const;

/** From this many elements on, storage lives in a SharedArrayBuffer so worker threads use it without copies. */
export const SHARED_MIN_ELEMENTS = 16384;

/**
 * Allocates the zero-filled storage of a cpu tensor: large tensors in a SharedArrayBuffer where one can be
 * shared (Node, cross-origin-isolated pages), so the threaded kernels read and write them in place; small ones
 * (and everything where sharing is impossible) in an ordinary ArrayBuffer.
 */
export function allocate(dtype: DType, size: number, shape: Shape = [size]): TypedArray {
  const Ctor = CTORS[dtype] as new (source: number | SharedArrayBuffer) => TypedArray;
  const bytes = size * CTORS[dtype].BYTES_PER_ELEMENT;
  try {
    if (size >= SHARED_MIN_ELEMENTS && canShareMemory()) return new Ctor(new SharedArrayBuffer(bytes));
    return new Ctor(size);
  } catch (error) {
    // the engine's RangeError ("Array buffer allocation failed", "Invalid typed array length")
    if (!(error instanceof RangeError)) throw error;
    throw new AllocationError(
      'allocate',
      `a tensor of dtype ${dtype} and shape ${describeShape(shape)} (${bytes} bytes)`,
      'a tensor the JS engine can allocate',
      error.message,
    );
  }
}

export function arrayCtor(dtype: DType) {
  return CTORS[dtype];
}

/** Whether an array's memory is visible to worker threads. */
export function isShared(array: TypedArray): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && array.buffer instanceof SharedArrayBuffer;
}

/** The array itself when it is shared, else a shared copy (worker threads cannot see ordinary buffers). */
export function toShared<T extends TypedArray>(array: T): T {
  if (isShared(array)) return array;
  const Ctor = array.constructor as new (buffer: SharedArrayBuffer) => T;
  const copy = new Ctor(new SharedArrayBuffer(array.byteLength));
  copy.set(array as never);
  return copy;
}
