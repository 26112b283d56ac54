export {
  KappaRangeError,
  NonFiniteError,
  NotADistributionError,
  TimeOrderError,
} from './errors';
export {
  checkKappaMode,
  KAPPA_KINDS,
  type KappaMode,
  type KappaPlan,
  kappaAt,
  kappaSchedule,
  linspace,
  MAX_STEPS,
  parseKappaMode,
  remaskingSigma,
  roundHalfEven,
  samplingTimes,
  type TimeProfile,
  timeForAlpha,
} from './kappa';
export { duoLoss, klLoss, mdlmLoss } from './losses/losses';
export { duoGradRow, duoRow, type KlDirection, klRow, logSoftmaxRow, mdlmRow } from './losses/row-maths';
export {
  dMinusLog1p,
  duoIntegrand,
  LN2,
  maskedPriorTerm,
  mdlmIntegrand,
  reconstructionTerm,
  uniformPriorTerm,
} from './maths/nelbo';
export {
  klDivergence,
  maskedBridge,
  maskedMarginal,
  maskedRows,
  psiRow,
  type RowProcess,
  uniformBridge,
  uniformMarginal,
  uniformRows,
} from './maths/rows';
export { type BoundReport, type BoundTerms, boundReport, duoNelbo, mdlmNelbo, type NelboArgs } from './nelbo';
export {
  type PsiArgs,
  type PsiOptions,
  posterior,
  posteriorToX0,
  psiPosterior,
  psiSample,
  type SampleArgs,
  type StepArgs,
} from './psi';
export { inverseCdfRow, sampleInverseCdf, streamUniform } from './sample';
export { type CheckOptions, DEFAULT_TOLERANCE, type TimeArgs } from './validate';
