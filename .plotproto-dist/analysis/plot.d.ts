/** One traffic class as a dense per-bin series; bin 0 starts at that class's earliest packet (DESIGN §5). */
export interface PlotSeries {
    name: string;
    /** Bin width in seconds (> 0). */
    binSeconds: number;
    /** Packets in each bin. */
    packets: ArrayLike<number>;
    /** Bytes in each bin. */
    bytes: ArrayLike<number>;
}
/** One KS comparison of a feature, subject class against the reference class, with its ECDF step points. */
export interface PlotEcdf {
    feature: 'packets_per_bin' | 'bytes_per_bin' | 'size' | 'iat';
    unit: string;
    reference: string;
    subject: string;
    /** Step points of the empirical CDFs (f = F(x), right-continuous), already downsampled by the caller. */
    ref: {
        x: number[];
        f: number[];
    };
    sub: {
        x: number[];
        f: number[];
    };
    statistic: number;
    pvalue: number;
    n: number;
    m: number;
    distinguishable: boolean;
}
/** Everything one analysis plot shows. */
export interface AnalysisPlotInput {
    title: string;
    series: PlotSeries[];
    ecdfs: PlotEcdf[];
}
/** Output format of `--plot`, chosen by the file's extension. */
export type PlotFormat = 'svg' | 'html';
/**
 * Most points drawn per class and per metric. Longer series are reduced by {@link downsampleMinMax}: a
 * chart about 760 px wide cannot show more than a few points per pixel column anyway.
 */
export declare const MAX_POINTS_PER_SERIES = 4000;
/**
 * Picks the plot format from a file name: `.svg` → svg, `.html`/`.htm` → html (case-insensitive).
 * @throws SmigError SMIG_ERR_USAGE for any other extension
 * @example plotFormatFor('out/compare.HTML') === 'html'
 */
export declare function plotFormatFor(path: string): PlotFormat;
/**
 * Reduces a series to at most `maxPoints` (index, value) points for drawing, keeping its shape: the series
 * is cut into `floor(maxPoints / 2)` contiguous buckets of near-equal length and each bucket contributes its
 * minimum and its maximum, in index order (once if they coincide). Every burst and every gap therefore stays
 * visible at its true height, and the global maximum and minimum are always kept. Series no longer than
 * `maxPoints` are returned whole.
 */
export declare function downsampleMinMax(values: ArrayLike<number>, maxPoints?: number): {
    index: number[];
    value: number[];
};
/**
 * Renders the analysis plot: one self-contained SVG document (`svg`) or a self-contained UTF-8 HTML page
 * embedding that SVG with a heading and tables of the classes and comparisons (`html`). Text from the input
 * (class names, title) is escaped in both.
 * @throws SmigError SMIG_ERR_INTERNAL if a series has a non-positive bin width or an ECDF's x and f differ in length
 */
export declare function renderAnalysisPlot(input: AnalysisPlotInput, format: PlotFormat): Promise<string>;
