/** Element types a tensor can hold. f64 exists on the cpu backend only (WGSL has no f64). */
export type DType = 'f32' | 'f64' | 'i32' | 'u32';
export type FloatDType = 'f32' | 'f64';

export type TypedArray = Float32Array | Float64Array | Int32Array | Uint32Array;

/** The typed array class that stores each dtype. */
export type ArrayFor<D extends DType> = D extends 'f32'
  ? Float32Array
  : D extends 'f64'
    ? Float64Array
    : D extends 'i32'
      ? Int32Array
      : Uint32Array;

export type Shape = readonly number[];

export type BackendName = 'cpu' | 'webgpu';

/**
 * A WebGPU interface as the compiling program declares it (TypeScript ≥ 6's DOM lib, or @webgpu/types), else an
 * opaque object: the published declarations name no WebGPU typings, so they compile with or without them (and
 * never clash with a DOM lib that has its own).
 */
type WebGPUGlobal<K extends string> =
  typeof globalThis extends Record<K, { prototype: infer T }> ? T : object;
/** `GPUDevice` where the program has WebGPU types. */
export type WebGPUDevice = WebGPUGlobal<'GPUDevice'>;
/** `GPUBuffer` where the program has WebGPU types. */
export type WebGPUBuffer = WebGPUGlobal<'GPUBuffer'>;
/** `GPU` (navigator.gpu) where the program has WebGPU types. */
export type WebGPUEntry = WebGPUGlobal<'GPU'>;

/**
 * An n-dimensional array owned by one backend. Data lives where the backend keeps it (a typed array on cpu,
 * a GPUBuffer on webgpu); `read()` copies it out. After `dispose()` every use throws `DisposedTensorError`.
 */
export interface Tensor<D extends DType = DType> {
  readonly shape: Shape;
  readonly dtype: D;
  /** Number of elements (product of the shape). */
  readonly size: number;
  readonly backend: Backend;
  readonly disposed: boolean;
  /** Copies the data out, row-major. */
  read(): Promise<ArrayFor<D>>;
  dispose(): void;
}

/** Addresses a random stream: the same (seed, offset) gives the same numbers on every backend. */
export interface RandomStream {
  /** 64-bit key, given as a non-negative safe integer or a bigint. */
  seed: number | bigint;
  /** Counter offset in units of single 32-bit draws (elements). Default 0. */
  offset?: number;
}

export type CompareOp = 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne';

export interface MatmulOptions {
  /** Use Aᵀ (swap A's last two axes). */
  transposeA?: boolean;
  /** Use Bᵀ (swap B's last two axes): the torch Linear layout `x Wᵀ`. */
  transposeB?: boolean;
  /** Bias [N] added to every output row (fused). */
  bias?: Tensor;
}

export interface SampleOptions extends RandomStream {
  /** Divide logits by this before sampling (default 1). */
  temperature?: number;
}

/**
 * A backend: creates tensors and runs ops on them. Every op validates its inputs (shape, dtype, disposal) and
 * throws a typed `KernelError` naming the op, what it got and what it expected. Ops never mutate inputs and
 * return new tensors; dtype of the output follows the (float) input.
 *
 * Broadcasting for binary elementwise ops follows NumPy rules (trailing axes aligned, size-1 axes stretch).
 * "Last axis" reductions drop the last axis: [..., N] → [...].
 */
export interface Backend {
  readonly name: BackendName;
  /** Whether f64 tensors are supported (cpu only). */
  readonly supportsF64: boolean;

  // --- creation and transfer -------------------------------------------------------------------------
  tensor<D extends DType>(data: ArrayLike<number>, shape: Shape, dtype: D): Tensor<D>;
  tensor(data: TypedArray, shape: Shape): Tensor;
  zeros<D extends DType>(shape: Shape, dtype: D): Tensor<D>;
  full<D extends DType>(shape: Shape, value: number, dtype: D): Tensor<D>;
  cast<D extends DType>(x: Tensor, dtype: D): Tensor<D>;
  /** Same data, new shape with the same size (a view on cpu, a copy or alias on webgpu). */
  reshape<D extends DType>(x: Tensor<D>, shape: Shape): Tensor<D>;

  // --- elementwise (broadcasting) ----------------------------------------------------------------------
  add(a: Tensor, b: Tensor): Tensor;
  sub(a: Tensor, b: Tensor): Tensor;
  mul(a: Tensor, b: Tensor): Tensor;
  div(a: Tensor, b: Tensor): Tensor;
  /** a·s + shift (shift default 0). */
  scale(a: Tensor, s: number, shift?: number): Tensor;
  exp(a: Tensor): Tensor;
  log(a: Tensor): Tensor;
  /** GELU with the tanh approximation (torch `approximate='tanh'`). */
  geluTanh(a: Tensor): Tensor;
  silu(a: Tensor): Tensor;
  /** Elementwise comparison → i32 0/1 (broadcasting). */
  compare(a: Tensor, b: Tensor, op: CompareOp): Tensor<'i32'>;
  /** cond ? a : b elementwise (cond i32/u32, nonzero = true; broadcasting over all three). */
  where(cond: Tensor, a: Tensor, b: Tensor): Tensor;

  // --- linear algebra ----------------------------------------------------------------------------------
  /**
   * Batched matmul: A [...batch, M, K] × B [...batch, K, N] → [...batch, M, N]; batch axes broadcast
   * (B may be 2-D and shared). Transposes swap the last two axes of an operand; bias [N] is fused.
   */
  matmul(a: Tensor, b: Tensor, options?: MatmulOptions): Tensor;

