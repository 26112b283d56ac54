/**
 * What every op of the WebGPU backend works through: the runtime, the backend's live buffers, the fault buffer
 * that gathers and filters write on the device, output allocation, dispatch and buffer copies. The op families
 * (create.ts, elementwise.ts, linalg.ts, reduce.ts, gather.ts, random.ts, sample.ts, filter.ts) are functions of
 * a GpuContext, as the cpu families are functions of the cpu backend.
 */
import { AllocationError, DisposedTensorError, describeShape, IndexOutOfRangeError } from '../errors';
import type { Backend, DType, Shape, Tensor } from '../types';
import { allMinusInfinity, checkTensor, nanLogit, shapeSize } from '../validate';
import { FAULT_EMPTY, FAULT_NAN, FAULT_OPS, type FaultOp, faultCode } from './kernels/gather';
import type { GpuRuntime, KernelSpec, Scalar } from './runtime';
import { GpuStorage, GpuTensor } from './tensor';

/** A kernel variant's spec, built on first use (the runtime caches the pipeline under its key). */
export type SpecOf = () => Omit<KernelSpec, 'key'>;

/** Workgroups for `count` invocations, `per` to a workgroup. */
export const groupsOf = (count: number, per: number) => Math.ceil(count / per);

/** A safe integer as (lo, hi) u32 words. */
export function split64(v: number): [number, number] {
  return [v % 4294967296, Math.floor(v / 4294967296)];
}

export class GpuContext {
  readonly live = new Set<GpuStorage>();
  /** Written by kernels that can only find bad input on the device: (kind, op code, two words of detail). */
  private readonly fault: GPUBuffer;
  /** A one-element buffer bound where a kernel's optional input is absent. */
  readonly placeholder: GPUBuffer;
  private faultPending = false;
  destroyed = false;

  constructor(
    /** The backend users hold: the owner of every tensor made here. */
    readonly backend: Backend,
    readonly rt: GpuRuntime,
    /** Largest storage binding in bytes: bigger operands are processed in windows (see windows.ts). */
    readonly bindLimit = Number.POSITIVE_INFINITY,
  ) {
    this.fault = rt.createStorage('u32', 4);
    this.placeholder = rt.createStorage('f32', 1);
  }

  get device(): GPUDevice {
    return this.rt.device;
  }

  /** Refuses work on a destroyed backend or a lost device. */
  alive(op: string): void {
    if (this.destroyed) throw new DisposedTensorError(op, 'a destroyed backend', 'a live webgpu backend');
    if (this.rt.lostReason)
      throw new DisposedTensorError(op, `a lost device (${this.rt.lostReason})`, 'a live device');
  }

  /** A live tensor of this backend, as the GPU tensor it is. */
  use(op: string, name: string, t: Tensor): GpuTensor {
    this.alive(op);
    checkTensor(op, name, t, this.backend);
    return t as GpuTensor;
  }

  /** A tensor over `buffer` (ownership passes to it). */
  wrap<D extends DType>(buffer: GPUBuffer, shape: Shape, dtype: D): GpuTensor<D> {
    const storage = new GpuStorage(buffer, (s) => this.live.delete(s));
    this.live.add(storage);
    return new GpuTensor(this.backend, storage, Object.freeze([...shape]), dtype, this.reader);
  }

  /** A tensor sharing `src`'s buffer under another shape (the buffer lives until every alias is disposed). */
  alias<D extends DType>(src: GpuTensor<D>, shape: Shape): GpuTensor<D> {
    return new GpuTensor(
      this.backend,
      src.storage.retain(),
      Object.freeze([...shape]),
      src.dtype,
      this.reader,
    );
  }

  /** A new output tensor (zero-filled: WebGPU buffers start zeroed); refuses more than maxBufferSize. */
  output<D extends DType>(shape: Shape, dtype: D): GpuTensor<D> {
    const size = shapeSize(shape);
    const limit = this.device.limits.maxBufferSize;
    if (size * 4 > limit) {
      throw new AllocationError(
        'allocate',
        `a tensor of dtype ${dtype} and shape ${describeShape(shape)} (${size * 4} bytes)`,
        `at most maxBufferSize = ${limit} bytes on this device`,
      );
    }
    return this.wrap(this.rt.createStorage(dtype as Scalar, size), shape, dtype);
  }

