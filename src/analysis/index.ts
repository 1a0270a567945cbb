/** The `smig/analysis` entry: statistics and the analyzer as a library. */

export type {
  AdversaryClass,
  AdversaryClassSpec,
  AdversaryComparison,
  AdversaryOptions,
  AdversaryResult,
  AdversarySettings,
  CvMode,
  RowTimes,
} from './adversary.js';
export {
  adversarySettings,
  baselineOf,
  classify,
  classWindows,
  rocAuc,
  runAdversary,
} from './adversary.js';
export {
  adversaryHeadline,
  adversaryToJson,
  formatAuc,
  formatSegments,
  renderImportancePlot,
} from './adversary-report.js';
export type { AdversarySegments } from './adversary-segments.js';
export {
  DEFAULT_ADVERSARY_SEGMENTS,
  equalFootingAuc,
  MAX_ADVERSARY_SEGMENTS,
  segmentAucs,
} from './adversary-segments.js';
export type {
  AnalysisResult,
  AnalyzeOptions,
  BlockTest,
  ClassResult,
  ClassSpec,
  Comparison,
  Feature,
  Verdict,
} from './analyze.js';
export { analyze, compareClasses, FEATURES, parseClassSpec } from './analyze.js';
export type { BlockKsResult, BlockSample } from './block-ks.js';
export { BlockCollector, blockKs, blocksCanReject, DEFAULT_BLOCK_PERMUTATIONS } from './block-ks.js';
export type { Chi2Options, Chi2Result } from './chi2.js';
export { chiSquareHomogeneity, chiSquareIsf, chiSquareSf } from './chi2.js';
export type { ForestOptions } from './forest.js';
export { Forest } from './forest.js';
export type { KsAlternative, KsMethod, KsOptions, KsResult, WeightedSample } from './ks.js';
export { KS_MAX_AUTO_N, ksCanReject, ksCritical, ksTwoSample, ksTwoSampleWeighted, kstwoSf } from './ks.js';
export type { AnalysisPlotInput, PlotFormat } from './plot.js';
export { plotFormatFor, renderAnalysisPlot } from './plot.js';
export { analysisToJson, nsToDecimal, writeAnalysisCsv } from './report.js';
export type { Summary } from './stats.js';
export { ecdfPoints, fanoFactor, Reservoir, summary, weightedSummary } from './stats.js';
export type { Window, WindowOptions } from './windows.js';
export {
  gapEntropy,
  MISSING,
  SIZE_EDGES,
  subWindowFano,
  WINDOW_FEATURES,
  WindowBuilder,
  windowFeatures,
} from './windows.js';
