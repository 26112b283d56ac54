import { type PhiloxKey, philox4x32, philoxWords, wordToUniform } from '../rng/philox';
import type { FloatArray } from './matmul';
import { cpuKernelLimits, cpuPoolThreads, runJob } from './pool';
import { toShared } from './storage';

/**
 * Bound on |g_f32(w) − g(w)| over all 2^23 uniforms, where g(w) = −ln(−ln u(w)) in float64 and g_f32 is the wasm
 * kernel's f32 version (frexp + the Cephes logf polynomial, twice). Measured maximum 5.34e-7; the test
 * `fast-sample.test.ts` checks every word against this bound.
 */
export const GUMBEL_F32_MAX_ERROR = 1e-6;
/** Fixed part of the candidate slack: two values' noise errors. */
const SLACK_T0 = 2 * GUMBEL_F32_MAX_ERROR;
/** Candidates one chunk may hold before it compacts (and, failing that, falls back to the exact loop). */
const CANDIDATE_CAP = 64;

/**
 * Gumbel-max over each row of logits [rows, n]: id = argmax_i (logits_i / T + G_i), G_i = −ln(−ln u_i), with
 * u_i the uniform at stream offset offset + r·n + i (the draw of Backend.sampleCategorical).
 *
 * Fast path (one pass per row, WebAssembly SIMD, threads over rows and column chunks): four Philox blocks per
 * SIMD step, G in f32, and every element whose f32 value comes within the error bound of the running best is kept
 * as a candidate; the candidates are then re-scored with the float64 formula of the reference loop. The result
 * is therefore exactly the reference loop's id (first index on exact ties), whatever the f32 rounding.
 *
 * Returns whether some logit was NaN (found in the same pass; NaN logits never win, as in the reference loop),
 * so a caller that refuses NaN needs no separate scan of the logits. A row without a logit above −∞ gets id −1.
 */
export function sampleCategoricalKernel(
  logits: FloatArray,
  rows: number,
  n: number,
  key: PhiloxKey,
  offset: number,
  invTemperature: number,
  out: Int32Array,
): boolean {
  const usable = n > 0 && rows > 0 && Number.isFinite(invTemperature) && invTemperature > 0;
  const fast = usable ? sampleWasm(logits, rows, n, key, offset, invTemperature, out) : undefined;
  if (fast !== undefined) return fast;
  sampleCategoricalReference(logits, rows, n, key, offset, invTemperature, out);
  return hasNaN(logits, rows * n);
}

function hasNaN(x: FloatArray, size: number): boolean {
  for (let i = 0; i < size; i++) if (Number.isNaN(x[i])) return true;
  return false;
}

function sampleWasm(
  logits: FloatArray,
  rows: number,
  n: number,
  key: PhiloxKey,
  offset: number,
  invT: number,
  out: Int32Array,
): boolean | undefined {
  const parallel = rows * n >= cpuKernelLimits.sampleParallelMinElements;
  const threads = parallel ? cpuPoolThreads() : 1;
  const share = threads > 1;
  const wantedChunks = Math.ceil((2 * threads) / rows);
  const chunksPerRow =
    rows >= 2 * threads
      ? 1
      : Math.max(1, Math.min(wantedChunks, Math.floor(n / cpuKernelLimits.sampleMinChunk)));
  const chunk = Math.ceil(n / chunksPerRow);
  const tasks = rows * chunksPerRow;
  const stride = 1 + 2 * CANDIDATE_CAP;
  const bytes = tasks * stride * 4;
  const buffer = share ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  const cand = new Int32Array(buffer);
  const nan = new Int32Array(share ? new SharedArrayBuffer(4) : new ArrayBuffer(4));
  const job = {
    kind: 'sample' as const,
    tasks,
    logits: share ? toShared(logits) : logits,
    n,
    k0: key.k0 | 0,
    k1: key.k1 | 0,
    offset,
    invT,
    t0: SLACK_T0,
    chunk,
    chunksPerRow,
    cand,
    cap: CANDIDATE_CAP,
    stride,
    nan,
  };
  if (!runJob(job, share)) return undefined;
  const candF = new Float32Array(buffer);
  for (let r = 0; r < rows; r++) {
    out[r] = resolveRow(
      logits,
      r,
      n,
      key,
      offset,
      invT,
      cand,
      candF,
      r * chunksPerRow,
      chunksPerRow,
      chunk,
      stride,
    );
  }
  return nan[0] !== 0;
}

/** Slack of the wasm threshold, doubled: values further than this below the best approximate value cannot win. */
const slack = (best: number): number => 2 * (SLACK_T0 + 2 ** -19 * (Math.abs(best) + 32));

