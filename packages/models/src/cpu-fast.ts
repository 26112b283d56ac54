/**
 * In-place f32 fast paths for the cpu backend, used by the DiT on tensors it has just created (attention scores,
 * the MLP's hidden layer): a row softmax and GELU-tanh built on one polynomial exp. The f64 model keeps the
 * backend's exact ops; these trade ~1e-8 relative error (far below f32 rounding) for ~5× fewer cycles than
 * Math.exp / Math.tanh.
 */
import type { CpuBackend, Tensor } from '@duality/kernels';

const LOG2E = Math.LOG2E;
const LN2 = Math.LN2;
/** 2^n for n = −150 … 0 (index −n). */
const POW2_NEG = Float64Array.from({ length: 151 }, (_, i) => 2 ** -i);
// Taylor coefficients of 2^f = e^(f ln 2): (ln 2)^k / k!
const C1 = LN2;
const C2 = LN2 ** 2 / 2;
const C3 = LN2 ** 3 / 6;
const C4 = LN2 ** 4 / 24;
const C5 = LN2 ** 5 / 120;
const C6 = LN2 ** 6 / 720;
const C7 = LN2 ** 7 / 5040;

/** e^x for x ≤ 0 (relative error < 1e-8; 0 below −103, where f32 underflows anyway). */
export function expNonPositive(x: number): number {
  if (x < -103) return 0;
  const t = x * LOG2E;
  const n = Math.round(t); // t − n in [−½, ½]
  const f = t - n;
  const p = 1 + f * (C1 + f * (C2 + f * (C3 + f * (C4 + f * (C5 + f * (C6 + f * C7))))));
  return p * POW2_NEG[-n];
}

/** Softmax over the last axis, in place: exp(x − max) / Σ exp(x − max) (−∞ entries give 0). */
export function softmaxRowsInPlace(cpu: CpuBackend, t: Tensor): void {
  const data = cpu.dataOf(t) as Float32Array;
  const n = t.shape[t.shape.length - 1];
  for (let start = 0; start < data.length; start += n) {
    const end = start + n;
    let m = Number.NEGATIVE_INFINITY;
    for (let i = start; i < end; i++) if (data[i] > m) m = data[i];
    let s = 0;
    for (let i = start; i < end; i++) {
      const e = expNonPositive(data[i] - m);
      data[i] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let i = start; i < end; i++) data[i] *= inv;
  }
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation (torch approximate='tanh'), in place: ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
export function geluTanhInPlace(cpu: CpuBackend, t: Tensor): void {
  const data = cpu.dataOf(t) as Float32Array;
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    const y = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
    // tanh|y| = (1 − e)/(1 + e) with e = exp(−2|y|) ≤ 1
    const e = expNonPositive(-2 * Math.abs(y));
    const th = (1 - e) / (1 + e);
    data[i] = 0.5 * x * (1 + (y < 0 ? -th : th));
  }
}
