/** Shapes and inputs shared by the processes of the `kernels` suite. */
export const MATMUL_SHAPES = [
  { name: '512x512x512', m: 512, k: 512, n: 512 },
  { name: '4096x256x768', m: 4096, k: 256, n: 768 },
] as const;

/** [1, L, V] logits of one Gumbel-max sampling step: L = 1024 positions, V = 50257 (GPT-2 vocabulary). */
export const SAMPLE_SHAPE: readonly [number, number, number] = [1, 1024, 50257];

export const gflops = (m: number, k: number, n: number, ms: number): number => (2 * m * k * n) / (ms * 1e6);

/** Deterministic pseudo-random values in [-scale, scale) (LCG; the same inputs in every process). */
export function values(count: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) / 8388608 - 1) * scale;
  }
  return out;
}

export interface EngineResult {
  matmul: Record<string, { median_ms: number; min_ms: number; gflops: number; cpu_ms?: number }>;
  sample: { median_ms: number; min_ms: number; note?: string; cpu_ms?: number };
  info?: Record<string, unknown>;
}
