import { philox4x32, philoxKey, wordToUniform } from '@duality/kernels';
import { type AffineRow, emptyAffine, maskedAffine, uniformAffine } from './affine';
import { idError, rowError } from './validate';

type FloatArray = Float32Array | Float64Array;

/** One fused step over rows of x̂0 on typed arrays (the cpu backend's storage, no copies). */
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
  if (!(Math.abs(sum - 1) <= tol) || !(min >= -tol)) throw rowError(step.op, r, sum, min, tol);
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

/**
 * Inverse-CDF walk: the first id whose cumulative Ψ mass exceeds `threshold`, visiting ids in order; falls back
 * to the last id with positive mass when rounding leaves the threshold unreached.
 */
function walkRow(plan: AffineRow, x: FloatArray, start: number, k: number, threshold: number): number {
  if (plan.a === 0 && plan.b === 0) {
    // Only the special ids carry mass (masked process with xt unmasked): walk them in id order.
    const specials = [
      [plan.i1, plan.v1],
      [plan.i2, plan.v2],
    ].filter(([i, v]) => i >= 0 && v > 0);
    specials.sort((p, q) => p[0] - q[0]);
    let mass = 0;
    for (const [i, v] of specials) {
      mass += v;
      if (mass > threshold) return i;
    }
    return specials.length > 0 ? specials[specials.length - 1][0] : -1;
  }
  const { a, b } = plan;
  let cum = 0;
  let lastPositive = -1;
  let from = 0;
  const specials = [plan.i1, plan.i2].filter((i) => i >= 0).sort((p, q) => p - q);
  for (const special of [...specials, k]) {
    for (let j = from; j < special; j++) {
      const p = a * x[start + j] + b;
      if (p > 0) {
        cum += p;
        lastPositive = j;
        if (cum > threshold) return j;
      }
    }
    if (special < k) {
      const p = affineAt(plan, x, start, special);
      if (p > 0) {
        cum += p;
        lastPositive = special;
        if (cum > threshold) return special;
      }
    }
    from = special + 1;
  }
  return lastPositive;
}

/** Total Ψ mass of a row from Σ x̂0 (1 up to rounding; used to scale the inverse-CDF threshold). */
function rowTotal(plan: AffineRow, x: FloatArray, start: number, k: number, sum: number): number {
  let total = plan.a * sum + plan.b * k;
  if (plan.i1 >= 0) total += plan.v1 - (plan.a * x[start + plan.i1] + plan.b);
  if (plan.i2 >= 0) total += plan.v2 - (plan.a * x[start + plan.i2] + plan.b);
  return total;
}

/** The uniform of element e of the stream (Philox layout of @duality/kernels). */
function uniformAt(k0: number, k1: number, e: number, block: Uint32Array): number {
  const b = Math.floor(e / 4);
  philox4x32(b % 4294967296, Math.floor(b / 4294967296), 0, 0, k0, k1, block);
  return wordToUniform(block[e % 4]);
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
  const { k0, k1 } = philoxKey(seed);
  const block = new Uint32Array(4);
  const plan = emptyAffine();
  for (let r = 0; r < step.rows; r++) {
    planRow(step, r, plan);
    const start = r * k;
    const { sum, min } = rowStats(x, start, k);
    checkSums(step, r, sum, min);
    const u = uniformAt(k0, k1, offset + r * k, block);
    out[r] = walkRow(plan, x, start, k, u * rowTotal(plan, x, start, k, sum));
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
