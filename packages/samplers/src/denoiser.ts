import { defineOp, isCpuBackend, describeShape as shapeText, type Tensor } from '@duality/kernels';
import { DenoiserOutputError } from './errors';

/** Per-call extras a denoiser may use. */
export interface PredictOptions {
  /**
   * Class labels, one per batch row, for class-conditional denoisers. The label `numClasses` means
   * "unconditional" (the reference's convention); absent = unconditional.
   */
  labels?: Int32Array;
}

/**
 * The Denoiser contract (DESIGN.md): anything with `vocabSize` and `predict(xt, sigma)` giving log p(x0 | xt).
 *
 * - `xt`: ids i32 [B, L] on the sampler's backend.
 * - `sigma`: one time conditioning per row, σ = −log α_t (may be +∞ at α_t = 0).
 * - result: log-probabilities f32 (or f64 on cpu) [B, L, vocabSize] on the same backend; each row sums to 1
 *   after exp (−∞ entries allowed). The sampler takes ownership of the returned tensor and disposes it.
 */
export interface Denoiser {
  readonly vocabSize: number;
  predict(xt: Tensor, sigma: Float64Array, options?: PredictOptions): Promise<Tensor>;
  /** Longest sequence the model accepts (default: unbounded). Longer requests need semi-AR sampling. */
  readonly contextLength?: number;
  /**
   * Whether the prediction depends on σ (default true). `false` lets the cached ancestral sampler reuse x̂0
   * while x_t does not change (MDLM's caching trick, §3.5 of the MDLM paper / the reference `ancestral_cache`).
   */
  readonly timeConditioned?: boolean;
  /** Number of classes of a class-conditional denoiser (label `numClasses` = unconditional). */
  readonly numClasses?: number;
}

const kindOf = (v: unknown): string =>
  v === null
    ? 'null'
    : ArrayBuffer.isView(v)
      ? `a ${v.constructor.name}`
      : typeof v === 'object'
        ? 'an object that is not a Tensor'
        : `a ${typeof v}`;

/** A value with a tensor's shape, dtype and dispose (a denoiser might return anything). */
export const isTensorLike = (v: unknown): v is Tensor =>
  typeof v === 'object' &&
  v !== null &&
  Array.isArray((v as Tensor).shape) &&
  typeof (v as Tensor).dtype === 'string' &&
  typeof (v as Tensor).dispose === 'function';

/** Shape and dtype of a denoiser output: float [B, L, V]. */
export function checkOutputShape(
  op: string,
  out: Tensor,
  batch: number,
  length: number,
  vocab: number,
): void {
  const want = [batch, length, vocab];
  if (!isTensorLike(out)) {
    throw new DenoiserOutputError(
      op,
      `denoiser output ${kindOf(out)}`,
      `a Tensor ${shapeText(want)} of log-probabilities`,
    );
  }
  if (out.shape.length !== 3 || out.shape.some((d, i) => d !== want[i])) {
    throw new DenoiserOutputError(
      op,
      `denoiser output of shape ${shapeText(out.shape)}`,
      `${shapeText(want)} log-probabilities`,
    );
  }
  if (out.dtype !== 'f32' && out.dtype !== 'f64') {
    throw new DenoiserOutputError(op, `denoiser output of dtype ${out.dtype}`, 'f32 | f64 log-probabilities');
  }
}

/**
 * Every row of a denoiser output is normalised log-probabilities. On cpu every entry is scanned (no NaN or +∞,
 * Σ exp = 1 within `tolerance`). Elsewhere the row sums Σ exp are reduced on the device and only those [B, L]
 * numbers are read back: a NaN or +∞ anywhere in a row makes its sum NaN or +∞, which fails the same test.
 */
export async function checkLogProbs(
  op: string,
  out: Tensor,
  vocab: number,
  tolerance: number,
): Promise<void> {
  if (isCpuBackend(out.backend)) {
    scanLogProbRows(out, op, vocab, tolerance);
    return;
  }
  const be = out.backend;
  const probs = be.exp(out);
  const sums = be.sum(probs);
  probs.dispose();
  let values: ArrayLike<number>;
  try {
    values = await sums.read();
  } finally {
    sums.dispose();
  }
  for (let r = 0; r < values.length; r++) {
    const sum = values[r];
    if (!(Math.abs(sum - 1) <= tolerance)) {
      const why = Number.isFinite(sum) ? '' : ' (a NaN or +∞ log-probability in the row)';
      throw new DenoiserOutputError(
        op,
        `row ${r} with Σ exp = ${sum}${why}`,
        `normalised log-probabilities (Σ exp = 1 ± ${tolerance}, entries finite or −∞)`,
      );
    }
  }
}

/** Every row: no NaN or +∞, and Σ exp = 1 within `tolerance`. */
export function checkLogProbRows(
  op: string,
  data: ArrayLike<number>,
  vocab: number,
  tolerance: number,
): void {
  const rows = data.length / vocab;
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let j = r * vocab; j < (r + 1) * vocab; j++) {
      const v = data[j];
      if (Number.isNaN(v) || v === Number.POSITIVE_INFINITY) {
        throw new DenoiserOutputError(
          op,
          `log-probability ${v} in row ${r}`,
          'finite log-probabilities or −∞',
        );
      }
      sum += Math.exp(v);
    }
    if (!(Math.abs(sum - 1) <= tolerance)) {
      throw new DenoiserOutputError(
        op,
        `row ${r} with Σ exp = ${sum}`,
        `normalised log-probabilities (Σ exp = 1 ± ${tolerance})`,
      );
    }
  }
}

/** The cpu scan of `checkLogProbs` as a cpu-only op: reads the output through the kernel context, no copy. */
const scanLogProbRows = defineOp<[Tensor, string, number, number], void>({
  name: 'checkLogProbRows',
  cpu: (ctx, out, op, vocab, tolerance) => checkLogProbRows(op, ctx.data(out), vocab, tolerance),
});
