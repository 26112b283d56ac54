export { type AtomicData, cleanStaleTemporaries, writeFileAtomic } from './atomic-file';
export { joinHeadsRotaryOp, mergeHeads, type SplitHeads, splitHeadsRotary } from './attention-ops';
export {
  inferDiTConfig,
  type LoadDiTOptions,
  loadDiT,
  type SaveDiTOptions,
  saveDiT,
  serializeDiT,
} from './checkpoint';
export {
  configFromReference,
  configToReference,
  DIT_CONSTANTS,
  type DiTConfig,
  ditConfig,
  parameterCount,
  referenceStateDictShapes,
  SMALL_CONFIG,
  TINY_CONFIG,
} from './config';
export {
  type Denoiser,
  DiTDenoiser,
  type DiTDenoiserOptions,
  nextTokenLogProbs,
  type Parameterization,
  SIGMA_AT_ALPHA_ZERO,
} from './denoiser';
export {
  DiT,
  type DiTInput,
  type ForwardOptions,
  rotaryInvFreq,
  rotaryTables,
  type SigmaInput,
  type TensorLookup,
  timestepFeatures,
} from './dit';
export { type DropoutOptions, dropout } from './dropout';
export {
  CheckpointFileError,
  MissingTensorError,
  ModelConfigError,
  SafetensorsFormatError,
  SequenceTooLongError,
  TensorShapeMismatchError,
  TokenOutOfVocabularyError,
  UnknownCharacterError,
  UnsupportedDTypeError,
} from './errors';
export { type InitOptions, initStateDict } from './init';
export { type DiTParameters, parameterShapes } from './params';
export {
  type ByteSource,
  bf16BitsToNumber,
  bytesSource,
  type FloatStorageDType,
  f16BitsToNumber,
  fileSource,
  numberToBf16Bits,
  numberToF16Bits,
  openSafetensorsFile,
  type SafetensorsDType,
  SafetensorsReader,
  type SafetensorsReadOptions,
  type StoredTensor,
  safetensorsChunks,
  serializeSafetensors,
  type TensorInfo,
  type TensorToWrite,
  writeSafetensorsFile,
} from './safetensors';
export {
  brown8,
  brownChar,
  CharTokenizer,
  GPT2_EOS_ID,
  GPT2_VOCAB_SIZE,
  gpt2Tokenizer,
  normalizeBrown8,
  normalizeBrownChar,
  type Tokenizer,
  tokenizerByName,
} from './tokenizers';
