import { ArgumentError } from '@duality/kernels';
import type { Schedule } from '@duality/noise';
import { TimeOrderError } from './errors';

/**
 * κ schedules and time profiles of the Ψ-samplers (Chapter II §4, `sampling.psi` in the reference config).
 * κ = 1 is the ancestral posterior, κ = 0 is pure predictor-corrector (denoise to x0, re-noise to s).
 */
export type KappaMode =
  | { readonly kind: 'pure-posterior' }
  | { readonly kind: 'pure-pc' }
  /** κ = η on every step. */
  | { readonly kind: 'constant'; readonly eta: number }
  /** ReMDM constant remasking σ_t = η. */
  | { readonly kind: 'constant-remdm'; readonly eta: number }
  /** ReMDM max-capped σ_t = min(η, (1 − α_s)/α_t). */
  | { readonly kind: 'max-capped'; readonly eta: number }
  /**
   * ReMDM rescale σ_t = η·min(1, (1 − α_s)/α_t). `variant: 'reference'` reproduces the reference code instead,
   * σ_t = η·min(η, (1 − α_s)/α_t).
   */
  | { readonly kind: 'max-rescale'; readonly eta: number; readonly variant?: 'remdm' | 'reference' };

export type TimeProfile =
  | { readonly kind: 'linear' }
  /**
   * Linear from 1 to c over the high fraction of the grid, constant at c over the middle fraction, linear from c
   * to eps over the rest. With `cIsAlpha`, c is an alpha level and is mapped to the time where alpha(t) = c
   * (the reference's `-inv` profiles).
   */
  | {
      readonly kind: 'linear-constant-linear';
      readonly c: number;
      readonly highFrac: number;
      readonly middleFrac: number;
      readonly cIsAlpha?: boolean;
    };

export interface KappaPlan {
  /** Mode of the steps in the high-noise phase (first `highFrac` of the grid). */
  readonly high: KappaMode;
  readonly middle: KappaMode;
  readonly low: KappaMode;
  readonly highFrac: number;
  readonly middleFrac: number;
  /**
   * 'reference' (default): like the reference, each phase is computed on its own slice of the time grid and the
   * last step of a phase gets κ = 1. 'continuous': every step i uses its own pair (t_i, t_{i+1}).
   */
  readonly boundary?: 'reference' | 'continuous';
}

const MODE_PATTERN = /^(constant-remdm|constant|max-capped|max-rescale)-([0-9.eE+-]+)$/;

/** Every κ kind, in the order the errors list them. */
export const KAPPA_KINDS = [
  'pure-posterior',
  'pure-pc',
  'constant',
  'constant-remdm',
  'max-capped',
  'max-rescale',
] as const;

/** Largest number of sampling steps (and grid points − 1) accepted: far beyond any use, small enough to allocate. */
export const MAX_STEPS = 2 ** 24;

const describeValue = (v: unknown): string =>
  v === null
    ? 'null'
    : typeof v === 'object' || typeof v === 'string'
      ? JSON.stringify(v)
      : typeof v === 'number'
        ? String(v)
        : `${String(v)} (${typeof v})`;

/**
 * A κ mode of a known kind with η in [0, 1]: κ = η for 'constant'; for the ReMDM modes η scales a remasking
 * probability (ReMDM §4.1 takes η ∈ [0, 1]), so η > 1 would remask with probability above 1.
 */
export function checkKappaMode(op: string, mode: unknown): asserts mode is KappaMode {
  if (mode === null || typeof mode !== 'object') {
    throw new ArgumentError(op, `κ mode ${describeValue(mode)}`, 'an object { kind, eta? }');
  }
  const { kind, eta, variant } = mode as { kind?: unknown; eta?: unknown; variant?: unknown };
  if (!(KAPPA_KINDS as readonly unknown[]).includes(kind)) {
    throw new ArgumentError(op, `unknown κ kind ${describeValue(kind)}`, `one of ${KAPPA_KINDS.join(', ')}`);
  }
  if (kind === 'pure-posterior' || kind === 'pure-pc') return;
  if (typeof eta !== 'number' || !(eta >= 0 && eta <= 1)) {
    const what = kind === 'constant' ? 'κ = η' : 'η scales a remasking probability';
    throw new ArgumentError(op, `${String(kind)} with η = ${describeValue(eta)}`, `η in [0, 1] (${what})`);
  }
  if (kind === 'max-rescale' && variant !== undefined && variant !== 'remdm' && variant !== 'reference') {
    throw new ArgumentError(op, `max-rescale variant ${describeValue(variant)}`, "'remdm' | 'reference'");
  }
}

