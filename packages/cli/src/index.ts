/**
 * @duality/cli: the `duality` command (bin) and the pieces it is made of, for programs and tests: `run(args, io)`
 * (the whole CLI in-process, resolving to the exit code), the command registry, and the reference-checkpoint
 * converter (restricted unpickler, torch.save archives, Lightning EMA mapping, Hugging Face exports).
 */
export {
  type CheckpointKind,
  type Description,
  describe,
  type LoadedModel,
  loadModel,
  locate,
  readMetrics,
} from './checkpoint';
export { type ExportedMetrics, runFigures, trainingSeconds } from './commands/export';
export { COMMANDS, type CommandModule } from './commands/index';
export { parseWith, readConfigFile, readJsonFile } from './config-file';
export { CommandContext, type GlobalOptions, type Io, type OutStream, processIo } from './context';
export {
  ALGO_NAMES,
  type ConvertedModel,
  type DecodedTensor,
  emaByName,
  type OutputDType,
  PyGlobal,
  PyObject,
  readHuggingFace,
  readReferenceCheckpoint,
  readTorchCheckpoint,
  TorchArchive,
  type TorchReadOptions,
  TorchTensor,
  tensorsToWrite,
  toPlain,
  type UnpickleOptions,
  unpickle,
  writeConverted,
} from './convert/index';
export {
  ChildProcessError,
  ConfigError,
  ConvertError,
  ForbiddenGlobalError,
  PickleFormatError,
  RepoRequiredError,
  TorchArchiveError,
  UnsupportedOpcodeError,
  UsageError,
} from './errors';
export { integer, number } from './options';
export { createProgram, EXIT, reportError, run } from './program';
export { type Progress, progressBar } from './progress';
