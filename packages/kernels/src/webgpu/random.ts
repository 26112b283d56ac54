/** Philox streams on the device: uniform, normal and the raw words, bit-identical to the cpu backend. */
import { validateStream } from '../checks/random';
import { philoxKey } from '../rng/philox';
import type { FloatDType, RandomStream, Shape } from '../types';
import { type GpuContext, groupsOf, type SpecOf, split64 } from './context';
import { normalSpec, uniformSpec } from './kernels/random';
import type { GpuTensor } from './tensor';
import { operand, windowed } from './windows';

/** Elements per workgroup's worth of Philox blocks (one invocation per block of 4 words). */
const BLOCK_WG = 64;

/** A new [shape] tensor of stream elements offset … offset + size − 1 (element windows when too big). */
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
  const out = g.output(shape, outDtype);
  // elements first … first + size − 1 of the output are stream elements offset + first …, in any window
  const run = (size: number, first: number, buffers: Record<string, GPUBuffer>) => {
    const at = offset + first;
    const skip = at % 4;
    const blocks = Math.ceil((size + skip) / 4);
    const params = { size, k0, k1, block: split64((at - skip) / 4), skip, ...extra };
    g.run(op, spec, op, buffers, params, groupsOf(blocks, BLOCK_WG));
  };
  if (!windowed(g, op, count, [], [operand('out', out, 1)], run)) run(count, 0, { out: out.buffer });
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
