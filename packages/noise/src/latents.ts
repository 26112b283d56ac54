/** Gaussian latents of the Duo process (Duo Sec. 3), shared by the process and the relaxations. */
import type { Backend, FloatDType, RandomStream, Tensor } from '@duality/kernels';
import { rowTensor } from './tensors';

/** Per-row α̃ = sqrt(sigmoid(−γ)) and σ̃ = sqrt(sigmoid(γ)) (Duo Sec. 3: α̃² + σ̃² = 1). */
export function latentScales(gamma: Float64Array): { alphaTilde: Float64Array; sigmaTilde: Float64Array } {
  const alphaTilde = gamma.map((g) => Math.sqrt(1 / (1 + Math.exp(g))));
  const sigmaTilde = gamma.map((g) => Math.sqrt(1 / (1 + Math.exp(-g))));
  return { alphaTilde, sigmaTilde };
}

/** Gaussian latents for per-row gammas (shared by the process and the tempered relaxation). */
export function gaussianLatents(
  be: Backend,
  x0: Tensor,
  gamma: Float64Array,
  vocabSize: number,
  rng: RandomStream,
  dtype: FloatDType,
  [batch, length]: [number, number],
): Tensor {
  const eps = be.normal([batch, length, vocabSize], rng, dtype);
  const z = latentsFromNormals(be, x0, gamma, vocabSize, eps);
  eps.dispose();
  return z;
}

/** z = α̃·onehot(x0) + σ̃·ε for given standard normals ε [B, L, K] (Duo Sec. 3), per-row α̃, σ̃ from gamma. */
export function latentsFromNormals(
  be: Backend,
  x0: Tensor,
  gamma: Float64Array,
  vocabSize: number,
  eps: Tensor,
): Tensor {
  const dtype = eps.dtype as FloatDType;
  const { alphaTilde, sigmaTilde } = latentScales(gamma);
  // Each [B, L, K] temporary is disposed as soon as it is used, to keep the peak at three of them.
  const a = rowTensor(be, alphaTilde, dtype);
  const s = rowTensor(be, sigmaTilde, dtype);
  const oneHot = be.oneHot(x0, vocabSize, dtype);
  const signal = be.mul(oneHot, a);
  oneHot.dispose();
  const noise = be.mul(eps, s);
  const z = be.add(signal, noise);
  for (const t of [signal, noise, a, s]) t.dispose();
  return z;
}
