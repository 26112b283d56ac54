/**
 * Typed errors of the evaluation suite (all TrainErrors: `op`, `got`, `expected`). Each class sets its `name`
 * as a string literal, so minified builds keep it.
 */
import { TrainError } from '../errors';

/** An evaluation option out of its domain (steps < 1, no seeds, a sampler spec the samplers refuse, …). `op` is the option's path. */
export class EvaluationConfigError extends TrainError {
  override name = 'EvaluationConfigError';
  /** The offending option, e.g. `steps[1]`, `samplers[0].topP`. */
  get path(): string {
    return this.op;
  }
}

/** The model and the judge do not speak the same tokens: another vocabulary size or another tokenizer. */
export class VocabularyMismatchError extends TrainError {
  override name = 'VocabularyMismatchError';
}

/** A model of the wrong kind for its role: a causal judge is needed for gen-PPL, a diffusion model to sample. */
export class ModelKindError extends TrainError {
  override name = 'ModelKindError';
}
