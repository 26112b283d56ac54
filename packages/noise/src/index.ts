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
  type TableOptions,
} from './approx';
export { binaryTransformClosedForm, diffusionTransform, type OperatorValue } from './operator';
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
export type { NoiseProcess, Schedule, Times } from './types';
