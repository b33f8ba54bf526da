/**
 * @tt/debias: position and user-propensity debiasing of the example weights (MODEL.md section 3)
 * as `@tt/core` stages, with diagnostics.
 *
 * @packageDocumentation
 */
export {
  debiasPosition, debiasUser, debias, debiasStages, DebiasStage, DEBIAS_DEFAULTS, setDebiasWarningHandler, UNIFORM_CORRECTION_SPREAD, type DebiasKind, type DebiasOptions,
  type ExaminationSettings,
} from './stages.js';
export { ItemExposure, type ItemExposureSummary } from './item-exposure.js';
export { ExaminationModel, type RelevanceModel } from './examination.js';
export {
  debiasDiagnostics, renderSvgChart, type ChartOptions, type ChartSeries, type DebiasDiagnostics, type DiagnosticsOptions, type PropensityQuantiles,
} from './diagnostics.js';
