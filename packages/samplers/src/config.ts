import type { Backend } from '@duality/kernels';
import type { NoiseProcess, Schedule } from '@duality/noise';
import {
  checkKappaMode,
  type KappaMode,
  type KappaPlan,
  kappaSchedule,
  MAX_STEPS,
  samplingTimes,
  type TimeProfile,
} from '@duality/posteriors';
import { SamplerConfigError } from './errors';

/** Final denoising move after the last step (Duo §4.2 greedy tail; the reference's `sampling.noise_removal`). */
export type NoiseRemoval = 'ancestral' | 'greedy' | 'none';

export interface GuidanceConfig {
  /** γ: 0 = unconditional, 1 = conditional, otherwise log q = γ·log q_cond + (1 − γ)·log q_uncond (reference CFG). */
  weight: number;
}

export interface SemiARConfig {
  /** New positions per window after the first; the rest of the window is the previous tokens as context. */
  stride: number;
}

/** Options shared by every sampler. */
export interface SamplerConfig {
  process: NoiseProcess;
  /** Number of denoising steps (≥ 1). */
  steps: number;
  /** Last time of the grid t_steps (default 1e-5, the reference's `generate_samples` eps). */
  eps?: number;
  /** Default 'ancestral'. */
  noiseRemoval?: NoiseRemoval;
  /** Nucleus filtering of x̂0 (keep the smallest top set with mass ≥ p), then renormalised. p in (0, 1]. */
  topP?: number;
  /** Keep the k most likely x0 ids per position, then renormalise. */
  topK?: number;
  /** Cast x̂0 to float64 before the posterior (cpu backend only; the reference's `use_float64`). */
  float64?: boolean;
  /** Classifier-free guidance with class labels given at sample time. */
  guidance?: GuidanceConfig;
  /** Semi-autoregressive windows for sequences longer than the denoiser's context. */
  semiAR?: SemiARConfig;
  /** Check every denoiser output (shape, NaN, normalisation); default true. `tolerance` on |Σ exp − 1|. */
  validate?: boolean | { tolerance?: number };
}

/** The Ψ sampler: κ plan (or one mode for the whole grid) and time profile (Chapter II §4). */
export interface PsiConfig extends SamplerConfig {
  kappa: KappaPlan | KappaMode;
  /** Default linear. */
  timeProfile?: TimeProfile;
}

export type SamplerKind = 'ancestral' | 'ancestral-cache' | 'psi';

/** The checked, precomputed plan of a sampler: time grid and κ per step. */
export interface Plan {
  kind: SamplerKind;
  process: NoiseProcess;
  backend: Backend;
  steps: number;
  times: Float64Array;
  alphas: Float64Array;
  kappas: Float64Array;
  noiseRemoval: NoiseRemoval;
  topP?: number;
  topK?: number;
  float64: boolean;
  guidance?: GuidanceConfig;
  semiAR?: SemiARConfig;
  validate: boolean;
  tolerance?: number;
}

const isPlan = (k: KappaPlan | KappaMode): k is KappaPlan => 'high' in k;

/** A whole-grid mode as a one-phase plan. */
function toPlan(kappa: KappaPlan | KappaMode): KappaPlan {
  return isPlan(kappa) ? kappa : { high: kappa, middle: kappa, low: kappa, highFrac: 0, middleFrac: 0 };
}

function fail(op: string, got: string, expected: string): never {
  throw new SamplerConfigError(op, got, expected);
}

function checkCommon(op: string, c: SamplerConfig): void {
  if (c === null || typeof c !== 'object')
    fail(op, `config ${String(c)}`, 'a config object { process, steps, … }');
  if (!c.process || typeof c.process.bridgeAt !== 'function') fail(op, 'no noise process', 'a NoiseProcess');
  if (!Number.isInteger(c.steps) || c.steps < 1 || c.steps > MAX_STEPS)
    fail(op, `steps ${c.steps}`, `an integer in [1, ${MAX_STEPS}]`);
  if (c.eps !== undefined && !(c.eps > 0 && c.eps < 1)) fail(op, `eps ${c.eps}`, 'eps in (0, 1)');
  const removal = c.noiseRemoval ?? 'ancestral';
  if (!['ancestral', 'greedy', 'none'].includes(removal))
    fail(op, `noiseRemoval "${removal}"`, 'ancestral | greedy | none');
  if (c.topP !== undefined && !(c.topP > 0 && c.topP <= 1)) fail(op, `topP ${c.topP}`, 'p in (0, 1]');
  const K = c.process.vocabSize;
  if (c.topK !== undefined && !(Number.isInteger(c.topK) && c.topK >= 1 && c.topK <= K)) {
    fail(op, `topK ${c.topK}`, `an integer in [1, ${K}]`);
  }
  if (c.float64 && !c.process.backend.supportsF64) {
    fail(op, `float64 on the ${c.process.backend.name} backend`, 'the cpu backend (WGSL has no f64)');
  }
  if (c.guidance && !(Number.isFinite(c.guidance.weight) && c.guidance.weight >= 0)) {
    fail(op, `guidance weight ${c.guidance.weight}`, 'a finite weight ≥ 0');
  }
  if (c.semiAR && !(Number.isInteger(c.semiAR.stride) && c.semiAR.stride >= 1)) {
    fail(op, `semiAR stride ${c.semiAR.stride}`, 'an integer ≥ 1');
  }
}

/** Checks a configuration and precomputes its grid (t_0 = 1 > … > t_steps = eps) and κ per step. */
export function makePlan(kind: SamplerKind, config: SamplerConfig | PsiConfig): Plan {
  const op =
    kind === 'psi' ? 'psiSampler' : kind === 'ancestral' ? 'ancestralSampler' : 'cachedAncestralSampler';
  checkCommon(op, config);
  const schedule: Schedule = config.process.schedule;
  const eps = config.eps ?? 1e-5;
  let times: Float64Array;
  let kappas: Float64Array;
  if (kind === 'psi') {
    const psi = config as PsiConfig;
    if (psi.kappa === null || typeof psi.kappa !== 'object') {
      fail(
        op,
        `kappa ${String(psi.kappa)}`,
        'a κ plan { high, middle, low, highFrac, middleFrac } or mode { kind, eta? }',
      );
    }
    const plan = toPlan(psi.kappa);
    for (const mode of [plan.high, plan.middle, plan.low]) checkKappaMode(op, mode);
    times = samplingTimes(psi.timeProfile ?? { kind: 'linear' }, config.steps, eps, schedule);
    kappas = kappaSchedule(plan, times, schedule);
  } else {
    times = samplingTimes({ kind: 'linear' }, config.steps, eps);
    kappas = new Float64Array(times.length).fill(1);
  }
  const validate = config.validate ?? true;
  return {
    kind,
    process: config.process,
    backend: config.process.backend,
    steps: config.steps,
    times,
    alphas: times.map((t) => schedule.alpha(t)),
    kappas,
    noiseRemoval: config.noiseRemoval ?? 'ancestral',
    topP: config.topP,
    topK: config.topK,
    float64: config.float64 ?? false,
    guidance: config.guidance,
    semiAR: config.semiAR,
    validate: validate !== false,
    tolerance: typeof validate === 'object' ? validate.tolerance : undefined,
  };
}
