import { philox4x32, philoxKey, streamWordAt, wordToUniform } from '@duality/kernels';
import { rowPasses } from '@duality/noise';
import { type AffineRow, emptyAffine, maskedAffine, uniformAffine } from './affine';
import { idError, rowError } from './validate';

type FloatArray = Float32Array | Float64Array;

/** One fused step over rows of x̂0 on typed arrays (the cpu kernel context's storage views, no copies). */
export interface FusedStep {
  op: string;
  kind: 'masked' | 'uniform';
  x: FloatArray;
  ids: Int32Array | Uint32Array;
  rows: number;
  k: number;
  rowsPerBatch: number;
  /** Per batch row. */
  alphaS: Float64Array;
  alphaT: Float64Array;
  kappa: Float64Array;
  mask: number;
  validate: boolean;
  tolerance: number;
}

/** Checks the id of row r and fills `plan` with its affine Ψ coefficients. */
function planRow(step: FusedStep, r: number, plan: AffineRow): void {
  const { k, ids, x } = step;
  const id = ids[r];
  if (!(id >= 0 && id < k)) throw idError(step.op, r, id, k);
  const b = step.rowsPerBatch === 0 ? 0 : Math.floor(r / step.rowsPerBatch);
  const start = r * k;
  if (step.kind === 'uniform') {
    uniformAffine(plan, k, x[start + id], id, step.alphaS[b], step.alphaT[b], step.kappa[b]);
  } else {
    maskedAffine(plan, x[start + step.mask], id, step.mask, step.alphaS[b], step.alphaT[b], step.kappa[b]);
  }
}

function checkSums(step: FusedStep, r: number, sum: number, min: number): void {
  if (!step.validate) return;
  const tol = step.tolerance;
  if (!rowPasses(sum, min, tol)) throw rowError(step.op, r, sum, min, tol);
}

/** Ψ probabilities of every row into `out` (same dtype as x): posterior, κ-mix and checks in one pass per row. */
export function fusedProbs(step: FusedStep, out: FloatArray): void {
  const { k, x } = step;
  const plan = emptyAffine();
  for (let r = 0; r < step.rows; r++) {
    planRow(step, r, plan);
    const start = r * k;
    const { a, b } = plan;
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    for (let j = start; j < start + k; j++) {
      const v = x[j];
      sum += v;
      if (v < min) min = v;
      out[j] = a * v + b;
    }
    checkSums(step, r, sum, min);
    if (plan.i1 >= 0) out[start + plan.i1] = plan.v1;
    if (plan.i2 >= 0) out[start + plan.i2] = plan.v2;
  }
}

/** Σ and min of one row (the pass that both validates and normalises). */
function rowStats(x: FloatArray, start: number, k: number): { sum: number; min: number } {
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  for (let j = start; j < start + k; j++) {
    const v = x[j];
    sum += v;
    if (v < min) min = v;
  }
  return { sum, min };
}

/** Value of the affine row at id j (specials override). */
const affineAt = (plan: AffineRow, x: FloatArray, start: number, j: number): number =>
  j === plan.i1 ? plan.v1 : j === plan.i2 ? plan.v2 : plan.a * x[start + j] + plan.b;

/** Ids per block of the inverse-CDF walk: pass 1 keeps one partial sum of x̂0 per block. */
const BLOCK = 256;

/** Pass 1 over a row: per-block sums of x̂0 into `blocks`, the row sum and the smallest entry. */
function blockSums(
  x: FloatArray,
  start: number,
  k: number,
  blocks: Float64Array,
): { sum: number; min: number } {
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  for (let blk = 0, j = start, end = start + k; j < end; blk++) {
    const stop = Math.min(j + BLOCK, end);
    // four independent accumulators (and minima) so the adds pipeline
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let m0 = min;
    let m1 = min;
    for (; j + 3 < stop; j += 4) {
      const v0 = x[j];
      const v1 = x[j + 1];
      const v2 = x[j + 2];
      const v3 = x[j + 3];
      s0 += v0;
      s1 += v1;
      s2 += v2;
      s3 += v3;
      m0 = Math.min(m0, v0, v1);
      m1 = Math.min(m1, v2, v3);
    }
    for (; j < stop; j++) {
      s0 += x[j];
      m0 = Math.min(m0, x[j]);
    }
    min = Math.min(m0, m1);
    const s = s0 + s1 + (s2 + s3);
    blocks[blk] = s;
    sum += s;
  }
  return { sum, min };
}

/** When only the special ids carry mass (masked process, xt unmasked): walk them in id order. */
function walkSpecials(plan: AffineRow, threshold: number): number {
  const firstIsLow = plan.i2 < 0 || plan.i1 < plan.i2;
  const [lo, vLo, hi, vHi] = firstIsLow
    ? [plan.i1, plan.v1, plan.i2, plan.v2]
    : [plan.i2, plan.v2, plan.i1, plan.v1];
  if (vLo > 0 && vLo > threshold) return lo;
  if (hi >= 0 && vHi > 0) return hi;
  return vLo > 0 ? lo : -1;
}

