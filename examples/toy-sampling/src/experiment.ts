/**
 * Quality against steps: every sampler samples the toy distribution at every step count; each cell reports the
 * fraction of valid strings and the total variation to the true law.
 */
import { uniforms53 } from '@duality/noise';
import {
  cachedAncestralSampler,
  psiSampler,
  type Sampler,
  type SamplerConfig,
  type SamplerState,
} from '@duality/samplers';
import { LENGTH, type Toy } from './toy';

export interface SamplerSpec {
  name: string;
  make: (config: SamplerConfig) => Sampler;
}

/** The samplers compared (reference names: `ancestral_cache`, Ψ with max-capped-η, ReMDM loop, constant κ). */
export const SAMPLERS: SamplerSpec[] = [
  { name: 'ancestral', make: (c) => cachedAncestralSampler(c) },
  {
    name: 'Ψ max-capped η=0.01',
    make: (c) => psiSampler({ ...c, kappa: { kind: 'max-capped', eta: 0.01 } }),
  },
  {
    name: 'Ψ ReMDM loop η=0.01',
    make: (c) =>
      psiSampler({
        ...c,
        timeProfile: {
          kind: 'linear-constant-linear',
          c: 0.9,
          cIsAlpha: true,
          highFrac: 0.45,
          middleFrac: 0.5,
        },
        kappa: {
          high: { kind: 'pure-posterior' },
          middle: { kind: 'constant-remdm', eta: 0.01 },
          low: { kind: 'pure-posterior' },
          highFrac: 0.45,
          middleFrac: 0.5,
        },
      }),
  },
  { name: 'Ψ constant κ=0.5', make: (c) => psiSampler({ ...c, kappa: { kind: 'constant', eta: 0.5 } }) },
];

export interface Cell {
  process: string;
  sampler: string;
  steps: number;
  valid: number;
  tv: number;
  seconds: number;
}

export interface ExperimentOptions {
  steps: number[];
  batch: number;
  seed: number;
  samplers?: SamplerSpec[];
  /** Called with every streamed state (for a live display). */
  onState?: (info: { toy: Toy; sampler: string; steps: number; state: SamplerState }) => void;
  /** Called when a cell is done. */
  onCell?: (cell: Cell) => void;
}

export async function runToy(toy: Toy, options: ExperimentOptions): Promise<Cell[]> {
  const cells: Cell[] = [];
  for (const spec of options.samplers ?? SAMPLERS) {
    for (const steps of options.steps) {
      const sampler = spec.make({ process: toy.process, steps });
      const started = performance.now();
      let last: SamplerState | undefined;
      const request = { batch: options.batch, length: LENGTH, seed: options.seed + steps };
      for await (const state of sampler.run(toy.oracle, request)) {
        last = state;
        options.onState?.({ toy, sampler: spec.name, steps, state });
      }
      const { valid, tv } = toy.oracle.evaluate(last?.xt ?? []);
      const seconds = (performance.now() - started) / 1000;
      const cell = { process: toy.name, sampler: spec.name, steps, valid, tv, seconds };
      cells.push(cell);
      options.onCell?.(cell);
    }
  }
  return cells;
}

/**
 * The TV an exact sampler would show with `batch` samples (finite-sample floor): mean TV of `repeats` sets of
 * `batch` draws from the true law.
 */
export function exactFloor(toy: Toy, batch: number, repeats: number, seed: number): number {
  const cdf = Array.from(toy.oracle.weights);
  for (let i = 1; i < cdf.length; i++) cdf[i] += cdf[i - 1];
  let sum = 0;
  for (let r = 0; r < repeats; r++) {
    const u = uniforms53({ seed, offset: 2 * r * batch }, batch);
    const ids = new Int32Array(batch * LENGTH);
    u.forEach((v, b) => {
      const n = Math.min(
        cdf.findIndex((c) => v < c),
        cdf.length - 1,
      );
      ids.set(toy.oracle.sequences[n < 0 ? cdf.length - 1 : n], b * LENGTH);
    });
    sum += toy.oracle.evaluate(ids).tv;
  }
  return sum / repeats;
}
