/**
 * The `Denoiser` adapter: turns a DiT into `predict(xt, sigma) → log p(x0 | xt)` [B, L, V] for the samplers.
 *   'logits' (uniform-state / Duo): log-softmax of the logits.
 *   'subs'   (masked diffusion, MDLM §3.2 SUBS parameterisation): the mask logit is −∞ (x0 is never the mask)
 *            and an unmasked position carries its token over: log p = 0 at xt, −∞ elsewhere.
 */
import { ArgumentError, type Tensor } from '@duality/kernels';
import type { DiT, SigmaInput } from './dit';

/** Structural copy of `@duality/samplers`' Denoiser contract (models does not depend on samplers). */
export interface Denoiser {
  readonly vocabSize: number;
  predict(xt: Tensor, sigma: SigmaInput): Promise<Tensor>;
  readonly contextLength?: number;
  readonly timeConditioned?: boolean;
}

export type Parameterization = { kind: 'logits' } | { kind: 'subs'; maskIndex: number };

export interface DiTDenoiserOptions {
  /**
   * The σ the network is conditioned on when a sampler passes σ = +∞ (α_t = 0, pure noise; e.g.
   * `logLinear({ eps: 0 })` at t = 1). Default −log(1e-3) ≈ 6.91: σ at t = 1 of the reference's log-linear
   * schedule (eps = 1e-3), the largest σ its networks are trained on. (The sin/cos timestep features have no
   * limit as σ → ∞, so some finite value must stand in; finite σ are passed through unchanged.)
   */
  sigmaAtAlphaZero?: number;
}

/** Default of DiTDenoiserOptions.sigmaAtAlphaZero: −log(1e-3). */
export const SIGMA_AT_ALPHA_ZERO = -Math.log(1e-3);

export class DiTDenoiser implements Denoiser {
  readonly model: DiT;
  readonly parameterization: Parameterization;
  readonly sigmaAtAlphaZero: number;

  constructor(
    model: DiT,
    parameterization: Parameterization = { kind: 'logits' },
    options: DiTDenoiserOptions = {},
  ) {
    const sigmaAtAlphaZero = options.sigmaAtAlphaZero ?? SIGMA_AT_ALPHA_ZERO;
    if (!(Number.isFinite(sigmaAtAlphaZero) && sigmaAtAlphaZero >= 0))
      throw new ArgumentError('DiTDenoiser', `sigmaAtAlphaZero ${sigmaAtAlphaZero}`, 'a finite σ ≥ 0');
    this.sigmaAtAlphaZero = sigmaAtAlphaZero;
    if (model.config.causal) throw new ArgumentError('DiTDenoiser', 'a causal model', 'a bidirectional DiT');
    if (parameterization.kind === 'subs') {
      const m = parameterization.maskIndex;
      const V = model.config.vocabSize;
      if (!Number.isInteger(m) || m < 0 || m >= V)
        throw new ArgumentError('DiTDenoiser', `maskIndex ${m}`, `an id in [0, ${V})`);
    }
    this.model = model;
    this.parameterization = parameterization;
  }

  get vocabSize(): number {
    return this.model.config.vocabSize;
  }

  /** The DiT's context length: samplers switch to semi-autoregressive windows beyond it. */
  get contextLength(): number {
    return this.model.config.length;
  }

  /** Whether the DiT conditions on sigma; when not (MDLM), a cached sampler may reuse x̂0 across steps. */
  get timeConditioned(): boolean {
    return this.model.config.timeConditioning;
  }

  /** log p(x0 | xt) [B, L, V]; σ = +∞ (α_t = 0) is conditioned at `sigmaAtAlphaZero`. */
  async predict(xt: Tensor, sigma: SigmaInput): Promise<Tensor> {
    const logits = await this.model.forward({ tokens: xt }, await this.conditioning(sigma));
    if (this.parameterization.kind === 'logits') {
      try {
        return this.model.backend.logSoftmax(logits);
      } finally {
        logits.dispose();
      }
    }
    return subsLogProbs(this.model, logits, xt, this.parameterization.maskIndex);
  }

