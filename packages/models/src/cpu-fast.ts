/**
 * f32 fast paths of the cpu backend for inference, as cpu-only ops (`defineOp`, no WGSL, no backward rule): a row
 * softmax and GELU-tanh built on one polynomial exp (the kernels' `expNonPositive`, which their f32 training
 * kernels use too), and single-pass LayerNorm + adaLN modulation and gated residual. The DiT uses them only
 * outside gradient scopes (`!isRecording()`); inside one they refuse to run, since they record nothing. The f64 model keeps the backend's exact ops; these trade ~1e-8 relative error (far
 * below f32 rounding) for ~5× fewer cycles than Math.exp / Math.tanh.
 */
import {
  ArgumentError,
  DTypeError,
  defineOp,
  expNonPositive,
  isRecording,
  type Tensor,
} from '@duality/kernels';

/** e^x for x ≤ 0 (relative error < 1e-8; 0 below −103): the polynomial exp of the kernels' f32 training kernels. */
export { expNonPositive };

/** Refuses f64 and calls inside a gradient scope (these ops have no backward rule). */
function checkInference(op: string, ...ts: Array<Tensor | undefined>): void {
  if (isRecording())
    throw new ArgumentError(op, 'a call inside a gradient scope', 'inference only (no backward rule)');
  for (const t of ts) if (t && t.dtype !== 'f32') throw new DTypeError(op, t.dtype, 'f32');
}

/** Softmax over the last axis: exp(x − max) / Σ exp(x − max) (−∞ entries give 0). A new tensor. */
export const softmaxRowsFast = defineOp<[Tensor], Tensor>({
  name: 'softmaxRowsFast',
  validate: (_b, x) => checkInference('softmaxRowsFast', x),
  cpu(ctx, x) {
    const src = ctx.data(x) as Float32Array;
    const { tensor, data } = ctx.output(x.shape, 'f32');
    const n = x.shape[x.shape.length - 1];
    for (let start = 0; start < src.length; start += n) {
      const end = start + n;
      let m = Number.NEGATIVE_INFINITY;
      for (let i = start; i < end; i++) if (src[i] > m) m = src[i];
      let s = 0;
      for (let i = start; i < end; i++) {
        const e = expNonPositive(src[i] - m);
        data[i] = e;
        s += e;
      }
      const inv = 1 / s;
      for (let i = start; i < end; i++) data[i] *= inv;
    }
    return tensor;
  },
});

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * GELU, tanh approximation (torch approximate='tanh'): ½x(1 + tanh(y)), y = √(2/π)(x + 0.044715x³),
 * tanh(y) = sign(y)(1 − e)/(1 + e) with e = exp(−2|y|) ≤ 1. A new tensor.
 */
export const geluTanhFast = defineOp<[Tensor], Tensor>({
  name: 'geluTanhFast',
  validate: (_b, x) => checkInference('geluTanhFast', x),
  cpu(ctx, x) {
    const src = ctx.data(x) as Float32Array;
    const { tensor, data } = ctx.output(x.shape, 'f32');
    for (let i = 0; i < src.length; i++) {
      const v = src[i];
      const y = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
      const e = expNonPositive(-2 * Math.abs(y)); // branch-free in the sign of y (signs are random)
      data[i] = 0.5 * v * (1 + (Math.sign(y) * (1 - e)) / (1 + e));
    }
    return tensor;
  },
});

type LayerNormArgs = [Tensor, Tensor, number, Tensor | undefined, Tensor | undefined];

/**
 * y = LN(x)·w·(1 + scale) + shift over the last axis of x [B, L, D] (weight-only LayerNorm, biased variance),
 * with scale/shift [B, 1, D] per batch row (adaLN modulation, DiT) or both absent. One pass, a new tensor.
 */
export const layerNormModulate = defineOp<LayerNormArgs, Tensor>({
  name: 'layerNormModulate',
  validate: (_b, x, w, _eps, shift, scale) => checkInference('layerNormModulate', x, w, shift, scale),
  cpu(ctx, x, weight, eps, shift, scale) {
    const [B, L, D] = x.shape;
    const src = ctx.data(x) as Float32Array;
    const w = ctx.data(weight) as Float32Array;
    const sh = shift && scale ? (ctx.data(shift) as Float32Array) : undefined;
    const sc = shift && scale ? (ctx.data(scale) as Float32Array) : undefined;
    const { tensor, data: out } = ctx.output([B, L, D], 'f32');
    for (let b = 0; b < B; b++) {
      const mo = b * D;
      for (let t = 0; t < L; t++) {
        const o = (b * L + t) * D;
        let mean = 0;
        for (let i = 0; i < D; i++) mean += src[o + i];
        mean /= D;
        let v = 0;
        for (let i = 0; i < D; i++) {
          const d = src[o + i] - mean;
          v += d * d;
        }
        const inv = 1 / Math.sqrt(v / D + eps);
        for (let i = 0; i < D; i++) {
          const y = (src[o + i] - mean) * inv * w[i];
          out[o + i] = sc && sh ? y * (1 + sc[mo + i]) + sh[mo + i] : y;
        }
      }
    }
    return tensor;
  },
});

/** h + gate·x for h, x [B, L, D] and gate [B, 1, D] per batch row (or none: h + x). One pass, a new tensor. */
export const gatedResidual = defineOp<[Tensor, Tensor, Tensor | undefined], Tensor>({
  name: 'gatedResidual',
  validate: (_b, h, x, gate) => checkInference('gatedResidual', h, x, gate),
  cpu(ctx, h, x, gate) {
    const [B, L, D] = h.shape;
    const hs = ctx.data(h) as Float32Array;
    const xs = ctx.data(x) as Float32Array;
    const g = gate ? (ctx.data(gate) as Float32Array) : undefined;
    const { tensor, data: out } = ctx.output([B, L, D], 'f32');
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < L; t++) {
        const o = (b * L + t) * D;
        if (g) for (let i = 0; i < D; i++) out[o + i] = hs[o + i] + g[b * D + i] * xs[o + i];
        else for (let i = 0; i < D; i++) out[o + i] = hs[o + i] + xs[o + i];
      }
    }
    return tensor;
  },
});
