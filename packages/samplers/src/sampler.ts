import { type Backend, type Tensor, tidy } from '@duality/kernels';
import { psiPosterior, psiSample } from '@duality/posteriors';
import { makePlan, type Plan, type PsiConfig, type SamplerConfig } from './config';
import { checkLogProbs, checkOutputShape, type Denoiser, isTensorLike } from './denoiser';
import { ContextLengthError, SamplerConfigError, SamplingAbortedError } from './errors';
import { drawStream } from './streams';

/** What to sample: batch rows of `length` ids, from one seed. */
export interface SampleRequest {
  batch: number;
  length: number;
  /** Philox key (non-negative safe integer or bigint < 2^64). */
  seed: number | bigint;
  /** Class labels (one per row) for a class-conditional denoiser. */
  labels?: ArrayLike<number>;
  /** Cancels sampling: the pending step rejects with SamplingAbortedError. */
  signal?: AbortSignal;
  /** Called after every step. */
  onProgress?: (progress: Progress) => void;
}

export interface RunRequest extends SampleRequest {
  /** Also report argmax x̂0 of every step (costs a read-back). */
  x0Argmax?: boolean;
}

export interface Progress {
  /** Steps done over all windows, and their total. */
  done: number;
  total: number;
  window: number;
  windows: number;
  /** The time reached (t_{i+1}; 0 after noise removal). */
  t: number;
}

/** One state of a streamed run. */
export interface SamplerState extends Progress {
  /** 'step' after each denoising step, 'final' once after noise removal (its xt equals sample()'s result). */
  phase: 'step' | 'final';
  /** Step index within the window (1-based; `steps` + 1 for the final state). */
  step: number;
  /** Ids [batch·length], row-major; positions of windows not started yet are −1. */
  xt: Int32Array;
  /** argmax of x̂0 of the step, [batch·windowLength], when asked for. */
  x0Argmax?: Int32Array;
}

/** A sampler: configured once, then run on any denoiser. */
export interface Sampler {
  readonly plan: Readonly<Plan>;
  /** Samples ids i32 [batch, length] on the process's backend. */
  sample(denoiser: Denoiser, request: SampleRequest): Promise<Tensor<'i32'>>;
  /** The same sampling as `sample`, streaming each intermediate state. */
  run(denoiser: Denoiser, request: RunRequest): AsyncGenerator<SamplerState, void, undefined>;
}

/** x̂0 of one step: probabilities, plus the unconditional ones under guidance. */
interface X0 {
  probs: Tensor;
  uncond?: Tensor;
}

const disposeX0 = (x0: X0 | undefined) => {
  x0?.probs.dispose();
  x0?.uncond?.dispose();
};

interface Context {
  plan: Plan;
  denoiser: Denoiser;
  request: RunRequest;
  batch: number;
  /** Labels for the conditional pass, and for the unconditional one (the `numClasses` id). */
  cond?: Int32Array;
  uncond?: Int32Array;
  observe: boolean;
}

interface Window {
  index: number;
  count: number;
  /** First sequence position covered by the window, its length, and how many leading positions are given. */
  start: number;
  length: number;
  given: number;
}

class DiffusionSampler implements Sampler {
  readonly plan: Plan;
  constructor(plan: Plan) {
    this.plan = plan;
  }

  async sample(denoiser: Denoiser, request: SampleRequest): Promise<Tensor<'i32'>> {
    const gen = engine(this.plan, denoiser, request, false);
    for (;;) {
      const next = await gen.next();
      if (next.done) return next.value;
    }
  }

  async *run(denoiser: Denoiser, request: RunRequest): AsyncGenerator<SamplerState, void, undefined> {
    const gen = engine(this.plan, denoiser, request, true);
    let finished = false;
    try {
      for (;;) {
        const next = await gen.next();
        if (next.done) {
          finished = true;
          next.value.dispose();
          return;
        }
        yield next.value;
      }
    } finally {
      // a consumer that breaks out (or calls return()) leaves the engine suspended at a yield: finish it so its
      // cleanup disposes the tensors of the run
      if (!finished) await gen.return(undefined as unknown as Tensor<'i32'>);
    }
  }
}

/** Ancestral sampling: x_s ~ q(x_s | x_t, x̂0) on a linear grid (MDLM / Duo ancestral update). */
export function ancestralSampler(config: SamplerConfig): Sampler {
  return new DiffusionSampler(makePlan('ancestral', config));
}

