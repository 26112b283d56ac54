import type { Backend, CpuBackend, WebGPUBackend } from './types';

/** Narrows a backend to the cpu one (zero-copy `dataOf` / `fromArray`). */
export const isCpuBackend = (b: Backend): b is CpuBackend => b.name === 'cpu';
/** Narrows a backend to the webgpu one (`device`, `bufferOf`, `runKernel`). */
export const isWebGPUBackend = (b: Backend): b is WebGPUBackend => b.name === 'webgpu';
