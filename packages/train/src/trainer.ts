/**
 * `train(config, { outDir, signal, onProgress })`: validates the config (a bad one throws TrainConfigError before
 * any work), prepares the data, builds the DiT (fresh, or from the newest checkpoint under outDir when resuming:
 * a checkpoint of another config is refused) and runs the shared optimisation loop (loop.ts) with the config's
 * objective at each step (objectives/index.ts: Duo's curriculum hands over to plain UDLM after its last step).
 */
import { createBackend } from '@duality/kernels';
import { DiT, type DiTConfig, initStateDict } from '@duality/models';
import { checkResumeCompatible, latestCheckpoint, loadCheckpoint, resumableKeysFor } from './checkpoint';
import { checkConfigFitsData, DATASET_VOCAB, parseTrainConfig, type TrainConfig } from './config';
import { prepareDataset } from './data/prepare';
import { checkHooks, type LoopResult, runTrainingLoop, type TrainHooks, toStored } from './loop';
import { modelVocabSize, objectiveAt } from './objectives';

export {
  type TrainHooks,
  type TrainProgress,
  VALIDATION_LANE,
  validationNats,
  validationWindowNats,
} from './loop';

export interface TrainResult extends LoopResult {
  config: TrainConfig;
  seconds: number;
}

/** The DiT config a training config describes. */
export function modelConfigOf(config: TrainConfig): DiTConfig {
  const m = config.model;
  return {
    vocabSize: modelVocabSize(config, DATASET_VOCAB[config.data.dataset]),
    hiddenSize: m.hiddenSize,
    condDim: m.condDim,
    nHeads: m.nHeads,
    nBlocks: m.nBlocks,
    length: m.contextLength,
    mlpRatio: 4,
    causal: config.algorithm === 'ar',
    dropout: m.dropout,
    timeConditioning: m.timeConditioning,
  };
}

/** Trains per `configInput` (validated first: a bad config throws TrainConfigError before any work). */
export async function train(configInput: unknown, hooks: TrainHooks): Promise<TrainResult> {
  checkHooks(hooks);
  const config = parseTrainConfig(configInput);
  const started = Date.now();
  const resumeFrom =
    hooks.resume === false ? undefined : await latestCheckpoint(`${hooks.outDir}/checkpoints`);
  const saved = resumeFrom ? await loadCheckpoint(resumeFrom) : undefined;
  if (saved) {
    const ignore = resumableKeysFor(saved.state.config as TrainConfig, config, saved.state.step);
    checkResumeCompatible(saved.state.config, config, ignore);
  }
  const data = await prepareDataset(
    config.data.dataset,
    config.data.cacheDir ? { cacheDir: config.data.cacheDir } : {},
  );
  checkConfigFitsData(config, { train: data.train.tokens.length, validation: data.validation.tokens.length });
  const backend = hooks.backend ?? (await createBackend(config.backend));
  try {
    const dcfg = modelConfigOf(config);
    const weights = saved ? toStored(saved.weights) : initStateDict(dcfg, { seed: config.seed });
    const model = await DiT.fromStateDict(backend, dcfg, weights, { dtype: config.dtype });
    const objectiveFor = objectiveAt(config, dcfg.vocabSize);
    try {
      const result = await runTrainingLoop({
        config,
        dcfg,
        model,
        hooks,
        saved,
        trainStream: data.train.tokens,
        validationStream: data.validation.tokens,
        objectiveAt: async (n) => objectiveFor(n),
        plotTitle: `${config.algorithm} on ${config.data.dataset}`,
        started,
      });
      return { ...result, config, seconds: (Date.now() - started) / 1000 };
    } finally {
      model.dispose();
    }
  } finally {
    if (!hooks.backend) backend.destroy();
  }
}
