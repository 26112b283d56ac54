/** Philox streams on the device: uniform, normal and the raw words, bit-identical to the cpu backend. */
import { validateStream } from '../checks/random';
import { philoxKey } from '../rng/philox';
import type { FloatDType, RandomStream, Shape } from '../types';
import { type GpuContext, groupsOf, type SpecOf, split64 } from './context';
import { normalSpec, uniformSpec } from './kernels/random';
import type { GpuTensor } from './tensor';

/** Elements per workgroup's worth of Philox blocks (one invocation per block of 4 words). */
const BLOCK_WG = 64;

/** Fills a new [shape] tensor of `dtype` with elements offset … offset + size − 1 of a stream kernel. */
function fillStream(
  g: GpuContext,
  op: string,
  shape: Shape,
  stream: RandomStream,
  argDtype: FloatDType,
  outDtype: 'f32' | 'u32',
  spec: SpecOf,
  extra: Record<string, unknown> = {},
): GpuTensor {
  g.alive(op);
  const { offset, count } = validateStream(g.backend, op, shape, stream, argDtype);
  const { k0, k1 } = philoxKey(stream.seed);
  const skip = offset % 4;
  const blocks = Math.ceil((count + skip) / 4);
  const params = { size: count, k0, k1, block: split64((offset - skip) / 4), skip, ...extra };
  const out = g.output(shape, outDtype);
  g.run(op, spec, op, { out: out.buffer }, params, groupsOf(blocks, BLOCK_WG));
  return out;
}

/** Element e = uniform of stream word offset + e. */
export function uniform(
  g: GpuContext,
  shape: Shape,
  stream: RandomStream,
  dtype: FloatDType = 'f32',
): GpuTensor {
  return fillStream(g, 'uniform', shape, stream, dtype, 'f32', () => uniformSpec(false));
}

/** The raw Philox words of a stream (u32), for tests and for kernels that need their own transforms. */
export function uniformWords(g: GpuContext, shape: Shape, stream: RandomStream): GpuTensor<'u32'> {
  const spec = () => uniformSpec(true);
  return fillStream(g, 'uniformWords', shape, stream, 'f32', 'u32', spec) as GpuTensor<'u32'>;
}

/** Element e = normal of stream element offset + e (Box–Muller twin of rng/normal.ts). */
export function normal(
  g: GpuContext,
  shape: Shape,
  stream: RandomStream,
  dtype: FloatDType = 'f32',
): GpuTensor {
  return fillStream(g, 'normal', shape, stream, dtype, 'f32', normalSpec, { zero: 0 });
}
