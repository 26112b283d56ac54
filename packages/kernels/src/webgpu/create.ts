/** Tensor creation on the device: tensor (one writeBuffer), zeros, full (a fill kernel), cast, reshape (an alias). */
import { validateCast, validateFull, validateReshape, validateTensor } from '../checks/create';
import type { DType, Shape, Tensor, TypedArray } from '../types';
import type { GpuContext } from './context';
import { groupsOf } from './context';
import { castSpec, EW_WG, fillSpec } from './kernels/elementwise';
import type { Scalar } from './runtime';
import type { GpuTensor } from './tensor';
import { elementWindows } from './windows';

const CTORS = { f32: Float32Array, i32: Int32Array, u32: Uint32Array } as const;

export function createTensor(g: GpuContext, data: ArrayLike<number>, shape: Shape, dtype?: DType): GpuTensor {
  g.alive('tensor');
  const resolved = validateTensor(g.backend, data, shape, dtype) as Scalar;
  const host = data instanceof CTORS[resolved] ? (data as TypedArray) : CTORS[resolved].from(data);
  const out = g.output(shape, resolved);
  // Raw queue.writeBuffer rather than TgpuBuffer.write: the latter keeps a host-side copy of the whole buffer.
  if (out.size > 0) g.device.queue.writeBuffer(out.buffer, 0, host.buffer, host.byteOffset, out.size * 4);
  return out;
}

export function zeros<D extends DType>(g: GpuContext, shape: Shape, dtype: D): GpuTensor<D> {
  g.alive('zeros');
  validateFull(g.backend, 'zeros', shape, 0, dtype);
  return g.output(shape, dtype); // WebGPU buffers start zeroed
}

export function full<D extends DType>(g: GpuContext, shape: Shape, value: number, dtype: D): GpuTensor<D> {
  const op = 'full';
  g.alive(op);
  validateFull(g.backend, op, shape, value, dtype);
  const out = g.output(shape, dtype);
  const bits = new Uint32Array(new CTORS[dtype as Scalar]([value]).buffer)[0];
  if (bits !== 0) {
    const params = { size: out.size, value: bits };
    g.run(op, fillSpec, 'fill', { out: out.buffer }, params, groupsOf(out.size, EW_WG));
  }
  return out;
}

/** Elementwise conversion (out-of-range floats saturate, as WGSL converts), over element windows when too big. */
export function cast<D extends DType>(g: GpuContext, x: Tensor, dtype: D): GpuTensor<D> {
  const op = 'cast';
  g.alive(op);
  validateCast(g.backend, x, dtype);
  const src = x as GpuTensor;
  const out = g.output(src.shape, dtype);
  if (src.dtype === dtype) {
    g.copy(op, src.buffer, out.buffer, src.size);
    return out;
  }
  const [from, to] = [src.dtype as Scalar, dtype as Scalar];
  const run = (size: number, buffers: Record<string, GPUBuffer>) =>
    g.run(
      op,
      () => castSpec(from, to),
      `cast_${from}_${to}`,
      buffers,
      { size, value: 0 },
      groupsOf(size, EW_WG),
    );
  if (!elementWindows(g, op, src, out, (count, _first, buffers) => run(count, buffers))) {
    run(src.size, { a: src.buffer, out: out.buffer });
  }
  return out;
}

/** An alias: the new tensor shares the buffer (it stays alive until every alias is disposed). */
export function reshape<D extends DType>(g: GpuContext, x: Tensor<D>, shape: Shape): GpuTensor<D> {
  g.alive('reshape');
  const resolved = validateReshape(g.backend, x, shape);
  return g.alias(x as GpuTensor<D>, resolved);
}
