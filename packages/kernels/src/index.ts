export { BACKEND_GRADIENTS } from './autograd/backend-gradients';
export { dispose, isTensor, keep, tidy, tidyAsync } from './autograd/engine';
export {
  type GradOptions,
  type GradTree,
  grad,
  type TensorTree,
  type ValueAndGrad,
  valueAndGrad,
} from './autograd/grad';
export {
  type GradientContext,
  type GradientRule,
  GradientRuleError,
  isRecording,
  untaped,
} from './autograd/tape';
export { createCpuBackend } from './cpu/backend';
export { EXP_NON_POSITIVE, expNonPositive } from './cpu/fast-math';
export {
  apply,
  type Code,
  code,
  literal,
  type RangeKernel,
  type RangeLoop,
  rangeKernel,
  rangeKernelOf,
  runRange,
} from './cpu/parallel';
export { createBackend } from './create-backend';
export {
  AllocationError,
  ArgumentError,
  DisposedTensorError,
  DTypeError,
  describeShape,
  GPUValidationError,
  IndexOutOfRangeError,
  KernelError,
  ShapeError,
  WebGPUUnavailableError,
  WorkerCrashedError,
} from './errors';
export { isCpuBackend, isWebGPUBackend } from './guards';
export { geluTanhGrad, layerNormGrad, logSoftmaxGrad, siluGrad, softmaxGrad } from './ops/activation-grads';
export { maximum, minimum } from './ops/binary';
export {
  type CpuKernelContext,
  type DefinedOp,
  defineOp,
  type OpDefinition,
  type WebGPUKernelContext,
} from './ops/define';
export { checkBindable, gridOf } from './ops/kernel-utils';
export { concat, padSlice, slice, transpose } from './ops/layout';
export { type SoftmaxCrossEntropyOptions, softmaxCrossEntropy } from './ops/loss';
export { layerNormStats } from './ops/norm';
export { type AdamWHyper, type AdamWState, adamwUpdate, globalNorm } from './ops/optim';
export { randint } from './ops/random-int';
export { type Axes, maxAxes, meanAxes, sumAxes } from './ops/reduce-axes';
export { forRowWindows, type RowWindowOperand, type RowWindowSpec } from './ops/row-windows';
export { broadcastTo, reduceToShape, sumToShape } from './ops/sum-to-shape';
export { abs, clamp, neg, rsqrt, sigmoid, sqrt, square, tanh } from './ops/unary';
export {
  mulhi32,
  type PhiloxKey,
  philox4x32,
  philoxKey,
  philoxWords,
  streamUniform,
  streamWordAt,
  wordToUniform,
} from './rng/philox';
export { PHILOX_WGSL, STREAM_WGSL } from './rng/philox-wgsl';
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
