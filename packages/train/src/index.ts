export { bitsPerCharacter, natsToBits, perplexity, unigramEntropyBits } from './bpc';
export {
  type CheckpointContents,
  type CheckpointEntry,
  type CheckpointState,
  checkResumeCompatible,
  diffKeys,
  EMA_FILE,
  type HostTensor,
  type LoadedCheckpoint,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  OPTIMIZER_FILE,
  pruneCheckpoints,
  RESUMABLE_KEYS,
  resumableKeysFor,
  type SaveCheckpointOptions,
  type SaveOptions,
  STATE_FILE,
  saveCheckpoint,
  stepDirName,
  type TensorMap,
  WEIGHTS_FILE,
  writeCheckpointDir,
} from './checkpoint';
export {
  ALGORITHMS,
  type Algorithm,
  type CurriculumConfig,
  checkConfigFitsData,
  DATASET_NAMES,
  DATASET_VOCAB,
  type DataSizes,
  OPERATORS,
  parseTrainConfig,
  type TauAnneal,
  type TrainConfig,
  type TrainConfigInput,
  TrainConfigSchema,
  trainConfigJsonSchema,
} from './config';
export {
  type BrownCorpus,
  detokenize,
  openBrownCorpus,
  parseTagged,
  readBrownDocument,
  stripTag,
  taggedToText,
} from './data/brown';
export {
  type Batch,
  BatchLoader,
  type LoaderCursor,
  type LoaderOptions,
  validationBatches,
} from './data/loader';
export { checkFits, gatherWindows, windowCount } from './data/pack';
export {
  cacheDescriptor,
  DATASETS,
  type DatasetName,
  defaultCacheDir,
  PREPROCESSING_VERSION,
  type PreparedDataset,
  type PreparedSplit,
  type PrepareOptions,
  prepareDataset,
} from './data/prepare';
export { type DocumentSplit, splitDocuments, VALIDATION_FRACTION } from './data/split';
export {
  type CachedSplit,
  decodeTokenCache,
  encodeTokenCache,
  type TokenCache,
} from './data/token-cache';
export {
  type DistillHooks,
  type DistillProgress,
  type DistillResult,
  distill,
  loadDistillTeacher,
  resolveCheckpointDir,
} from './distill';
export {
  DISTILL_OPTIMIZER_DEFAULTS,
  DISTILLABLE,
  type DistillConfig,
  type DistillConfigInput,
  type DistillSection,
  deltaAt,
  parseDistillConfig,
  parseDistillInput,
  roundOf,
  WEIGHT_SOURCES,
  type WeightSource,
} from './distill-config';
export {
  CheckpointCorruptError,
  CheckpointMismatchError,
  DataError,
  TrainConfigError,
  TrainError,
} from './errors';
export {
  type EvaluateOptions,
  type EvaluateProgress,
  evaluate,
  type ValidationOptions,
} from './evaluate';
export { EvaluationConfigError, ModelKindError, VocabularyMismatchError } from './evaluate/errors';
export {
  checkJudgeFits,
  type LoadedModel,
  loadEvaluationModel,
  type ModelSource,
  type ModelSpec,
  trainConfigOfCheckpoint,
} from './evaluate/load';
export {
  BOOTSTRAP_DOMAIN,
  bootstrapPerplexity,
  generativePerplexity,
  judgeRowNll,
  rowEntropyBits,
} from './evaluate/metrics';
export {
  type EvaluationReport,
  type EvaluationRow,
  type EvaluationSummary,
  evaluationTable,
  genPplVsEntropySvg,
  genPplVsStepsSvg,
  type ModelInfo,
  type PlotSeries,
  type SeriesPlotOptions,
  seriesPlotSvg,
  type ValidationFigures,
  writeEvaluation,
} from './evaluate/report';
export { makeSampler, processFor, type SamplerSpec, samplerLabel } from './evaluate/samplers';
export {
  appendMetrics,
  type MetricsRecord,
  MetricsWriter,
  metricsPlotSvg,
  type PlotOptions,
  peakMemoryMB,
  readMetrics,
  writeMetricsPlot,
} from './metrics';
export * from './objectives';
export {
  clipCoefficient,
  emaDecay,
  emaUpdate,
  globalNorm,
  type LrScheduleOptions,
  learningRate,
  lrFactor,
} from './optim/schedule';
export { checkSeed, STREAM_DOMAIN, streamPermutation, streamUniforms, streamWords, uniform53 } from './rng';
export {
  SAMPLING_EPS,
  type SampleTimesOptions,
  sampleTimes,
  type TimeSampling,
  timesFromUniforms,
} from './time';
export {
  modelConfigOf,
  type TrainHooks,
  type TrainProgress,
  type TrainResult,
  train,
  VALIDATION_LANE,
  validationNats,
  validationWindowNats,
} from './trainer';