  // --- reductions and normalisation over the last axis -------------------------------------------------
  sum(a: Tensor): Tensor;
  max(a: Tensor): Tensor;
  logsumexp(a: Tensor): Tensor;
  softmax(a: Tensor): Tensor;
  logSoftmax(a: Tensor): Tensor;
  /** Weight-only LayerNorm over the last axis (biased variance): (x − mean)/√(var + eps) · weight. */
  layerNorm(x: Tensor, weight: Tensor, eps?: number): Tensor;
  /** Index of the largest value over the last axis (first one on ties) → i32. */
  argmax(a: Tensor): Tensor<'i32'>;

  // --- gathers and scatters ----------------------------------------------------------------------------
  /** table [V, D], ids i32 [...] → [..., D]. */
  embedding(table: Tensor, ids: Tensor): Tensor;
  /** Σ_k weights[..., k] · table[indices[..., k]]: table [V, D], indices i32 [..., k], weights [..., k] → [..., D]. */
  embeddingBag(table: Tensor, indices: Tensor, weights: Tensor): Tensor;
  /** x [..., N] at ids i32 [...] along the last axis → [...]. */
  gatherLast(x: Tensor, ids: Tensor): Tensor;
  /** ids i32 [...] → one-hot [..., depth] in the given float dtype. */
  oneHot<D extends FloatDType>(ids: Tensor, depth: number, dtype: D): Tensor<D>;
  /** Returns a copy of target [V, D] with src[i] added to row indices[i]: indices i32 [N], src [N, D]. */
  scatterAdd(target: Tensor, indices: Tensor, src: Tensor): Tensor;

  // --- sampling and filtering --------------------------------------------------------------------------
  /**
   * Fused log-softmax + Gumbel-max: one categorical draw per row of logits [..., V] → i32 [...]. Row r uses
   * uniforms at stream offsets offset + r·V … offset + r·V + V − 1, so the same seed gives the same ids on
   * every backend.
   */
  sampleCategorical(logits: Tensor, options: SampleOptions): Tensor<'i32'>;
  /** Keeps the k largest logits of each row, sets the rest to −∞. */
  topK(logits: Tensor, k: number): Tensor;
  /** Nucleus filtering: keeps the smallest set of largest-probability entries whose mass reaches p. */
  topP(logits: Tensor, p: number): Tensor;

  // --- random streams (Philox-4x32-10) -----------------------------------------------------------------
  /** Uniforms in (0, 1), exactly representable in f32, bit-identical across backends. */
  uniform(shape: Shape, stream: RandomStream, dtype?: FloatDType): Tensor;
  /** Standard normals, bit-identical across backends. */
  normal(shape: Shape, stream: RandomStream, dtype?: FloatDType): Tensor;

  /** Waits for queued work (no-op on cpu). */
  sync(): Promise<void>;
  /** Frees every resource the backend holds. */
  destroy(): void;
}

/** The cpu backend also gives zero-copy access to tensor storage, for packages that write their own fused loops. */
export interface CpuBackend extends Backend {
  readonly name: 'cpu';
  /** The tensor's storage (row-major; do not write to it unless you created the tensor). */
  dataOf<D extends DType>(t: Tensor<D>): ArrayFor<D>;
  /** Wraps an array as a tensor without copying. */
  fromArray<D extends DType>(data: ArrayFor<D>, shape: Shape): Tensor<D>;
}

/** The webgpu backend exposes its device and buffers, for packages that write their own WGSL kernels. */
export interface WebGPUBackend extends Backend {
  readonly name: 'webgpu';
  readonly device: WebGPUDevice;
  /** The GPUBuffer holding the tensor (storage usage, row-major, f32/i32/u32, 4 bytes per element). */
  bufferOf(t: Tensor): WebGPUBuffer;
  /** Wraps a storage buffer the caller hands over (ownership passes to the tensor). */
  fromBuffer<D extends DType>(buffer: WebGPUBuffer, shape: Shape, dtype: D): Tensor<D>;
  /**
   * Runs a compute shader over tensors: `wgsl` declares bindings @group(0) @binding(i) in the order of
   * `bindings` (read-only storage, read-write storage or uniform), entry point `main`. Validation errors
   * (invalid WGSL, bad bindings) are caught through error scopes: the returned promise rejects with
   * GPUValidationError for this kernel's own errors. Awaiting it is optional (the work is queued at once); an
   * error nobody observed on the promise is thrown by the next `read()`/`sync()` instead.
   */
  runKernel(kernel: CustomKernel): Promise<void>;
}

export interface CustomKernel {
  /** Cache key; kernels with the same name and wgsl reuse one pipeline. */
  name: string;
  wgsl: string;
  bindings: Array<{ tensor: Tensor; access: 'read' | 'read_write' } | { uniform: ArrayBuffer }>;
  workgroups: [number, number?, number?];
}

export interface CreateBackendOptions {
  /** webgpu: use this device instead of requesting one. */
  device?: WebGPUDevice;
  /** webgpu: the navigator.gpu-like entry point (in Node: the `webgpu` package's `create([...])`). */
  gpu?: WebGPUEntry;
  /** cpu: number of worker threads for the heavy kernels (default: available cores). 0 = run inline. */
  threads?: number;
  /** auto: where to report which backend was picked (default: console.error). */
  log?: (message: string) => void;
  /** auto: also take a software WebGPU adapter (llvmpipe, SwiftShader, a fallback adapter); default false. */
  allowSoftwareAdapter?: boolean;
}