/** Ψ mass of ids lo … lo + len − 1 from the block's Σ x̂0, with the special ids' own values. */
function blockMass(
  plan: AffineRow,
  x: FloatArray,
  start: number,
  lo: number,
  len: number,
  xSum: number,
): number {
  let mass = plan.a * xSum + plan.b * len;
  if (plan.i1 >= lo && plan.i1 < lo + len) mass += plan.v1 - (plan.a * x[start + plan.i1] + plan.b);
  if (plan.i2 >= lo && plan.i2 < lo + len) mass += plan.v2 - (plan.a * x[start + plan.i2] + plan.b);
  return mass;
}

/**
 * Inverse-CDF walk: the first id whose cumulative Ψ mass exceeds `threshold`, in id order. Whole blocks are
 * skipped by their masses from pass 1; only the block where the threshold falls is walked id by id. Falls back
 * to the last id with positive mass when rounding leaves the threshold unreached.
 */
function walkRow(
  plan: AffineRow,
  x: FloatArray,
  start: number,
  k: number,
  threshold: number,
  blocks: Float64Array,
): number {
  if (plan.a === 0 && plan.b === 0) return walkSpecials(plan, threshold);
  let cum = 0;
  for (let blk = 0, lo = 0; lo < k; blk++, lo += BLOCK) {
    const len = Math.min(BLOCK, k - lo);
    const mass = blockMass(plan, x, start, lo, len, blocks[blk]);
    if (cum + mass <= threshold) {
      cum += mass;
      continue;
    }
    for (let j = lo; j < lo + len; j++) {
      const p = affineAt(plan, x, start, j);
      if (p > 0) {
        cum += p;
        if (cum > threshold) return j;
      }
    }
  }
  for (let j = k - 1; j >= 0; j--) if (affineAt(plan, x, start, j) > 0) return j;
  return -1;
}

/** Total Ψ mass of a row from Σ x̂0 (1 up to rounding; used to scale the inverse-CDF threshold). */
function rowTotal(plan: AffineRow, x: FloatArray, start: number, k: number, sum: number): number {
  let total = plan.a * sum + plan.b * k;
  if (plan.i1 >= 0) total += plan.v1 - (plan.a * x[start + plan.i1] + plan.b);
  if (plan.i2 >= 0) total += plan.v2 - (plan.a * x[start + plan.i2] + plan.b);
  return total;
}

/**
 * One categorical draw per row by inverse CDF on the fly: row r uses the single uniform at stream element
 * offset + r·K (the first element of the block a Gumbel-max draw of that row would use).
 */
export function fusedSampleInverseCdf(
  step: FusedStep,
  seed: number | bigint,
  offset: number,
  out: Int32Array,
): void {
  const { k, x } = step;
  const key = philoxKey(seed);
  const block = new Uint32Array(4);
  const plan = emptyAffine();
  const blocks = new Float64Array(Math.ceil(k / BLOCK));
  for (let r = 0; r < step.rows; r++) {
    planRow(step, r, plan);
    const start = r * k;
    const { sum, min } = blockSums(x, start, k, blocks);
    checkSums(step, r, sum, min);
    const u = wordToUniform(streamWordAt(key, offset + r * k, block));
    out[r] = walkRow(plan, x, start, k, u * rowTotal(plan, x, start, k, sum), blocks);
  }
}

/**
 * One Gumbel-max draw per row, argmax_j log Ψ_j − log(−log u_j) with u_j the uniform at offset + r·K + j:
 * the same ids as `backend.sampleCategorical(log Ψ)` for the same stream. For f32 inputs, Ψ_j and log Ψ_j are
 * rounded to f32 as an f32 tensor would store them.
 */
export function fusedSampleGumbel(
  step: FusedStep,
  seed: number | bigint,
  offset: number,
  out: Int32Array,
): void {
  const { k, x } = step;
  const { k0, k1 } = philoxKey(seed);
  const block = new Uint32Array(4);
  const plan = emptyAffine();
  const round = x instanceof Float32Array ? Math.fround : (v: number) => v;
  for (let r = 0; r < step.rows; r++) {
    planRow(step, r, plan);
    const start = r * k;
    const { sum, min } = rowStats(x, start, k);
    checkSums(step, r, sum, min);
    let best = Number.NEGATIVE_INFINITY;
    let arg = 0;
    let e = offset + r * k;
    let blockIndex = -1;
    for (let j = 0; j < k; j++, e++) {
      const bi = Math.floor(e / 4);
      if (bi !== blockIndex) {
        philox4x32(bi % 4294967296, Math.floor(bi / 4294967296), 0, 0, k0, k1, block);
        blockIndex = bi;
      }
      const logit = round(Math.log(round(affineAt(plan, x, start, j))));
      const v = logit - Math.log(-Math.log(wordToUniform(block[e % 4])));
      if (v > best) {
        best = v;
        arg = j;
      }
    }
    out[r] = arg;
  }
}
