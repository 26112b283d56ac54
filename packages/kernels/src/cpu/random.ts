import { validateSample, validateStream } from '../checks/random';
import { normalsFromWords } from '../rng/normal';
import { type PhiloxKey, philoxKey, philoxWords, wordToUniform } from '../rng/philox';
import type { Backend, FloatDType, RandomStream, SampleOptions, Shape, Tensor } from '../types';
import { allMinusInfinity } from '../validate';
import { checkNoNaN } from './filter';
import type { FloatArray } from './matmul';
import { cpuKernelLimits, cpuPoolThreads, runJob } from './pool';
import { sampleCategoricalKernel } from './sample';
import { isShared } from './storage';
import { type CpuTensor, output } from './tensor';

/** Element e = uniform of stream word offset + e (Philox layout in rng/philox.ts). */
export function uniform(backend: Backend, shape: Shape, stream: RandomStream, dtype: FloatDType = 'f32') {
  const { offset, count } = validateStream(backend, 'uniform', shape, stream, dtype);
  const out = output(backend, shape, dtype);
  fillStream('uniform', philoxKey(stream.seed), offset, count, out.data as FloatArray);
  return out;
}

/** Element e = normal of stream element offset + e (Box–Muller layout in rng/normal.ts). */
export function normal(backend: Backend, shape: Shape, stream: RandomStream, dtype: FloatDType = 'f32') {
  const { offset, count } = validateStream(backend, 'normal', shape, stream, dtype);
  const out = output(backend, shape, dtype);
  fillStream('normal', philoxKey(stream.seed), offset, count, out.data as FloatArray);
  return out;
}

export type StreamKind = 'uniform' | 'normal';

/**
 * out[e] = element offset + e of the uniform or normal stream with this key, e < count. Fast path: the wasm
 * SIMD kernels (same bits as the JS reference: exact integer Philox, exact uniforms, and the normal transform's
 * f32 operation sequence, which wasm rounds exactly like Math.fround), threaded over chunks for large counts.
 * The JS reference runs for tiny counts and wherever the wasm module is not (yet) available.
 */
export function fillStream(kind: StreamKind, key: PhiloxKey, offset: number, count: number, out: FloatArray) {
  if (count >= cpuKernelLimits.randomWasmMinElements && fillStreamWasm(kind, key, offset, count, out)) return;
  fillStreamReference(kind, key, offset, count, out);
}

function fillStreamWasm(kind: StreamKind, key: PhiloxKey, offset: number, count: number, out: FloatArray) {
  if (count === 0) return true;
  const parallel =
    count >= cpuKernelLimits.randomParallelMinElements && isShared(out) && cpuPoolThreads() > 1;
  const chunk = parallel ? cpuKernelLimits.randomTaskElements : count;
  const job = {
    kind: 'random' as const,
    tasks: Math.ceil(count / chunk),
    kernel: `${kind}${out instanceof Float64Array ? 'F64' : 'F32'}`,
    out,
    k0: key.k0 | 0,
    k1: key.k1 | 0,
    offset,
    count,
    chunk,
  };
  return runJob(job, parallel);
}

/** The reference: Philox in JS (rng/philox.ts) and the Math.fround emulation of the normal transform. */
export function fillStreamReference(
  kind: StreamKind,
  key: PhiloxKey,
  offset: number,
  count: number,
  out: FloatArray,
): void {
  if (count === 0) return;
  if (kind === 'uniform') {
    const words = philoxWords(key, offset, count);
    for (let i = 0; i < count; i++) out[i] = wordToUniform(words[i]);
    return;
  }
  const first = offset - (offset % 4);
  const wordCount = Math.ceil((offset + count - first) / 4) * 4;
  normalsFromWords(philoxWords(key, first, wordCount), offset, count, out);
}

/** One Gumbel-max draw per row of logits [..., V] → i32 [...]; row r reads uniforms offset + r·V …. */
export function sampleCategorical(
  backend: Backend,
  logits: Tensor,
  options: SampleOptions,
): CpuTensor<'i32'> {
  const op = 'sampleCategorical';
  const { rows, n, outer, offset, temperature } = validateSample(backend, logits, options);
  const tl = logits as CpuTensor;
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
  const empty = out.data.indexOf(-1);
  if (empty >= 0) throw allMinusInfinity(op, empty);
  return out;
}
