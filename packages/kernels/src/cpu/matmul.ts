import type { MatmulPlan } from '../validate';

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

/**
 * out[batch, M, N] = op(A) · op(B) (+ bias). Reference loop; the fast path (blocked, SIMD, threaded) replaces
 * the body, never the signature.
 */
export function matmulKernel({ a, b, out, plan, transposeA, transposeB, bias }: MatmulArgs): void {
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
