import type { AnalysisResult, Comparison, Feature } from './analyze.js';
import type { AnalysisPlotInput } from './plot.js';
export declare const REPORT_VERSION = 1;
/** Exact decimal seconds of a nanosecond timestamp: 1525449484123456789n → "1525449484.123456789". */
export declare function nsToDecimal(ns: bigint): string;
export interface ClassJson {
    name: string;
    file: string;
    filter: string | null;
    format: string;
    gzip: boolean;
    endianness: string;
    tsResolution: string;
    linktypes: number[];
    packetsRead: number;
    packets: number;
    bytes: number;
    capturedBytes: number;
    firstTs: string | null;
    lastTs: string | null;
    earliestTs: string | null;
    latestTs: string | null;
    duration: number;
    series: {
        t0: string | null;
        bin: number;
        binNs: string;
        bins: number;
        rows: [number, number, number][];
    };
    distributions: Record<Feature, object>;
    fano: Record<string, number | null>;
    flows: object[];
    warnings: {
        code: string;
        offset: number;
        message: string;
    }[];
}
/** The JSON document of `smig analyze --json`. */
export declare function analysisToJson(result: AnalysisResult): {
    version: number;
    bin: number;
    binNs: string;
    alpha: number;
    captures: ClassJson[];
    comparisons: Comparison[];
    verdicts: object[];
};
/** Name of an IP protocol number as Zeek's conn.log writes it. */
export declare function protoName(p: number): string;
/** Writes `summary.csv`, `comparisons.csv`, and per class `NAME.series.csv` and `NAME.flows.csv` into `dir`. */
export declare function writeAnalysisCsv(result: AnalysisResult, dir: string): Promise<string[]>;
/** The input of `renderAnalysisPlot`: dense per-bin series of every class and the ECDFs behind each KS test. */
export declare function analysisPlotInput(result: AnalysisResult, title: string): AnalysisPlotInput;
