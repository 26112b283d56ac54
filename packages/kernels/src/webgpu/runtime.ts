/**
 * The WebGPU runtime under the backend: a TypeGPU root, a cache of compute pipelines (one per kernel variant),
 * dispatch with 2-D workgroup grids, error scopes turned into GPUValidationError, and readback.
 */
import tgpu, {
  d,
  type TgpuBindGroupLayout,
  type TgpuBuffer,
  type TgpuComputePipeline,
  type TgpuRoot,
} from 'typegpu';
import { DisposedTensorError, GPUValidationError, type KernelError } from '../errors';

export type Scalar = 'f32' | 'i32' | 'u32';

export const SCALAR_SCHEMA = { f32: d.f32, i32: d.i32, u32: d.u32 } as const;

/** Largest workgroup count per grid dimension guaranteed by WebGPU. */
export const MAX_GROUPS_PER_DIM = 65535;

export interface StorageSlot {
  type: Scalar;
  access: 'readonly' | 'mutable';
}

/**
 * One compute kernel variant. The WGSL body refers to its bindings as `L.$.<name>` (storage arrays and the
 * `params` uniform), to the linear workgroup index as `group`, to the local invocation index as `lid`, and to
 * anything passed in `uses` by name. Bodies are plain WGSL (the 'use gpu' TS→WGSL plugin is not used).
 */
export interface KernelSpec {
  key: string;
  storage: Record<string, StorageSlot>;
  // biome-ignore lint/suspicious/noExplicitAny: any TypeGPU struct schema
  params?: any;
  workgroupSize: number;
  body: string;
  uses?: Record<string, unknown>;
}

interface CompiledKernel {
  layout: TgpuBindGroupLayout;
  pipeline: TgpuComputePipeline;
  // biome-ignore lint/suspicious/noExplicitAny: buffer of the kernel's params struct
  params?: TgpuBuffer<any>;
}

interface ScopeError {
  op: string;
  message: string;
}

/** The first error (in call order) of some error-scope pops; a rejected pop (lost device) counts as an error. */
function firstError(op: string, pops: Array<Promise<GPUError | null>>): Promise<ScopeError | null> {
  return Promise.all(
    pops.map((p) =>
      p.then(
        (e) => (e ? { op, message: `${e.constructor?.name ?? 'GPUError'}: ${e.message}` } : null),
        (e: unknown) => ({
          op,
          message: `error scope failed: ${e instanceof Error ? e.message : String(e)}`,
        }),
      ),
    ),
  ).then((errors) => errors.find((e) => e !== null) ?? null);
}

async function firstOf(list: Array<Promise<ScopeError | null>>): Promise<ScopeError | null> {
  return (await Promise.all(list)).find((e) => e !== null) ?? null;
}

/** 1-D workgroup count → a grid within the per-dimension limit (the body recombines it into `group`). */
export function splitGrid(groups: number, limit = MAX_GROUPS_PER_DIM): [number, number] {
  if (groups <= limit) return [groups, 1];
  const y = Math.ceil(groups / limit);
  return [Math.ceil(groups / y), y];
}

/**
 * The promise `runKernel` returns: it settles once the kernel's own error scopes are popped (rejecting with
 * GPUValidationError for invalid WGSL or bindings) and records whether anyone observes it (`then`, `catch`,
 * `await`), so that an observed error is not reported a second time by the next unrelated read or sync.
 */
export class KernelRun extends Promise<void> {
  observed = false;
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }
  // biome-ignore lint/suspicious/noThenProperty: a Promise subclass whose then records that it is observed
  override then<A = undefined, B = never>(
    onFulfilled?: ((value: undefined) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.observed = true;
    return super.then(onFulfilled as ((value: unknown) => A | PromiseLike<A>) | null | undefined, onRejected);
  }
}

export class GpuRuntime {
  readonly root: TgpuRoot;
  readonly device: GPUDevice;
  private readonly kernels = new Map<string, CompiledKernel>();
  private readonly rawPipelines = new Map<
    string,
    { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }
  >();
  /** One promise per scoped call: its first error (or null). Folded together so the list stays short. */
  private pending: Array<Promise<ScopeError | null>> = [];
  lostReason: string | undefined;
  /** Workgroups per grid dimension before a dispatch is split into a 2-D grid (tests lower it). */
  maxGroupsPerDim: number;

