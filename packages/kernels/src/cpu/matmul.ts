import type { MatmulPlan } from '../validate';
import { cpuKernelLimits, cpuPoolThreads, localRunner, runJob } from './pool';
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

/** Rows of A per task: small enough for the pool to balance, large enough to amortise a task. */
const TILE_M = 64;

function matmulWasm(args: MatmulArgs, parallel: boolean): boolean {
  const { plan, transposeA } = args;
  const { batch, m, k, n } = plan;
  const share = parallel && cpuPoolThreads() > 1;
  const tilesN = Math.ceil(n / MAX_TILE_N);
  const tileN = roundUp(Math.ceil(n / tilesN), GEMM_NR);
  const tileM = Math.min(roundUp(m, GEMM_MR), TILE_M);
  const tilesM = Math.ceil(m / tileM);
  const packed = packPanels(args, tilesN, tileN, share);
  if (!packed) return false;
  const { panels, panelRegion, regionSize } = packed;
  const out =
    share && !isShared(args.out) ? new Float32Array(new SharedArrayBuffer(args.out.byteLength)) : args.out;
  const shared = <T extends FloatArray | undefined>(x: T): T =>
    (share && x ? toShared(x as FloatArray) : x) as T;
  const job = {
    kind: 'matmul' as const,
    tasks: batch * tilesN * tilesM,
    a: shared(args.a),
    out,
    bias: shared(args.bias) ?? null,
    m,
    k,
    n,
    tA: transposeA,
    aOffsets: plan.aOffsets,
    tilesM,
    tilesN,
    tileM,
    tileN,
    panels,
    panelRegion,
    regionSize,
  };
  if (!runJob(job, share)) return false;
  if (out !== args.out) args.out.set(out);
  return true;
}

/**
 * Packs op(B) once for every participant: per distinct B matrix of the batch and per column tile, NR-column
 * panels laid out [k][NR] (zero-padded to a multiple of NR), the order the wasm micro-kernel streams them in.
 */
function packPanels(args: MatmulArgs, tilesN: number, tileN: number, share: boolean) {
  const { b, plan, transposeB } = args;
  const { batch, k, n, bOffsets } = plan;
  const regionOf = new Map<number, number>();
  const panelRegion = new Int32Array(batch);
  for (let p = 0; p < batch; p++) {
    const known = regionOf.get(bOffsets[p]);
    panelRegion[p] = known ?? regionOf.size;
    if (known === undefined) regionOf.set(bOffsets[p], regionOf.size);
  }
  const regionSize = k * tileN;
  const floats = regionOf.size * tilesN * regionSize;
  const panels = share ? new Float32Array(new SharedArrayBuffer(floats * 4)) : new Float32Array(floats);
  const runner = localRunner();
  if (!runner) return undefined;
  for (const [bo, region] of regionOf) {
    for (let jt = 0; jt < tilesN; jt++) {
      const j0 = jt * tileN;
      const nc = Math.min(n, j0 + tileN) - j0;
      runner.packB(
        b as Float32Array,
        bo,
        k,
        n,
        transposeB,
        j0,
        nc,
        panels,
        (region * tilesN + jt) * regionSize,
      );
    }
  }
  return { panels, panelRegion, regionSize };
}

const roundUp = (x: number, step: number): number => Math.ceil(x / step) * step;

/** Elements of B a JS block keeps hot (256 KB of f64): the k-block (or Bᵀ row-block) of the JS path. */
const JS_BLOCK_ELEMENTS = 32768;

/**
 * Cache-blocked JS matmul (any float dtype, accumulation in the output's precision). Without Bᵀ: blocks of
 * B's rows, each output row accumulating a·B row by row (contiguous axpy); with Bᵀ: blocks of Bᵀ's rows,
 * contiguous dot products. Each block of B stays in cache while every row of A passes over it.
 */
export function matmulJs({ a, b, out, plan, transposeA, transposeB, bias }: MatmulArgs): void {
  const { batch, m, k, n, aOffsets, bOffsets } = plan;
  const aAt = (ao: number, i: number, q: number) => (transposeA ? a[ao + q * m + i] : a[ao + i * k + q]);
  for (let p = 0; p < batch; p++) {
    const ao = aOffsets[p];
    const bo = bOffsets[p];
    const oo = p * m * n;
    if (transposeB) {
      const rowsPerBlock = Math.max(1, Math.floor(JS_BLOCK_ELEMENTS / Math.max(k, 1)));
      for (let j0 = 0; j0 < n; j0 += rowsPerBlock) {
        const j1 = Math.min(n, j0 + rowsPerBlock);
        for (let i = 0; i < m; i++) {
          for (let j = j0; j < j1; j++) {
            let acc = bias ? bias[j] : 0;
            const bj = bo + j * k;
            for (let q = 0; q < k; q++) acc += aAt(ao, i, q) * b[bj + q];
            out[oo + i * n + j] = acc;
          }
        }
      }
      continue;
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) out[oo + i * n + j] = bias ? bias[j] : 0;
    }
    const qPerBlock = Math.max(1, Math.floor(JS_BLOCK_ELEMENTS / Math.max(n, 1)));
    for (let q0 = 0; q0 < k; q0 += qPerBlock) {
      const q1 = Math.min(k, q0 + qPerBlock);
      for (let i = 0; i < m; i++) {
        const oi = oo + i * n;
        for (let q = q0; q < q1; q++) {
          const av = aAt(ao, i, q);
          const bq = bo + q * n;
          for (let j = 0; j < n; j++) out[oi + j] += av * b[bq + j];
        }
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
