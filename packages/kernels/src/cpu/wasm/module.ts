import { KERNELS_WASM_BASE64 } from './generated/kernels-wasm';

/** The exports of the generated kernels module (see scripts/build-wasm.mjs). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  gemm(
    a: number,
    as: number,
    b: number,
    bs: number,
    c: number,
    mp: number,
    np: number,
    kc: number,
    acc: number,
  ): void;
  pack(src: number, rs: number, cs: number, rows: number, cols: number, r: number, dst: number): void;
  gumbelReset(cand: number, cap: number, t0: number): void;
  gumbelSawNaN(): number;
  gumbel(
    lp: number,
    groups: number,
    blo: number,
    bhi: number,
    k0: number,
    k1: number,
    invT: number,
    colBase: number,
  ): number;
  gumbelNoise(wp: number, gp: number, count: number): void;
  gumbelUpper(wp: number, gp: number, count: number): void;
  /** Stream elements of `groups`·4 Philox blocks (groups even) from block bhi·2^32 + blo, in element order at dst. */
  uniformF32: StreamKernel;
  uniformF64: StreamKernel;
  normalF32: StreamKernel;
  normalF64: StreamKernel;
  /** The normal transform of the stream kernels on given words (16 per group, element order), f32, for tests. */
  normalOfWords(src: number, dst: number, groups: number): void;
}

/** A random-stream kernel of the module: (dst, groups, blo, bhi, k0, k1). */
export type StreamKernel = (
  dst: number,
  groups: number,
  blo: number,
  bhi: number,
  k0: number,
  k1: number,
) => void;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

let compiled: WebAssembly.Module | null | undefined;
let pending: Promise<void> | undefined;

/**
 * The compiled kernels module, or null while it is not available: where synchronous compilation is refused
 * (browser main threads cap it at 4 KB) it compiles asynchronously and the callers use their JS paths meanwhile;
 * without WebAssembly SIMD it stays null for good.
 */
export function kernelsModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  if (typeof WebAssembly === 'undefined') {
    compiled = null;
    return null;
  }
  const bytes = decodeBase64(KERNELS_WASM_BASE64);
  try {
    compiled = new WebAssembly.Module(bytes);
  } catch (error) {
    if (error instanceof WebAssembly.CompileError) {
      compiled = null; // no SIMD support
      return null;
    }
    pending ??= WebAssembly.compile(bytes).then(
      (m) => {
        compiled = m;
      },
      () => {
        compiled = null;
      },
    );
    return null;
  }
  return compiled;
}

/** A fresh instance (own memory) of the kernels module. */
export function instantiateKernels(module: WebAssembly.Module): KernelExports {
  return new WebAssembly.Instance(module, {}).exports as unknown as KernelExports;
}

/** Resolves once the kernels module is compiled (true) or known to be unavailable (false). */
export async function kernelsReady(): Promise<boolean> {
  kernelsModule();
  if (pending) await pending;
  return compiled != null;
}
