/** Checks of matmul, shared by every backend. */
import type { Backend, MatmulOptions, Tensor } from '../types';
import { checkDtype, checkSameDtype, checkTensor, FLOAT, type MatmulPlan, planMatmul } from '../validate';

export interface MatmulCall {
  plan: MatmulPlan;
  transposeA: boolean;
  transposeB: boolean;
  bias: Tensor | undefined;
}

/** matmul(a, b, { transposeA, transposeB, bias }): float operands of one dtype, a bias [N]; lays out the batch. */
export function validateMatmul(
  backend: Backend,
  a: Tensor,
  b: Tensor,
  options: MatmulOptions = {},
): MatmulCall {
  const op = 'matmul';
  checkTensor(op, 'a', a, backend);
  checkTensor(op, 'b', b, backend);
  checkDtype(op, 'a', a, FLOAT);
  checkSameDtype(op, a, b);
  const bias = options.bias;
  if (bias) {
    checkTensor(op, 'bias', bias, backend);
    checkSameDtype(op, a, bias);
  }
  const transposeA = options.transposeA ?? false;
  const transposeB = options.transposeB ?? false;
  const plan = planMatmul(op, a.shape, b.shape, transposeA, transposeB, bias?.shape);
  return { plan, transposeA, transposeB, bias };
}
