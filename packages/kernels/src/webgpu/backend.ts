/**
 * The WebGPU backend: tensors are storage buffers that stay on the device between ops, every op is a WGSL
 * compute kernel run through TypeGPU (pipelines cached per kernel, dtype and variant), and `read()` is the only
 * readback. This class is a table: each op is a function of the backend's GpuContext in the file of its family
 * (create, elementwise, linalg, reduce, gather, random, sample, filter, extension — the cpu backend's families),
 * validated by the same shared checks (../checks) as the cpu backend, so both refuse the same inputs with the
 * same typed errors. Operands bigger than one storage binding run over windows (windows.ts).
 */
import { instrumentBackend } from '../autograd/backend-gradients';
import type {
  CompareOp,
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
} from '../types';
import { FLOAT } from '../validate';
import { GpuContext } from './context';
import * as create from './create';
import { acquireDevice } from './device';
import * as ew from './elementwise';
import * as extension from './extension';
import { topK, topP } from './filter';
import * as gather from './gather';
import { matmul } from './linalg';
import * as random from './random';
import * as reduce from './reduce';
import { GpuRuntime } from './runtime';
import { sampleCategorical } from './sample';

export interface WebGPUTuning {
  /** Split dispatches into 2-D grids above this many workgroups per dimension (default: the device limit). */
  maxWorkgroupsPerDimension?: number;
  /**
   * Largest storage binding in bytes (default: the device's maxStorageBufferBindingSize). Ops on bigger tensors
   * run window by window; tests lower it to exercise the windows on small tensors.
   */
  maxBindingBytes?: number;
}

/** How createBackend('auto') picks an adapter: refuse software rasterizers, and hear which adapter was taken. */
export interface AdapterSelection {
  rejectSoftware?: boolean;
  onAdapter?: (name: string) => void;
}

/** Creates the WebGPU backend; throws WebGPUUnavailableError when no adapter/device can be had. */
export async function createWebGPUBackend(
  options: CreateBackendOptions = {},
  tuning: WebGPUTuning = {},
  selection: AdapterSelection = {},
): Promise<WebGPUBackend> {
  const { device, owned, gpu, adapter } = await acquireDevice(options, selection);
  selection.onAdapter?.(adapter ?? 'a device given in options.device');
  const bindLimit = Math.min(
    tuning.maxBindingBytes ?? Number.POSITIVE_INFINITY,
    device.limits.maxStorageBufferBindingSize,
  );
  return instrumentBackend(
    new WebGPUBackendImpl(new GpuRuntime(device, tuning.maxWorkgroupsPerDimension), owned, gpu, bindLimit),
  );
}

class WebGPUBackendImpl implements WebGPUBackend {
  readonly name = 'webgpu' as const;
  readonly supportsF64 = false;
  private readonly g: GpuContext;

  constructor(
    rt: GpuRuntime,
    private readonly ownsDevice: boolean,
    /** Keeps Dawn-for-Node alive while the backend is (see AcquiredDevice.gpu). */
    private gpu?: GPU,
    /** Largest storage binding in bytes: bigger operands are processed in windows (see windows.ts). */
    bindLimit = Number.POSITIVE_INFINITY,
  ) {
    this.g = new GpuContext(this, rt, bindLimit);
  }

  get device(): GPUDevice {
    return this.g.device;
  }

  tensor<D extends DType>(data: ArrayLike<number>, shape: Shape, dtype: D): Tensor<D>;
  tensor(data: TypedArray, shape: Shape): Tensor;
  tensor(data: ArrayLike<number>, shape: Shape, dtype?: DType): Tensor {
    return create.createTensor(this.g, data, shape, dtype);
  }
  zeros<D extends DType>(shape: Shape, dtype: D): Tensor<D> {
    return create.zeros(this.g, shape, dtype);
  }
  full<D extends DType>(shape: Shape, value: number, dtype: D): Tensor<D> {
    return create.full(this.g, shape, value, dtype);
  }
  cast<D extends DType>(x: Tensor, dtype: D): Tensor<D> {
    return create.cast(this.g, x, dtype);
  }
  reshape<D extends DType>(x: Tensor<D>, shape: Shape): Tensor<D> {
    return create.reshape(this.g, x, shape);
  }