  private conditioning(sigma: SigmaInput): Promise<SigmaInput> {
    return finiteSigma(sigma, this.sigmaAtAlphaZero);
  }
}

/** σ with +∞ replaced by the finite stand-in (everything else is checked by DiT.forward). */
async function finiteSigma(sigma: SigmaInput, atAlphaZero: number): Promise<SigmaInput> {
  const values = isTensorLike(sigma) ? await sigma.read() : sigma;
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') return sigma;
  let hasInfinity = false;
  for (let i = 0; i < values.length; i++) if (values[i] === Number.POSITIVE_INFINITY) hasInfinity = true;
  if (!hasInfinity) return sigma;
  return Float64Array.from(values, (v) => (v === Number.POSITIVE_INFINITY ? atAlphaZero : v));
}

const isTensorLike = (x: unknown): x is Tensor =>
  typeof x === 'object' && x !== null && typeof (x as Tensor).read === 'function' && 'shape' in x;

/** SUBS: log-softmax with the mask logit at −∞, then carry-over of unmasked tokens (0 at xt, −∞ elsewhere). */
function subsLogProbs(model: DiT, logits: Tensor, xt: Tensor, maskIndex: number): Tensor {
  const b = model.backend;
  const V = model.config.vocabSize;
  const dtype = model.dtype;
  const temps: Tensor[] = [logits];
  const own = <T extends Tensor>(t: T): T => {
    temps.push(t);
    return t;
  };
  try {
    const maskRow = new Float64Array(V);
    maskRow[maskIndex] = Number.NEGATIVE_INFINITY;
    const logp = own(b.logSoftmax(own(b.add(logits, own(b.tensor(maskRow, [V], dtype))))));
    const isMasked = own(b.compare(xt, own(b.full([1], maskIndex, 'i32')), 'eq'));
    const [B, L] = xt.shape;
    const isMasked3 = own(b.reshape(isMasked, [B, L, 1]));
    const atXt = own(b.compare(own(b.oneHot(xt, V, dtype)), own(b.full([1], 0.5, dtype)), 'gt'));
    const carry = own(
      b.where(atXt, own(b.zeros([1], dtype)), own(b.full([1], Number.NEGATIVE_INFINITY, dtype))),
    );
    return b.where(isMasked3, logp, carry);
  } finally {
    for (const t of temps) if (!t.disposed) t.dispose();
  }
}

/**
 * Log-probabilities of each next token under a causal model: out[b, i] = log p(x_{i+1} | x_{≤i}), i < L − 1
 * (the judge's term in generative perplexity = exp(−mean)).
 */
export async function nextTokenLogProbs(model: DiT, tokens: Tensor): Promise<Float64Array> {
  if (!model.config.causal)
    throw new ArgumentError('nextTokenLogProbs', 'a bidirectional DiT', 'a causal model');
  const b = model.backend;
  const [B, L] = tokens.shape;
  const ids = await tokens.read();
  const next = new Int32Array(B * L); // next[b, i] = x[b, i + 1]; the last column is a placeholder
  for (let r = 0; r < B; r++) for (let i = 0; i < L - 1; i++) next[r * L + i] = ids[r * L + i + 1];
  const logits = await model.forward({ tokens });
  const temps: Tensor[] = [logits];
  try {
    const logp = b.logSoftmax(logits);
    temps.push(logp);
    const nextIds = b.tensor(next, [B, L], 'i32');
    temps.push(nextIds);
    const picked = b.gatherLast(logp, nextIds);
    temps.push(picked);
    const values = await picked.read();
    const out = new Float64Array(B * (L - 1));
    for (let r = 0; r < B; r++) for (let i = 0; i < L - 1; i++) out[r * (L - 1) + i] = values[r * L + i];
    return out;
  } finally {
    for (const t of temps) t.dispose();
  }
}
