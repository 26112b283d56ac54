/**
 * The Duo curriculum relaxations: soft inputs for the denoiser while x_t stays the argmax of Gaussian latents.
 *
 * (1) Tempered softmax (Duo Sec. 4.1): weights = softmax(z_t/τ) over the whole vocabulary [B, L, K], x_t = argmax.
 * (2) Memory-efficient top-k (Chapter II, arXiv 2602.21185, "efficient curriculum"): sample only the top-k order
 *     statistics of the K − 1 zero-mean Gaussians plus the true token's Gaussian, approximate the tempered softmax
 *     over the k kept entries with an analytic tail (truncated-normal mean), never materialising [B, L, K].
 *     Unlike the reference (which sets x_t = x0 whenever x0 lands in the top k), x_t here is the true argmax, so
 *     P(x_t = x0) = (1 + (K − 1)·T(gamma))/K exactly, for every k. One op (`topKRelax`, topk-op.ts):
 *     cpu kernel the float64 host loop, webgpu kernel the WGSL of topk-webgpu.ts on the same random words.
 */
import {
  ArgumentError,
  type Backend,
  type FloatDType,
  isCpuBackend,
  type RandomStream,
  type Tensor,
} from '@duality/kernels';
import { assertFinite, assertIdsInRange, assertPositiveInteger, assertVocabSize } from './errors';
import { gaussianLatents, latentScales } from './latents';
import { logNdtr, ndtri } from './special';
import { checkIds, perRow, uniforms53 } from './tensors';
import { topKRelax } from './topk-op';
import { WGSL_MAX_K } from './topk-webgpu';
import type { Times } from './types';

/** Default temperature of the papers' runs (gumbel_tau_log10 = −3). */
export const DEFAULT_TAU = 1e-3;

/**
 * The temperatures accepted: [1e-30, 1e30]. Below, z/τ overflows f32 (a denormal τ makes 1/τ = ∞ even in f64)
 * and the weights turn NaN; above, they are uniform to every digit anyway.
 */
export const TAU_RANGE = { min: 1e-30, max: 1e30 } as const;

function checkTau(op: string, tau: number): void {
  assertFinite(op, 'tau', tau);
  if (!(tau >= TAU_RANGE.min && tau <= TAU_RANGE.max)) {
    throw new ArgumentError(op, `tau = ${tau}`, `tau in [${TAU_RANGE.min}, ${TAU_RANGE.max}]`);
  }
}

/** log10 τ within log10 of TAU_RANGE (so 10^x is a temperature checkTau accepts). */
function checkLog10Tau(op: string, name: string, value: number): void {
  assertFinite(op, name, value);
  if (!(value >= -30 && value <= 30))
    throw new ArgumentError(op, `${name} = ${value}`, `${name} in [−30, 30]`);
}

export interface AnnealedTauOptions {
  /** log10 τ up to `startStep` (default −3). */
  log10Start?: number;
  /** log10 τ from `endStep` on (default −3). */
  log10End?: number;
  startStep?: number;
  endStep?: number;
}

/** τ(step): log10 τ held at log10Start before startStep, linear up to endStep, then held at log10End (Duo Sec. 4.1). */
export function annealedTau(options: AnnealedTauOptions = {}): (step: number) => number {
  const { log10Start = -3, log10End = -3, startStep = 0, endStep = 0 } = options;
  checkLog10Tau('annealedTau', 'log10Start', log10Start);
  checkLog10Tau('annealedTau', 'log10End', log10End);
  assertFinite('annealedTau', 'startStep', startStep);
  assertFinite('annealedTau', 'endStep', endStep);
  if (!(endStep >= startStep))
    throw new ArgumentError(
      'annealedTau',
      `startStep = ${startStep}, endStep = ${endStep}`,
      'startStep ≤ endStep',
    );
  return (step: number) => {
    assertFinite('annealedTau', 'step', step);
    if (step <= startStep) return 10 ** log10Start;
    if (step >= endStep) return 10 ** log10End;
    const frac = (step - startStep) / (endStep - startStep);
    return 10 ** (log10Start + frac * (log10End - log10Start));
  };
}