/**
 * Ancestral sampling that reuses x̂0 while x_t does not change and the denoiser is not time-conditioned
 * (the reference's `ancestral_cache`, for masked diffusion). Same law as `ancestralSampler`, fewer denoiser calls.
 */
export function cachedAncestralSampler(config: SamplerConfig): Sampler {
  return new DiffusionSampler(makePlan('ancestral-cache', config));
}

/** Ψ predictor-corrector sampler (Chapter II §4): x_s ~ κ·q(x_s | x_t, x̂0) + (1 − κ)·q_s(· | q(x0 | x_t, x̂0)). */
export function psiSampler(config: PsiConfig): Sampler {
  return new DiffusionSampler(makePlan('psi', config));
}

/** Most ids one request may hold (batch·length of one i32 tensor). */
const MAX_IDS = 2 ** 31 - 1;

function checkRequest(plan: Plan, denoiser: Denoiser, request: SampleRequest): void {
  const op = 'sample';
  if (request === null || typeof request !== 'object')
    throw new SamplerConfigError(op, `request ${String(request)}`, 'a request { batch, length, seed }');
  const { batch, length, seed } = request;
  if (!Number.isInteger(batch) || batch < 1)
    throw new SamplerConfigError(op, `batch ${batch}`, 'an integer ≥ 1');
  if (!Number.isInteger(length) || length < 1)
    throw new SamplerConfigError(op, `length ${length}`, 'an integer ≥ 1');
  if (batch * length > MAX_IDS)
    throw new SamplerConfigError(
      op,
      `batch·length = ${batch * length} ids`,
      `at most ${MAX_IDS} (one i32 tensor)`,
    );
  const seedOk =
    typeof seed === 'bigint' ? seed >= 0n && seed < 1n << 64n : Number.isSafeInteger(seed) && seed >= 0;
  if (!seedOk)
    throw new SamplerConfigError(op, `seed ${String(seed)}`, 'a non-negative safe integer or bigint < 2^64');
  if (!denoiser || typeof denoiser.predict !== 'function')
    throw new SamplerConfigError(op, 'no denoiser', 'a Denoiser');
  if (denoiser.vocabSize !== plan.process.vocabSize) {
    throw new SamplerConfigError(
      op,
      `a denoiser with vocabSize ${denoiser.vocabSize}`,
      `${plan.process.vocabSize} (the process's)`,
    );
  }
  const ctx = denoiser.contextLength;
  if (ctx !== undefined && length > ctx && !plan.semiAR) {
    throw new ContextLengthError(
      op,
      `length ${length} > context ${ctx}`,
      `length ≤ ${ctx}, or semiAR: { stride }`,
    );
  }
  if (plan.semiAR && ctx !== undefined && plan.semiAR.stride > ctx) {
    throw new SamplerConfigError(op, `semiAR stride ${plan.semiAR.stride}`, `a stride ≤ the context ${ctx}`);
  }
}

function checkLabels(
  plan: Plan,
  denoiser: Denoiser,
  request: SampleRequest,
): { cond?: Int32Array; uncond?: Int32Array } {
  const op = 'sample';
  if (request.labels === undefined) {
    if (plan.guidance && plan.guidance.weight !== 0)
      throw new SamplerConfigError(op, 'no labels', 'labels for guidance');
    return {};
  }
  const labels = Int32Array.from(request.labels);
  if (labels.length !== request.batch)
    throw new SamplerConfigError(op, `${labels.length} labels`, `${request.batch} (one per row)`);
  const classes = denoiser.numClasses;
  if (classes === undefined)
    throw new SamplerConfigError(
      op,
      'labels for a denoiser without numClasses',
      'a class-conditional denoiser',
    );
  for (const y of labels) {
    if (!(Number.isInteger(y) && y >= 0 && y <= classes))
      throw new SamplerConfigError(op, `label ${y}`, `labels in [0, ${classes}]`);
  }
  return { cond: labels, uncond: new Int32Array(labels.length).fill(classes) };
}

