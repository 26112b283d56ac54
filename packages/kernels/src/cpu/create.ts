import { ArgumentError, DTypeError, describeShape, ShapeError } from '../errors';
import type { ArrayFor, Backend, DType, Shape, Tensor, TypedArray } from '../types';
import { checkData, checkDtypeArg, checkShape, resolveReshape, shapeSize } from '../validate';
import { allocate } from './storage';
import { CpuTensor, output, use, wrap } from './tensor';

const ALL: readonly DType[] = ['f32', 'f64', 'i32', 'u32'];
const RANGE = { i32: [-2147483648, 2147483647], u32: [0, 4294967295] } as const;

/** The dtype a typed array stores, or undefined for a plain array. */
export function dtypeOfArray(data: ArrayLike<number>): DType | undefined {
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Float64Array) return 'f64';
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Uint32Array) return 'u32';
  return undefined;
}

/** Integer tensors take integers in range only (no silent wrap-around on creation). */
function checkIntegerValues(op: string, data: ArrayLike<number>, dtype: 'i32' | 'u32'): void {
  const [lo, hi] = RANGE[dtype];
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new ArgumentError(op, `value ${v} at index ${i}`, `integers in [${lo}, ${hi}] for ${dtype}`);
    }
  }
}

export function createTensor(
  backend: Backend,
  data: ArrayLike<number>,
  shape: Shape,
  dtype?: DType,
): CpuTensor {
  const op = 'tensor';
  checkData(op, data);
  const resolved = dtype ?? dtypeOfArray(data);
  if (resolved === undefined) {
    throw new DTypeError(op, 'a plain array without a dtype', 'a dtype argument or a typed array');
  }
  checkDtypeArg(op, resolved, ALL);
  checkShape(op, shape);
  if (data.length !== shapeSize(shape)) {
    throw new ShapeError(
      op,
      `${data.length} values for shape ${describeShape(shape)}`,
      `${shapeSize(shape)} values`,
    );
  }
  if ((resolved === 'i32' || resolved === 'u32') && dtypeOfArray(data) !== resolved) {
    checkIntegerValues(op, data, resolved);
  }
  const out = allocate(resolved, data.length, shape);
  out.set(data);
  return wrap(backend, shape, resolved, out);
}

export function createFull<D extends DType>(
  backend: Backend,
  shape: Shape,
  value: number,
  dtype: D,
): CpuTensor<D> {
  const op = 'full';
  checkDtypeArg(op, dtype, ALL);
  checkShape(op, shape);
  if (dtype === 'i32' || dtype === 'u32') checkIntegerValues(op, [value], dtype);
  const t = output(backend, shape, dtype);
  if (value !== 0) t.data.fill(value);
  return t;
}

/** Elementwise conversion; float → integer truncates toward zero, then wraps like a typed-array store. */
export function castTensor<D extends DType>(backend: Backend, x: Tensor, dtype: D): CpuTensor<D> {
  const op = 'cast';
  const src = use(op, 'x', x, backend);
  checkDtypeArg(op, dtype, ALL);
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
  const src = use('reshape', 'x', x, backend) as CpuTensor<D>;
  return new CpuTensor(backend, resolveReshape('reshape', src.shape, shape), src.dtype, src.data);
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
