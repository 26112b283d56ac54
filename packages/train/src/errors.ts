/**
 * Typed errors of @duality/train. Each names what refused (a config key path, a file, a function), what it got
 * and what it expected. Every class sets its `name` as a string literal (minifiers mangle constructor names).
 */
import { KernelError } from '@duality/kernels';

/** Base class of every error this package throws (a `KernelError`, so `op`, `got` and `expected` are there). */
export class TrainError extends KernelError {
  override name = 'TrainError';
}

/**
 * A training config that does not validate: an unknown key, a wrong type, a value out of range, or values that
 * contradict each other (γmin ≥ γmax, k ≥ K, a context longer than the data). `op` is the key path
 * (`optimizer.lr`, `curriculum.gammaMin`, …), also given as `path`.
 */
export class TrainConfigError extends TrainError {
  override name = 'TrainConfigError';
  /** The offending key path, dot-separated (`config` for the config as a whole). */
  get path(): string {
    return this.op;
  }
}

/** The corpus or a prepared data cache that cannot be read or does not check out. */
export class DataError extends TrainError {
  override name = 'DataError';
}

/** A checkpoint that is incomplete or corrupt: a missing file, a bad state.json, a file whose hash differs. */
export class CheckpointCorruptError extends TrainError {
  override name = 'CheckpointCorruptError';
}

/** A checkpoint made with another config than the one resuming from it. `keys` lists the differing paths. */
export class CheckpointMismatchError extends TrainError {
  override name = 'CheckpointMismatchError';
  readonly keys: readonly string[];
  constructor(op: string, got: string, expected: string, detail?: string, keys: readonly string[] = []) {
    super(op, got, expected, detail);
    this.keys = keys;
  }
}
