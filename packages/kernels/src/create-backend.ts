import { createCpuBackend } from './cpu/backend';
import { WebGPUUnavailableError } from './errors';
import type { Backend, CreateBackendOptions } from './types';

/**
 * Creates a backend. `cpu` runs on typed arrays (f64-capable reference); `webgpu` runs WGSL through TypeGPU on
 * the given device, the browser's `navigator.gpu`, or Node's `webgpu` package (an optional dependency, loaded
 * only here); `auto` takes WebGPU when an adapter exists and says on stderr which it took.
 */
export async function createBackend(
  kind: 'cpu' | 'webgpu' | 'auto' = 'auto',
  options: CreateBackendOptions = {},
): Promise<Backend> {
  if (kind === 'cpu') return createCpuBackend(options);
  const { createWebGPUBackend } = await import('./webgpu/backend');
  if (kind === 'webgpu') return createWebGPUBackend(options);
  const log = options.log ?? ((m: string) => console.error(m));
  try {
    const backend = await createWebGPUBackend(options);
    log('duality: using the webgpu backend');
    return backend;
  } catch (error) {
    if (!(error instanceof WebGPUUnavailableError)) throw error;
    log(`duality: using the cpu backend (${error.message})`);
    return createCpuBackend(options);
  }
}
