import { ArgumentError, dispose, isCpuBackend, type RandomStream, type Tensor, tidy } from '@duality/kernels';
import { type FusedPsi, fusedPsiOf, type NoiseProcess, type Times } from '@duality/noise';
import { type PsiStepParams, type PsiStepResult, psiStep } from './fused';
import { checkStepStats } from './fused-webgpu';
import { sampleInverseCdfRows } from './sample';
import {
  type CheckOptions,
  checkContents,
  checkKappa,
  checkStepTensors,
  checkStream,
  resolveAlphas,
  type StepLayout,
  type TimeArgs,
  toleranceFor,
} from './validate';

export interface StepArgs extends TimeArgs {
  /** x̂0 probabilities [B, …, K] (one-hot for the exact posterior), f32 or f64. */
  x0Probs: Tensor;
  /** Current ids x_t, i32 [B, …]. */
  xt: Tensor;
}

export interface PsiArgs extends StepArgs {
  /** κ in [0, 1]: 1 = ancestral posterior, 0 = predictor-corrector. Scalar or one per batch row. */
  kappa: Times;
}

export interface PsiOptions extends CheckOptions {
  /** Use the fused masked/uniform kernels when the process and backend allow (default true). */
  fused?: boolean;
  /**
   * webgpu: at most this many bytes of x̂0 bound per kernel dispatch (default: the device's
   * maxStorageBufferBindingSize, 128 MiB on compatibility adapters); larger inputs run in row chunks.
   */
  maxBindingBytes?: number;
  /** Accept s = t, a pure corrector step (the constant phase of linear-constant-linear). Default false. */
  allowEqualTimes?: boolean;
}

export interface SampleArgs extends PsiArgs {
  /** The random stream; row r uses elements offset + r·K … offset + r·K + K − 1 (as sampleCategorical). */
  stream: RandomStream;
  /**
   * 'inverse-cdf' (default): one uniform per row (element offset + r·K), the fast path.
   * 'gumbel': Gumbel-max over log Ψ with one uniform per entry, the same ids as backend.sampleCategorical(log Ψ).
   */
  method?: 'inverse-cdf' | 'gumbel';
}

interface Prepared {
  layout: StepLayout;
  alphaS: Float64Array;
  alphaT: Float64Array;
  kappa: Float64Array;
}

function checkArgsObject(op: string, args: unknown): void {
  if (args === null || typeof args !== 'object') {
    throw new ArgumentError(op, `args ${String(args)}`, 'an object { x0Probs, xt, … }');
  }
}

function checkProcess(op: string, process: unknown): asserts process is NoiseProcess {
  const p = process as Partial<NoiseProcess> | null;
  if (p === null || typeof p !== 'object' || typeof p.bridgeAt !== 'function' || !p.backend) {
    throw new ArgumentError(
      op,
      `process ${p === null ? 'null' : typeof p}`,
      'a NoiseProcess of @duality/noise',
    );
  }
}

function prepare(op: string, process: NoiseProcess, args: PsiArgs, options: PsiOptions): Prepared {
  checkProcess(op, process);
  checkArgsObject(op, args);
  if (options === null || typeof options !== 'object') {
    throw new ArgumentError(op, `options ${String(options)}`, 'an options object (or nothing)');
  }
  const layout = checkStepTensors(op, process, args.x0Probs, args.xt);
  const { alphaS, alphaT } = resolveAlphas(op, process, args, layout.batch, options.allowEqualTimes ?? false);
  const kappa = checkKappa(op, args.kappa, layout.batch);
  return { layout, alphaS, alphaT, kappa };
}

/**
 * The closed form a fused kernel may use: only a process carrying the fused-Ψ capability of @duality/noise
 * (the built-in masked and uniform processes), never one chosen by its `kind`; undefined with `fused: false`.
 */
function closedFormOf(process: NoiseProcess, options: PsiOptions): FusedPsi | undefined {
  return options.fused === false ? undefined : fusedPsiOf(process);
}

/** Whether the fused op runs for this backend, dtype and mode (webgpu: f32, no Gumbel draw). */
function fusedRuns(process: NoiseProcess, x0Probs: Tensor, mode: PsiStepParams['mode']): boolean {
  if (isCpuBackend(process.backend)) return true;
  return process.backend.name === 'webgpu' && x0Probs.dtype === 'f32' && mode !== 'gumbel';
}

/**
 * Runs the fused op, then (webgpu) the host side of its input checks: a bad row frees the output and throws the
 * same typed error as the cpu kernel.
 */
async function runFused(
  op: string,
  closedForm: FusedPsi,
  args: PsiArgs,
  prep: Prepared,
  options: PsiOptions,
  mode: PsiStepParams['mode'],
  stream?: RandomStream,
): Promise<Tensor> {
  const validate = options.validate !== false;
  const tolerance = toleranceFor(args.x0Probs, options);
  const { alphaS, alphaT, kappa } = prep;
  const params = { op, mode, closedForm, alphaS, alphaT, kappa, stream, validate, tolerance };
  const result: PsiStepResult = psiStep(args.x0Probs, args.xt, {
    ...params,
    maxBindingBytes: options.maxBindingBytes,
  });
  try {
    if (result.stats && validate)
      await checkStepStats({ op, tolerance }, result.stats, args.xt, prep.layout.k);
  } catch (error) {
    result.out.dispose();
    throw error;
  } finally {
    result.stats?.dispose();
  }
  return result.out;
}

