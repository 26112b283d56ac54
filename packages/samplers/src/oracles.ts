/**
 * Exact Bayes denoisers for known toy distributions: public test oracles. Given x_t and α_t = exp(−σ) they return
 * the true E[x0 | x_t] per position (log-probabilities), for the masked and the uniform processes:
 *
 * - `factorizedOracle`: an independent categorical per position; x̂0 in closed form.
 * - `stringSetOracle`: a weighted set of sequences; x̂0 by enumeration of the set.
 *
 * With the factorised oracle every sampler that preserves the forward marginals (ancestral, Ψ for any κ)
 * reproduces p exactly; with the set oracle the per-position x̂0 is exact but the joint is not factorised, so a
 * sampler only converges to the set's law as the number of steps grows.
 */
import type { Backend, FloatDType, Tensor } from '@duality/kernels';
import type { NoiseProcess } from '@duality/noise';
import type { Denoiser, PredictOptions } from './denoiser';
import { SamplerConfigError } from './errors';

/** The process facts an oracle needs: which kind, its vocabulary and the mask id. */
export type OracleProcess = Pick<NoiseProcess, 'kind' | 'vocabSize' | 'maskId'>;

/**
 * What x̂0 an oracle returns for the uniform process (the masked process has one answer, the two coincide):
 *
 * - 'leave-one-out' (default): x̂0_ℓ = p(x0_ℓ | x_t without position ℓ). This is the x̂0 for which the
 *   uniform-state posterior q(x_s | x_t, x̂0) (Duo Eq. 5 / UDLM) equals the true reverse marginal of position ℓ,
 *   i.e. the optimum of the UDLM/Duo NELBO and what the samplers expect from a Duo network.
 * - 'posterior-mean': x̂0_ℓ = p(x0_ℓ | x_t) = E[x0 | x_t] (what a cross-entropy-trained network would give).
 *   Plugged into Eq. 5 it counts x_t,ℓ twice; kept to show that difference (see the tests).
 */
export type OracleTarget = 'leave-one-out' | 'posterior-mean';

export interface OracleOptions {
  /** Default 'leave-one-out' (see OracleTarget). */
  target?: OracleTarget;
  /** Output dtype (default f32; f64 on the cpu backend only). */
  dtype?: FloatDType;
  /** Reported context length (for semi-AR tests); default unbounded. */
  contextLength?: number;
}

function processKind(op: string, process: OracleProcess): 'masked' | 'uniform' {
  if (process.kind === 'masked' && process.maskId !== undefined) return 'masked';
  if (process.kind === 'uniform') return 'uniform';
  throw new SamplerConfigError(op, `a ${process.kind} process`, 'a masked or uniform process');
}

/** Data tokens: every id except the mask. */
function dataIds(process: OracleProcess): number[] {
  const ids: number[] = [];
  for (let x = 0; x < process.vocabSize; x++) if (x !== process.maskId) ids.push(x);
  return ids;
}

function checkDistribution(op: string, row: ArrayLike<number>, process: OracleProcess, where: string): void {
  if (row.length !== process.vocabSize) {
    throw new SamplerConfigError(
      op,
      `${where} with ${row.length} entries`,
      `${process.vocabSize} (vocabSize)`,
    );
  }
  let sum = 0;
  for (let x = 0; x < row.length; x++) {
    if (!(row[x] >= 0)) throw new SamplerConfigError(op, `${where}[${x}] = ${row[x]}`, 'probabilities ≥ 0');
    sum += row[x];
  }
  if (Math.abs(sum - 1) > 1e-9) throw new SamplerConfigError(op, `${where} summing to ${sum}`, 'a sum of 1');
  if (process.maskId !== undefined && row[process.maskId] !== 0) {
    throw new SamplerConfigError(op, `${where} with mass on the mask id`, 'no mass on the mask');
  }
}

/** Reads ids and alphas = exp(−σ) of a predict call. */
async function readCall(
  xt: Tensor,
  sigma: Float64Array,
): Promise<{ ids: Int32Array | Uint32Array; alphas: Float64Array }> {
  const ids = (await xt.read()) as Int32Array | Uint32Array;
  return { ids, alphas: sigma.map((s) => Math.exp(-s)) };
}

function toLogTensor(backend: Backend, probs: Float64Array, shape: number[], dtype: FloatDType): Tensor {
  const logs = probs.map((p) => Math.log(p));
  return backend.tensor(dtype === 'f64' ? logs : Float32Array.from(logs), shape, dtype);
}

