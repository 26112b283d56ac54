/** The dtypes a backend holds and takes as arguments, so shared checks list what this backend accepts. */
import type { Backend, DType } from '../types';
import { FLOAT } from '../validate';

export const ALL_DTYPES: readonly DType[] = ['f32', 'f64', 'i32', 'u32'];
/** The dtypes a WebGPU tensor can hold (WGSL has no f64). */
export const GPU_DTYPES: readonly DType[] = ['f32', 'i32', 'u32'];
const F32: readonly DType[] = ['f32'];

/** Dtype arguments of tensor/zeros/full/cast/fromBuffer: every dtype this backend can hold. */
export const dtypesOf = (backend: Backend): readonly DType[] =>
  backend.supportsF64 ? ALL_DTYPES : GPU_DTYPES;

/** Float dtype arguments (uniform, normal, oneHot): the float dtypes this backend can hold. */
export const floatDtypesOf = (backend: Backend): readonly DType[] => (backend.supportsF64 ? FLOAT : F32);
