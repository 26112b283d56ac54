import { instrumentBackend } from '../autograd/backend-gradients';
import type {
  ArrayFor,
  CompareOp,
  CpuBackend,
  CreateBackendOptions,
  DType,
  FloatDType,
  MatmulOptions,
  RandomStream,
  SampleOptions,
  Shape,
  Tensor,
  TypedArray,
} from '../types';
import { FLOAT } from '../validate';
import { castTensor, createFull, createTensor, fromArray, reshapeTensor } from './create';
import * as ew from './elementwise';
import { topK, topP } from './filter';
import * as gather from './gather';
import { matmul } from './linalg';
import { configureCpuPool, releaseCpuPool, retainCpuPool } from './pool';
import { normal, sampleCategorical, uniform } from './random';
import * as reduce from './reduce';
import { use } from './tensor';

/** The typed-array backend: f32/f64/i32/u32, float64-capable reference for every op. */
class CpuBackendImpl implements CpuBackend {
  readonly name = 'cpu' as const;
  readonly supportsF64 = true;

  constructor(readonly options: CreateBackendOptions) {}

  tensor<D extends DType>(data: ArrayLike<number>, shape: Shape, dtype: D): Tensor<D>;
  tensor(data: TypedArray, shape: Shape): Tensor;
  tensor(data: ArrayLike<number>, shape: Shape, dtype?: DType): Tensor {
    return createTensor(this, data, shape, dtype);
  }
  zeros<D extends DType>(shape: Shape, dtype: D): Tensor<D> {
    return createFull(this, 'zeros', shape, 0, dtype);
  }
  full<D extends DType>(shape: Shape, value: number, dtype: D): Tensor<D> {
    return createFull(this, 'full', shape, value, dtype);
  }
  cast<D extends DType>(x: Tensor, dtype: D): Tensor<D> {
    return castTensor(this, x, dtype);
  }
  reshape<D extends DType>(x: Tensor<D>, shape: Shape): Tensor<D> {
    return reshapeTensor(this, x, shape);
  }
  dataOf<D extends DType>(t: Tensor<D>): ArrayFor<D> {
    return use('dataOf', 't', t, this).data as ArrayFor<D>;
  }
  fromArray<D extends DType>(data: ArrayFor<D>, shape: Shape): Tensor<D> {
    return fromArray(this, data, shape);
  }

  add(a: Tensor, b: Tensor): Tensor {
    return ew.binary(this, 'add', a, b, ew.addRow);
  }
  sub(a: Tensor, b: Tensor): Tensor {
    return ew.binary(this, 'sub', a, b, ew.subRow);
  }
  mul(a: Tensor, b: Tensor): Tensor {
    return ew.binary(this, 'mul', a, b, ew.mulRow);
  }
  div(a: Tensor, b: Tensor): Tensor {
    return ew.binary(this, 'div', a, b, ew.divRow, FLOAT);
  }
  scale(a: Tensor, s: number, shift?: number): Tensor {
    return ew.scale(this, a, s, shift);
  }
  exp(a: Tensor): Tensor {
    return ew.unary(this, 'exp', a, ew.expMap);
  }
  log(a: Tensor): Tensor {
    return ew.unary(this, 'log', a, ew.logMap);
  }
  geluTanh(a: Tensor): Tensor {
    return ew.unary(this, 'geluTanh', a, ew.geluTanhMap);
  }
  silu(a: Tensor): Tensor {
    return ew.unary(this, 'silu', a, ew.siluMap);
  }
  compare(a: Tensor, b: Tensor, op: CompareOp): Tensor<'i32'> {
    return ew.compare(this, a, b, op);
  }
  where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
    return ew.where(this, cond, a, b);
  }

  matmul(a: Tensor, b: Tensor, options?: MatmulOptions): Tensor {
    return matmul(this, a, b, options);
  }

  sum(a: Tensor): Tensor {
    return reduce.sum(this, a);
  }
  max(a: Tensor): Tensor {
    return reduce.max(this, a);
  }
  logsumexp(a: Tensor): Tensor {
    return reduce.logsumexp(this, a);
  }
  softmax(a: Tensor): Tensor {
    return reduce.softmax(this, a);
  }
  logSoftmax(a: Tensor): Tensor {
    return reduce.logSoftmax(this, a);
  }
  layerNorm(x: Tensor, weight: Tensor, eps?: number): Tensor {
    return reduce.layerNorm(this, x, weight, eps);
  }
  argmax(a: Tensor): Tensor<'i32'> {
    return reduce.argmax(this, a);
  }

  embedding(table: Tensor, ids: Tensor): Tensor {
    return gather.embedding(this, table, ids);
  }
  embeddingBag(table: Tensor, indices: Tensor, weights: Tensor): Tensor {
    return gather.embeddingBag(this, table, indices, weights);
  }
  gatherLast(x: Tensor, ids: Tensor): Tensor {
    return gather.gatherLast(this, x, ids);
  }
  oneHot<D extends FloatDType>(ids: Tensor, depth: number, dtype: D): Tensor<D> {
    return gather.oneHot(this, ids, depth, dtype);
  }
  scatterAdd(target: Tensor, indices: Tensor, src: Tensor): Tensor {
    return gather.scatterAdd(this, target, indices, src);
  }

  sampleCategorical(logits: Tensor, options: SampleOptions): Tensor<'i32'> {
    return sampleCategorical(this, logits, options);
  }
  topK(logits: Tensor, k: number): Tensor {
    return topK(this, logits, k);
  }
  topP(logits: Tensor, p: number): Tensor {
    return topP(this, logits, p);
  }

  uniform(shape: Shape, stream: RandomStream, dtype?: FloatDType): Tensor {
    return uniform(this, shape, stream, dtype);
  }
  normal(shape: Shape, stream: RandomStream, dtype?: FloatDType): Tensor {
    return normal(this, shape, stream, dtype);
  }

  async sync(): Promise<void> {}
  #released = false;
  /**
   * Releases this backend's hold on the worker pool: the workers stop when no live cpu backend uses them (they
   * restart on demand); tensors are garbage-collected.
   */
  destroy(): void {
    if (this.#released) return;
    this.#released = true;
    releaseCpuPool();
  }
}

/** Creates the cpu backend (synchronous; `createBackend('cpu')` wraps it). */
export function createCpuBackend(options: CreateBackendOptions = {}): CpuBackend {
  // the worker pool is shared by every cpu backend of the process; `threads` reconfigures it
  if (options.threads !== undefined) configureCpuPool({ threads: options.threads });
  retainCpuPool();
  return instrumentBackend(new CpuBackendImpl(options));
}