/** A scalar when every batch row shares the value, else the per-row array. */
const compact = (values: Float64Array): Times => (values.every((v) => v === values[0]) ? values[0] : values);

/**
 * Ψ over the process contract only (any NoiseProcess): κ·bridgeAt(x̂0, xt, α_s, α_t)
 * + (1 − κ)·marginalAt(bridgeAt(x̂0, xt, 1, α_t), α_s).
 */
function genericPsi(process: NoiseProcess, args: PsiArgs, prep: Prepared): Tensor {
  const backend = process.backend;
  const aS = compact(prep.alphaS);
  const aT = compact(prep.alphaT);
  return tidy(() => {
    const post = process.bridgeAt(args.x0Probs, args.xt, aS, aT);
    const renoised = process.marginalAt(process.bridgeAt(args.x0Probs, args.xt, 1, aT), aS);
    const kappa = compact(prep.kappa);
    if (typeof kappa === 'number')
      return backend.add(backend.scale(post, kappa), backend.scale(renoised, 1 - kappa));
    const shape = [prep.layout.batch, ...post.shape.slice(1).map(() => 1)];
    const k = backend.tensor(kappa, shape, post.dtype);
    const oneMinus = backend.tensor(
      kappa.map((v) => 1 - v),
      shape,
      post.dtype,
    );
    return backend.add(backend.mul(post, k), backend.mul(renoised, oneMinus));
  });
}

/**
 * Ψ-posterior (Chapter II): κ·q(x_s | x_t, x̂0) + (1 − κ)·q_s(· | q(x_0 | x_t, x̂0)), as probabilities
 * [B, …, K] in the dtype of x0Probs. Fused on cpu and webgpu for the built-in masked and uniform processes (their
 * fused-Ψ capability, not their `kind`), generic over the NoiseProcess contract otherwise. Checks its inputs
 * first (typed errors; see CheckOptions).
 */
export async function psiPosterior(
  process: NoiseProcess,
  args: PsiArgs,
  options: PsiOptions = {},
): Promise<Tensor> {
  const op = 'psiPosterior';
  const prep = prepare(op, process, args, options);
  const closedForm = closedFormOf(process, options);
  if (closedForm && fusedRuns(process, args.x0Probs, 'probs'))
    return runFused(op, closedForm, args, prep, options, 'probs');
  await checkContents(op, process.backend, args.x0Probs, args.xt, prep.layout, options);
  return genericPsi(process, args, prep);
}

/** q(x_s | x_t, x̂0) for s < t: exact for one-hot x̂0, the approximate posterior for a denoiser's x̂0 (Ψ at κ = 1). */
export async function posterior(
  process: NoiseProcess,
  args: StepArgs,
  options: PsiOptions = {},
): Promise<Tensor> {
  checkArgsObject('posterior', args);
  return psiPosterior(process, { ...args, kappa: 1 }, options);
}

/** q(x_0 | x_t, x̂0): the posterior with alpha_s = 1 (the "denoise" half of the predictor-corrector move). */
export async function posteriorToX0(
  process: NoiseProcess,
  args: { x0Probs: Tensor; xt: Tensor; t?: Times; alphaT?: Times },
  options: PsiOptions = {},
): Promise<Tensor> {
  // async: every refusal below (bad args, a schedule refusing t) is a rejected promise, never a synchronous throw
  checkArgsObject('posteriorToX0', args);
  checkProcess('posteriorToX0', process);
  const alphaT = args.alphaT ?? (args.t === undefined ? undefined : timesToAlphas(process, args.t));
  return psiPosterior(process, { x0Probs: args.x0Probs, xt: args.xt, alphaS: 1, alphaT, kappa: 1 }, options);
}

function timesToAlphas(process: NoiseProcess, t: Times): Times {
  return typeof t === 'number'
    ? process.schedule.alpha(t)
    : Float64Array.from(t, (v) => process.schedule.alpha(v));
}

/**
 * One fused Ψ step: posterior, κ-mix and a categorical draw per row → ids i32 [B, …]. On cpu and webgpu for the
 * masked and uniform processes this never materialises the [B, L, K] Ψ tensor; other processes go through
 * psiPosterior and then the same sampler.
 */
export async function psiSample(
  process: NoiseProcess,
  args: SampleArgs,
  options: PsiOptions = {},
): Promise<Tensor<'i32'>> {
  const op = 'psiSample';
  const prep = prepare(op, process, args, options);
  checkStream(op, args.stream, prep.layout.rows * prep.layout.k);
  if (args.method !== undefined && args.method !== 'inverse-cdf' && args.method !== 'gumbel') {
    throw new ArgumentError(op, `method "${String(args.method)}"`, "'inverse-cdf' | 'gumbel'");
  }
  const backend = process.backend;
  const method = args.method ?? 'inverse-cdf';
  const closedForm = closedFormOf(process, options);
  if (closedForm && fusedRuns(process, args.x0Probs, method))
    return (await runFused(op, closedForm, args, prep, options, method, args.stream)) as Tensor<'i32'>;
  const probs = await psiPosterior(process, args, options);
  try {
    if (method === 'gumbel') return tidy(() => backend.sampleCategorical(backend.log(probs), args.stream));
    return await sampleInverseCdfRows(backend, probs, args.stream);
  } finally {
    dispose(probs);
  }
}
