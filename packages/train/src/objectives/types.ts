/**
 * A training objective turns a batch of clean ids x0 [B, L] and the step's randomness (a `Draw`: explicit host
 * arrays or tensors, so a test can hand in a reference's draws) into the mean loss over tokens, taped for
 * `valueAndGrad`. `draw` makes that randomness from Philox streams: a pure function of (seed, step), so a resumed
 * run draws exactly what the uninterrupted run drew.
 */
import type { Backend, Tensor } from '@duality/kernels';
import type { DiTInput, SigmaInput } from '@duality/models';
import { sampleTimes, type TimeSampling } from '../time';

/** The part of a DiT an objective uses (a DiT is one; a test double can be another). */
export interface TrainableModel {
  readonly backend: Backend;
  readonly dtype: 'f32' | 'f64';
  readonly config: {
    readonly vocabSize: number;
    readonly causal?: boolean;
    readonly nBlocks: number;
    readonly hiddenSize: number;
  };
  forward(
    input: DiTInput,
    sigma?: SigmaInput,
    options?: { train?: { seed: number | bigint; offset?: number; p?: number } },
  ): Promise<Tensor>;
}

/** Where a step's randomness comes from: the run's seed and the step number (global, across resumes). */
export interface DrawContext {
  readonly seed: number;
  readonly step: number;
  /** Rows of the global batch this micro-batch covers (gradient accumulation), and the global batch size. */
  readonly rowStart: number;
  readonly globalBatch: number;
}

/** The micro-batch's times t [B]: rows [rowStart, rowStart + B) of the step's global-batch draw (time.ts). */
export function drawTimes(ctx: DrawContext, batch: number, mode?: TimeSampling): Float64Array {
  const { seed, step, rowStart: start, globalBatch } = ctx;
  return sampleTimes({ seed, step, start, count: batch, globalBatch, mode });
}

export interface LossResult {
  /** Mean over all B·L tokens (the reference's loss reduction). */
  loss: Tensor;
  /** Per-token values [B, L] (the NELBO integrand, or the surrogate during a curriculum). */
  perToken: Tensor;
}

export interface Objective<D> {
  readonly name: string;
  /** The step's randomness for a micro-batch of x0 [B, L]. */
  draw(backend: Backend, x0: Int32Array, shape: readonly [number, number], ctx: DrawContext): Promise<D>;
  /** The taped mean loss of the model on x0 with that randomness. */
  loss(
    model: TrainableModel,
    x0: Tensor,
    x0Host: Int32Array,
    draw: D,
    options?: LossOptions,
  ): Promise<LossResult>;
}

export interface LossOptions {
  /** Dropout stream for this forward (training); omitted = no dropout. */
  dropout?: { seed: number | bigint; offset: number };
}

/** Mean of a [B, L] tensor as a scalar [1] (taped: sum then scale). */
export function meanOf(backend: Backend, perToken: Tensor): Tensor {
  const flat = backend.reshape(perToken, [1, perToken.size]);
  const total = backend.sum(flat);
  flat.dispose();
  const mean = backend.scale(total, 1 / perToken.size);
  total.dispose();
  return mean;
}