  constructor(device: GPUDevice, maxGroupsPerDim = MAX_GROUPS_PER_DIM) {
    this.device = device;
    this.maxGroupsPerDim = Math.min(maxGroupsPerDim, device.limits.maxComputeWorkgroupsPerDimension);
    this.root = tgpu.initFromDevice({ device });
    device.lost.then((info) => {
      this.lostReason = `${info.reason}: ${info.message}`;
    });
  }

  /** Runs `fn` inside validation and out-of-memory error scopes; errors surface at the next `checkErrors()`. */
  scoped<T>(op: string, fn: () => T): T {
    let error: Promise<ScopeError | null> | undefined;
    try {
      return this.scope(op, fn, (e) => {
        error = e;
      });
    } finally {
      if (error) this.addPending(error);
    }
  }

  /** Runs `fn` inside validation and out-of-memory error scopes and hands over the scopes' first error. */
  private scope<T>(op: string, fn: () => T, onError: (error: Promise<ScopeError | null>) => void): T {
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('out-of-memory');
    try {
      return fn();
    } finally {
      const outOfMemory = this.device.popErrorScope();
      const validation = this.device.popErrorScope();
      onError(firstError(op, [outOfMemory, validation]));
    }
  }

  private addPending(error: Promise<ScopeError | null>): void {
    this.pending.push(error);
    if (this.pending.length >= 256) this.pending = [firstOf(this.pending)];
  }

  /** Awaits the error scopes opened so far and throws the first error as GPUValidationError. */
  async checkErrors(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    const found = await firstOf(pending);
    if (found) throw new GPUValidationError(found.op, found.message, 'a valid WebGPU command');
  }

  private compile(spec: KernelSpec): CompiledKernel {
    const entries: Record<string, unknown> = {};
    for (const [name, slot] of Object.entries(spec.storage)) {
      entries[name] = {
        storage: d.arrayOf(SCALAR_SCHEMA[slot.type]),
        access: slot.access,
        visibility: ['compute'],
      };
    }
    if (spec.params) entries.params = { uniform: spec.params, visibility: ['compute'] };
    // biome-ignore lint/suspicious/noExplicitAny: entries are built from the spec at runtime
    const layout = tgpu.bindGroupLayout(entries as any).$name(`${spec.key}_layout`);
    const wg = spec.workgroupSize;
    const compute = tgpu
      .computeFn({
        in: {
          lidv: d.builtin.localInvocationId,
          wid: d.builtin.workgroupId,
          nwg: d.builtin.numWorkgroups,
        },
        workgroupSize: [wg],
      })(`{
  let group = in.wid.x + in.wid.y * in.nwg.x;
  let lid = in.lidv.x;
${spec.body}
}`)
      .$uses({ L: layout, ...(spec.uses ?? {}) })
      .$name(spec.key.replace(/[^A-Za-z0-9_]/g, '_'));
    const pipeline = this.root.createComputePipeline({ compute });
    const params = spec.params ? this.root.createBuffer(spec.params).$usage('uniform') : undefined;
    return { layout, pipeline, params };
  }

  /** The cached pipeline of a kernel variant (compiled on first use, inside error scopes). */
  kernel(spec: () => KernelSpec, key: string): CompiledKernel {
    let compiled = this.kernels.get(key);
    if (!compiled) {
      compiled = this.scoped(key, () => {
        const k = this.compile({ ...spec(), key });
        k.pipeline.initSync();
        return k;
      });
      this.kernels.set(key, compiled);
    }
    return compiled;
  }

  /**
   * Dispatches `groups` workgroups (split into a 2-D grid when needed) with these storage buffers and params.
   * Each dispatch is submitted at once, so params written just before it are the ones it reads.
   */
  dispatch(
    op: string,
    kernel: CompiledKernel,
    buffers: Record<string, GPUBuffer>,
    params: Record<string, unknown> | undefined,
    groups: number,
  ): void {
    if (groups === 0) return;
    this.scoped(op, () => {
      const entries: Record<string, unknown> = { ...buffers };
      if (kernel.params) {
        kernel.params.write(params);
        entries.params = kernel.params;
      }
      // biome-ignore lint/suspicious/noExplicitAny: entries match the layout built in compile()
      const bindGroup = this.root.createBindGroup(kernel.layout, entries as any);
      const [x, y] = splitGrid(groups, this.maxGroupsPerDim);
      kernel.pipeline.with(bindGroup).dispatchWorkgroups(x, y);
    });
  }

