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
export {
  ArgumentError,
  DisposedTensorError,
  DTypeError,
  GPUValidationError,
  IndexOutOfRangeError,
  KernelError,
  ShapeError,
  WebGPUUnavailableError,
} from './errors';
export { mulhi32, philox4x32, philoxKey, philoxWords, wordToUniform } from './rng/philox';
export { broadcastShapes, shapeSize } from './validate';
export { createBackend } from './create-backend';
export { createCpuBackend } from './cpu/backend';
export { isCpuBackend, isWebGPUBackend } from './guards';
