/**
 * The batched NELBO integrands on the host: log-probabilities are read back and the float64 row maths of
 * maths/nelbo.ts run in a JS loop. Not differentiable, and not for training: the training losses are the tensor
 * ops `mdlmLoss`, `duoLoss` and `klLoss` (losses/losses.ts, with backward rules, on cpu and webgpu). These host
 * helpers stay as the ops' test oracles (test/losses.test.ts checks every op against them) and for evaluating a
 * bound from read-back numbers.
 */
import {
  ArgumentError,
  DTypeError,
  describeShape,
  IndexOutOfRangeError,
  ShapeError,
  type Tensor,
} from '@duality/kernels';
import type { Times } from '@duality/noise';
import { NonFiniteError, NotADistributionError } from './errors';
import { duoIntegrandUnchecked, LN2, mdlmIntegrandUnchecked } from './maths/nelbo';
import { perBatch } from './validate';

export interface NelboArgs {
  /** Denoiser log-probabilities of x0, [B, …, K] (a proper log-softmax; −∞ allowed). */
  logXTheta: Tensor;
  /** Noisy ids x_t, i32 [B, …]. */
  xt: Tensor;
  /** Clean ids x_0, i32 [B, …]. */
  x0: Tensor;
  /** alpha(t) in (0, 1), scalar or one per batch row. */
  alphaT: Times;
  /** d alpha / dt (≤ 0), scalar or one per batch row. */
  dalphaT: Times;
  /** Allowed |Σ exp(logXTheta) − 1| per row. Default 1e-9 (f64) or 1e-4 (f32). */
  tolerance?: number;
}

interface Loaded {
  logs: Float32Array | Float64Array;
  xt: Int32Array | Uint32Array;
  x0: Int32Array | Uint32Array;
  rows: number;
  k: number;
  rowsPerBatch: number;
  alphaT: Float64Array;
  dalphaT: Float64Array;
}

async function load(op: string, args: NelboArgs): Promise<Loaded> {
  if (args === null || typeof args !== 'object') {
    throw new ArgumentError(op, `args ${String(args)}`, 'an object { logXTheta, xt, x0, alphaT, dalphaT }');
  }
  const { logXTheta, xt, x0 } = args;
  for (const [name, t] of [
    ['logXTheta', logXTheta],
    ['xt', xt],
    ['x0', x0],
  ] as const) {
    if (typeof t !== 'object' || t === null || !Array.isArray(t.shape) || typeof t.read !== 'function') {
      throw new ArgumentError(op, `${name} ${t === null ? 'null' : typeof t}`, 'a Tensor');
    }
  }
  if (logXTheta.dtype !== 'f32' && logXTheta.dtype !== 'f64') {
    throw new DTypeError(op, `logXTheta of dtype ${logXTheta.dtype}`, 'f32 | f64');
  }
  for (const [name, t] of [
    ['xt', xt],
    ['x0', x0],
  ] as const) {
    if (t.dtype !== 'i32' && t.dtype !== 'u32')
      throw new DTypeError(op, `${name} of dtype ${t.dtype}`, 'i32 | u32');
    const outer = logXTheta.shape.slice(0, -1);
    if (logXTheta.shape.length < 2 || t.shape.join() !== outer.join()) {
      throw new ShapeError(
        op,
        `${name} of shape ${describeShape(t.shape)} with logXTheta ${describeShape(logXTheta.shape)}`,
        'logXTheta [B, …, K] and ids [B, …]',
      );
    }
  }
  const k = logXTheta.shape[logXTheta.shape.length - 1];
  const batch = logXTheta.shape[0];
  const rows = xt.size;
  const alphaT = perBatch(op, 'alphaT', args.alphaT, batch);
  const dalphaT = perBatch(op, 'dalphaT', args.dalphaT, batch);
  for (let b = 0; b < batch; b++) {
    if (!(alphaT[b] > 0 && alphaT[b] < 1))
      throw new ArgumentError(op, `alphaT = ${alphaT[b]}`, 'alphaT in (0, 1)');
    if (!(Number.isFinite(dalphaT[b]) && dalphaT[b] <= 0)) {
      throw new ArgumentError(op, `dalphaT = ${dalphaT[b]}`, 'a finite dalphaT ≤ 0 (alpha falls with t)');
    }
  }
  const [logs, xtData, x0Data] = await Promise.all([logXTheta.read(), xt.read(), x0.read()]);
  const tolerance = args.tolerance ?? (logXTheta.dtype === 'f64' ? 1e-9 : 1e-4);
  for (let r = 0; r < rows; r++) checkLogRow(op, logs as Float64Array, r, k, tolerance);
  for (const [name, ids] of [
    ['xt', xtData],
    ['x0', x0Data],
  ] as const) {
    for (let r = 0; r < rows; r++) {
      if (!(ids[r] >= 0 && ids[r] < k))
        throw new IndexOutOfRangeError(op, `${name}[${r}] = ${ids[r]}`, `ids in [0, ${k})`);
    }
  }
  return {
    logs: logs as Float32Array | Float64Array,
    xt: xtData as Int32Array,
    x0: x0Data as Int32Array,
    rows,
    k,
    rowsPerBatch: batch === 0 ? 0 : rows / batch,
    alphaT,
    dalphaT,
  };
}

