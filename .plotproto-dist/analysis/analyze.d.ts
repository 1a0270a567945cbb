import type { CaptureInfo, CaptureWarning } from '../capture/types.js';
import type { WeightedSample } from './ks.js';
import type { Summary } from './stats.js';
import { TrafficAccumulator } from './traffic.js';
import type { FlowRecord } from './traffic.js';
export interface ClassSpec {
    /** Class name (a file's base name by default). */
    name: string;
    /** Capture path, or '-' for stdin. */
    file: string;
    /** BPF-subset filter for this class (combined with the global one by `and`). */
    filter?: string;
}
export interface AnalyzeOptions {
    classes: ClassSpec[];
    filter?: string;
    binNs?: bigint;
    alpha?: number;
    maxSamples?: number;
    maxFlows?: number;
    onProgress?: (file: string, bytesRead: number, totalBytes: number | undefined) => void;
    onWarning?: (w: CaptureWarning & {
        file: string;
    }) => void;
}
export type Feature = 'packets_per_bin' | 'bytes_per_bin' | 'size' | 'iat';
export declare const FEATURES: readonly Feature[];
export interface ClassResult {
    name: string;
    file: string;
    filter: string | undefined;
    info: CaptureInfo;
    traffic: TrafficAccumulator;
    /** Dense-equivalent samples, as weighted samples (zero bins included). */
    samples: Record<Feature, WeightedSample>;
    summaries: Record<Feature, Summary>;
    fano: {
        windowNs: bigint;
        value: number | null;
    }[];
    flows: FlowRecord[];
}
export interface Comparison {
    reference: string;
    subject: string;
    feature: Feature | 'size_histogram';
    test: 'ks' | 'chi2';
    statistic: number;
    pvalue: number;
    n: number;
    m: number;
    /** KS: two-sided asymptotic critical D at alpha; χ²: critical value at alpha with `df`. */
    critical: number;
    alpha: number;
    distinguishable: boolean;
    method?: string;
    df?: number;
}
export interface Verdict {
    reference: string;
    subject: string;
    /** Distinguishable when any test rejects at alpha ÷ (number of tests) (Bonferroni). */
    distinguishable: boolean;
    tests: number;
    rejected: number;
    alphaPerTest: number;
}
export interface AnalysisResult {
    binNs: bigint;
    alpha: number;
    classes: ClassResult[];
    comparisons: Comparison[];
    verdicts: Verdict[];
}
/** Analyzes traffic classes and compares each with the first. */
export declare function analyze(opts: AnalyzeOptions): Promise<AnalysisResult>;
/** Runs every test of `subject` against `ref`. Features with an empty side are left out. */
export declare function compareClasses(ref: ClassResult, subject: ClassResult, alpha: number): Comparison[];
/** Parses `NAME=CAPTURE[@FILTER]` (the @ is the last one, so paths may contain @ when a filter follows). */
export declare function parseClassSpec(text: string): ClassSpec;
/** Default class name for a positional capture: the file's base name (`-` → `stdin`). */
export declare function defaultClassName(file: string): string;
