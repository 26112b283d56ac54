import { deferDispose, trackTensor } from '../autograd/engine';
import { DisposedTensorError } from '../errors';
import type { ArrayFor, Backend, DType, Shape, Tensor, TypedArray } from '../types';
import { checkTensor, shapeSize } from '../validate';
import { allocate } from './storage';

/**
 * A cpu tensor: a row-major typed array plus its shape. `reshape` makes views that share the array; disposing a
 * tensor releases its own handle only (views stay usable).
 */
export class CpuTensor<D extends DType = DType> implements Tensor<D> {
  readonly shape: Shape;
  readonly size: number;
  #data: ArrayFor<D>;
  #disposed = false;

  constructor(
    readonly backend: Backend,
    shape: Shape,
    readonly dtype: D,
    data: ArrayFor<D>,
  ) {
    this.shape = Object.freeze([...shape]);
    this.size = shapeSize(shape);
    this.#data = data;
    trackTensor(this);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** The storage (throws after dispose). */
  get data(): ArrayFor<D> {
    if (this.#disposed) throw new DisposedTensorError('data', 'a disposed tensor', 'a live tensor');
    return this.#data;
  }

  async read(): Promise<ArrayFor<D>> {
    if (this.#disposed) throw new DisposedTensorError('read', 'a disposed tensor', 'a live tensor');
    return this.#data.slice() as ArrayFor<D>;
  }

  dispose(): void {
    if (this.#disposed || deferDispose(this)) return;
    this.#disposed = true;
    this.#data = allocate(this.dtype, 0) as ArrayFor<D>;
  }
}

/** Checks that `t` is a live tensor of `backend` and returns it as a cpu tensor. */
export function use(op: string, name: string, t: Tensor, backend: Backend): CpuTensor {
  checkTensor(op, name, t, backend);
  return t as CpuTensor;
}

/** A new zero-filled output tensor. */
export function output<D extends DType>(backend: Backend, shape: Shape, dtype: D): CpuTensor<D> {
  return new CpuTensor(backend, shape, dtype, allocate(dtype, shapeSize(shape), shape) as ArrayFor<D>);
}

/** Wraps an existing array (no copy). */
export function wrap<D extends DType>(
  backend: Backend,
  shape: Shape,
  dtype: D,
  data: TypedArray,
): CpuTensor<D> {
  return new CpuTensor(backend, shape, dtype, data as ArrayFor<D>);
}