function checkLogRow(op: string, logs: ArrayLike<number>, r: number, k: number, tolerance: number): void {
  let total = 0;
  for (let j = r * k; j < (r + 1) * k; j++) {
    const v = logs[j];
    if (Number.isNaN(v) || v === Number.POSITIVE_INFINITY) {
      throw new NonFiniteError(op, `logXTheta row ${r} containing ${v}`, 'log-probabilities (finite or −∞)');
    }
    total += Math.exp(v);
  }
  if (!(Math.abs(total - 1) <= tolerance)) {
    throw new NotADistributionError(
      op,
      `logXTheta row ${r} with Σ exp = ${total}`,
      `Σ exp = 1 ± ${tolerance}`,
    );
  }
}

function perToken(
  data: Loaded,
  f: (row: ArrayLike<number>, xt: number, x0: number, a: number, da: number) => number,
) {
  const out = new Float64Array(data.rows);
  for (let r = 0; r < data.rows; r++) {
    const b = Math.floor(r / data.rowsPerBatch);
    const row = data.logs.subarray(r * data.k, (r + 1) * data.k);
    out[r] = f(row, data.xt[r], data.x0[r], data.alphaT[b], data.dalphaT[b]);
  }
  return out;
}

/**
 * MDLM integrand per token (nats, float64), [rows] in row-major order of xt. A host oracle: `mdlmLoss` is the
 * differentiable tensor op (mdlmLoss(z, xt, x0, w, maskId) with w = α'/(1 − α) on logits z).
 */
export async function mdlmNelbo(args: NelboArgs & { maskId: number }): Promise<Float64Array> {
  const data = await load('mdlmNelbo', args);
  if (!(Number.isInteger(args.maskId) && args.maskId >= 0 && args.maskId < data.k)) {
    throw new IndexOutOfRangeError('mdlmNelbo', `maskId ${args.maskId}`, `an id in [0, ${data.k})`);
  }
  return perToken(data, (row, xt, x0, a, da) => mdlmIntegrandUnchecked(row, xt, x0, a, da, args.maskId));
}

/**
 * UDLM / Duo integrand per token (nats, float64), [rows] in row-major order of xt. A host oracle: `duoLoss` is
 * the differentiable tensor op (duoLoss(z, xt, x0, α, α') on logits z, log_softmax inside).
 */
export async function duoNelbo(args: NelboArgs): Promise<Float64Array> {
  return perToken(await load('duoNelbo', args), duoIntegrandUnchecked); // load() checked every argument
}

export interface BoundTerms {
  /** Diffusion term per token, nats: ∫_0^1 E[integrand] dt (e.g. the mean of integrands at t ~ U(0, 1)). */
  diffusion: number;
  /** Prior term per token, nats: KL(q_1(·|x0) ‖ p_1) (0 when alpha(1) = 0). */
  prior: number;
  /** Reconstruction term per token, nats: −log p_θ(x0 | x_{t0}) (0 when alpha(0) = 1 is sampled exactly). */
  reconstruction: number;
}

export interface BoundReport extends BoundTerms {
  natsPerToken: number;
  bitsPerToken: number;
  /** exp(nats per token): the perplexity bound. */
  perplexity: number;
}

/** The full bound per token: diffusion + prior + reconstruction, in nats and bits (÷ ln 2). */
export function boundReport(terms: BoundTerms): BoundReport {
  for (const [name, v] of Object.entries(terms)) {
    if (!(v >= 0) || Number.isNaN(v))
      throw new ArgumentError('boundReport', `${name} = ${v}`, 'a term ≥ 0 (nats)');
  }
  const nats = terms.diffusion + terms.prior + terms.reconstruction;
  return { ...terms, natsPerToken: nats, bitsPerToken: nats / LN2, perplexity: Math.exp(nats) };
}
