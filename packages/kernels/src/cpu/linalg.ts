import type { Backend, MatmulOptions, Tensor } from '../types';
import { checkDtype, checkSameDtype, FLOAT, planMatmul } from '../validate';
import { type FloatArray, matmulKernel } from './matmul';
import { type CpuTensor, output, use } from './tensor';

/** Batched matmul with broadcast batch axes, optional transposes and a fused bias [N]. */
export function matmul(backend: Backend, a: Tensor, b: Tensor, options: MatmulOptions = {}): CpuTensor {
  const op = 'matmul';
  const ta = use(op, 'a', a, backend);
  const tb = use(op, 'b', b, backend);
  checkDtype(op, 'a', ta, FLOAT);
  checkSameDtype(op, ta, tb);
  const bias = options.bias ? use(op, 'bias', options.bias, backend) : undefined;
  if (bias) checkSameDtype(op, ta, bias);
  const transposeA = options.transposeA ?? false;
  const transposeB = options.transposeB ?? false;
  const plan = planMatmul(op, ta.shape, tb.shape, transposeA, transposeB, bias?.shape);
  const out = output(backend, plan.outShape, ta.dtype);
  matmulKernel({
    a: ta.data as FloatArray,
    b: tb.data as FloatArray,
    out: out.data as FloatArray,
    plan,
    transposeA,
    transposeB,
    bias: bias?.data as FloatArray | undefined,
  });
  return out;
}
