/**
 * The WebGPU extension of the Backend interface, for kernels written outside the backend: a tensor's buffer, a
 * tensor over a caller's buffer, and `runKernel` (a whole WGSL module over tensors and uniforms).
 */
import { GPU_DTYPES } from '../checks/dtypes';
import { ArgumentError, describeShape, ShapeError } from '../errors';
import type { CustomKernel, DType, Shape, Tensor } from '../types';
import { checkDtypeArg, checkShape, shapeSize } from '../validate';
import type { GpuContext } from './context';
import type { GpuTensor } from './tensor';

export function bufferOf(g: GpuContext, t: Tensor): GPUBuffer {
  return g.use('bufferOf', 't', t).buffer;
}

/** Wraps a storage buffer the caller hands over (STORAGE | COPY_SRC usage, big enough for the shape). */
export function fromBuffer<D extends DType>(
  g: GpuContext,
  buffer: GPUBuffer,
  shape: Shape,
  dtype: D,
): GpuTensor<D> {
  const op = 'fromBuffer';
  g.alive(op);
  checkDtypeArg(op, dtype, GPU_DTYPES);
  checkShape(op, shape);
  const need = shapeSize(shape) * 4;
  if (buffer.size < need) {
    throw new ShapeError(
      op,
      `a buffer of ${buffer.size} bytes`,
      `at least ${need} bytes for ${describeShape(shape)}`,
    );
  }
  if (!(buffer.usage & GPUBufferUsage.STORAGE) || !(buffer.usage & GPUBufferUsage.COPY_SRC)) {
    throw new ArgumentError(op, `buffer usage ${buffer.usage}`, 'STORAGE | COPY_SRC usage');
  }
  return g.wrap(buffer, shape, dtype);
}

/**
 * Runs a caller's WGSL module: bindings @group(0) @binding(i) in the order of `kernel.bindings` (uniforms are
 * copied into temporary uniform buffers), entry point `main`. The promise settles with the kernel's own error
 * scopes (see GpuRuntime.runRaw).
 */
export function runKernel(g: GpuContext, kernel: CustomKernel): Promise<void> {
  const op = `runKernel(${kernel.name})`;
  g.alive(op);
  const bindings = kernel.bindings.map((b, i) => {
    if ('uniform' in b) {
      const bytes = Math.max(16, Math.ceil(b.uniform.byteLength / 16) * 16);
      const buffer = g.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      g.device.queue.writeBuffer(buffer, 0, b.uniform);
      return { buffer, type: 'uniform' as const, temporary: true };
    }
    const t = g.use(op, `binding ${i}`, b.tensor);
    const type = b.access === 'read' ? ('read-only-storage' as const) : ('storage' as const);
    return { buffer: t.buffer, type, temporary: false };
  });
  const [x, y = 1, z = 1] = kernel.workgroups;
  const run = g.rt.runRaw(op, kernel.name, kernel.wgsl, bindings, [x, y, z]);
  for (const b of bindings) if (b.temporary) b.buffer.destroy();
  return run;
}
