import { createCpuBackend } from './cpu/backend';
import { warmCpuPool } from './cpu/pool';
import { kernelsReady } from './cpu/wasm/module';
import { ArgumentError, WebGPUUnavailableError } from './errors';
import type { Backend, CreateBackendOptions } from './types';

/**
 * Creates a backend. `cpu` runs on typed arrays (f64-capable reference); `webgpu` runs WGSL through TypeGPU on
 * the given device, the browser's `navigator.gpu`, or Node's `webgpu` package (an optional dependency, loaded
 * only here); `auto` takes WebGPU when a hardware adapter exists (a software rasterizer such as llvmpipe or
 * SwiftShader only with `allowSoftwareAdapter: true`: it is usually slower than the cpu backend) and says on the
 * log which backend and adapter it took, or why it fell back to cpu.
 */
export async function createBackend(
  kind: 'cpu' | 'webgpu' | 'auto' = 'auto',
  options: CreateBackendOptions = {},
): Promise<Backend> {
  checkKind(kind, options);
  if (kind === 'cpu') return createCpu(options);
  const { createWebGPUBackend } = await import('./webgpu/backend');
  if (kind === 'webgpu') return createWebGPUBackend(options);
  const log = options.log ?? ((m: string) => console.error(m));
  try {
    let adapter = '';
    const backend = await createWebGPUBackend(
      options,
      {},
      { rejectSoftware: !options.allowSoftwareAdapter, onAdapter: (name) => (adapter = name) },
    );
    log(`duality: using the webgpu backend (adapter: ${adapter})`);
    return backend;
  } catch (error) {
    if (!(error instanceof WebGPUUnavailableError)) throw error;
    log(`duality: using the cpu backend (${error.message})`);
    return createCpu(options);
  }
}

/** The cpu backend with its worker pool started and ready (in a browser worker, jobs are inline until then). */
async function createCpu(options: CreateBackendOptions): Promise<Backend> {
  const backend = createCpuBackend(options);
  await kernelsReady();
  await warmCpuPool();
  return backend;
}

const KINDS = ['cpu', 'webgpu', 'auto'] as const;

/** An unknown kind is refused (never taken as 'auto'); options must be an object. */
function checkKind(kind: unknown, options: unknown): void {
  if (!(KINDS as readonly unknown[]).includes(kind)) {
    const got = typeof kind === 'string' ? `kind '${kind}'` : `kind ${String(kind)}`;
    throw new ArgumentError('createBackend', got, KINDS.map((k) => `'${k}'`).join(' | '));
  }
  if (options === null || typeof options !== 'object') {
    throw new ArgumentError('createBackend', `options ${String(options)}`, 'an options object');
  }
}
