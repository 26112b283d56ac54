export { createCpuBackend } from './cpu/backend';
export { createBackend } from './create-backend';
export {
  AllocationError,
  ArgumentError,
  DisposedTensorError,
  DTypeError,
  GPUValidationError,
  IndexOutOfRangeError,
  KernelError,
  ShapeError,
  WebGPUUnavailableError,
  WorkerCrashedError,
} from './errors';
export { isCpuBackend, isWebGPUBackend } from './guards';
export { mulhi32, philox4x32, philoxKey, philoxWords, wordToUniform } from './rng/philox';
export { PHILOX_WGSL } from './rng/philox-wgsl';
export type {
  ArrayFor,
  Backend,
  BackendName,
  CompareOp,
  CpuBackend,
  CreateBackendOptions,
  CustomKernel,
  DType,
  FloatDType,
  MatmulOptions,
  RandomStream,
  SampleOptions,
  Shape,
  Tensor,
  TypedArray,
  WebGPUBackend,
} from './types';
export { broadcastShapes, shapeSize } from './validate';