  private readonly reader = (op: string, buffer: GPUBuffer, bytes: number) =>
    this.readBack(op, buffer, bytes);

  private async readBack(op: string, buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    this.alive(op);
    const data = await this.rt.readBytes(op, buffer, bytes);
    await this.checkFaults();
    return data;
  }

  /** Waits for the queue, then throws the first GPU error or device fault. */
  async sync(): Promise<void> {
    this.alive('sync');
    await this.rt.sync();
    await this.checkFaults();
  }

  /** Turns a fault recorded by a gather, filter or sampling kernel into its typed error (and clears it). */
  private async checkFaults(): Promise<void> {
    if (!this.faultPending) return;
    this.faultPending = false;
    const words = new Uint32Array(await this.rt.readBytes('fault', this.fault, 16));
    if (words[0] === 0) return;
    this.device.queue.writeBuffer(this.fault, 0, new Uint32Array(4));
    const op = FAULT_OPS[words[1]] ?? 'gather';
    if (words[0] === FAULT_NAN) throw nanLogit(op, words[2], words[3]);
    if (words[0] === FAULT_EMPTY) throw allMinusInfinity(op, words[2]);
    throw new IndexOutOfRangeError(
      op,
      `id ${words[2] | 0}`,
      `ids in [0, ${words[3]})`,
      'found on the device',
    );
  }

  /** Dispatches the kernel variant `key` (compiled from `spec` on first use) over `groups` workgroups. */
  run(
    op: string,
    spec: SpecOf,
    key: string,
    buffers: Record<string, GPUBuffer>,
    params: Record<string, unknown>,
    groups: number,
  ): void {
    const kernel = this.rt.kernel(() => ({ ...spec(), key }), key);
    this.rt.dispatch(op, kernel, buffers, params, groups);
  }

  /** The fault buffer, for a kernel about to be dispatched that may record a fault (checked at the next read/sync). */
  faultBuffer(): GPUBuffer {
    this.faultPending = true;
    return this.fault;
  }

  /** `run` for a kernel that may record a fault: binds the fault buffer as `fault`. */
  runFaulting(
    op: FaultOp,
    spec: SpecOf,
    key: string,
    buffers: Record<string, GPUBuffer>,
    params: Record<string, unknown>,
    groups: number,
  ): void {
    this.run(op, spec, key, { ...buffers, fault: this.faultBuffer() }, params, groups);
  }

  /** `runFaulting` for the gather kernels: their params carry the op's fault code. */
  gather(
    op: FaultOp,
    key: string,
    spec: SpecOf,
    buffers: Record<string, GPUBuffer>,
    p: { size: number; rows?: number; n?: number; k?: number; limit: number },
    groups: number,
  ): void {
    const params = { rows: 0, n: 0, k: 0, ...p, code: faultCode(op) };
    this.runFaulting(op, spec, key, buffers, params, groups);
  }

  /** Buffer-to-buffer copy of `count` 4-byte elements (raw WebGPU: TypeGPU has no untyped storage copy). */
  copy(op: string, from: GPUBuffer, to: GPUBuffer, count: number, fromAt = 0, toAt = 0): void {
    if (count === 0) return;
    this.copies(op, [{ from, to, count, fromAt, toAt }]);
  }

  /** Several buffer copies in one submission. */
  copies(
    op: string,
    list: ReadonlyArray<{ from: GPUBuffer; to: GPUBuffer; count: number; fromAt: number; toAt: number }>,
  ): void {
    this.rt.scoped(op, () => {
      const encoder = this.device.createCommandEncoder();
      for (const c of list) encoder.copyBufferToBuffer(c.from, c.fromAt * 4, c.to, c.toAt * 4, c.count * 4);
      this.device.queue.submit([encoder.finish()]);
    });
  }

  /** Whether `elements` 4-byte values exceed one storage binding. */
  tooBig(elements: number): boolean {
    return elements * 4 > this.bindLimit;
  }

  /** Frees every buffer of the backend (tensors, fault buffer, pipelines). */
  destroy(): void {
    this.destroyed = true;
    for (const s of [...this.live]) s.buffer.destroy();
    this.live.clear();
    this.fault.destroy();
    this.placeholder.destroy();
    this.rt.destroy();
  }
}
