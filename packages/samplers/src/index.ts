export type {
  GuidanceConfig,
  NoiseRemoval,
  Plan,
  PsiConfig,
  SamplerConfig,
  SamplerKind,
  SemiARConfig,
} from './config';
export type { Denoiser, PredictOptions } from './denoiser';
export { ContextLengthError, DenoiserOutputError, SamplerConfigError, SamplingAbortedError } from './errors';
export {
  type FactorizedOracle,
  factorizedOracle,
  type OracleOptions,
  type OracleProcess,
  type OracleTarget,
  type StringSetOptions,
  type StringSetOracle,
  stringSetOracle,
} from './oracles';
export {
  ancestralSampler,
  cachedAncestralSampler,
  type Progress,
  psiSampler,
  type RunRequest,
  type SampleRequest,
  type Sampler,
  type SamplerState,
} from './sampler';
export { drawStream, Purpose, type PurposeName } from './streams';
