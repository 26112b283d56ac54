/** Shared pieces of the gradient tests: the fixture's DiT config, the dit_grad loss, gradient error figures. */
import type { Backend, Tensor } from '@duality/kernels';
import { configFromReference, type DiTConfig } from '../src/index';

/** The DiT config of dit_parity.json / the dit_grad case (its `config` object); no node imports (browser too). */
export function fixtureConfig(c: Record<string, unknown>): DiTConfig {
  return configFromReference({
    vocab_size: c.vocab_size,
    model: {
      hidden_size: c.hidden_size,
      cond_dim: c.cond_dim,
      n_heads: c.n_heads,
      n_blocks: c.n_blocks,
      length: c.seq_len,
    },
  });
}

/** L = Σ_{b,l} c[b,l]·log_softmax(logits)[b,l,y[b,l]] (train_parity.json `dit_grad`), a scalar tensor. */
export function ditLoss(b: Backend, logits: Tensor, y: Tensor, c: Tensor): Tensor {
  const picked = b.gatherLast(b.logSoftmax(logits), y);
  return b.sum(b.sum(b.mul(picked, c)));
}

export interface GradError {
  /** max |g − e| / |e| over entries with |e| > 1e-8. */
  maxRel: number;
  maxAbs: number;
  /** max |e| of the tensor. */
  scale: number;
  /** max |g − e| / (1e-9·|e| + 1e-12): ≤ 1 passes the float64 rule. */
  worstOverTol: number;
  /** max |g − e| / tol with the split rule: tol = 1e-9·|e| where |e| > 1e-8, else 1e-12. */
  worstOverSplitTol: number;
}

export function gradError(got: ArrayLike<number>, want: ArrayLike<number>): GradError {
  if (got.length !== want.length) throw new Error(`length ${got.length} vs ${want.length}`);
  let maxRel = 0;
  let maxAbs = 0;
  let scale = 0;
  let worstOverTol = 0;
  let worstOverSplitTol = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    const e = Math.abs(want[i]);
    if (!Number.isFinite(d))
      return {
        maxRel: Infinity,
        maxAbs: Infinity,
        scale: e,
        worstOverTol: Infinity,
        worstOverSplitTol: Infinity,
      };
    maxAbs = Math.max(maxAbs, d);
    scale = Math.max(scale, e);
    if (e > 1e-8) maxRel = Math.max(maxRel, d / e);
    worstOverTol = Math.max(worstOverTol, d / (1e-9 * e + 1e-12));
    worstOverSplitTol = Math.max(worstOverSplitTol, d / (e > 1e-8 ? 1e-9 * e : 1e-12));
  }
  return { maxRel, maxAbs, scale, worstOverTol, worstOverSplitTol };
}
