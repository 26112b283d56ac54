/**
 * The fused Ψ step as one op of the kernels' extension path (`defineOp`): posterior, κ-mix and (in the sampling
 * modes) one categorical draw per row, for the processes that carry a fused-Ψ capability (`fusedPsiOf` of
 * @duality/noise). cpu: the float64/float32 loops of fused-cpu.ts over the kernel context's storage views;
 * webgpu: the WGSL kernel of fused-webgpu.ts (f32). Not differentiable (Ψ steps are sampling, not training).
 */
import {
  ArgumentError,
  type CpuKernelContext,
  DTypeError,
  defineOp,
  describeShape,
  type RandomStream,
  ShapeError,
  type Tensor,
} from '@duality/kernels';
import type { FusedPsi } from '@duality/noise';
import { type FusedStep, fusedProbs, fusedSampleGumbel, fusedSampleInverseCdf } from './fused-cpu';
import { psiStepWebGPU } from './fused-webgpu';

export interface PsiStepParams {
  /** The public op the step serves (named in errors). */
  op: string;
  /** 'probs': Ψ [B, …, K]; 'inverse-cdf' / 'gumbel': ids i32 [B, …] (gumbel on cpu only). */
  mode: 'probs' | 'inverse-cdf' | 'gumbel';
  closedForm: FusedPsi;
  /** Per batch row. */
  alphaS: Float64Array;
  alphaT: Float64Array;
  kappa: Float64Array;
  /** The sampling modes' stream (row r: element offset + r·K onward). */
  stream?: RandomStream;
  /** Check Σ, min, NaN and ids (cpu: in the loop; webgpu: into `stats`, read by the caller). */
  validate: boolean;
  tolerance: number;
  /** webgpu: at most this many bytes of x̂0 per binding (row windows beyond). */
  maxBindingBytes?: number;
}

export interface PsiStepResult {
  out: Tensor;
  /** webgpu only: Σ x̂0, min x̂0 and id validity per row [rows, 3], for `checkStepStats` (the caller frees it). */
  stats?: Tensor;
}

function validateStep(x0Probs: Tensor, xt: Tensor, p: PsiStepParams): void {
  const outer = x0Probs.shape.slice(0, -1);
  if (xt.shape.length !== outer.length || xt.shape.some((d, i) => d !== outer[i]))
    throw new ShapeError(
      p.op,
      `xt ${describeShape(xt.shape)}`,
      `${describeShape(outer)} (x0Probs without K)`,
    );
  if (x0Probs.dtype !== 'f32' && x0Probs.dtype !== 'f64')
    throw new DTypeError(p.op, `x0Probs of dtype ${x0Probs.dtype}`, 'f32 | f64');
}

function cpuStep(ctx: CpuKernelContext, x0Probs: Tensor, xt: Tensor, p: PsiStepParams): FusedStep {
  const rows = xt.size;
  const batch = xt.shape[0];
  return {
    op: p.op,
    kind: p.closedForm.kind,
    x: ctx.data(x0Probs) as Float32Array | Float64Array,
    ids: ctx.data(xt) as Int32Array | Uint32Array,
    rows,
    k: x0Probs.shape[x0Probs.shape.length - 1],
    rowsPerBatch: batch === 0 ? 0 : rows / batch,
    alphaS: p.alphaS,
    alphaT: p.alphaT,
    kappa: p.kappa,
    mask: p.closedForm.kind === 'masked' ? p.closedForm.maskId : -1,
    validate: p.validate,
    tolerance: p.tolerance,
  };
}

/** One fused Ψ step → { out } (cpu; a bad row throws its typed error) or { out, stats } (webgpu). */
export const psiStep = defineOp<[Tensor, Tensor, PsiStepParams], PsiStepResult>({
  name: 'psiStep',
  validate: (_backend, x0Probs, xt, p) => validateStep(x0Probs, xt, p),
  cpu(ctx, x0Probs, xt, p) {
    const step = cpuStep(ctx, x0Probs, xt, p);
    const { tensor, data } =
      p.mode === 'probs' ? ctx.output(x0Probs.shape, x0Probs.dtype) : ctx.output(xt.shape, 'i32');
    try {
      if (p.mode === 'probs') fusedProbs(step, data as Float32Array | Float64Array);
      else {
        const stream = p.stream ?? { seed: 0 };
        const draw = p.mode === 'gumbel' ? fusedSampleGumbel : fusedSampleInverseCdf;
        draw(step, stream.seed, stream.offset ?? 0, data as Int32Array);
      }
    } catch (error) {
      tensor.dispose();
      throw error;
    }
    return { out: tensor };
  },
  webgpu(ctx, x0Probs, xt, p) {
    if (p.mode === 'gumbel')
      throw new ArgumentError(p.op, "method 'gumbel' in the fused webgpu kernel", "'probs' or 'inverse-cdf'");
    return psiStepWebGPU(ctx, x0Probs, xt, p);
  },
});