  /**
   * Runs a caller's whole WGSL module (bindings @group(0) @binding(i), entry point `main`). Raw WebGPU on the
   * device: the module declares its own bindings, so a TypeGPU layout would only restate them.
   */
  runRaw(
    op: string,
    name: string,
    wgsl: string,
    bindings: Array<{ buffer: GPUBuffer; type: GPUBufferBindingType }>,
    workgroups: [number, number, number],
  ): KernelRun {
    let scopeError: Promise<ScopeError | null> = Promise.resolve(null);
    this.scope(
      op,
      () => this.encodeRaw(name, wgsl, bindings, workgroups),
      (e) => {
        scopeError = e;
      },
    );
    const run = new KernelRun((resolve, reject) => {
      scopeError.then((found) => {
        if (found) reject(new GPUValidationError(found.op, found.message, 'a valid WebGPU command'));
        else resolve();
      });
    });
    // a run nobody awaits reports its error at the next checkErrors() instead (never lost, never unhandled)
    Promise.prototype.then.call(run, undefined, () => {});
    this.addPending(scopeError.then((found) => (run.observed ? null : found)));
    return run;
  }

  private encodeRaw(
    name: string,
    wgsl: string,
    bindings: Array<{ buffer: GPUBuffer; type: GPUBufferBindingType }>,
    workgroups: [number, number, number],
  ): void {
    const key = `${name}\u0000${bindings.map((b) => b.type).join(',')}\u0000${wgsl}`;
    let cached = this.rawPipelines.get(key);
    if (!cached) {
      const module = this.device.createShaderModule({ label: name, code: wgsl });
      const layout = this.device.createBindGroupLayout({
        label: name,
        entries: bindings.map((b, i) => ({
          binding: i,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: b.type },
        })),
      });
      const pipeline = this.device.createComputePipeline({
        label: name,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      });
      cached = { pipeline, layout };
      this.rawPipelines.set(key, cached);
    }
    const bindGroup = this.device.createBindGroup({
      layout: cached.layout,
      entries: bindings.map((b, i) => ({ binding: i, resource: { buffer: b.buffer } })),
    });
    const encoder = this.device.createCommandEncoder({ label: name });
    const pass = encoder.beginComputePass({ label: name });
    pass.setPipeline(cached.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...workgroups);
    pass.end();
    this.device.queue.submit([encoder.finish()]);
  }

  /** A storage buffer of `count` 4-byte elements (at least one, so it can always be bound). */
  createStorage(type: Scalar, count: number): GPUBuffer {
    return this.scoped('allocate', () => {
      const buffer = this.root
        .createBuffer(d.arrayOf(SCALAR_SCHEMA[type], Math.max(1, count)))
        .$usage('storage');
      return this.root.unwrap(buffer);
    });
  }

  /** Copies `bytes` bytes of a buffer back to the host (raw WebGPU: a MAP_READ staging buffer). */
  async readBytes(op: string, source: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    const size = Math.max(4, bytes);
    const staging = this.scoped(op, () => {
      const s = this.device.createBuffer({ size, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(source, 0, s, 0, size);
      this.device.queue.submit([encoder.finish()]);
      return s;
    });
    await this.checkErrors();
    try {
      await staging.mapAsync(GPUMapMode.READ);
      return staging.getMappedRange().slice(0, bytes);
    } catch (error) {
      throw this.readbackError(op, error);
    } finally {
      staging.destroy();
    }
  }

  /** A failed map (a DOMException, often with an empty message) as a typed error that says what happened. */
  private readbackError(op: string, error: unknown): KernelError {
    const what =
      error instanceof Error ? `${error.name}${error.message ? `: ${error.message}` : ''}` : String(error);
    if (this.lostReason) {
      return new DisposedTensorError(op, `a lost device (${this.lostReason})`, 'a live device', what);
    }
    return new GPUValidationError(op, `a failed readback (${what})`, 'a mappable staging buffer');
  }

  async sync(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors();
  }

  destroy(): void {
    this.kernels.clear();
    this.rawPipelines.clear();
    this.root.destroy();
  }
}
