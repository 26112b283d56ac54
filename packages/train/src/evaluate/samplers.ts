/**
 * Sampler specs as plain data: any sampler of @duality/samplers — ancestral (optionally cached), Ψ with a κ mode
 * or a 3-phase κ plan and a time profile — with any noise removal (the greedy tail of Duo §4.2 is
 * `noiseRemoval: 'greedy'`) and top-p / top-k filtering. A spec becomes a sampler for a given step count, and has
 * a short label for tables and plots.
 */
import type { Backend } from '@duality/kernels';
import type { NoiseProcess } from '@duality/noise';
import { masked, uniform } from '@duality/noise';
import { type KappaMode, type KappaPlan, parseKappaMode, type TimeProfile } from '@duality/posteriors';
import {
  ancestralSampler,
  cachedAncestralSampler,
  type NoiseRemoval,
  psiSampler,
  type Sampler,
} from '@duality/samplers';
import type { Algorithm } from '../config';
import { EvaluationConfigError } from './errors';

interface CommonSpec {
  /** Default 'ancestral'; 'greedy' is Duo's greedy tail (argmax x̂0 at the end). */
  noiseRemoval?: NoiseRemoval;
  /** Nucleus filtering of x̂0, p in (0, 1]. */
  topP?: number;
  topK?: number;
  /** Last time of the grid (default 1e-5). */
  eps?: number;
  /** Name in tables and plots (default: built from the spec). */
  label?: string;
}

export type SamplerSpec =
  | (CommonSpec & {
      kind: 'ancestral' /** MDLM's cache (x̂0 reused while x_t is unchanged). */;
      cache?: boolean;
    })
  | (CommonSpec & {
      kind: 'psi';
      /** A κ mode (object or string such as "max-capped-0.05") for the whole grid, or a 3-phase plan. */
      kappa: KappaMode | KappaPlan | string;
      timeProfile?: TimeProfile;
    });

const modeLabel = (k: KappaMode): string => ('eta' in k ? `${k.kind} η=${k.eta}` : k.kind);

/** A short name: "ancestral", "ancestral greedy top-p 0.9", "Ψ max-capped η=0.05", … */
export function samplerLabel(spec: SamplerSpec): string {
  if (spec.label) return spec.label;
  const parts: string[] = [];
  if (spec.kind === 'ancestral') parts.push(spec.cache ? 'ancestral (cached)' : 'ancestral');
  else {
    const k = typeof spec.kappa === 'string' ? parseKappaMode(spec.kappa) : spec.kappa;
    parts.push(
      'high' in k
        ? `Ψ plan ${modeLabel(k.high)} / ${modeLabel(k.middle)} / ${modeLabel(k.low)}`
        : `Ψ ${modeLabel(k)}`,
    );
    if (spec.timeProfile && spec.timeProfile.kind !== 'linear') parts.push(spec.timeProfile.kind);
  }
  if (spec.noiseRemoval && spec.noiseRemoval !== 'ancestral')
    parts.push(spec.noiseRemoval === 'greedy' ? 'greedy tail' : 'no noise removal');
  if (spec.topP !== undefined && spec.topP < 1) parts.push(`top-p ${spec.topP}`);
  if (spec.topK !== undefined) parts.push(`top-k ${spec.topK}`);
  return parts.join(' ');
}

/** The noise process a model of `algorithm` samples with: masked (mdlm; mask = the last id) or uniform. */
export function processFor(backend: Backend, algorithm: Algorithm, vocabSize: number): NoiseProcess {
  return algorithm === 'mdlm' ? masked(backend, { vocabSize }) : uniform(backend, { vocabSize });
}

/** The sampler of `spec` at `steps` steps; a spec the samplers refuse is an EvaluationConfigError at `path`. */
export function makeSampler(spec: SamplerSpec, process: NoiseProcess, steps: number, path: string): Sampler {
  const common = {
    process,
    steps,
    ...(spec.noiseRemoval ? { noiseRemoval: spec.noiseRemoval } : {}),
    ...(spec.topP !== undefined ? { topP: spec.topP } : {}),
    ...(spec.topK !== undefined ? { topK: spec.topK } : {}),
    ...(spec.eps !== undefined ? { eps: spec.eps } : {}),
  };
  try {
    if (spec.kind === 'ancestral')
      return spec.cache ? cachedAncestralSampler(common) : ancestralSampler(common);
    if (spec.kind === 'psi') {
      if (spec.kappa === undefined)
        throw new EvaluationConfigError(`${path}.kappa`, 'nothing', 'a κ mode or plan (Ψ samplers)');
      const kappa = typeof spec.kappa === 'string' ? parseKappaMode(spec.kappa) : spec.kappa;
      return psiSampler({ ...common, kappa, ...(spec.timeProfile ? { timeProfile: spec.timeProfile } : {}) });
    }
  } catch (error) {
    if (error instanceof EvaluationConfigError) throw error;
    const e = error as { got?: string; expected?: string; message: string };
    throw new EvaluationConfigError(
      path,
      e.got ?? e.message,
      e.expected ?? 'a sampler spec @duality/samplers accepts',
      e.message,
    );
  }
  throw new EvaluationConfigError(
    `${path}.kind`,
    JSON.stringify((spec as { kind?: unknown }).kind),
    "'ancestral' | 'psi'",
  );
}