export interface RelaxationOptions {
  /** Temperature τ > 0 (default 1e-3). */
  tau?: number;
  rng: RandomStream;
  /** Output dtype of the weights (default f64 where the backend has it, else f32). */
  dtype?: FloatDType;
}

export interface TemperedRelaxation {
  /** softmax(z_t/τ) [B, L, K]. */
  weights: Tensor;
  /** argmax z_t, i32 [B, L]. */
  xt: Tensor;
}

/**
 * The original Duo relaxation: z_t = α̃·onehot(x0) + σ̃·ε (normals at stream offsets offset … offset + B·L·K − 1),
 * weights = softmax(z_t/τ) over all K ids, x_t = argmax z_t. Memory: several [B, L, K] tensors.
 */
export function temperedSoftmaxRelaxation(
  backend: Backend,
  x0: Tensor,
  gamma: Times,
  vocabSize: number,
  options: RelaxationOptions,
): TemperedRelaxation {
  const op = 'temperedSoftmaxRelaxation';
  assertVocabSize(op, vocabSize);
  const [batch, length] = checkIds(op, 'x0', x0, vocabSize);
  const gammas = perRow(op, 'gamma', gamma, batch);
  for (let b = 0; b < batch; b++) assertFinite(op, `gamma[${b}]`, gammas[b]);
  const tau = options.tau ?? DEFAULT_TAU;
  checkTau(op, tau);
  const dtype = options.dtype ?? (backend.supportsF64 ? 'f64' : 'f32');
  const z = gaussianLatents(backend, x0, gammas, vocabSize, options.rng, dtype, [batch, length]);
  const xt = backend.argmax(z);
  const scaled = backend.scale(z, 1 / tau);
  z.dispose();
  const weights = backend.softmax(scaled);
  scaled.dispose();
  return { weights, xt };
}

export interface TopKOptions extends RelaxationOptions {
  /** Entries kept per position, 1 ≤ k ≤ K − 1. */
  k: number;
  /** webgpu: run the host loop (float64, identical to cpu) instead of the WGSL kernel (f32). Default false. */
  hostLoop?: boolean;
}

/** Host-side result of the top-k relaxation. */
export interface TopKRows {
  /** [B·L·k] kept ids, sorted by latent value (descending); indices[·, 0] is x_t. */
  indices: Int32Array;
  /** [B·L·k] approximate softmax(z/τ) of the kept entries (the tail's share is left out, as in the reference). */
  weights: Float64Array;
  /** [B·L] x_t = argmax of all K latents. */
  xt: Int32Array;
}

/** Philox words one position consumes: k + 1 + k 53-bit uniforms (order statistics, the true-token normal's two, ids). */
export const topKWordsPerPosition = (k: number): number => 2 * (2 * k + 2);

/**
 * log E[exp(βX) | X < c] for X ~ N(0, σ²) (mean of the truncated log-normal):
 * β²σ²/2 + log Φ((c − βσ²)/σ) − log Φ(c/σ).
 */
export function logMeanExpTruncNormal(c: number, sigma: number, beta: number): number {
  return 0.5 * beta * beta * sigma * sigma + logNdtr((c - beta * sigma * sigma) / sigma) - logNdtr(c / sigma);
}

/**
 * The top-k relaxation on host arrays (the reference loop the backends share). Position n = b·L + l reads Philox
 * words offset + n·W … offset + (n + 1)·W − 1, W = topKWordsPerPosition(k): uniforms 0…k−1 give the order
 * statistics, k and k+1 the true token's normal (Box–Muller), k+2…2k+1 the ids (partial Fisher–Yates).
 */
