import {
  ArgumentError,
  type Backend,
  type CpuBackend,
  type RandomStream,
  type Tensor,
} from '@duality/kernels';
import type { NoiseProcess, Times } from '@duality/noise';
import { type FusedStep, fusedProbs, fusedSampleGumbel, fusedSampleInverseCdf } from './fused-cpu';
import { fusedWebGPU, supportsWebGPUFused } from './fused-webgpu';
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

/** The fused kernels know the masked and uniform closed forms (keyed on `kind`, as @duality/noise names them). */
function fusedKind(process: NoiseProcess): 'masked' | 'uniform' | undefined {
  if (process.kind === 'uniform') return 'uniform';
  if (process.kind === 'masked' && process.maskId !== undefined) return 'masked';
  return undefined;
}

const isCpu = (backend: Backend): backend is CpuBackend => backend.name === 'cpu' && 'dataOf' in backend;

function cpuStep(
  op: string,
  process: NoiseProcess,
  args: PsiArgs,
  prep: Prepared,
  options: PsiOptions,
): FusedStep {
  const backend = process.backend as CpuBackend;
  return {
    op,
    kind: fusedKind(process) as 'masked' | 'uniform',
    x: backend.dataOf(args.x0Probs) as Float32Array | Float64Array,
    ids: backend.dataOf(args.xt) as Int32Array | Uint32Array,
    rows: prep.layout.rows,
    k: prep.layout.k,
    rowsPerBatch: prep.layout.rowsPerBatch,
    alphaS: prep.alphaS,
    alphaT: prep.alphaT,
    kappa: prep.kappa,
    mask: process.maskId ?? -1,
    validate: options.validate !== false,
    tolerance: toleranceFor(args.x0Probs, options),
  };
}

/** The in-kernel input checks of the WGSL path (skipped with validate: false). */
const gpuCheck = (op: string, x0Probs: Tensor, options: PsiOptions) =>
  options.validate === false ? undefined : { op, tolerance: toleranceFor(x0Probs, options) };

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
  const post = process.bridgeAt(args.x0Probs, args.xt, aS, aT);
  const toX0 = process.bridgeAt(args.x0Probs, args.xt, 1, aT);
  const renoised = process.marginalAt(toX0, aS);
  toX0.dispose();
  const kappa = compact(prep.kappa);
  let out: Tensor;
  if (typeof kappa === 'number') {
    const a = backend.scale(post, kappa);
    const b = backend.scale(renoised, 1 - kappa);
    out = backend.add(a, b);
    a.dispose();
    b.dispose();
  } else {
    const shape = [prep.layout.batch, ...post.shape.slice(1).map(() => 1)];
    const k = backend.tensor(kappa, shape, post.dtype);
    const oneMinus = backend.tensor(
      kappa.map((v) => 1 - v),
      shape,
      post.dtype,
    );
    const a = backend.mul(post, k);
    const b = backend.mul(renoised, oneMinus);
    out = backend.add(a, b);
    for (const t of [k, oneMinus, a, b]) t.dispose();
  }
  post.dispose();
  renoised.dispose();
  return out;
}

/**
 * Ψ-posterior (Chapter II): κ·q(x_s | x_t, x̂0) + (1 − κ)·q_s(· | q(x_0 | x_t, x̂0)), as probabilities
 * [B, …, K] in the dtype of x0Probs. Fused for the masked and uniform processes on cpu and webgpu, generic over
 * the NoiseProcess contract otherwise. Checks its inputs first (typed errors; see CheckOptions).
 */
export async function psiPosterior(
  process: NoiseProcess,
  args: PsiArgs,
  options: PsiOptions = {},
): Promise<Tensor> {
  const op = 'psiPosterior';
  const prep = prepare(op, process, args, options);
  const backend = process.backend;
  const kind = options.fused === false ? undefined : fusedKind(process);
  if (kind && isCpu(backend)) {
    const step = cpuStep(op, process, args, prep, options);
    const out =
      args.x0Probs.dtype === 'f64' ? new Float64Array(step.x.length) : new Float32Array(step.x.length);
    fusedProbs(step, out);
    return backend.fromArray(out, args.x0Probs.shape);
  }
  if (kind && supportsWebGPUFused(backend, args.x0Probs)) {
    const step = { kind, mask: process.maskId ?? -1, ...prep, x0Probs: args.x0Probs, xt: args.xt };
    return fusedWebGPU(
      backend,
      { ...step, check: gpuCheck(op, args.x0Probs, options), maxBindingBytes: options.maxBindingBytes },
      'probs',
    );
  }
  await checkContents(op, backend, args.x0Probs, args.xt, prep.layout, options);
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
  const offset = args.stream.offset ?? 0;
  const kind = options.fused === false ? undefined : fusedKind(process);
  if (kind && isCpu(backend)) {
    const step = cpuStep(op, process, args, prep, options);
    const out = new Int32Array(prep.layout.rows);
    if (method === 'gumbel') fusedSampleGumbel(step, args.stream.seed, offset, out);
    else fusedSampleInverseCdf(step, args.stream.seed, offset, out);
    return backend.fromArray(out, args.xt.shape);
  }
  if (kind && supportsWebGPUFused(backend, args.x0Probs) && method === 'inverse-cdf') {
    const step = { kind, mask: process.maskId ?? -1, ...prep, x0Probs: args.x0Probs, xt: args.xt };
    const check = gpuCheck(op, args.x0Probs, options);
    return (await fusedWebGPU(
      backend,
      { ...step, stream: args.stream, check, maxBindingBytes: options.maxBindingBytes },
      'sample',
    )) as Tensor<'i32'>;
  }
  const probs = await psiPosterior(process, args, options);
  try {
    if (method === 'gumbel') {
      const logits = backend.log(probs);
      const ids = backend.sampleCategorical(logits, args.stream);
      logits.dispose();
      return ids;
    }
    return await sampleInverseCdfRows(backend, probs, args.stream);
  } finally {
    probs.dispose();
  }
}
