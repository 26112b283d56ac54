import { deferDispose, trackTensor } from '../autograd/engine';
import { DisposedTensorError } from '../errors';
import type { ArrayFor, Backend, DType, Shape, Tensor } from '../types';
import { shapeSize } from '../validate';

/** A GPU buffer shared by a tensor and its reshaped aliases; destroyed when the last one is disposed. */
export class GpuStorage {
  refs = 1;
  constructor(
    readonly buffer: GPUBuffer,
    private readonly onFree: (s: GpuStorage) => void,
  ) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) {
      this.onFree(this);
      this.buffer.destroy();
    }
  }
}

export type Reader = (op: string, buffer: GPUBuffer, bytes: number) => Promise<ArrayBuffer>;

const CTORS = { f32: Float32Array, i32: Int32Array, u32: Uint32Array, f64: Float64Array } as const;

/** A tensor whose data lives in a storage buffer on the device (4 bytes per element, row-major). */
export class GpuTensor<D extends DType = DType> implements Tensor<D> {
  readonly size: number;
  private _disposed = false;
  constructor(
    readonly backend: Backend,
    readonly storage: GpuStorage,
    readonly shape: Shape,
    readonly dtype: D,
    private readonly reader: Reader,
  ) {
    this.size = shapeSize(shape);
    trackTensor(this);
  }
  get disposed(): boolean {
    return this._disposed;
  }
  get buffer(): GPUBuffer {
    if (this._disposed) throw new DisposedTensorError('bufferOf', 'a disposed tensor', 'a live tensor');
    return this.storage.buffer;
  }
  async read(): Promise<ArrayFor<D>> {
    if (this._disposed) throw new DisposedTensorError('read', 'a disposed tensor', 'a live tensor');
    const bytes = await this.reader('read', this.storage.buffer, this.size * 4);
    return new CTORS[this.dtype](bytes) as ArrayFor<D>;
  }
  dispose(): void {
    if (this._disposed || deferDispose(this)) return;
    this._disposed = true;
    this.storage.release();
  }
}