export function topKRelaxationRows(
  x0: ArrayLike<number>,
  batch: number,
  length: number,
  gamma: Float64Array,
  vocabSize: number,
  options: TopKOptions,
): TopKRows {
  const { k } = options;
  const beta = 1 / (options.tau ?? DEFAULT_TAU);
  const others = vocabSize - 1;
  const positions = batch * length;
  const out: TopKRows = {
    indices: new Int32Array(positions * k),
    weights: new Float64Array(positions * k),
    xt: new Int32Array(positions),
  };
  const { alphaTilde, sigmaTilde } = latentScales(gamma);
  const g = new Float64Array(k);
  const ids = new Int32Array(k);
  const kept = new Float64Array(k);
  const swaps = new Map<number, number>();
  const perPosition = 2 * k + 2;
  const chunk = Math.max(1, Math.floor(65536 / perPosition));
  const baseOffset = options.rng.offset ?? 0;
  for (let start = 0; start < positions; start += chunk) {
    const count = Math.min(chunk, positions - start);
    const stream = { seed: options.rng.seed, offset: baseOffset + start * 2 * perPosition };
    const u = uniforms53(stream, count * perPosition);
    for (let c = 0; c < count; c++) {
      const n = start + c;
      const b = Math.floor(n / length);
      const base = c * perPosition;
      const sigma = sigmaTilde[b];
      orderStatistics(u, base, k, others, sigma, g);
      // The true token's latent: α̃ + σ̃·N(0, 1) (Box–Muller on uniforms k and k + 1).
      const extra =
        alphaTilde[b] +
        sigma * Math.sqrt(-2 * Math.log(u[base + k])) * Math.cos(2 * Math.PI * u[base + k + 1]);
      otherIds(u, base + k + 2, k, others, x0[n], swaps, ids);
      const extraKept = mergeKept(g, ids, extra, x0[n], kept, out.indices, n * k);
      out.xt[n] = out.indices[n * k];
      const dropped = extraKept ? g[k - 1] : extra;
      keptWeights(kept, dropped, g[k - 1], others - k, sigma, beta, out.weights, n * k);
    }
  }
  return out;
}

/** Top-k order statistics (descending) of `others` iid N(0, σ²): U_(j) = U_(j−1)·V_j^(1/(N−j+1)), g_j = σΦ⁻¹(U_(j)). */
function orderStatistics(
  u: Float64Array,
  base: number,
  k: number,
  others: number,
  sigma: number,
  g: Float64Array,
) {
  let logU = 0;
  for (let j = 0; j < k; j++) {
    logU += Math.log(u[base + j]) / (others - j);
    g[j] = sigma * ndtri(Math.min(-Math.expm1(logU), 1 - 2 ** -53), true);
  }
}

/** A uniformly random ordered k-subset of the K − 1 ids ≠ x0 (partial Fisher–Yates over a sparse swap map). */
function otherIds(
  u: Float64Array,
  base: number,
  k: number,
  others: number,
  truth: number,
  swaps: Map<number, number>,
  ids: Int32Array,
) {
  swaps.clear();
  for (let j = 0; j < k; j++) {
    const r = j + Math.min(Math.floor(u[base + j] * (others - j)), others - j - 1);
    const atR = swaps.get(r) ?? r;
    swaps.set(r, swaps.get(j) ?? j);
    ids[j] = atR >= truth ? atR + 1 : atR;
  }
}

/**
 * The kept entries, descending: the k largest others, or (when x0's latent beats the k-th other) the k − 1
 * largest others with x0 merged in at its rank. Writes values to `kept` and ids to indices[at …]; returns whether
 * x0 was kept.
 */
function mergeKept(
  g: Float64Array,
  ids: Int32Array,
  extra: number,
  truth: number,
  kept: Float64Array,
  indices: Int32Array,
  at: number,
): boolean {
  const k = g.length;
  const extraKept = extra > g[k - 1];
  const othersKept = extraKept ? k - 1 : k;
  let extraPlaced = !extraKept;
  for (let w = 0, j = 0; w < k; w++) {
    if (!extraPlaced && (j >= othersKept || extra > g[j])) {
      kept[w] = extra;
      indices[at + w] = truth;
      extraPlaced = true;
    } else {
      kept[w] = g[j];
      indices[at + w] = ids[j];
      j++;
    }
  }
  return extraKept;
}

/**
 * Approximate softmax(z/τ) of the kept entries (Chapter II): the denominator is the kept terms, the known dropped
 * latent, and tailCount others truncated below `threshold` through their analytic mean. If every kept weight
 * underflows, the first becomes 1 (as in the reference).
 */
