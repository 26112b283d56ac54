import { WebGPUUnavailableError } from '../errors';
import type { CreateBackendOptions } from '../types';

export interface AcquiredDevice {
  device: GPUDevice;
  /** Whether the backend requested the device itself (and so destroys it in `destroy()`). */
  owned: boolean;
  /** Where the device came from, for messages. */
  source: string;
  /**
   * The GPU entry point the device came from. Dawn for Node lives only as long as this object is referenced,
   * so the backend holds it until `destroy()` (after which Node can exit).
   */
  gpu?: GPU;
}

const OP = 'createWebGPUBackend';

/**
 * Finds a GPUDevice: `options.device`, else an adapter from `options.gpu`, else `navigator.gpu` (browser),
 * else Node's optional `webgpu` package (Dawn, OpenGL ES backend, compatibility feature level).
 * Throws WebGPUUnavailableError naming everything tried when none gives an adapter and a device.
 */
export async function acquireDevice(options: CreateBackendOptions): Promise<AcquiredDevice> {
  if (options.device) return { device: options.device, owned: false, source: 'options.device' };
  const tried: string[] = [];
  const candidates: Array<{
    name: string;
    gpu: () => Promise<GPU | undefined>;
    request?: GPURequestAdapterOptions;
  }> = [];
  if (options.gpu) candidates.push({ name: 'options.gpu', gpu: async () => options.gpu });
  else {
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (nav?.gpu) candidates.push({ name: 'navigator.gpu', gpu: async () => nav.gpu });
    if (isNode()) {
      candidates.push({
        name: "the 'webgpu' package (Dawn, backend=opengles)",
        gpu: loadNodeWebGPU,
        request: { featureLevel: 'compatibility' },
      });
    }
  }
  if (candidates.length === 0) tried.push('navigator.gpu (absent)');
  for (const candidate of candidates) {
    try {
      const gpu = await candidate.gpu();
      if (!gpu) {
        tried.push(`${candidate.name} (not available)`);
        continue;
      }
      const adapter = await gpu.requestAdapter(candidate.request);
      if (!adapter) {
        tried.push(`${candidate.name} (no adapter)`);
        continue;
      }
      const device = await adapter.requestDevice({ requiredLimits: usefulLimits(adapter) });
      return { device, owned: true, source: candidate.name, gpu };
    } catch (error) {
      tried.push(`${candidate.name} (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  throw new WebGPUUnavailableError(
    OP,
    `no WebGPU adapter or device; tried ${tried.join(', ')}`,
    'a WebGPU device',
  );
}

/** Asks for the adapter's storage-buffer and buffer-size limits (the defaults are lower than most adapters). */
function usefulLimits(adapter: GPUAdapter): Record<string, number> {
  const l = adapter.limits;
  return {
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
  };
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

interface NodeWebGPUModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/** Loads Dawn for Node (the optional `webgpu` package); surfaceless EGL lets it run without a display. */
async function loadNodeWebGPU(): Promise<GPU | undefined> {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
  if (env && env.EGL_PLATFORM === undefined) env.EGL_PLATFORM = 'surfaceless';
  const name = 'webgpu';
  const mod = (await import(/* @vite-ignore */ name)) as NodeWebGPUModule;
  // TypeGPU reads the GPUBufferUsage/GPUShaderStage constants from globalThis.
  if (typeof (globalThis as { GPUBufferUsage?: unknown }).GPUBufferUsage === 'undefined') {
    Object.assign(globalThis, mod.globals);
  }
  return mod.create(['backend=opengles']);
}
