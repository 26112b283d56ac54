/** Checks of the stream ops (uniform, normal, sampleCategorical), shared by every backend. */
import type { Backend, DType, RandomStream, SampleOptions, Shape, Tensor } from '../types';
import {
  checkDtype,
  checkDtypeArg,
  checkShape,
  checkStreamRange,
  checkTemperature,
  checkTensor,
  FLOAT,
  lastAxis,
  shapeSize,
  streamOffset,
} from '../validate';
import { floatDtypesOf } from './dtypes';

/** uniform/normal(shape, stream, dtype): returns the stream offset and the element count. */
export function validateStream(
  backend: Backend,
  op: string,
  shape: Shape,
  stream: RandomStream,
  dtype: DType,
): { offset: number; count: number } {
  checkShape(op, shape);
  checkDtypeArg(op, dtype, floatDtypesOf(backend));
  const offset = streamOffset(op, stream);
  const count = shapeSize(shape);
  checkStreamRange(op, offset, count);
  return { offset, count };
}

export interface SampleCall {
  rows: number;
  n: number;
  outer: number[];
  offset: number;
  temperature: number;
}

/** sampleCategorical(logits [..., V] float, { seed, offset?, temperature? }). */
export function validateSample(backend: Backend, logits: Tensor, options: SampleOptions): SampleCall {
  const op = 'sampleCategorical';
  checkTensor(op, 'logits', logits, backend);
  checkDtype(op, 'logits', logits, FLOAT);
  const { rows, n, outer } = lastAxis(op, 'logits', logits);
  const offset = streamOffset(op, options, 'options');
  checkStreamRange(op, offset, rows * n);
  const temperature = options.temperature ?? 1;
  checkTemperature(op, temperature);
  return { rows, n, outer, offset, temperature };
}