function outputDtype(op: string, backend: Backend, options: OracleOptions): FloatDType {
  const dtype = options.dtype ?? 'f32';
  if (dtype === 'f64' && !backend.supportsF64) {
    throw new SamplerConfigError(
      op,
      `dtype f64 on the ${backend.name} backend`,
      'f32 (f64 needs the cpu backend)',
    );
  }
  return dtype;
}

/** A factorised distribution: one categorical per position (rows over the full vocabulary). */
export interface FactorizedOracle extends Denoiser {
  readonly kind: 'factorized';
  /** p[ℓ] for each position (a single row is shared by every position). */
  marginal(position: number): Float64Array;
}

/**
 * Exact x̂0 for independent positions with laws p_ℓ: masked — p_ℓ at a mask, one-hot(x_t) elsewhere (SUBS carry-over);
 * uniform — p_ℓ itself ('leave-one-out': the other positions say nothing about ℓ), or with 'posterior-mean'
 * p_ℓ(x)·((1 − α)/K + α·1[x = x_t]) normalised (Bayes with the Duo Eq. 2 marginal).
 * `probs`: one row [K] shared by every position, or one row per position [L][K].
 */
export function factorizedOracle(
  backend: Backend,
  process: OracleProcess,
  probs: ArrayLike<number> | ArrayLike<number>[],
  options: OracleOptions = {},
): FactorizedOracle {
  const op = 'factorizedOracle';
  const kind = processKind(op, process);
  const rows = (
    typeof (probs as ArrayLike<number>[])[0] === 'number'
      ? [probs as ArrayLike<number>]
      : (probs as ArrayLike<number>[])
  ).map((r) => Float64Array.from(r));
  for (const [i, r] of rows.entries()) checkDistribution(op, r, process, `probs[${i}]`);
  const K = process.vocabSize;
  const dtype = outputDtype(op, backend, options);
  const target = options.target ?? 'leave-one-out';
  const rowFor = (l: number): Float64Array => {
    if (rows.length === 1) return rows[0];
    if (l >= rows.length) throw new SamplerConfigError(op, `position ${l}`, `positions < ${rows.length}`);
    return rows[l];
  };
  return {
    kind: 'factorized',
    vocabSize: K,
    contextLength: options.contextLength,
    timeConditioned: kind === 'uniform',
    marginal: (l) => rowFor(l).slice(),
    async predict(xt: Tensor, sigma: Float64Array, _options?: PredictOptions): Promise<Tensor> {
      const [B, L] = xt.shape;
      const { ids, alphas } = await readCall(xt, sigma);
      const out = new Float64Array(B * L * K);
      for (let b = 0; b < B; b++) {
        for (let l = 0; l < L; l++) {
          const r = b * L + l;
          factorizedRow(
            kind,
            target,
            process.maskId,
            rowFor(l),
            ids[r],
            alphas[b],
            out.subarray(r * K, (r + 1) * K),
          );
        }
      }
      return toLogTensor(backend, out, [B, L, K], dtype);
    },
  };
}

/** One position's posterior over x0 (see factorizedOracle). */
function factorizedRow(
  kind: 'masked' | 'uniform',
  target: OracleTarget,
  maskId: number | undefined,
  p: Float64Array,
  xt: number,
  alpha: number,
  out: Float64Array,
): void {
  const K = p.length;
  if (kind === 'masked') {
    if (xt === maskId) out.set(p);
    else out[xt] = 1;
    return;
  }
  if (target === 'leave-one-out') {
    out.set(p);
    return;
  }
  let z = 0;
  for (let x = 0; x < K; x++) {
    // Bayes: p(x0 = x | x_t) ∝ p(x)·q_α(x_t | x), q_α(x_t | x) = α·1[x_t = x] + (1 − α)/K (Duo Eq. 2)
    out[x] = p[x] * ((1 - alpha) / K + (x === xt ? alpha : 0));
    z += out[x];
  }
  for (let x = 0; x < K; x++) out[x] /= z;
}

/** A weighted set of sequences over the data ids. */
export interface StringSetOracle extends Denoiser {
  readonly kind: 'string-set';
  readonly length: number;
  readonly sequences: readonly Int32Array[];
  /** Normalised weights (Σ = 1). */
  readonly weights: Float64Array;
  /** Per-position marginals of the set's law [L][K]. */
  marginals(): Float64Array[];
  /** Fraction of sampled rows (ids [B·L]) that are in the set, and the total variation to the set's law. */
  evaluate(ids: ArrayLike<number>): { valid: number; tv: number; counts: Map<string, number> };
}

