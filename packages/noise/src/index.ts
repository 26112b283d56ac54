export {
  type ApproxError,
  OPERATOR_APPROXIMATIONS,
  type OperatorApprox,
  type OperatorApproximation,
  operatorApproximation,
  operatorPolyFit,
  operatorTable,
  type PolyDegree,
  type PolyFit,
  type PolyFitOptions,
  type RangeOptions,
  type TableOptions,
} from './approx';
export { NonFiniteError, NotADistributionError } from './errors';
export { type FusedPsi, fusedPsiOf } from './fused-psi';
export { gaussianLatents, latentScales, latentsFromNormals } from './latents';
export { binaryTransformClosedForm, diffusionTransform, type OperatorValue } from './operator';
export {
  checkProbRow,
  checkProbRows,
  DEFAULT_TOLERANCE,
  probRowError,
  rowPasses,
  toleranceOf,
} from './probs';
export {
  type GaussianOptions,
  GaussianProcess,
  gaussian,
  type MaskedOptions,
  MaskedProcess,
  masked,
  type ProcessOptions,
  UniformProcess,
  uniform,
} from './processes';
export {
  type AnnealedTauOptions,
  annealedTau,
  DEFAULT_TAU,
  logMeanExpTruncNormal,
  type RelaxationOptions,
  TAU_RANGE,
  type TemperedRelaxation,
  type TopKOptions,
  type TopKRelaxation,
  type TopKRows,
  temperedSoftmaxRelaxation,
  topKRelaxation,
  topKRelaxationRows,
  topKWordsPerPosition,
} from './relax';
export {
  type CosineSchedule,
  cosine,
  type EpsOptions,
  type GaussianCurriculumOptions,
  type GaussianCurriculumSchedule,
  gaussianCurriculum,
  logLinear,
  sigmaFromAlpha,
} from './schedules';
export { logNdtr, ndtr, ndtri } from './special';
export { uniformIds, uniforms53 } from './tensors';
export type { NoiseProcess, Schedule, Times } from './types';
