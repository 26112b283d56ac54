/**
 * Typed errors of the WebGPU backend: the same bad inputs the cpu backend refuses are refused with the same
 * error class and message; ids out of range (only visible on the device) surface as IndexOutOfRangeError at the
 * next read()/sync(); WebGPU validation errors surface as GPUValidationError; a gpu without an adapter gives
 * WebGPUUnavailableError.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend } from '../create-backend';
import {
  ArgumentError,
  DisposedTensorError,
  DTypeError,
  GPUValidationError,
  IndexOutOfRangeError,
  type KernelError,
  ShapeError,
  WebGPUUnavailableError,
} from '../errors';
import type { Backend, Tensor } from '../types';
import { createWebGPUBackend } from './backend';
import { createPair, type Pair } from './test-utils';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

/** Runs `f` on both backends; both must throw the same class with the same message. */
function expectSameError(f: (b: Backend) => unknown, cls: typeof KernelError): void {
  const caught = [pair.gpu, pair.cpu].map((b) => {
    try {
      f(b);
    } catch (error) {
      return error;
    }
    return undefined;
  });
  expect(caught[0], 'webgpu').toBeInstanceOf(cls);
  expect(caught[1], 'cpu').toBeInstanceOf(cls);
  expect((caught[0] as Error).message).toBe((caught[1] as Error).message);
}

describe('refuses what the cpu backend refuses, with the same typed error', () => {
  const f32 = (b: Backend, shape: number[]) => b.zeros(shape, 'f32');
  it('shape errors', () => {
    expectSameError((b) => b.add(f32(b, [2, 3]), f32(b, [4])), ShapeError);
    expectSameError((b) => b.matmul(f32(b, [2, 3]), f32(b, [4, 5])), ShapeError);
    expectSameError((b) => b.matmul(f32(b, [2, 3]), f32(b, [3, 5]), { bias: f32(b, [4]) }), ShapeError);
    expectSameError((b) => b.tensor([1, 2, 3], [2, 2], 'f32'), ShapeError);
    expectSameError((b) => b.zeros([2, -1], 'f32'), ShapeError);
    expectSameError((b) => b.full([1.5], 1, 'f32'), ShapeError);
    expectSameError((b) => b.reshape(f32(b, [2, 3]), [4, 2]), ShapeError);
    expectSameError((b) => b.layerNorm(f32(b, [2, 3]), f32(b, [2])), ShapeError);
    expectSameError((b) => b.softmax(f32(b, [2, 0])), ShapeError);
    expectSameError((b) => b.gatherLast(f32(b, [2, 3]), b.zeros([3], 'i32')), ShapeError);
    expectSameError((b) => b.scatterAdd(f32(b, [4, 3]), b.zeros([2], 'i32'), f32(b, [2, 4])), ShapeError);
  });

  it('dtype errors', () => {
    expectSameError((b) => b.add(f32(b, [2]), b.zeros([2], 'i32')), DTypeError);
    expectSameError((b) => b.exp(b.zeros([2], 'i32')), DTypeError);
    expectSameError((b) => b.div(b.zeros([2], 'i32'), b.zeros([2], 'i32')), DTypeError);
    expectSameError((b) => b.matmul(f32(b, [2, 2]), b.zeros([2, 2], 'i32')), DTypeError);
    expectSameError((b) => b.layerNorm(f32(b, [2, 3]), b.zeros([3], 'i32')), DTypeError);
    expectSameError((b) => b.sum(b.zeros([2], 'u32')), DTypeError);
    const ids = (b: Backend) => b.zeros([2], 'i32');
    expectSameError((b) => b.embeddingBag(f32(b, [3, 2]), ids(b), ids(b)), DTypeError);
    expectSameError((b) => b.scatterAdd(f32(b, [3, 2]), ids(b), b.zeros([2, 2], 'i32')), DTypeError);
    expectSameError((b) => b.embedding(f32(b, [3, 2]), f32(b, [2])), DTypeError);
    expectSameError((b) => b.where(f32(b, [2]), f32(b, [2]), f32(b, [2])), DTypeError);
  });

  it('argument errors', () => {
    expectSameError((b) => b.topK(f32(b, [2, 3]), 4), ArgumentError);
    expectSameError((b) => b.topP(f32(b, [2, 3]), 0), ArgumentError);
    expectSameError((b) => b.sampleCategorical(f32(b, [2, 3]), { seed: -1 }), ArgumentError);
    expectSameError((b) => b.sampleCategorical(f32(b, [2, 3]), { seed: 1, temperature: 0 }), ArgumentError);
    expectSameError((b) => b.uniform([3], { seed: 1, offset: 1.5 }), ArgumentError);
    expectSameError((b) => b.scale(f32(b, [2]), Number.NaN), ArgumentError);
    expectSameError((b) => b.compare(f32(b, [2]), f32(b, [2]), 'toString' as 'lt'), ArgumentError);
    expectSameError((b) => b.full([2], 1.5, 'i32'), ArgumentError);
    expectSameError((b) => b.tensor([-1], [1], 'u32'), ArgumentError);
    expectSameError((b) => b.oneHot(b.zeros([2], 'i32'), 0, 'f32'), ArgumentError);
    expectSameError((b) => b.layerNorm(f32(b, [2, 3]), f32(b, [3]), -1), ArgumentError);
  });
});