export interface StringSetOptions extends OracleOptions {
  /** Unnormalised weights, one per sequence (default uniform). */
  weights?: ArrayLike<number>;
}

/**
 * Exact x̂0 for a weighted set of sequences s_n by enumeration: with log-likelihoods λ_nm = log q_α(x_t,m | s_n,m),
 * x̂0_ℓ(x) ∝ Σ_n w_n·1[s_n,ℓ = x]·exp(Σ_{m ≠ ℓ} λ_nm) ('leave-one-out', the default) or with the sum over every m
 * ('posterior-mean' = p(x0_ℓ | x_t)). Masked: revealed positions are one-hot (SUBS carry-over); masked: masked positions contribute the common factor 1 − α and
 * unmasked ones 1[x_t,ℓ = s_n,ℓ]; an x_t no sequence explains (possible only with approximate steps such as top-p)
 * falls back to the prior weights, so the output is always a distribution.
 */
export function stringSetOracle(
  backend: Backend,
  process: OracleProcess,
  sequences: readonly ArrayLike<number>[],
  options: StringSetOptions = {},
): StringSetOracle {
  const op = 'stringSetOracle';
  const kind = processKind(op, process);
  const seqs = checkSequences(op, process, sequences);
  const weights = normalisedWeights(op, options.weights, seqs.length);
  const L = seqs[0].length;
  const K = process.vocabSize;
  const dtype = outputDtype(op, backend, options);
  const target = options.target ?? 'leave-one-out';
  const index = new Map(seqs.map((s, n) => [s.join(','), n]));
  return {
    kind: 'string-set',
    vocabSize: K,
    length: L,
    sequences: seqs,
    weights,
    contextLength: options.contextLength ?? L,
    timeConditioned: kind === 'uniform',
    marginals: () => setMarginals(seqs, weights, K),
    evaluate: (ids) => evaluateSamples(ids, L, index, weights),
    async predict(xt: Tensor, sigma: Float64Array, _options?: PredictOptions): Promise<Tensor> {
      const [B, len] = xt.shape;
      if (len !== L)
        throw new SamplerConfigError(op, `x_t of length ${len}`, `length ${L} (the sequences' length)`);
      const { ids, alphas } = await readCall(xt, sigma);
      const out = new Float64Array(B * L * K);
      const done = new Map<string, number>();
      for (let b = 0; b < B; b++) {
        const row = Array.from(ids.subarray(b * L, (b + 1) * L));
        const key = `${row.join(',')}|${alphas[b]}`;
        const same = done.get(key);
        if (same !== undefined) {
          out.copyWithin(b * L * K, same * L * K, (same + 1) * L * K);
          continue;
        }
        done.set(key, b);
        setRowX0(
          kind,
          process.maskId,
          seqs,
          weights,
          row,
          alphas[b],
          K,
          target === 'leave-one-out',
          out.subarray(b * L * K, (b + 1) * L * K),
        );
      }
      return toLogTensor(backend, out, [B, L, K], dtype);
    },
  };
}

function checkSequences(
  op: string,
  process: OracleProcess,
  sequences: readonly ArrayLike<number>[],
): Int32Array[] {
  if (sequences.length === 0) throw new SamplerConfigError(op, 'no sequences', 'at least one sequence');
  const L = sequences[0].length;
  const allowed = new Set(dataIds(process));
  const seen = new Set<string>();
  return sequences.map((s, n) => {
    const key = Array.from(s).join(',');
    if (seen.has(key))
      throw new SamplerConfigError(op, `sequence ${n} repeated`, 'distinct sequences (merge their weights)');
    seen.add(key);
    if (s.length !== L || L === 0)
      throw new SamplerConfigError(op, `sequence ${n} of length ${s.length}`, `length ${L} > 0`);
    for (let l = 0; l < L; l++) {
      if (!allowed.has(s[l]))
        throw new SamplerConfigError(op, `sequence ${n} with id ${s[l]}`, 'data ids (not the mask)');
    }
    return Int32Array.from(s);
  });
}

function normalisedWeights(op: string, weights: ArrayLike<number> | undefined, n: number): Float64Array {
  const w = weights ? Float64Array.from(weights) : new Float64Array(n).fill(1);
  if (w.length !== n) throw new SamplerConfigError(op, `${w.length} weights`, `${n} (one per sequence)`);
  const z = w.reduce((a, v) => a + v, 0);
  if (!w.every((v) => v >= 0 && Number.isFinite(v)) || !(z > 0)) {
    throw new SamplerConfigError(
      op,
      'weights that are negative, non-finite or all zero',
      'weights ≥ 0 with a positive sum',
    );
  }
  return w.map((v) => v / z);
}