function keptWeights(
  kept: Float64Array,
  dropped: number,
  threshold: number,
  tailCount: number,
  sigma: number,
  beta: number,
  weights: Float64Array,
  at: number,
) {
  const k = kept.length;
  const tailLog =
    tailCount > 0
      ? Math.log(tailCount) + logMeanExpTruncNormal(threshold, sigma, beta)
      : Number.NEGATIVE_INFINITY;
  const maxLogit = Math.max(beta * Math.max(kept[0], dropped), tailLog);
  let sum = Math.exp(beta * dropped - maxLogit) + Math.exp(tailLog - maxLogit);
  for (let j = 0; j < k; j++) sum += Math.exp(beta * kept[j] - maxLogit);
  const logDenom = maxLogit + Math.log(sum);
  let total = 0;
  for (let j = 0; j < k; j++) {
    weights[at + j] = Math.exp(beta * kept[j] - logDenom);
    total += weights[at + j];
  }
  if (total === 0) weights[at] = 1;
}

export interface TopKRelaxation {
  /** i32 [B, L, k] kept ids, descending by latent; indices[b, l, 0] = x_t. */
  indices: Tensor;
  /** [B, L, k] approximate tempered-softmax weights of the kept ids. */
  weights: Tensor;
  /** i32 [B, L]: the true argmax of the K latents. */
  xt: Tensor;
}

/**
 * The memory-efficient relaxation on a backend (no [B, L, K] buffer anywhere), as the `topKRelax` op. On cpu its
 * kernel runs the float64 host loop (`topKRelaxationRows`) over the tensor data. On webgpu its WGSL kernel (one
 * invocation per position, f32) reads the same Philox words: same ids, latents equal up to f32 rounding, outputs
 * [B, L, k] on the device; x0 is read back once to validate its ids. With `hostLoop: true`, or k > 128, webgpu
 * runs the host loop on read-back x0 and uploads the results instead (bit-identical to cpu).
 */
export async function topKRelaxation(
  backend: Backend,
  x0: Tensor,
  gamma: Times,
  vocabSize: number,
  options: TopKOptions,
): Promise<TopKRelaxation> {
  const op = 'topKRelaxation';
  assertVocabSize(op, vocabSize);
  assertPositiveInteger(op, 'k', options.k);
  if (options.k > vocabSize - 1)
    throw new ArgumentError(op, `k = ${options.k}`, `1 ≤ k ≤ K − 1 = ${vocabSize - 1}`);
  checkTau(op, options.tau ?? DEFAULT_TAU);
  const [batch, length] = checkIds(op, 'x0', x0, vocabSize);
  if (x0.backend !== backend)
    throw new ArgumentError(
      op,
      `x0 on another ${x0.backend.name} backend`,
      `x0 on the given ${backend.name} backend`,
    );
  const gammas = perRow(op, 'gamma', gamma, batch);
  for (let b = 0; b < batch; b++) assertFinite(op, `gamma[${b}]`, gammas[b]);
  const k = options.k;
  const dtype = options.dtype ?? (backend.supportsF64 ? 'f64' : 'f32');
  const opArgs = { gammas, vocabSize, k, tau: options.tau ?? DEFAULT_TAU, rng: options.rng, dtype };
  if (isCpuBackend(backend)) return topKRelax(x0, opArgs); // ids checked by checkIds on cpu
  const ids = await x0.read();
  assertIdsInRange(op, ids, vocabSize);
  const wordsFit = batch * length * topKWordsPerPosition(k) < 2 ** 32;
  if (backend.name === 'webgpu' && !options.hostLoop && k <= WGSL_MAX_K && wordsFit)
    return topKRelax(x0, opArgs);
  const rows = topKRelaxationRows(ids, batch, length, gammas, vocabSize, options);
  return {
    indices: backend.tensor(rows.indices, [batch, length, k], 'i32'),
    weights: backend.tensor(
      dtype === 'f64' ? rows.weights : Float32Array.from(rows.weights),
      [batch, length, k],
      dtype,
    ),
    xt: backend.tensor(rows.xt, [batch, length], 'i32'),
  };
}
