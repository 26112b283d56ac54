import { describe, expect, it } from 'vitest';
import { createBackend } from '../src/create-backend';
import { describeAdapter } from '../src/webgpu/device';

/** A navigator.gpu-like object whose only adapter has this info; requestDevice records the call and fails. */
function fakeGpu(info: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean }) {
  const calls = { requestDevice: 0 };
  const adapter = {
    info,
    limits: {
      maxStorageBuffersPerShaderStage: 8,
      maxStorageBufferBindingSize: 1 << 27,
      maxBufferSize: 1 << 28,
    },
    requestDevice: async () => {
      calls.requestDevice++;
      throw new Error('a fake adapter has no device');
    },
  };
  return { gpu: { requestAdapter: async () => adapter } as unknown as GPU, calls };
}

const LLVMPIPE = {
  vendor: '',
  architecture: '',
  device: 'llvmpipe-llvm-15',
  description: 'OpenGL ES 3.2 Mesa 22.3.6',
};

describe("createBackend('auto') and software adapters", () => {
  it.each([
    ['llvmpipe (Mesa)', LLVMPIPE],
    ['SwiftShader', { vendor: 'google', architecture: 'swiftshader', device: '', description: '' }],
    ['a fallback adapter', { vendor: 'acme', architecture: 'gpu9', isFallbackAdapter: true }],
  ])('%s: takes the cpu backend without asking for a device, and says why', async (_, info) => {
    const { gpu, calls } = fakeGpu(info);
    const messages: string[] = [];
    const backend = await createBackend('auto', { gpu, log: (m) => messages.push(m) });
    expect(backend.name).toBe('cpu');
    expect(calls.requestDevice).toBe(0);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(
      /^duality: using the cpu backend \(createWebGPUBackend: got only a software adapter/,
    );
    expect(messages[0]).toContain(describeAdapter({ info } as unknown as GPUAdapter).name);
    expect(messages[0]).toContain('pass allowSoftwareAdapter: true to use it');
    backend.destroy();
  });

  it('allowSoftwareAdapter: true asks the software adapter for a device', async () => {
    const { gpu, calls } = fakeGpu(LLVMPIPE);
    const messages: string[] = [];
    const backend = await createBackend('auto', {
      gpu,
      allowSoftwareAdapter: true,
      log: (m) => messages.push(m),
    });
    expect(calls.requestDevice).toBe(1);
    expect(backend.name).toBe('cpu'); // the fake has no device: the fallback names that failure
    expect(messages[0]).toContain('a fake adapter has no device');
    backend.destroy();
  });

  it("a hardware adapter is not refused; 'webgpu' never refuses a software one", async () => {
    const hardware = fakeGpu({
      vendor: 'nvidia',
      architecture: 'ampere',
      device: 'RTX 3060',
      description: '',
    });
    const backend = await createBackend('auto', { gpu: hardware.gpu, log: () => {} });
    expect(hardware.calls.requestDevice).toBe(1);
    backend.destroy();
    const soft = fakeGpu(LLVMPIPE);
    await expect(createBackend('webgpu', { gpu: soft.gpu })).rejects.toThrow('a fake adapter has no device');
    expect(soft.calls.requestDevice).toBe(1);
  });

  it('describeAdapter names the adapter from its info fields', () => {
    const named = (info: object) => describeAdapter({ info } as unknown as GPUAdapter);
    expect(named(LLVMPIPE)).toEqual({ name: 'llvmpipe-llvm-15 (OpenGL ES 3.2 Mesa 22.3.6)', software: true });
    expect(named({ vendor: 'apple', architecture: 'metal-3', device: '', description: '' })).toEqual({
      name: 'apple metal-3',
      software: false,
    });
    expect(named({ vendor: 'acme', isFallbackAdapter: true })).toEqual({
      name: 'acme, fallback adapter',
      software: true,
    });
    expect(named({})).toEqual({ name: 'an unnamed adapter', software: false });
  });

  it("in this Node process (Dawn through the 'webgpu' package): the log names the adapter it took or refused", async () => {
    const messages: string[] = [];
    const backend = await createBackend('auto', { log: (m) => messages.push(m) });
    expect(messages).toHaveLength(1);
    if (backend.name === 'webgpu') {
      // a hardware adapter: the log says which
      expect(messages[0]).toMatch(/^duality: using the webgpu backend \(adapter: .+\)$/);
      expect(messages[0]).not.toMatch(/llvmpipe|swiftshader|fallback adapter/i);
    } else {
      console.info(`auto picked cpu here: ${messages[0]}`);
      expect(messages[0]).toMatch(/^duality: using the cpu backend \(createWebGPUBackend: got /);
    }
    backend.destroy();
  });
});
