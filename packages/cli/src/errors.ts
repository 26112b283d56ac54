import { ArgumentError, KernelError } from '@duality/kernels';

/**
 * Typed errors of the CLI and the checkpoint converter. Like every package's errors they extend the
 * `KernelError` family (fields `op`, `got`, `expected`), so `duality` prints each as one `error: …` line.
 */

/** A command-line argument or option value that cannot be used (exit code 2). */
export class UsageError extends ArgumentError {
  override name = 'UsageError';
}

/** A pickle stream that is malformed or truncated. */
export class PickleFormatError extends KernelError {
  override name = 'PickleFormatError';
}

/** A pickle opcode the restricted unpickler does not implement (INST, OBJ, extension registry, buffers…). */
export class UnsupportedOpcodeError extends PickleFormatError {
  override name = 'UnsupportedOpcodeError';
}

/**
 * A pickle that names a global outside the allow-list (e.g. `os.system`, `builtins.eval`): refused when the
 * GLOBAL opcode is read, before anything could be called with it.
 */
export class ForbiddenGlobalError extends KernelError {
  override name = 'ForbiddenGlobalError';
}

/** A torch.save archive that cannot be read: not a zip, truncated, a missing `data.pkl` or storage, big-endian. */
export class TorchArchiveError extends KernelError {
  override name = 'TorchArchiveError';
}

/** A checkpoint whose contents do not map onto a DiT (EMA list of the wrong length, missing config…). */
export class ConvertError extends KernelError {
  override name = 'ConvertError';
}

/** A config file (or a reference config.json) with a key whose value is not what it should be (exit code 2). */
export class ConfigError extends ArgumentError {
  override name = 'ConfigError';
}

/** A command that only works in a checkout of the repository (bench) run from an installed package. */
export class RepoRequiredError extends KernelError {
  override name = 'RepoRequiredError';
}

/** A child process a command runs (the bench runner) that failed. */
export class ChildProcessError extends KernelError {
  override name = 'ChildProcessError';
}