describe('webgpu-only refusals', () => {
  it('f64 is refused with DTypeError (WGSL has no f64)', () => {
    expect(pair.gpu.supportsF64).toBe(false);
    expect(() => pair.gpu.tensor(new Float64Array(2), [2])).toThrow(DTypeError);
    expect(() => pair.gpu.zeros([2], 'f64')).toThrow(DTypeError);
    expect(() => pair.gpu.tensor([1, 2], [2], 'bad' as 'f32')).toThrow('expected one of f32 | i32 | u32');
    expect(() => pair.gpu.uniform([2], { seed: 1 }, 'f64')).toThrow(DTypeError);
    expect(() => pair.gpu.cast(pair.gpu.zeros([2], 'f32'), 'f64')).toThrow(/webgpu|f32 \| i32 \| u32/);
  });

  it('use after dispose and tensors of another backend give DisposedTensorError', async () => {
    const x = pair.gpu.tensor([1, 2], [2], 'f32');
    x.dispose();
    expect(x.disposed).toBe(true);
    await expect(x.read()).rejects.toThrow(DisposedTensorError);
    expect(() => pair.gpu.exp(x)).toThrow(DisposedTensorError);
    expect(() => pair.gpu.bufferOf(x)).toThrow(DisposedTensorError);
    const c = pair.cpu.tensor([1, 2], [2], 'f32');
    expect(() => pair.gpu.exp(c)).toThrow(DisposedTensorError);
  });

  it('ids out of range surface as IndexOutOfRangeError at read(), and the backend recovers', async () => {
    const table = pair.gpu.tensor([1, 2, 3, 4, 5, 6], [3, 2], 'f32');
    const bad = pair.gpu.tensor([0, 7], [2], 'i32');
    const out = pair.gpu.embedding(table, bad);
    const error = await out.read().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(IndexOutOfRangeError);
    expect((error as KernelError).op).toBe('embedding');
    expect((error as Error).message).toContain('id 7');
    expect((error as Error).message).toContain('[0, 3)');
    const negative = pair.gpu.gatherLast(table, pair.gpu.tensor([-1, 0, 1], [3], 'i32'));
    await expect(pair.gpu.sync()).rejects.toThrow(IndexOutOfRangeError);
    negative.dispose();
    const good = pair.gpu.embedding(table, pair.gpu.tensor([2, 0], [2], 'i32'));
    expect(Array.from(await good.read())).toEqual([5, 6, 1, 2]);
  });

  it('NaN logits surface as the cpu backend’s ArgumentError at read() (topK, topP, sampleCategorical)', async () => {
    const data = [1, 2, 3, 4, Number.NaN, 6];
    const ops = [
      (b: Backend, x: Tensor) => b.topK(x, 2),
      (b: Backend, x: Tensor) => b.topP(x, 0.9),
      (b: Backend, x: Tensor) => b.sampleCategorical(x, { seed: 3 }),
    ];
    for (const op of ops) {
      let cpuError: unknown;
      try {
        op(pair.cpu, pair.cpu.tensor(data, [2, 3], 'f32'));
      } catch (e) {
        cpuError = e;
      }
      const gpuError = await op(pair.gpu, pair.gpu.tensor(data, [2, 3], 'f32'))
        .read()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(cpuError).toBeInstanceOf(ArgumentError);
      expect(gpuError).toBeInstanceOf(ArgumentError);
      expect((gpuError as Error).message).toBe((cpuError as Error).message);
    }
    const fine = await pair.gpu.topK(pair.gpu.tensor([1, 3, 2], [3], 'f32'), 1).read();
    expect(Array.from(fine)).toEqual([Number.NEGATIVE_INFINITY, 3, Number.NEGATIVE_INFINITY]);
  });

  it('a runKernel with invalid WGSL surfaces as GPUValidationError, and later work still runs', async () => {
    const x = pair.gpu.tensor([1, 2, 3], [3], 'f32');
    pair.gpu.runKernel({
      name: 'broken',
      wgsl: '@compute @workgroup_size(1) fn main() { let x: f32 = "not wgsl"; }',
      bindings: [{ tensor: x, access: 'read' }],
      workgroups: [1],
    });
    const error = await pair.gpu.sync().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GPUValidationError);
    expect((error as KernelError).op).toBe('runKernel(broken)');
    expect(Array.from(await pair.gpu.scale(x, 2).read())).toEqual([2, 4, 6]);
  });

  it('an awaited runKernel with invalid WGSL rejects from that call; the next unrelated read is clean', async () => {
    const x = pair.gpu.tensor([1, 2, 3], [3], 'f32');
    const run = pair.gpu.runKernel({
      name: 'broken-awaited',
      wgsl: '@compute @workgroup_size(1) fn main() { let x: f32 = "not wgsl"; }',
      bindings: [{ tensor: x, access: 'read' }],
      workgroups: [1],
    });
    const error = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GPUValidationError);
    expect((error as KernelError).op).toBe('runKernel(broken-awaited)');
    expect((error as Error).message).toMatch(/^runKernel\(broken-awaited\): got GPUValidationError: .+/);
    // reported once, by its own promise: unrelated work afterwards does not throw it
    expect(Array.from(await pair.gpu.scale(x, 2).read())).toEqual([2, 4, 6]);
    await pair.gpu.sync();
  });

  it('a valid runKernel resolves its promise', async () => {
    const y = pair.gpu.zeros([2], 'f32');
    await pair.gpu.runKernel({
      name: 'fill7',
      wgsl: `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
        @compute @workgroup_size(2) fn main(@builtin(global_invocation_id) id: vec3u) { y[id.x] = 7.0; }`,
      bindings: [{ tensor: y, access: 'read_write' }],
      workgroups: [1],
    });
    expect(Array.from(await y.read())).toEqual([7, 7]);
  });

  it('runKernel runs a caller’s WGSL over tensors (read, read_write and uniform bindings)', async () => {
    const x = pair.gpu.tensor([1, 2, 3, 4], [4], 'f32');
    const y = pair.gpu.zeros([4], 'f32');
    const wgsl = /* wgsl */ `
      @group(0) @binding(0) var<storage, read> x: array<f32>;
      @group(0) @binding(1) var<storage, read_write> y: array<f32>;
      @group(0) @binding(2) var<uniform> k: vec4f;
      @compute @workgroup_size(4) fn main(@builtin(global_invocation_id) id: vec3u) {
        y[id.x] = x[id.x] * k.x + k.y;
      }`;
    const uniform = new Float32Array([10, 0.5, 0, 0]).buffer;
    const kernel = {
      name: 'affine',
      wgsl,
      bindings: [
        { tensor: x, access: 'read' as const },
        { tensor: y, access: 'read_write' as const },
        { uniform },
      ],
      workgroups: [1] as [number],
    };
    pair.gpu.runKernel(kernel);
    expect(Array.from(await y.read())).toEqual([10.5, 20.5, 30.5, 40.5]);
    pair.gpu.runKernel(kernel); // cached pipeline
    await pair.gpu.sync();
    expect(Array.from(await y.read())).toEqual([10.5, 20.5, 30.5, 40.5]);
  });

  it('bufferOf/fromBuffer hand GPU buffers in and out', async () => {
    const x = pair.gpu.tensor([1, 2, 3, 4], [2, 2], 'i32');
    const buffer = pair.gpu.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    const encoder = pair.gpu.device.createCommandEncoder();
    encoder.copyBufferToBuffer(pair.gpu.bufferOf(x), 0, buffer, 0, 16);
    pair.gpu.device.queue.submit([encoder.finish()]);
    const y = pair.gpu.fromBuffer(buffer, [4], 'i32');
    expect(Array.from(await y.read())).toEqual([1, 2, 3, 4]);
    expect(() => pair.gpu.fromBuffer(buffer, [5], 'i32')).toThrow(ShapeError);
  });

  it('WebGPUUnavailableError when the gpu gives no adapter', async () => {
    const gpu = { requestAdapter: async () => null } as unknown as GPU;
    const error = await createWebGPUBackend({ gpu }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WebGPUUnavailableError);
    expect((error as Error).message).toContain('options.gpu (no adapter)');
  });

  it("createBackend('auto') on this SwiftShader adapter: cpu by default (says why), webgpu when allowed", async () => {
    const messages: string[] = [];
    const soft = await createBackend('auto', { log: (m) => messages.push(m) });
    expect(soft.name).toBe('cpu');
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(
      /^duality: using the cpu backend \(.*got only a software adapter \(.*swiftshader/i,
    );
    soft.destroy();
    const b = await createBackend('auto', { allowSoftwareAdapter: true, log: (m) => messages.push(m) });
    expect(b.name).toBe('webgpu');
    expect(messages[1]).toMatch(/^duality: using the webgpu backend \(adapter: .*swiftshader.*\)$/i);
    b.destroy();
  });

  it('a destroyed backend refuses further work', () => {
    return createWebGPUBackend({ device: pair.gpu.device }).then((b) => {
      const t: Tensor = b.zeros([2], 'f32');
      b.destroy();
      expect(() => b.exp(t)).toThrow(DisposedTensorError);
    });
  });

  it('reading a tensor after destroy() rejects with DisposedTensorError and a message', async () => {
    const b = await createBackend('webgpu');
    const t = b.tensor([1, 2], [2], 'f32');
    const pending = b.scale(t, 3);
    b.destroy();
    for (const tensor of [t, pending]) {
      const error = await tensor.read().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DisposedTensorError);
      expect((error as Error).message).toBe('read: got a destroyed backend, expected a live webgpu backend');
    }
  });
});