/** The windows covering [0, length): one if it fits the context, else semi-AR windows of `stride` new positions. */
function windowsFor(plan: Plan, denoiser: Denoiser, length: number): Window[] {
  const ctx = denoiser.contextLength;
  if (ctx === undefined || length <= ctx) return [{ index: 0, count: 1, start: 0, length, given: 0 }];
  const stride = plan.semiAR?.stride ?? ctx;
  const out: Window[] = [{ index: 0, count: 0, start: 0, length: ctx, given: 0 }];
  for (let end = ctx; end < length; end += stride) {
    const fresh = Math.min(stride, length - end);
    const given = Math.min(ctx - fresh, end);
    out.push({ index: out.length, count: 0, start: end - given, length: given + fresh, given });
  }
  for (const w of out) w.count = out.length;
  return out;
}

/**
 * Rejects when the signal aborts; never leaves the wait pending forever once aborted. What `work` resolves to
 * after the abort won is handed to `discard` (a denoiser that answers late must not leak its tensor).
 */
async function abortable<T>(
  op: string,
  work: Promise<T>,
  signal: AbortSignal | undefined,
  discard: (late: T) => void,
): Promise<T> {
  if (!signal) return work;
  const pending = Promise.resolve(work);
  let onAbort: () => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new SamplingAbortedError(op, 'an aborted signal', 'sampling to finish'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([pending, aborted]);
  } catch (e) {
    if (e instanceof SamplingAbortedError) pending.then(discard, () => undefined);
    throw e;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Disposes a late or unwanted denoiser answer if it is a live tensor. */
const discardTensor = (t: unknown): void => {
  if (isTensorLike(t) && !t.disposed) t.dispose();
};

function throwIfAborted(op: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new SamplingAbortedError(op, 'an aborted signal', 'sampling to finish');
}

/** One denoiser call → filtered probabilities x̂0 (top-k, top-p, float64 as configured). */
async function predictProbs(
  ctx: Context,
  xt: Tensor,
  alphaT: number,
  labels: Int32Array | undefined,
): Promise<Tensor> {
  const { plan, denoiser, batch } = ctx;
  const be = plan.backend;
  // σ = −log α_t: the time conditioning of MDLM / Duo networks (reference `_sigma_from_alphat`)
  const sigma = new Float64Array(batch).fill(-Math.log(alphaT));
  const out = await abortable(
    'sample',
    denoiser.predict(xt, sigma, labels ? { labels } : {}),
    ctx.request.signal,
    discardTensor,
  );
  try {
    checkOutputShape('sample', out, batch, xt.shape[1], plan.process.vocabSize);
    if (plan.validate) {
      const tol = plan.tolerance ?? (out.dtype === 'f64' ? 1e-9 : 1e-3);
      await checkLogProbs('sample', out, plan.process.vocabSize, tol);
    }
    return tidy(() => {
      let logp = out;
      if (plan.float64 && logp.dtype !== 'f64') logp = be.cast(logp, 'f64');
      const filterK = plan.topK !== undefined && plan.topK < plan.process.vocabSize;
      const filterP = plan.topP !== undefined && plan.topP < 1;
      if (filterK) logp = be.topK(logp, plan.topK as number);
      if (filterP) logp = be.topP(logp, plan.topP as number);
      // renormalise after filtering, as the reference (ReMDM) does
      if (filterK || filterP) logp = be.logSoftmax(logp);
      return be.exp(logp);
    });
  } finally {
    discardTensor(out); // the denoiser's answer (made outside the tidy), also a wrongly shaped one
  }
}

/** x̂0 for a step: conditional/unconditional passes as the guidance weight asks. */
async function predictX0(ctx: Context, xt: Tensor, alphaT: number): Promise<X0> {
  const g = ctx.plan.guidance;
  if (!ctx.cond) return { probs: await predictProbs(ctx, xt, alphaT, undefined) };
  if (!g || g.weight === 1) return { probs: await predictProbs(ctx, xt, alphaT, ctx.cond) };
  if (g.weight === 0) return { probs: await predictProbs(ctx, xt, alphaT, ctx.uncond) };
  const probs = await predictProbs(ctx, xt, alphaT, ctx.cond);
  try {
    return { probs, uncond: await predictProbs(ctx, xt, alphaT, ctx.uncond) };
  } catch (e) {
    probs.dispose();
    throw e;
  }
}

/** CFG in log space (reference `_get_guided_posterior_from_xt`): γ·log q_c + (1 − γ)·log q_u, −∞ where either is 0. */
function guidedLogits(be: Backend, qc: Tensor, qu: Tensor, weight: number): Tensor {
  return tidy(() => {
    const mixed = be.add(be.scale(be.log(qc), weight), be.scale(be.log(qu), 1 - weight));
    const negInf = be.full([1], Number.NEGATIVE_INFINITY, mixed.dtype);
    const zero = be.zeros([1], qc.dtype);
    const dead = be.add(be.compare(qc, zero, 'le'), be.compare(qu, zero, 'le'));
    return be.where(dead, negInf, mixed);
  });
}

/** One move x_t → x_s with the step's κ (κ = 1: ancestral posterior). */
async function moveOnce(
  ctx: Context,
  x0: X0,
  xt: Tensor,
  alphaS: number,
  alphaT: number,
  kappa: number,
  key: ReturnType<typeof drawStream>,
): Promise<Tensor<'i32'>> {
  const { process, backend } = ctx.plan;
  const args = { x0Probs: x0.probs, xt, alphaS, alphaT, kappa };
  const options = { allowEqualTimes: true, validate: ctx.plan.validate };
  if (!x0.uncond) return psiSample(process, { ...args, stream: key }, options);
  const weight = ctx.plan.guidance?.weight ?? 1;
  const qc = await psiPosterior(process, args, options);
  try {
    const qu = await psiPosterior(process, { ...args, x0Probs: x0.uncond }, options);
    try {
      return tidy(() => backend.sampleCategorical(guidedLogits(backend, qc, qu, weight), key));
    } finally {
      qu.dispose();
    }
  } finally {
    qc.dispose();
  }
}

/** Clamps the given leading positions of a semi-AR window to their known ids. */
function clampGiven(
  be: Backend,
  x: Tensor<'i32'>,
  given: Tensor | undefined,
  isGiven: Tensor | undefined,
): Tensor<'i32'> {
  if (!given || !isGiven) return x;
  const out = be.where(isGiven, given, x) as Tensor<'i32'>;
  x.dispose();
  return out;
}

async function sameIds(a: Tensor, b: Tensor): Promise<boolean> {
  const [x, y] = await Promise.all([a.read(), b.read()]);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** The final move at t_steps (Duo §4.2): ancestral to α = 1, greedy argmax x̂0, or none. */
async function removeNoise(
  ctx: Context,
  x: Tensor<'i32'>,
  cache: X0 | undefined,
  w: Window,
  seed: number | bigint,
): Promise<Tensor<'i32'>> {
  const { plan } = ctx;
  const alphaT = plan.alphas[plan.steps];
  if (plan.noiseRemoval === 'none') return x;
  const x0 = cache ?? (await predictX0(ctx, x, alphaT));
  try {
    if (plan.noiseRemoval === 'ancestral') {
      return await moveOnce(ctx, x0, x, 1, alphaT, 1, drawStream(seed, w.index, plan.steps, 'noiseRemoval'));
    }
    const be = plan.backend;
    const maskId = plan.process.maskId;
    return tidy(() => {
      const best = be.argmax(x0.probs);
      if (maskId === undefined) return best;
      // masked: only masked positions take the argmax; revealed tokens stay (carry-over)
      return be.where(be.compare(x, be.full([1], maskId, 'i32'), 'eq'), best, x) as Tensor<'i32'>;
    });
  } finally {
    if (x0 !== cache) disposeX0(x0);
  }
}

/** The ids of a window, with the given prefix taken from the finished part of the sequence. */
function windowPrior(ctx: Context, w: Window, result: Int32Array, length: number, seed: number | bigint) {
  const be = ctx.plan.backend;
  const B = ctx.batch;
  const x = ctx.plan.process.prior([B, w.length], drawStream(seed, w.index, 0, 'prior')) as Tensor<'i32'>;
  if (w.given === 0) return { x, given: undefined, isGiven: undefined };
  const known = new Int32Array(B * w.length);
  const flags = new Int32Array(w.length);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < w.given; l++) known[b * w.length + l] = result[b * length + w.start + l];
  }
  flags.fill(1, 0, w.given);
  const given = be.tensor(known, [B, w.length], 'i32');
  const isGiven = be.tensor(flags, [1, w.length], 'i32');
  return { x: clampGiven(be, x, given, isGiven), given, isGiven };
}

/** The whole sequence so far: finished windows, the current one, −1 elsewhere. */
function composeState(
  result: Int32Array,
  current: ArrayLike<number>,
  w: Window,
  batch: number,
  length: number,
): Int32Array {
  const out = result.slice();
  for (let b = 0; b < batch; b++) {
    for (let l = 0; l < w.length; l++) out[b * length + w.start + l] = current[b * w.length + l];
  }
  return out;
}

/**
 * The sampling loop shared by `sample` and `run`: the same draws in the same order whether or not states are
 * observed, so a streamed run ends on exactly the ids `sample` returns.
 */
async function* engine(
  plan: Plan,
  denoiser: Denoiser,
  request: RunRequest,
  observe: boolean,
): AsyncGenerator<SamplerState, Tensor<'i32'>, undefined> {
  checkRequest(plan, denoiser, request);
  const { batch, length, seed, signal } = request;
  const ctx: Context = { plan, denoiser, request, batch, observe, ...checkLabels(plan, denoiser, request) };
  const windows = windowsFor(plan, denoiser, length);
  const result = new Int32Array(batch * length).fill(-1);
  const total = windows.length * plan.steps;
  const reuse = plan.kind === 'ancestral-cache' && denoiser.timeConditioned === false;
  let lastX: Tensor<'i32'> | undefined;
  for (const w of windows) {
    throwIfAborted('sample', signal);
    let { x, given, isGiven } = windowPrior(ctx, w, result, length, seed);
    let cache: X0 | undefined;
    let windowDone = false;
    try {
      for (let i = 0; i < plan.steps; i++) {
        throwIfAborted('sample', signal);
        const x0 = cache ?? (await predictX0(ctx, x, plan.alphas[i]));
        cache = x0; // owned by `cache` until decided below, so a failing move still disposes it
        const key = drawStream(seed, w.index, i, 'step');
        const moved = await moveOnce(ctx, x0, x, plan.alphas[i + 1], plan.alphas[i], plan.kappas[i], key);
        const next = clampGiven(plan.backend, moved, given, isGiven);
        // reuse x̂0 only while x_t is unchanged and the denoiser ignores σ (reference `ancestral_cache`)
        const keep = reuse && (await sameIds(next, x));
        const argmax = observe && request.x0Argmax ? await readArgmax(plan.backend, x0.probs) : undefined;
        if (!keep) disposeX0(x0);
        cache = keep ? x0 : undefined;
        x.dispose();
        x = next;
        const progress = {
          done: w.index * plan.steps + i + 1,
          total,
          window: w.index,
          windows: windows.length,
          t: plan.times[i + 1],
        };
        request.onProgress?.(progress);
        if (observe)
          yield {
            ...progress,
            phase: 'step',
            step: i + 1,
            xt: composeState(result, await x.read(), w, batch, length),
            x0Argmax: argmax,
          };
      }
      throwIfAborted('sample', signal);
      const final = await removeNoise(ctx, x, cache, w, seed);
      if (final !== x) x.dispose();
      x = final;
      windowDone = true;
    } finally {
      // an error, or a consumer leaving a streamed run at a yield (return()): the current ids go too
      if (!windowDone) x.dispose();
      disposeX0(cache);
      given?.dispose();
      isGiven?.dispose();
    }
    if (windows.length === 1) {
      lastX = x;
      break;
    }
    const ids = await x.read();
    x.dispose();
    for (let b = 0; b < batch; b++)
      result.set(ids.subarray(b * w.length + w.given, (b + 1) * w.length), b * length + w.start + w.given);
  }
  const out = lastX ?? plan.backend.tensor(result, [batch, length], 'i32');
  if (observe) {
    let left = true;
    try {
      const ids = Int32Array.from(await out.read());
      yield {
        done: total,
        total,
        window: windows.length - 1,
        windows: windows.length,
        t: 0,
        phase: 'final',
        step: plan.steps + 1,
        xt: ids,
      };
      left = false;
    } finally {
      if (left) out.dispose(); // the consumer stopped at the final state: nobody will take `out`
    }
  }
  return out;
}

async function readArgmax(be: Backend, probs: Tensor): Promise<Int32Array> {
  const a = be.argmax(probs);
  try {
    return Int32Array.from(await a.read());
  } finally {
    a.dispose();
  }
}
