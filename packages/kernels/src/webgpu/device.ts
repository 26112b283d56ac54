import { WebGPUUnavailableError } from '../errors';
import type { CreateBackendOptions } from '../types';

export interface AcquiredDevice {
  device: GPUDevice;
  /** The adapter's name for messages (vendor, architecture, device, description), when an adapter was asked. */
  adapter?: string;
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
export async function acquireDevice(
  options: CreateBackendOptions,
  { rejectSoftware = false }: { rejectSoftware?: boolean } = {},
): Promise<AcquiredDevice> {
  if (options.device) return { device: options.device, owned: false, source: 'options.device' };
  const tried: string[] = [];
  const software: string[] = [];
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
      const named = describeAdapter(adapter);
      if (rejectSoftware && named.software) {
        software.push(named.name);
        continue;
      }
      const device = await adapter.requestDevice({ requiredLimits: usefulLimits(adapter) });
      return { device, owned: true, source: candidate.name, gpu, adapter: named.name };
    } catch (error) {
      tried.push(`${candidate.name} (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  if (software.length > 0 && tried.length === 0) {
    throw new WebGPUUnavailableError(
      OP,
      `only a software adapter (${software.join(', ')})`,
      'a hardware WebGPU adapter',
      'a software adapter is usually slower than the cpu backend; pass allowSoftwareAdapter: true to use it',
    );
  }
  const rejected = software.map((name) => `a software adapter (${name})`);
  throw new WebGPUUnavailableError(
    OP,
    `no WebGPU adapter or device; tried ${[...tried, ...rejected].join(', ')}`,
    'a WebGPU device',
  );
}

/** Names that mark a software rasterizer among an adapter's info fields. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|swrast|microsoft basic render|\bwarp\b/i;

/**
 * An adapter's name for messages, and whether it is a software rasterizer: the spec's `isFallbackAdapter`
 * (info, or the older adapter property), or an info field naming llvmpipe, lavapipe, SwiftShader, WARP….
 */
export function describeAdapter(adapter: GPUAdapter): { name: string; software: boolean } {
  const info = (adapter.info ?? {}) as Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean };
  const fields = [info.vendor, info.architecture, info.device].filter((f): f is string => !!f);
  const description = info.description ? ` (${info.description})` : '';
  const name =
    fields.length > 0 ? `${fields.join(' ')}${description}` : info.description || 'an unnamed adapter';
  const fallback =
    info.isFallbackAdapter === true ||
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  const software = fallback || SOFTWARE_ADAPTER.test(`${fields.join(' ')} ${info.description ?? ''}`);
  return { name: fallback ? `${name}, fallback adapter` : name, software };
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
