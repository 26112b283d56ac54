import { validateMatmul } from '../checks/linalg';
import type { Backend, MatmulOptions, Tensor } from '../types';
import { type FloatArray, matmulKernel } from './matmul';
import { type CpuTensor, output } from './tensor';

/** Batched matmul with broadcast batch axes, optional transposes and a fused bias [N]. */
export function matmul(backend: Backend, a: Tensor, b: Tensor, options: MatmulOptions = {}): CpuTensor {
  const { plan, transposeA, transposeB, bias } = validateMatmul(backend, a, b, options);
  const [ta, tb] = [a as CpuTensor, b as CpuTensor];
  const out = output(backend, plan.outShape, ta.dtype);
  matmulKernel({
    a: ta.data as FloatArray,
    b: tb.data as FloatArray,
    out: out.data as FloatArray,
    plan,
    transposeA,
    transposeB,
    bias: (bias as CpuTensor | undefined)?.data as FloatArray | undefined,
  });
  return out;
}
