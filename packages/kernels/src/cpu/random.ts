import { normalsFromWords } from '../rng/normal';
import { philoxKey, philoxWords, wordToUniform } from '../rng/philox';
import type { Backend, FloatDType, RandomStream, SampleOptions, Shape, Tensor } from '../types';
import {
  checkDtype,
  checkDtypeArg,
  checkSeed,
  checkShape,
  checkStreamRange,
  checkTemperature,
  FLOAT,
  lastAxis,
  shapeSize,
} from '../validate';
import { checkNoNaN } from './filter';
import type { FloatArray } from './matmul';
import { sampleCategoricalKernel } from './sample';
import { type CpuTensor, output, use } from './tensor';

/** Validates a random-tensor request and returns its offset and element count. */
function checkRequest(op: string, shape: Shape, stream: RandomStream, dtype: FloatDType) {
  checkShape(op, shape);
  checkDtypeArg(op, dtype, FLOAT);
  const offset = stream.offset ?? 0;
  checkSeed(op, stream.seed, offset);
  const count = shapeSize(shape);
  checkStreamRange(op, offset, count);
  return { offset, count };
}

/** Element e = uniform of stream word offset + e (Philox layout in rng/philox.ts). */
export function uniform(backend: Backend, shape: Shape, stream: RandomStream, dtype: FloatDType = 'f32') {
  const { offset, count } = checkRequest('uniform', shape, stream, dtype);
  const words = philoxWords(philoxKey(stream.seed), offset, count);
  const out = output(backend, shape, dtype);
  for (let i = 0; i < count; i++) out.data[i] = wordToUniform(words[i]);
  return out;
}

/** Element e = normal of stream element offset + e (Box–Muller layout in rng/normal.ts). */
export function normal(backend: Backend, shape: Shape, stream: RandomStream, dtype: FloatDType = 'f32') {
  const { offset, count } = checkRequest('normal', shape, stream, dtype);
  const out = output(backend, shape, dtype);
  if (count === 0) return out;
  const first = offset - (offset % 4);
  const last = offset + count;
  const wordCount = Math.ceil((last - first) / 4) * 4;
  const words = philoxWords(philoxKey(stream.seed), first, wordCount);
  normalsFromWords(words, offset, count, out.data as Float32Array | Float64Array);
  return out;
}

/** One Gumbel-max draw per row of logits [..., V] → i32 [...]; row r reads uniforms offset + r·V …. */
export function sampleCategorical(
  backend: Backend,
  logits: Tensor,
  options: SampleOptions,
): CpuTensor<'i32'> {
  const op = 'sampleCategorical';
  const tl = use(op, 'logits', logits, backend);
  checkDtype(op, 'logits', tl, FLOAT);
  const { rows, n, outer } = lastAxis(op, 'logits', tl);
  const offset = options.offset ?? 0;
  checkSeed(op, options.seed, offset);
  checkStreamRange(op, offset, rows * n);
  const temperature = options.temperature ?? 1;
  checkTemperature(op, temperature);
  const out = output(backend, outer, 'i32');
  const key = philoxKey(options.seed);
  const sawNaN = sampleCategoricalKernel(
    tl.data as FloatArray,
    rows,
    n,
    key,
    offset,
    1 / temperature,
    out.data,
  );
  // the kernel spots NaN in its own pass; only then scan to name the row and index (the output is dropped)
  if (sawNaN) checkNoNaN(op, tl.data, n);
  return out;
}