/** One step's signal levels: each in [0, 1], alphaS ≥ alphaT (s ≤ t). */
function checkStepAlphas(op: string, alphaS: number, alphaT: number): void {
  for (const [name, v] of [
    ['alphaS', alphaS],
    ['alphaT', alphaT],
  ] as const) {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
      throw new ArgumentError(op, `${name} = ${describeValue(v)}`, `${name} in [0, 1]`);
    }
  }
  if (alphaS < alphaT)
    throw new TimeOrderError(op, `alphaS = ${alphaS} < alphaT = ${alphaT}`, 'alphaS ≥ alphaT');
}

/** Parses the reference's mode strings: pure-posterior, pure-pc, constant-η, constant-remdm-η, max-capped-η, max-rescale-η. */
export function parseKappaMode(mode: string): KappaMode {
  if (mode === 'pure-posterior' || mode === 'pure-pc') return { kind: mode };
  const match = MODE_PATTERN.exec(mode);
  const eta = match ? Number(match[2]) : Number.NaN;
  if (!match || !Number.isFinite(eta) || eta < 0 || eta > 1) {
    throw new ArgumentError(
      'parseKappaMode',
      `mode "${mode}"`,
      'pure-posterior | pure-pc | constant-η | constant-remdm-η | max-capped-η | max-rescale-η with η in [0, 1]',
    );
  }
  return { kind: match[1] as 'constant' | 'constant-remdm' | 'max-capped' | 'max-rescale', eta };
}

/** ReMDM remasking probability σ_t for a step alpha_t → alpha_s (ReMDM §4.1, schedules of Table 5). */
export function remaskingSigma(mode: KappaMode, alphaS: number, alphaT: number): number {
  checkKappaMode('remaskingSigma', mode);
  checkStepAlphas('remaskingSigma', alphaS, alphaT);
  return sigmaOf(mode, alphaS, alphaT);
}

function sigmaOf(mode: KappaMode, alphaS: number, alphaT: number): number {
  switch (mode.kind) {
    case 'constant-remdm':
      return mode.eta;
    case 'max-capped':
      return alphaT === 0 ? mode.eta : Math.min(mode.eta, (1 - alphaS) / alphaT);
    case 'max-rescale': {
      const cap = mode.variant === 'reference' ? mode.eta : 1;
      return alphaT === 0 ? mode.eta : mode.eta * Math.min(cap, (1 - alphaS) / alphaT);
    }
    default:
      throw new ArgumentError('remaskingSigma', `mode ${mode.kind}`, 'a ReMDM-like mode');
  }
}

/**
 * κ for one step alpha_t → alpha_s (Chapter II, Ψ-samplers ↔ ReMDM): κ_t = clip(1 − σ_t/(1 − α_s), 0, 1) for
 * the ReMDM-like modes; 1, 0 or η for the others. At α_s = 1 both halves of Ψ coincide and κ = 1 is returned
 * when the formula is 0/0.
 */
export function kappaAt(mode: KappaMode, alphaS: number, alphaT: number): number {
  checkKappaMode('kappaAt', mode);
  checkStepAlphas('kappaAt', alphaS, alphaT);
  switch (mode.kind) {
    case 'pure-posterior':
      return 1;
    case 'pure-pc':
      return 0;
    case 'constant':
      return mode.eta;
    default: {
      const kappa = 1 - sigmaOf(mode, alphaS, alphaT) / (1 - alphaS);
      return Number.isNaN(kappa) ? 1 : Math.min(1, Math.max(0, kappa));
    }
  }
}

/** Python's round(): halves go to the even neighbour (the reference sizes its phases with it). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** n points from a to b inclusive (float64; the reference's torch.linspace is float32). */
export function linspace(a: number, b: number, n: number): Float64Array {
  if (!(Number.isInteger(n) && n >= 0 && n <= MAX_STEPS + 1)) {
    throw new ArgumentError(
      'linspace',
      `n = ${describeValue(n)}`,
      `an integer count in [0, ${MAX_STEPS + 1}]`,
    );
  }
  if (!Number.isFinite(a) || !Number.isFinite(b)) {
    throw new ArgumentError(
      'linspace',
      `a = ${describeValue(a)}, b = ${describeValue(b)}`,
      'finite end points',
    );
  }
  const out = new Float64Array(n);
  if (n === 1) out[0] = a;
  for (let i = 0; i < n && n > 1; i++) out[i] = i === n - 1 ? b : a + ((b - a) * i) / (n - 1);
  return out;
}

