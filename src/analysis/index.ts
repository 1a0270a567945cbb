/** The `smig/analysis` entry: statistics and the analyzer as a library. */
export { ksTwoSample, ksTwoSampleWeighted, ksCritical, kstwoSf, KS_MAX_AUTO_N } from './ks.js';
export type { KsAlternative, KsMethod, KsOptions, KsResult, WeightedSample } from './ks.js';
export { chiSquareHomogeneity, chiSquareSf, chiSquareIsf } from './chi2.js';
export type { Chi2Options, Chi2Result } from './chi2.js';
export { summary, weightedSummary, fanoFactor, ecdfPoints, Reservoir } from './stats.js';
export type { Summary } from './stats.js';
export { analyze, compareClasses, parseClassSpec, FEATURES } from './analyze.js';
export type { AnalyzeOptions, AnalysisResult, ClassResult, ClassSpec, Comparison, Feature, Verdict } from './analyze.js';
export { analysisToJson, writeAnalysisCsv, nsToDecimal } from './report.js';
export { renderAnalysisPlot, plotFormatFor } from './plot.js';
export type { AnalysisPlotInput, PlotFormat } from './plot.js';
export { runAdversary, classWindows, classify, baselineOf, rocAuc, adversarySettings, adversaryToJson } from './adversary.js';
export type { AdversaryClassSpec, AdversaryOptions, AdversarySettings, AdversaryClass, AdversaryComparison, AdversaryResult } from './adversary.js';
export { WindowBuilder, windowFeatures, gapEntropy, subWindowFano, WINDOW_FEATURES, SIZE_EDGES, MISSING } from './windows.js';
export type { Window, WindowOptions } from './windows.js';
export { renderImportancePlot, adversaryHeadline, formatAuc } from './adversary-report.js';
