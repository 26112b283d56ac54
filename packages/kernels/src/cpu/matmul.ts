import type { MatmulPlan } from '../validate';
import { cpuKernelLimits, cpuPoolThreads, runJob } from './pool';
import { isShared, toShared } from './storage';
import { GEMM_MR, GEMM_NR } from './wasm/generated/kernels-wasm';

export type FloatArray = Float32Array | Float64Array;

export interface MatmulArgs {
  a: FloatArray;
  b: FloatArray;
  out: FloatArray;
  plan: MatmulPlan;
  transposeA: boolean;
  transposeB: boolean;
  bias?: FloatArray;
}

/** Widest column tile of one task (its packed B panel is K × this). */
const MAX_TILE_N = 1024;

/**
 * out[batch, M, N] = op(A) · op(B) (+ bias). f32: cache-blocked WebAssembly SIMD (packed MR×NR register tiles,
 * K blocks of 256) spread over the cpu pool; f64 and tiny f32 products: the row-streaming JS loop below.
 */
export function matmulKernel(args: MatmulArgs): void {
  const { a, b, out, plan } = args;
  const macs = plan.batch * plan.m * plan.n * plan.k;
  const f32 = a instanceof Float32Array && b instanceof Float32Array && out instanceof Float32Array;
  const { matmulWasmMinMacs, matmulParallelMinMacs } = cpuKernelLimits;
  if (
    f32 &&
    macs >= matmulWasmMinMacs &&
    plan.m > 0 &&
    plan.n > 0 &&
    plan.k > 0 &&
    matmulWasm(args, macs >= matmulParallelMinMacs)
  )
    return;
  matmulJs(args);
}

function matmulWasm(args: MatmulArgs, parallel: boolean): boolean {
  const { plan, transposeA, transposeB } = args;
  const { batch, m, k, n } = plan;
  const threads = parallel ? cpuPoolThreads() : 1;
  const share = threads > 1;
  const tilesN = Math.ceil(n / MAX_TILE_N);
  const tileN = roundUp(Math.ceil(n / tilesN), GEMM_NR);
  const wantedM = Math.ceil((2 * threads) / (batch * tilesN));
  const tileM = roundUp(Math.ceil(m / Math.max(1, wantedM)), GEMM_MR);
  const tilesM = Math.ceil(m / tileM);
  const out =
    share && !isShared(args.out) ? new Float32Array(new SharedArrayBuffer(args.out.byteLength)) : args.out;
  const shared = <T extends FloatArray | undefined>(x: T): T =>
    (share && x ? toShared(x as FloatArray) : x) as T;
  const job = {
    kind: 'matmul' as const,
    tasks: batch * tilesM * tilesN,
    a: shared(args.a),
    b: shared(args.b),
    out,
    bias: shared(args.bias) ?? null,
    m,
    k,
    n,
    tA: transposeA,
    tB: transposeB,
    aOffsets: plan.aOffsets,
    bOffsets: plan.bOffsets,
    tilesM,
    tilesN,
    tileM,
    tileN,
  };
  if (!runJob(job, share)) return false;
  if (out !== args.out) args.out.set(out);
  return true;
}

const roundUp = (x: number, step: number): number => Math.ceil(x / step) * step;

/**
 * Row-streaming JS matmul (any float dtype): each output row accumulates a·B row by row (contiguous, cache
 * friendly) or, with Bᵀ, takes contiguous dot products.
 */
export function matmulJs({ a, b, out, plan, transposeA, transposeB, bias }: MatmulArgs): void {
  const { batch, m, k, n, aOffsets, bOffsets } = plan;
  for (let p = 0; p < batch; p++) {
    const ao = aOffsets[p];
    const bo = bOffsets[p];
    for (let i = 0; i < m; i++) {
      const oi = p * m * n + i * n;
      if (transposeB) {
        for (let j = 0; j < n; j++) {
          let acc = bias ? bias[j] : 0;
          const bj = bo + j * k;
          for (let q = 0; q < k; q++) acc += (transposeA ? a[ao + q * m + i] : a[ao + i * k + q]) * b[bj + q];
          out[oi + j] = acc;
        }
        continue;
      }
      for (let j = 0; j < n; j++) out[oi + j] = bias ? bias[j] : 0;
      for (let q = 0; q < k; q++) {
        const av = transposeA ? a[ao + q * m + i] : a[ao + i * k + q];
        const bq = bo + q * n;
        for (let j = 0; j < n; j++) out[oi + j] += av * b[bq + j];
      }
    }
  }
}

/** The reference loop (one dot product per output, float64 accumulation): what the fast paths are tested against. */
export function matmulReference({ a, b, out, plan, transposeA, transposeB, bias }: MatmulArgs): void {
  const { batch, m, k, n, aOffsets, bOffsets } = plan;
  for (let p = 0; p < batch; p++) {
    const ao = aOffsets[p];
    const bo = bOffsets[p];
    const oo = p * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = bias ? bias[j] : 0;
        for (let q = 0; q < k; q++) {
          const av = transposeA ? a[ao + q * m + i] : a[ao + i * k + q];
          const bv = transposeB ? b[bo + j * k + q] : b[bo + q * n + j];
          acc += av * bv;
        }
        out[oo + i * n + j] = acc;
      }
    }
  }
}
