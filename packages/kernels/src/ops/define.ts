/**
 * The one path by which an op exists: `defineOp` takes its name, argument validation, a cpu kernel, a WGSL kernel
 * and a backward rule, and gives the function users call. The kernels get contexts that hand them typed arrays
 * (cpu) or bindable tensors and a dispatch (webgpu), so an op written in another package never touches storage,
 * buffers or device APIs itself. Calls inside a gradient scope record one tape node; elsewhere they record nothing.
 */
import { type GradientRule, runRecorded } from '../autograd/tape';
import { ArgumentError, DTypeError } from '../errors';
import type {
  ArrayFor,
  Backend,
  CpuBackend,
  CustomKernel,
  DType,
  Shape,
  Tensor,
  WebGPUBackend,
} from '../types';
import { checkShape, checkTensor } from '../validate';

export interface CpuKernelContext {
  readonly backend: CpuBackend;
  /** The storage of an input tensor (read only). */
  data<D extends DType>(t: Tensor<D>): ArrayFor<D>;
  /** A new zero-filled output tensor and its storage (the kernel writes it). */
  output<D extends DType>(shape: Shape, dtype: D): { tensor: Tensor<D>; data: ArrayFor<D> };
}

export interface WebGPUKernelContext {
  readonly backend: WebGPUBackend;
  /** A new output tensor (contents undefined until a kernel writes it). */
  output<D extends DType>(shape: Shape, dtype: D): Tensor<D>;
  /** Dispatches a WGSL compute shader over tensors and uniforms (see `CustomKernel`). */
  run(kernel: CustomKernel): void;
  readonly limits: {
    readonly maxWorkgroupsPerDimension: number;
    readonly maxStorageBufferBindingSize: number;
  };
}

export interface OpDefinition<A extends readonly unknown[], O> {
  /** Op name: used in errors and profiles. */
  readonly name: string;
  /** Argument checks beyond "tensors are live and of one backend" (throw typed KernelErrors). */
  validate?(backend: Backend, ...args: A): void;
  cpu(ctx: CpuKernelContext, ...args: A): O;
  /** Omitted: the op refuses the webgpu backend with a typed error. */
  webgpu?(ctx: WebGPUKernelContext, ...args: A): O;
  /** Omitted: the op is not differentiable (it records nothing). */
  gradient?: GradientRule<A, O>;
}

export type DefinedOp<A extends readonly unknown[], O> = ((...args: A) => O) & {
  readonly definition: OpDefinition<A, O>;
};

/** Defines an op once; the returned function dispatches on the backend of its tensor arguments. */
export function defineOp<A extends readonly unknown[], O>(def: OpDefinition<A, O>): DefinedOp<A, O> {
  const call = (...args: A): O => {
    const backend = backendOf(def.name, args);
    for (const [name, t] of tensorArgs(args)) checkTensor(def.name, name, t, backend);
    def.validate?.(backend, ...args);
    return runRecorded(def.name, def.gradient, args, () => dispatch(def, backend, args));
  };
  return Object.assign(call, { definition: def });
}

function dispatch<A extends readonly unknown[], O>(def: OpDefinition<A, O>, backend: Backend, args: A): O {
  if (backend.name === 'cpu') return def.cpu(cpuContext(backend as CpuBackend), ...args);
  if (!def.webgpu)
    throw new ArgumentError(def.name, 'a webgpu backend', 'the cpu backend (this op has no WGSL kernel)');
  return def.webgpu(webgpuContext(backend as WebGPUBackend), ...args);
}

const cpuContexts = new WeakMap<Backend, CpuKernelContext>();
function cpuContext(backend: CpuBackend): CpuKernelContext {
  let ctx = cpuContexts.get(backend);
  if (!ctx) {
    ctx = {
      backend,
      data: (t) => backend.dataOf(t),
      output: (shape, dtype) => {
        checkShape('output', shape);
        const tensor = backend.zeros(shape, dtype);
        return { tensor, data: backend.dataOf(tensor) };
      },
    };
    cpuContexts.set(backend, ctx);
  }
  return ctx;
}

const gpuContexts = new WeakMap<Backend, WebGPUKernelContext>();
function webgpuContext(backend: WebGPUBackend): WebGPUKernelContext {
  let ctx = gpuContexts.get(backend);
  if (!ctx) {
    const limits = backend.device.limits;
    ctx = {
      backend,
      output: (shape, dtype) => {
        checkShape('output', shape);
        if (dtype === 'f64') throw new DTypeError('output', 'f64', 'f32 | i32 | u32 on the webgpu backend');
        let n = 1;
        for (const d of shape) n *= d;
        const buffer = backend.device.createBuffer({
          size: Math.max(16, Math.ceil((n * 4) / 16) * 16),
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        });
        return backend.fromBuffer(buffer, shape, dtype);
      },
      run: (kernel) => backend.runKernel(kernel),
      limits: {
        maxWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      },
    };
    gpuContexts.set(backend, ctx);
  }
  return ctx;
}

function isBackend(v: unknown): v is Backend {
  return v !== null && typeof v === 'object' && 'supportsF64' in v && 'name' in v && 'tensor' in v;
}

function isTensorLike(v: unknown): v is Tensor {
  return v !== null && typeof v === 'object' && 'shape' in v && 'dtype' in v && 'backend' in v;
}

/** Tensor arguments at the top level and one level into plain option objects, with names for errors. */
function tensorArgs(args: readonly unknown[]): Array<[string, Tensor]> {
  const out: Array<[string, Tensor]> = [];
  args.forEach((a, i) => {
    if (isTensorLike(a)) out.push([`argument ${i}`, a]);
    else if (Array.isArray(a)) {
      a.forEach((t, j) => {
        if (isTensorLike(t)) out.push([`argument ${i}[${j}]`, t]);
      });
    } else if (a !== null && typeof a === 'object' && !isBackend(a))
      for (const [k, v] of Object.entries(a)) if (isTensorLike(v)) out.push([k, v]);
  });
  return out;
}

function backendOf(op: string, args: readonly unknown[]): Backend {
  if (isBackend(args[0])) return args[0];
  const first = tensorArgs(args)[0];
  if (!first) throw new ArgumentError(op, 'no tensor argument', 'a tensor (or a backend as first argument)');
  return first[1].backend;
}
