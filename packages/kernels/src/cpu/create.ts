import { dtypeOfArray, validateCast, validateFull, validateReshape, validateTensor } from '../checks/create';
import { DTypeError, describeShape, ShapeError } from '../errors';
import type { ArrayFor, Backend, DType, Shape, Tensor, TypedArray } from '../types';
import { checkShape, shapeSize } from '../validate';
import { allocate } from './storage';
import { CpuTensor, output, wrap } from './tensor';

export function createTensor(
  backend: Backend,
  data: ArrayLike<number>,
  shape: Shape,
  dtype?: DType,
): CpuTensor {
  const resolved = validateTensor(backend, data, shape, dtype);
  const out = allocate(resolved, data.length, shape);
  out.set(data);
  return wrap(backend, shape, resolved, out);
}

/** `zeros` (value 0) and `full`. */
export function createFull<D extends DType>(
  backend: Backend,
  op: 'zeros' | 'full',
  shape: Shape,
  value: number,
  dtype: D,
): CpuTensor<D> {
  validateFull(backend, op, shape, value, dtype);
  const t = output(backend, shape, dtype);
  if (value !== 0) t.data.fill(value);
  return t;
}

/** Elementwise conversion; float → integer truncates toward zero, then wraps like a typed-array store. */
export function castTensor<D extends DType>(backend: Backend, x: Tensor, dtype: D): CpuTensor<D> {
  validateCast(backend, x, dtype);
  const src = x as CpuTensor;
  const out = output(backend, src.shape, dtype);
  const from = src.data;
  const to = out.data;
  if (dtype === 'i32' || dtype === 'u32') {
    for (let i = 0; i < from.length; i++) to[i] = Math.trunc(from[i]);
  } else {
    to.set(from);
  }
  return out;
}

/** A view with a new shape (one −1 is inferred); the storage is shared. */
export function reshapeTensor<D extends DType>(backend: Backend, x: Tensor<D>, shape: Shape): CpuTensor<D> {
  const resolved = validateReshape(backend, x, shape);
  const src = x as CpuTensor<D>;
  return new CpuTensor(backend, resolved, src.dtype, src.data);
}

export function fromArray<D extends DType>(backend: Backend, data: ArrayFor<D>, shape: Shape): CpuTensor<D> {
  const op = 'fromArray';
  const dtype = dtypeOfArray(data as TypedArray);
  if (dtype === undefined) {
    throw new DTypeError(op, 'a plain array', 'a Float32Array | Float64Array | Int32Array | Uint32Array');
  }
  checkShape(op, shape);
  if (data.length !== shapeSize(shape)) {
    throw new ShapeError(
      op,
      `${data.length} values for shape ${describeShape(shape)}`,
      `${shapeSize(shape)} values`,
    );
  }
  return wrap(backend, shape, dtype as D, data);
}
