/**
 * The models an evaluation reads: the diffusion model that samples (a DiT, a checkpoint directory of `train` or
 * `distill`, or a safetensors file) and the autoregressive judge (a causal DiT trained with algorithm 'ar'), with
 * what they were trained on (algorithm, dataset → tokenizer, token vocabulary).
 */
import type { Backend, FloatDType } from '@duality/kernels';
import { DiT, loadDiT, type StoredTensor } from '@duality/models';
import { loadCheckpoint } from '../checkpoint';
import { ALGORITHMS, type Algorithm, DATASET_VOCAB, parseTrainConfig, type TrainConfig } from '../config';
import type { DatasetName } from '../data/prepare';
import { resolveCheckpointDir } from '../distill';
import { modelConfigOf } from '../trainer';
import { EvaluationConfigError, ModelKindError, VocabularyMismatchError } from './errors';

/** A model to evaluate or to judge with. */
export interface ModelSpec {
  /** A DiT, a checkpoint directory (step-N/, a run's outDir or its checkpoints/ root), or a .safetensors file. */
  source: DiT | string;
  /** Checkpoint directories: the EMA (default when there is one) or the raw weights. */
  weights?: 'ema' | 'weights';
  /** Required for a DiT or a file (a checkpoint knows its own): what it was trained as. A causal DiT is 'ar'. */
  algorithm?: Algorithm;
  /** The dataset (and so the tokenizer) when the source does not record it. */
  dataset?: DatasetName;
  /** Precision of a model read from disk (default f32; f64 on the cpu backend). */
  dtype?: FloatDType;
}

export type ModelSource = DiT | string | ModelSpec;

export interface LoadedModel {
  model: DiT;
  algorithm: Algorithm;
  dataset?: DatasetName;
  /** Ids a sample can hold: the model's vocabulary, minus the mask id for a masked model. */
  tokenVocab: number;
  /** Where it came from: a path, or 'DiT' for a model handed in. */
  source: string;
  weights: 'ema' | 'weights' | 'given';
  /** The training config of a checkpoint (validation reads it). */
  config?: TrainConfig;
  /** Whether evaluate built it (and so disposes it). */
  owned: boolean;
}

const specOf = (s: ModelSource): ModelSpec => (typeof s === 'string' || s instanceof DiT ? { source: s } : s);

/** The TrainConfig a checkpoint's state.json holds (a distillation's: without its teacher and distill keys). */
export function trainConfigOfCheckpoint(config: unknown): TrainConfig {
  if (config && typeof config === 'object' && 'distill' in config) {
    const { teacher: _t, teacherHash: _h, distill: _d, ...rest } = config as Record<string, unknown>;
    return parseTrainConfig(rest);
  }
  return parseTrainConfig(config);
}

async function fromCheckpoint(
  backend: Backend,
  role: string,
  spec: ModelSpec,
  path: string,
): Promise<LoadedModel> {
  const dir = await resolveCheckpointDir(path);
  const saved = await loadCheckpoint(dir);
  const config = trainConfigOfCheckpoint(saved.state.config);
  if (spec.weights === 'ema' && !saved.ema)
    throw new EvaluationConfigError(`${role}.weights`, `"ema" for ${dir} (no ema.safetensors)`, '"weights"');
  const which = spec.weights ?? (saved.ema ? 'ema' : 'weights');
  const host = which === 'ema' ? saved.ema : saved.weights;
  const stored = new Map<string, StoredTensor>();
  for (const [n, t] of host ?? [])
    stored.set(n, {
      dtype: t.data instanceof Float64Array ? 'F64' : 'F32',
      shape: [...t.shape],
      data: t.data,
    });
  const model = await DiT.fromStateDict(backend, modelConfigOf(config), stored, {
    dtype: spec.dtype ?? 'f32',
  });
  return {
    model,
    algorithm: config.algorithm,
    dataset: config.data.dataset,
    tokenVocab: DATASET_VOCAB[config.data.dataset],
    source: dir,
    weights: which,
    config,
    owned: true,
  };
}

