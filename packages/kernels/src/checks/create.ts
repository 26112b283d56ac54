/** Checks of the tensor-creating ops (tensor, zeros, full, cast, reshape), shared by every backend. */
import { ArgumentError, DTypeError, describeShape, ShapeError } from '../errors';
import type { Backend, DType, Shape, Tensor } from '../types';
import { checkData, checkDtypeArg, checkShape, checkTensor, resolveReshape, shapeSize } from '../validate';
import { dtypesOf } from './dtypes';

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
export function checkIntegerValues(op: string, data: ArrayLike<number>, dtype: 'i32' | 'u32'): void {
  const [lo, hi] = RANGE[dtype];
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new ArgumentError(op, `value ${v} at index ${i}`, `integers in [${lo}, ${hi}] for ${dtype}`);
    }
  }
}

const isInteger = (dtype: DType): dtype is 'i32' | 'u32' => dtype === 'i32' || dtype === 'u32';

/** `tensor(data, shape, dtype?)`: returns the dtype (given, or the typed array's). */
export function validateTensor(
  backend: Backend,
  data: ArrayLike<number>,
  shape: Shape,
  dtype?: DType,
): DType {
  const op = 'tensor';
  checkData(op, data);
  const resolved = dtype ?? dtypeOfArray(data);
  if (resolved === undefined) {
    throw new DTypeError(op, 'a plain array without a dtype', 'a dtype argument or a typed array');
  }
  checkDtypeArg(op, resolved, dtypesOf(backend));
  checkShape(op, shape);
  const size = shapeSize(shape);
  if (data.length !== size) {
    throw new ShapeError(op, `${data.length} values for shape ${describeShape(shape)}`, `${size} values`);
  }
  if (isInteger(resolved) && dtypeOfArray(data) !== resolved) checkIntegerValues(op, data, resolved);
  return resolved;
}

/** `zeros(shape, dtype)` and `full(shape, value, dtype)` (integer dtypes take integer values in range). */
export function validateFull(
  backend: Backend,
  op: 'zeros' | 'full',
  shape: Shape,
  value: number,
  dtype: DType,
): void {
  checkDtypeArg(op, dtype, dtypesOf(backend));
  checkShape(op, shape);
  if (isInteger(dtype)) checkIntegerValues(op, [value], dtype);
}

/** `cast(x, dtype)`. */
export function validateCast(backend: Backend, x: Tensor, dtype: DType): void {
  checkTensor('cast', 'x', x, backend);
  checkDtypeArg('cast', dtype, dtypesOf(backend));
}

/** `reshape(x, shape)`: returns the resolved shape (one −1 inferred). */
export function validateReshape(backend: Backend, x: Tensor, shape: Shape): number[] {
  checkTensor('reshape', 'x', x, backend);
  return resolveReshape('reshape', x.shape, shape);
}