/** Picks the row's id among its chunks' candidates by the exact (float64, reference) value. */
function resolveRow(
  logits: FloatArray,
  r: number,
  n: number,
  key: PhiloxKey,
  offset: number,
  invT: number,
  cand: Int32Array,
  candF: Float32Array,
  firstTask: number,
  chunks: number,
  chunk: number,
  stride: number,
): number {
  let approxBest = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < chunks; c++) {
    const at = (firstTask + c) * stride;
    for (let i = 0; i < cand[at]; i++) approxBest = Math.max(approxBest, candF[at + 2 + 2 * i]);
  }
  const floor =
    approxBest === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : approxBest - slack(approxBest);
  let best = Number.NEGATIVE_INFINITY;
  let bestLogit = Number.NEGATIVE_INFINITY;
  let arg = -1;
  const consider = (col: number, value: number) => {
    const logit = logits[r * n + col];
    const tieWon = value === best && !beats(best, bestLogit, value, logit) && col < arg;
    if (beats(value, logit, best, bestLogit) || tieWon) {
      best = value;
      bestLogit = logit;
      arg = col;
    }
  };
  for (let c = 0; c < chunks; c++) {
    const at = (firstTask + c) * stride;
    const count = cand[at];
    if (count < 0) {
      const c0 = c * chunk;
      const exact = exactArgmax(logits, r, n, c0, Math.min(n, c0 + chunk), key, offset, invT);
      if (exact.col >= 0) consider(exact.col, exact.value);
      continue;
    }
    for (let i = 0; i < count; i++) {
      if (!(candF[at + 2 + 2 * i] > floor)) continue;
      const col = cand[at + 1 + 2 * i];
      consider(col, exactValue(logits, r, n, col, key, offset, invT));
    }
  }
  // no f32 candidate (every f32 score −∞, e.g. finite logits whose f32 product with 1/T overflowed to −∞):
  // the exact loop decides, and gives −1 only for a row of all −∞ logits
  return arg >= 0 ? arg : exactArgmax(logits, r, n, 0, n, key, offset, invT).col;
}

/**
 * Whether a score v (of logit x) beats the best so far (score best, of logit bestX): the larger score; when both
 * scores are the same infinity (logit/T overflowed), the larger logit, which is how the unrounded scores order.
 */
function beats(v: number, x: number, best: number, bestX: number): boolean {
  return v > best || (v === best && x > bestX && !Number.isFinite(v));
}

const block = new Uint32Array(4);

/** The reference loop's value for one element: logits·invT − ln(−ln u) in float64. */
function exactValue(
  logits: FloatArray,
  r: number,
  n: number,
  col: number,
  key: PhiloxKey,
  offset: number,
  invT: number,
): number {
  const pos = offset + r * n + col;
  const b = Math.floor(pos / 4);
  philox4x32(b % 4294967296, Math.floor(b / 4294967296), 0, 0, key.k0, key.k1, block);
  return logits[r * n + col] * invT - Math.log(-Math.log(wordToUniform(block[pos % 4])));
}

/** Exact argmax over columns [c0, c1) of one row (reference arithmetic); col −1 when no value beats −∞. */
function exactArgmax(
  logits: FloatArray,
  r: number,
  n: number,
  c0: number,
  c1: number,
  key: PhiloxKey,
  offset: number,
  invT: number,
): { col: number; value: number } {
  const words = philoxWords(key, offset + r * n + c0, c1 - c0);
  let value = Number.NEGATIVE_INFINITY;
  let best = Number.NEGATIVE_INFINITY;
  let col = -1;
  for (let i = c0; i < c1; i++) {
    const x = logits[r * n + i];
    const v = x * invT - Math.log(-Math.log(wordToUniform(words[i - c0])));
    if (beats(v, x, value, best)) {
      value = v;
      best = x;
      col = i;
    }
  }
  return { col, value };
}

/** The reference loop: one Philox stream slice and one float64 Gumbel per element. */
export function sampleCategoricalReference(
  logits: FloatArray,
  rows: number,
  n: number,
  key: PhiloxKey,
  offset: number,
  invTemperature: number,
  out: Int32Array,
): void {
  for (let r = 0; r < rows; r++) {
    const words = philoxWords(key, offset + r * n, n);
    let best = Number.NEGATIVE_INFINITY;
    let bestLogit = Number.NEGATIVE_INFINITY;
    let arg = -1;
    for (let i = 0; i < n; i++) {
      const x = logits[r * n + i];
      const v = x * invTemperature - Math.log(-Math.log(wordToUniform(words[i])));
      if (beats(v, x, best, bestLogit)) {
        best = v;
        bestLogit = x;
        arg = i;
      }
    }
    out[r] = arg;
  }
}