function checkKind(role: 'model' | 'judge', loaded: LoadedModel): void {
  const causal = loaded.model.config.causal;
  if (role === 'judge' && !causal)
    throw new ModelKindError(
      'judge',
      `a bidirectional DiT (${loaded.algorithm}) from ${loaded.source}`,
      "a causal DiT trained with algorithm 'ar'",
    );
  if (role === 'model' && (causal || loaded.algorithm === 'ar'))
    throw new ModelKindError(
      'model',
      `a causal model from ${loaded.source}`,
      'a diffusion model (mdlm, udlm, duo, duo-efficient)',
    );
  if (loaded.dataset && loaded.tokenVocab !== DATASET_VOCAB[loaded.dataset])
    throw new VocabularyMismatchError(
      role,
      `a model of ${loaded.tokenVocab} token ids`,
      `${DATASET_VOCAB[loaded.dataset]} ids of dataset "${loaded.dataset}"`,
    );
}

/** Reads (or wraps) a model for `role`; a DiT or a file needs `algorithm` (a causal DiT is taken as 'ar'). */
export async function loadEvaluationModel(
  backend: Backend,
  source: ModelSource,
  role: 'model' | 'judge',
): Promise<LoadedModel> {
  const spec = specOf(source);
  if (spec.algorithm !== undefined && !(ALGORITHMS as readonly string[]).includes(spec.algorithm))
    throw new EvaluationConfigError(
      `${role}.algorithm`,
      JSON.stringify(spec.algorithm),
      `one of ${ALGORITHMS.join(', ')}`,
    );
  let loaded: LoadedModel;
  if (typeof spec.source === 'string' && !spec.source.endsWith('.safetensors')) {
    loaded = await fromCheckpoint(backend, role, spec, spec.source);
  } else {
    const given = spec.source instanceof DiT;
    const model = given
      ? (spec.source as DiT)
      : await loadDiT(backend, spec.source as string, { dtype: spec.dtype ?? 'f32' });
    const algorithm = spec.algorithm ?? (model.config.causal ? 'ar' : undefined);
    if (role === 'judge' && !model.config.causal) {
      if (!given) model.dispose();
      throw new ModelKindError(
        'judge',
        `a bidirectional DiT from ${given ? 'DiT' : spec.source}`,
        "a causal DiT trained with algorithm 'ar'",
      );
    }
    if (!algorithm) {
      if (!given) model.dispose();
      throw new EvaluationConfigError(
        `${role}.algorithm`,
        'nothing',
        `the algorithm the ${role} was trained with (${ALGORITHMS.join(', ')})`,
      );
    }
    const V = model.config.vocabSize;
    loaded = {
      model,
      algorithm,
      ...(spec.dataset ? { dataset: spec.dataset } : {}),
      tokenVocab: algorithm === 'mdlm' ? V - 1 : V,
      source: given ? 'DiT' : (spec.source as string),
      weights: 'given',
      owned: !given,
    };
  }
  try {
    checkKind(role, loaded);
  } catch (error) {
    if (loaded.owned) loaded.model.dispose();
    throw error;
  }
  return loaded;
}

/** Refuses a judge that does not read the model's tokens: another vocabulary size or another dataset's tokenizer. */
export function checkJudgeFits(model: LoadedModel, judge: LoadedModel): void {
  if (model.tokenVocab !== judge.tokenVocab)
    throw new VocabularyMismatchError(
      'evaluate',
      `a judge of ${judge.tokenVocab} token ids (${judge.source}) for samples of ${model.tokenVocab} (${model.source})`,
      'a judge over the model’s vocabulary',
    );
  if (model.dataset && judge.dataset && model.dataset !== judge.dataset)
    throw new VocabularyMismatchError(
      'evaluate',
      `a judge of tokenizer "${judge.dataset}" for a model of tokenizer "${model.dataset}"`,
      'the same tokenizer',
    );
}
