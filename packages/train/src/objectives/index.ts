/** The objective of a config at a given step (Duo's curriculum hands over to plain UDLM after its last step). */
import { annealedTau, cosine, gaussianCurriculum, logLinear, type Schedule } from '@duality/noise';
import type { TrainConfig } from '../config';
import { duoCurriculumObjective, efficientCurriculumObjective } from './curriculum';
import { arObjective, mdlmObjective, udlmObjective } from './discrete';
import type { Objective } from './types';

export * from './curriculum';
export * from './dcd';
export * from './discrete';
export * from './types';

/** The model's vocabulary for a dataset of K ids: MDLM adds the mask id (the last one). */
export function modelVocabSize(config: TrainConfig, datasetVocab: number): number {
  return config.algorithm === 'mdlm' ? datasetVocab + 1 : datasetVocab;
}

/** α_t of mdlm / udlm (and of duo after the curriculum), with the reference's eps = 1e-3. */
export function discreteSchedule(config: TrainConfig): Schedule {
  return config.schedule === 'cosine' ? cosine() : logLinear();
}

/** τ(step) of a curriculum config: a constant, or log10 τ linear between two steps (clamped outside). */
export function tauOf(config: TrainConfig): (step: number) => number {
  const tau = config.curriculum?.tau ?? 1e-3;
  if (typeof tau === 'number') return () => tau;
  return annealedTau({
    log10Start: tau.log10From,
    log10End: tau.log10To,
    startStep: tau.startStep,
    endStep: tau.endStep,
  });
}

/**
 * Objectives by step. For duo / duo-efficient, steps 1 … curriculum.steps use the curriculum and later steps the
 * plain UDLM NELBO with the log-linear schedule (step curriculum.steps is still curriculum: the reference's
 * `>=` hands over one step early).
 */
export function objectiveAt(config: TrainConfig, vocabSize: number): (step: number) => Objective<unknown> {
  const timeSampling = config.time.sampling;
  const schedule = discreteSchedule(config);
  const udlm = udlmObjective({ schedule, vocabSize, timeSampling }) as Objective<unknown>;
  if (config.algorithm === 'mdlm')
    return () => mdlmObjective({ schedule, timeSampling }) as Objective<unknown>;
  if (config.algorithm === 'udlm') return () => udlm;
  if (config.algorithm === 'ar') return () => arObjective() as Objective<unknown>;
  const c = config.curriculum;
  if (!c) return () => udlm;
  const curriculumSchedule = gaussianCurriculum({
    vocabSize,
    gammaMin: c.gammaMin,
    gammaMax: c.gammaMax,
    approx: c.operator,
  });
  const options = {
    schedule: curriculumSchedule,
    tau: tauOf(config),
    derivative: c.derivative,
    timeSampling,
  };
  const curriculum = (
    config.algorithm === 'duo-efficient'
      ? efficientCurriculumObjective({ ...options, k: c.k as number })
      : duoCurriculumObjective(options)
  ) as Objective<unknown>;
  return (step) => (step <= c.steps ? curriculum : udlm);
}