/** The time t with schedule.alpha(t) = alpha (alpha is decreasing in t), by bisection to float64 resolution. */
export function timeForAlpha(schedule: Schedule, alpha: number): number {
  if (typeof schedule?.alpha !== 'function') {
    throw new ArgumentError('timeForAlpha', `schedule ${describeValue(schedule)}`, 'a Schedule { alpha(t) }');
  }
  if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) {
    throw new ArgumentError('timeForAlpha', `alpha = ${describeValue(alpha)}`, 'alpha in [0, 1]');
  }
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200 && hi - lo > 0; i++) {
    const mid = 0.5 * (lo + hi);
    if (mid === lo || mid === hi) break;
    if (schedule.alpha(mid) > alpha) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

function checkFractions(op: string, highFrac: number, middleFrac: number): void {
  const ok = highFrac >= 0 && middleFrac >= 0 && highFrac + middleFrac <= 1;
  if (!ok) {
    throw new ArgumentError(
      op,
      `highFrac ${highFrac}, middleFrac ${middleFrac}`,
      'fractions ≥ 0 summing to ≤ 1',
    );
  }
}

/**
 * The sampling time grid t_0 = 1 > … > t_steps = eps (steps + 1 points), as the reference's
 * `_get_sampling_time_profile`: step i goes from t_i to t_{i+1}.
 */
export function samplingTimes(
  profile: TimeProfile,
  steps: number,
  eps: number,
  schedule?: Schedule,
): Float64Array {
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_STEPS) {
    throw new ArgumentError('samplingTimes', `steps ${steps}`, `an integer in [1, ${MAX_STEPS}]`);
  }
  if (!(eps >= 0 && eps < 1)) throw new ArgumentError('samplingTimes', `eps ${eps}`, 'eps in [0, 1)');
  const n = steps + 1;
  if (profile.kind === 'linear') return linspace(1, eps, n);
  checkFractions('samplingTimes', profile.highFrac, profile.middleFrac);
  if (profile.cIsAlpha && !schedule) {
    throw new ArgumentError(
      'samplingTimes',
      'cIsAlpha without a schedule',
      'a schedule to invert alpha(t) = c',
    );
  }
  const c = profile.cIsAlpha && schedule ? timeForAlpha(schedule, profile.c) : profile.c;
  if (!(c >= eps && c <= 1))
    throw new ArgumentError('samplingTimes', `c ${c}`, `c in [eps, 1] = [${eps}, 1]`);
  const nHigh = roundHalfEven(profile.highFrac * n);
  const nMiddle = roundHalfEven(profile.middleFrac * n);
  const out = new Float64Array(n);
  out.set(linspace(1, c, nHigh), 0);
  out.fill(c, nHigh, nHigh + nMiddle);
  out.set(linspace(c, eps, n - nHigh - nMiddle), nHigh + nMiddle);
  return out;
}

/** κ of every step of a phase slice, as the reference's `_mode_to_psi_kappas` (last entry of the slice = 1). */
function phaseKappas(mode: KappaMode, alphas: Float64Array): Float64Array {
  const n = alphas.length;
  if (mode.kind === 'pure-posterior' || mode.kind === 'pure-pc' || mode.kind === 'constant') {
    return new Float64Array(n).fill(kappaAt(mode, 1, 0));
  }
  const out = new Float64Array(n);
  for (let i = 0; i + 1 < n; i++) out[i] = kappaAt(mode, alphas[i + 1], alphas[i]);
  if (n > 0) out[n - 1] = 1;
  return out;
}

/**
 * κ for every point of the time grid (length = times.length; step i uses κ_i), as the reference's `_get_kappas`:
 * the first round(highFrac·n) points use `high`, the next round(middleFrac·n) `middle`, the rest `low`.
 */
export function kappaSchedule(plan: KappaPlan, times: ArrayLike<number>, schedule: Schedule): Float64Array {
  checkFractions('kappaSchedule', plan.highFrac, plan.middleFrac);
  for (const mode of [plan.high, plan.middle, plan.low]) checkKappaMode('kappaSchedule', mode);
  const n = times.length;
  const alphas = Float64Array.from(times, (t) => schedule.alpha(t));
  const nHigh = roundHalfEven(plan.highFrac * n);
  const nMiddle = roundHalfEven(plan.middleFrac * n);
  const modeOf = (i: number): KappaMode =>
    i < nHigh ? plan.high : i < nHigh + nMiddle ? plan.middle : plan.low;
  if (plan.boundary === 'continuous') {
    const out = new Float64Array(n).fill(1);
    for (let i = 0; i + 1 < n; i++) out[i] = kappaAt(modeOf(i), alphas[i + 1], alphas[i]);
    return out;
  }
  const out = new Float64Array(n);
  out.set(phaseKappas(plan.high, alphas.subarray(0, nHigh)), 0);
  out.set(phaseKappas(plan.middle, alphas.subarray(nHigh, nHigh + nMiddle)), nHigh);
  out.set(phaseKappas(plan.low, alphas.subarray(nHigh + nMiddle)), nHigh + nMiddle);
  return out;
}