/** λ_nm = log q_α(x_t,m | s_n,m) [N·L]: masked (MDLM Eq. 2) drops the common 1 − α of masked positions; uniform Duo Eq. 2. */
function logLikelihoods(
  kind: 'masked' | 'uniform',
  maskId: number | undefined,
  seqs: Int32Array[],
  xt: number[],
  alpha: number,
  K: number,
): Float64Array {
  const L = xt.length;
  const out = new Float64Array(seqs.length * L);
  for (let n = 0; n < seqs.length; n++) {
    for (let m = 0; m < L; m++) {
      const same = seqs[n][m] === xt[m];
      out[n * L + m] =
        kind === 'masked'
          ? xt[m] === maskId || same
            ? 0
            : Number.NEGATIVE_INFINITY
          : Math.log((1 - alpha) / K + (same ? alpha : 0));
    }
  }
  return out;
}

/**
 * x̂0 of every position of one row by Bayes over the set (written into `out` [L·K]). Per sequence the log-likelihood
 * is kept as a finite sum plus a count of −∞ terms, so leaving position ℓ out is a subtraction. An x_t no sequence
 * explains falls back to the set's marginal at ℓ.
 */
function setRowX0(
  kind: 'masked' | 'uniform',
  maskId: number | undefined,
  seqs: Int32Array[],
  weights: Float64Array,
  row: number[],
  alpha: number,
  K: number,
  leaveOut: boolean,
  out: Float64Array,
): void {
  const L = row.length;
  const N = seqs.length;
  const lik = logLikelihoods(kind, maskId, seqs, row, alpha, K);
  const finite = new Float64Array(N);
  const dead = new Int32Array(N);
  for (let n = 0; n < N; n++) {
    finite[n] = Math.log(weights[n]);
    for (let m = 0; m < L; m++) {
      const v = lik[n * L + m];
      if (v === Number.NEGATIVE_INFINITY) dead[n]++;
      else finite[n] += v;
    }
  }
  const logPost = new Float64Array(N);
  for (let l = 0; l < L; l++) {
    const cell = out.subarray(l * K, (l + 1) * K);
    if (kind === 'masked' && row[l] !== maskId) {
      cell[row[l]] = 1; // SUBS carry-over of a revealed token
      continue;
    }
    let max = Number.NEGATIVE_INFINITY;
    for (let n = 0; n < N; n++) {
      const v = lik[n * L + l];
      const own = leaveOut ? v : 0;
      const deadHere = dead[n] - (leaveOut && own === Number.NEGATIVE_INFINITY ? 1 : 0);
      logPost[n] =
        deadHere > 0 ? Number.NEGATIVE_INFINITY : finite[n] - (leaveOut && Number.isFinite(own) ? own : 0);
      if (logPost[n] > max) max = logPost[n];
    }
    const fallback = max === Number.NEGATIVE_INFINITY;
    let z = 0;
    for (let n = 0; n < N; n++) {
      const w = fallback ? weights[n] : Math.exp(logPost[n] - max);
      cell[seqs[n][l]] += w;
      z += w;
    }
    for (let x = 0; x < K; x++) cell[x] /= z;
  }
}

function setMarginals(seqs: Int32Array[], weights: Float64Array, K: number): Float64Array[] {
  const L = seqs[0].length;
  const out = Array.from({ length: L }, () => new Float64Array(K));
  seqs.forEach((s, n) => {
    for (let l = 0; l < L; l++) out[l][s[l]] += weights[n];
  });
  return out;
}

/** Valid fraction and TV = ½ Σ_x |p̂(x) − p(x)| over all sequences (invalid ones count with p = 0). */
function evaluateSamples(
  ids: ArrayLike<number>,
  L: number,
  index: Map<string, number>,
  weights: Float64Array,
): { valid: number; tv: number; counts: Map<string, number> } {
  const rows = Math.floor(ids.length / L);
  const counts = new Map<string, number>();
  for (let r = 0; r < rows; r++) {
    const key = Array.prototype.slice.call(ids, r * L, (r + 1) * L).join(',');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  let valid = 0;
  let tv = 0;
  for (const [key, c] of counts) {
    const n = index.get(key);
    if (n !== undefined) valid += c;
    tv += Math.abs(c / rows - (n === undefined ? 0 : weights[n]));
  }
  for (const [key, n] of index) if (!counts.has(key)) tv += weights[n];
  return { valid: valid / rows, tv: tv / 2, counts };
}
