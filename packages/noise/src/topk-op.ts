/**
 * The memory-efficient top-k relaxation (Chapter II) as one op of the kernels' extension path (`defineOp`):
 * cpu kernel = the float64 host loop `topKRelaxationRows` over the context's view of x0, written into the op's
 * outputs; webgpu kernel = the WGSL kernel of topk-webgpu.ts (f32, k ≤ WGSL_MAX_K). Not differentiable: x_t and
 * the kept ids are draws, and the weights are inputs of the denoiser, not of a loss.
 */
import { defineOp, type FloatDType, type Tensor } from '@duality/kernels';
import { latentScales } from './latents';
import { type TopKRows, topKRelaxationRows } from './relax';
import { type TopKKernelArgs, topKRelaxationWebGPU } from './topk-webgpu';

export interface TopKOpArgs extends Omit<TopKKernelArgs, 'alphaTilde' | 'sigmaTilde'> {
  /** γ per batch row (the latents' scales follow from it). */
  gammas: Float64Array;
  /** cpu: dtype of the weights. */
  dtype: FloatDType;
}

export interface TopKOutputs {
  indices: Tensor;
  weights: Tensor;
  xt: Tensor;
}

/** x0 i32 [B, L] (ids checked by the caller) → kept ids [B, L, k], their weights [B, L, k] and x_t [B, L]. */
export const topKRelax = defineOp<[Tensor, TopKOpArgs], TopKOutputs>({
  name: 'topKRelaxation',
  cpu(ctx, x0, a) {
    const [batch, length] = x0.shape;
    const rows: TopKRows = topKRelaxationRows(ctx.data(x0), batch, length, a.gammas, a.vocabSize, {
      k: a.k,
      tau: a.tau,
      rng: a.rng,
    });
    const indices = ctx.output([batch, length, a.k], 'i32');
    const weights = ctx.output([batch, length, a.k], a.dtype);
    const xt = ctx.output([batch, length], 'i32');
    indices.data.set(rows.indices);
    weights.data.set(rows.weights);
    xt.data.set(rows.xt);
    return { indices: indices.tensor, weights: weights.tensor, xt: xt.tensor };
  },
  webgpu(ctx, x0, a) {
    return topKRelaxationWebGPU(ctx, x0, { ...a, ...latentScales(a.gammas) });
  },
});