  add(a: Tensor, b: Tensor): Tensor {
    return ew.binary(this.g, 'add', a, b);
  }
  sub(a: Tensor, b: Tensor): Tensor {
    return ew.binary(this.g, 'sub', a, b);
  }
  mul(a: Tensor, b: Tensor): Tensor {
    return ew.binary(this.g, 'mul', a, b);
  }
  div(a: Tensor, b: Tensor): Tensor {
    return ew.binary(this.g, 'div', a, b, FLOAT);
  }
  scale(a: Tensor, s: number, shift?: number): Tensor {
    return ew.scale(this.g, a, s, shift);
  }
  exp(a: Tensor): Tensor {
    return ew.unary(this.g, 'exp', a);
  }
  log(a: Tensor): Tensor {
    return ew.unary(this.g, 'log', a);
  }
  geluTanh(a: Tensor): Tensor {
    return ew.unary(this.g, 'geluTanh', a);
  }
  silu(a: Tensor): Tensor {
    return ew.unary(this.g, 'silu', a);
  }
  compare(a: Tensor, b: Tensor, cmp: CompareOp): Tensor<'i32'> {
    return ew.compare(this.g, a, b, cmp);
  }
  where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
    return ew.where(this.g, cond, a, b);
  }

  matmul(a: Tensor, b: Tensor, options?: MatmulOptions): Tensor {
    return matmul(this.g, a, b, options);
  }

  sum(a: Tensor): Tensor {
    return reduce.reduceRows(this.g, 'sum', a);
  }
  max(a: Tensor): Tensor {
    return reduce.reduceRows(this.g, 'max', a);
  }
  logsumexp(a: Tensor): Tensor {
    return reduce.reduceRows(this.g, 'logsumexp', a);
  }
  softmax(a: Tensor): Tensor {
    return reduce.reduceRows(this.g, 'softmax', a);
  }
  logSoftmax(a: Tensor): Tensor {
    return reduce.reduceRows(this.g, 'logSoftmax', a);
  }
  layerNorm(x: Tensor, weight: Tensor, eps?: number): Tensor {
    return reduce.layerNorm(this.g, x, weight, eps);
  }
  argmax(a: Tensor): Tensor<'i32'> {
    return reduce.argmax(this.g, a);
  }

  embedding(table: Tensor, ids: Tensor): Tensor {
    return gather.embedding(this.g, table, ids);
  }
  embeddingBag(table: Tensor, indices: Tensor, weights: Tensor): Tensor {
    return gather.embeddingBag(this.g, table, indices, weights);
  }
  gatherLast(x: Tensor, ids: Tensor): Tensor {
    return gather.gatherLast(this.g, x, ids);
  }
  oneHot<D extends FloatDType>(ids: Tensor, depth: number, dtype: D): Tensor<D> {
    return gather.oneHot(this.g, ids, depth, dtype);
  }
  scatterAdd(target: Tensor, indices: Tensor, src: Tensor): Tensor {
    return gather.scatterAdd(this.g, target, indices, src);
  }

  sampleCategorical(logits: Tensor, options: SampleOptions): Tensor<'i32'> {
    return sampleCategorical(this.g, logits, options);
  }
  topK(logits: Tensor, k: number): Tensor {
    return topK(this.g, logits, k);
  }
  topP(logits: Tensor, p: number): Tensor {
    return topP(this.g, logits, p);
  }

  uniform(shape: Shape, stream: RandomStream, dtype?: FloatDType): Tensor {
    return random.uniform(this.g, shape, stream, dtype);
  }
  normal(shape: Shape, stream: RandomStream, dtype?: FloatDType): Tensor {
    return random.normal(this.g, shape, stream, dtype);
  }
  /** The raw Philox words of a stream (u32), for tests and for kernels that need their own transforms. */
  uniformWords(shape: Shape, stream: RandomStream): Tensor<'u32'> {
    return random.uniformWords(this.g, shape, stream);
  }

  bufferOf(t: Tensor): GPUBuffer {
    return extension.bufferOf(this.g, t);
  }
  fromBuffer<D extends DType>(buffer: GPUBuffer, shape: Shape, dtype: D): Tensor<D> {
    return extension.fromBuffer(this.g, buffer, shape, dtype);
  }
  runKernel(kernel: CustomKernel): Promise<void> {
    return extension.runKernel(this.g, kernel);
  }

  sync(): Promise<void> {
    return this.g.sync();
  }

  destroy(): void {
    if (this.g.destroyed) return;
    this.g.destroy();
    if (this.ownsDevice) this.device.destroy();
    this.gpu = undefined;
  }
}

export type { ArrayFor } from '../types';
