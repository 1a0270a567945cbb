/**
 * The plots of `smig analyze --plot FILE`: packets and bytes per second over time for every traffic class
 * (the paper's §6 figures 4–6: normal traffic, traditional migration, stealth migration, one chart each on
 * a shared time and rate axis), then one ECDF panel per two-sample KS comparison. Charts are vega-lite
 * specs compiled and rendered to SVG by vega in Node (no canvas, no DOM); the HTML form wraps that SVG in
 * a self-contained page with a table of the comparisons.
 */
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import * as vl from 'vega-lite';
import { smigError } from '../errors.js';

/** One traffic class as a dense per-bin series; bin 0 starts at that class's earliest packet (docs/DESIGN.md §5). */
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
  ref: { x: number[]; f: number[] };
  sub: { x: number[]; f: number[] };
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
export const MAX_POINTS_PER_SERIES = 4000;

const FEATURE_LABEL: Record<PlotEcdf['feature'], string> = {
  packets_per_bin: 'packets per bin',
  bytes_per_bin: 'bytes per bin',
  size: 'packet size',
  iat: 'inter-arrival time',
};

/** Tick labels: SI prefixes from 1000 up (20k, 1.5M), plain numbers below (0, 0.5, 250). Per tick, unlike
 * vega's `format`, which gives all ticks the prefix of the largest one ("0k"). A constant expression. */
const LABEL_EXPR = "abs(datum.value) >= 1000 ? format(datum.value, '.3~s'): format(datum.value, '~g')";
/** Powers of ten on a symlog axis: 1µ, 10m, 1, 10k. */
const LABEL_EXPR_SI = "datum.value === 0 ? '0' : format(datum.value, '~s')";

const RATE_WIDTH = 760;
const RATE_HEIGHT = 110;
const ECDF_WIDTH = 340;
const ECDF_HEIGHT = 190;

/**
 * Picks the plot format from a file name: `.svg` → svg, `.html`/`.htm` → html (case-insensitive).
 * @throws SmigError SMIG_ERR_USAGE for any other extension
 * @example plotFormatFor('out/compare.HTML') === 'html'
 */
export function plotFormatFor(path: string): PlotFormat {
  const ext = /\.([^./\\]+)$/.exec(path)?.[1]?.toLowerCase();
  if (ext === 'svg') return 'svg';
  if (ext === 'html' || ext === 'htm') return 'html';
  throw smigError('SMIG_ERR_USAGE', '--plot: FILE must end in .svg or .html');
}

/**
 * Reduces a series to at most `maxPoints` (index, value) points for drawing, keeping its shape: the first and
 * last points are kept (so the time extent is exact), the series is cut into `floor((maxPoints - 2) / 2)`
 * contiguous buckets of near-equal length, and each bucket contributes its minimum and its maximum in index
 * order (once if they coincide). Every burst and every gap therefore stays visible at its true height, and
 * the global maximum and minimum are always kept. Series no longer than `maxPoints` are returned whole.
 * `maxPoints` below 4 counts as 4.
 * @example downsampleMinMax([5, 1, 9, 3, 7, 2, 8, 0, 6, 4], 6).index // [0, 1, 2, 6, 7, 9]
 */
export function downsampleMinMax(
  values: ArrayLike<number>,
  maxPoints: number = MAX_POINTS_PER_SERIES,
): { index: number[]; value: number[] } {
  const n = values.length;
  const index: number[] = [];
  const value: number[] = [];
  const push = (i: number): void => {
    if (index.length > 0 && index[index.length - 1]! >= i) return; // already kept (first/last overlap)
    index.push(i);
    value.push(values[i]!);
  };
  if (n <= Math.max(4, maxPoints)) {
    for (let i = 0; i < n; i++) push(i);
    return { index, value };
  }
  const buckets = Math.max(1, Math.floor((maxPoints - 2) / 2));
  push(0);
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * n) / buckets);
    const hi = Math.floor(((b + 1) * n) / buckets);
    let iMin = lo;
    let iMax = lo;
    for (let i = lo + 1; i < hi; i++) {
      if (values[i]! < values[iMin]!) iMin = i;
      if (values[i]! > values[iMax]!) iMax = i;
    }
    push(Math.min(iMin, iMax));
    push(Math.max(iMin, iMax));
  }
  push(n - 1);
  return { index, value };
}

/**
 * Renders the analysis plot: one self-contained SVG document (`svg`) or a self-contained UTF-8 HTML page
 * embedding that SVG with a heading and tables of the classes and comparisons (`html`). Text from the input
 * (class names, title) is escaped in both.
 * @throws SmigError SMIG_ERR_INTERNAL if a series has a non-positive bin width or an ECDF's x and f differ in length
 */
export async function renderAnalysisPlot(input: AnalysisPlotInput, format: PlotFormat): Promise<string> {
  const svg = await renderSvg(buildSpec(input));
  return format === 'svg' ? svg : htmlPage(input, svg);
}

type SubSpec = Extract<TopLevelSpec, { vconcat: unknown }>['vconcat'][number];
type RateRow = { c: string; t: number; v: number };
type EcdfRow = { c: string; side: string; i: number; x: number; f: number };

function buildSpec(input: AnalysisPlotInput): TopLevelSpec {
  for (const s of input.series) {
    if (!(s.binSeconds > 0 && Number.isFinite(s.binSeconds))) {
      throw smigError('SMIG_ERR_INTERNAL', `plot: class '${s.name}' has bin width ${s.binSeconds} s`);
    }
  }
  // One color per class everywhere (rate charts and ECDFs); an explicit domain keeps classes without data in
  // the legend.
  const classes = [
    ...new Set([...input.series.map((s) => s.name), ...input.ecdfs.flatMap((e) => [e.reference, e.subject])]),
  ];
  const color = { field: 'c', type: 'nominal', title: 'class', scale: { domain: classes } } as const;
  const panels: SubSpec[] = [];
  if (input.series.length > 0) {
    panels.push(rateBlock(input.series, 'packets', 'packets/s', color));
    panels.push(rateBlock(input.series, 'bytes', 'bytes/s', color));
  }
  if (input.ecdfs.length > 0) {
    panels.push({ columns: 2, concat: input.ecdfs.map((e) => ecdfPanel(e, color)) });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: input.title, fontSize: 16, anchor: 'start' },
    vconcat: panels,
    spacing: 28,
    config: { legend: { labelLimit: 0, orient: 'top', direction: 'vertical' }, title: { subtitleFontSize: 11 } },
  };
}

/**
 * One chart per class, rate = count / bin width (paper §6, Fig. 4–6), drawn as steps: bin i is a level from
 * i·bin to (i+1)·bin, so a class whose traffic fits in one bin (a bulk transfer) is a visible bar, not the
 * single point a line through bin starts would leave undrawn. The time axis is shared so spans compare at a
 * glance; each chart has its own rate axis, so normal traffic is not flattened to zero next to a burst (the
 * subtitles give each class's mean and peak rate to compare magnitudes).
 */
function rateBlock(series: PlotSeries[], metric: 'packets' | 'bytes', unit: string, color: object): SubSpec {
  const charts: SubSpec[] = series.map((s) => {
    // a step is two path points: half the points of the budget, one kept for the end of the last bin
    const { index, value } = downsampleMinMax(s[metric], MAX_POINTS_PER_SERIES / 2 - 1);
    const values: RateRow[] = index.map((i, k) => ({ c: s.name, t: i * s.binSeconds, v: value[k]! / s.binSeconds }));
    const bins = s[metric].length;
    // the end of the last bin, at its level: the step of the last bin is drawn to its end
    if (bins > 0) values.push({ c: s.name, t: bins * s.binSeconds, v: s[metric][bins - 1]! / s.binSeconds });
    const stats =
      bins === 0
        ? 'no packets'
        : `mean ${fmtRate(sum(s[metric]) / bins / s.binSeconds)}, peak ${fmtRate(max(s[metric]) / s.binSeconds)}`;
    return {
      title: { text: s.name, subtitle: `${unit}, bin ${s.binSeconds} s: ${stats}`, anchor: 'start' },
      width: RATE_WIDTH,
      height: RATE_HEIGHT,
      data: { values },
      mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1 },
      encoding: {
        x: { field: 't', type: 'quantitative', title: 'seconds from first packet' },
        y: { field: 'v', type: 'quantitative', title: unit, axis: { labelExpr: LABEL_EXPR }, scale: { zero: true } },
        color,
      },
    } as SubSpec;
  });
  return { vconcat: charts, resolve: { scale: { x: 'shared', y: 'independent' } } } as SubSpec;
}

/**
 * Two step lines (reference and subject ECDF). Sizes and inter-arrival times spanning two decades or more get
 * a symlog x scale whose linear region is the smallest positive value, so zero gaps (equal timestamps) stay
 * drawable at 0 where a log scale would drop them; ticks are the powers of ten in range, since d3's symlog
 * ticks are linear ones.
 */
function ecdfPanel(e: PlotEcdf, color: object): SubSpec {
  const sides = [
    [e.reference, e.ref, 'reference'],
    [e.subject, e.sub, 'subject'],
  ] as const;
  let minX = Infinity;
  let minPos = Infinity;
  let maxX = -Infinity;
  for (const [c, pts, side] of sides) {
    if (pts.x.length !== pts.f.length) {
      throw smigError(
        'SMIG_ERR_INTERNAL',
        `plot: ${e.feature} ECDF of ${side} '${c}' has ${pts.x.length} x and ${pts.f.length} f values`,
      );
    }
    for (const x of pts.x) {
      if (x < minX) minX = x;
      if (x > 0 && x < minPos) minPos = x;
      if (x > maxX) maxX = x;
    }
  }
  // Each side is a whole step function over the panel: from F = 0 at the smallest x of either side, up its
  // steps, and on at its last level (1) to the largest x of either side. So a sample of one value (m = 1) is
  // a visible rise, and a side whose last jump to 1 is at the panel's right edge still shows its level 1.
  const values: EcdfRow[] = [];
  for (const [c, pts, side] of sides) {
    const n = pts.x.length;
    if (n === 0) continue;
    let i = 0;
    if (pts.x[0]! > minX) values.push({ c, side, i: i++, x: minX, f: 0 });
    values.push({ c, side, i: i++, x: pts.x[0]!, f: 0 });
    for (let k = 0; k < n; k++) values.push({ c, side, i: i++, x: pts.x[k]!, f: pts.f[k]! });
    if (pts.x[n - 1]! < maxX) values.push({ c, side, i: i++, x: maxX, f: pts.f[n - 1]! });
  }
  const log = (e.feature === 'size' || e.feature === 'iat') && minPos < Infinity && maxX / minPos >= 100;
  const ticks: number[] = [];
  if (log) {
    if (values.some((r) => r.x <= 0)) ticks.push(0);
    for (let k = Math.ceil(Math.log10(minPos)); 10 ** k <= maxX; k++) ticks.push(10 ** k);
  }
  const verdict = e.distinguishable ? 'distinguishable' : 'not distinguishable';
  return {
    title: {
      text: [`${FEATURE_LABEL[e.feature]}: ${verdict}`, `${e.subject} vs ${e.reference}`],
      subtitle: `KS D = ${fmtD(e.statistic)}, p = ${fmtP(e.pvalue)}, n = ${e.n}, m = ${e.m}`,
      anchor: 'start',
      fontSize: 12,
      limit: 0, // no truncation: without a canvas vega over-estimates text widths (0.8 em per character)
    },
    width: ECDF_WIDTH,
    height: ECDF_HEIGHT,
    data: { values },
    mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.5 },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: `${FEATURE_LABEL[e.feature]} (${e.unit})${log ? ', symlog' : ''}`,
        // padding: a jump at the largest x stays off the panel's right edge, where the frame would hide it
        scale: log
          ? { type: 'symlog', constant: minPos, nice: false, padding: 6 }
          : { zero: false, nice: false, padding: 6 },
        axis: log ? { values: ticks, labelExpr: LABEL_EXPR_SI } : { labelExpr: LABEL_EXPR },
      },
      y: { field: 'f', type: 'quantitative', title: 'ECDF', scale: { domain: [0, 1], padding: 4 } },
      color,
      detail: { field: 'side', type: 'nominal' }, // two lines even if both sides share a name
      order: { field: 'i', type: 'quantitative' },
    },
  } as SubSpec;
}

/** Renders a vega-lite spec to a self-contained SVG document (no browser: vega's headless view). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function fmtD(d: number): string {
  return d.toFixed(4);
}

function fmtP(p: number): string {
  return p >= 1e-3 || p === 0 ? String(Number(p.toPrecision(3))) : p.toExponential(2);
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
function esc(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!);
}

/** 3 significant digits with an SI prefix from 1000 up: 812, 1.3k, 114M. */
function fmtRate(r: number): string {
  const prefixes = ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  for (; Math.abs(r) >= 1000 && i < prefixes.length - 1; i++) r /= 1000;
  return `${Number(r.toPrecision(3))}${prefixes[i]}`;
}

function sum(values: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i]!;
  return total;
}

function max(values: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i]! > m) m = values[i]!;
  return m;
}

function htmlPage(input: AnalysisPlotInput, svg: string): string {
  const row = (cells: (string | number)[]): string =>
    `<tr>${cells.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`;
  const head = (cells: string[]): string => `<tr>${cells.map((c) => `<th>${c}</th>`).join('')}</tr>`;
  const classes = input.series.map((s) => row([s.name, s.binSeconds, s.packets.length, sum(s.packets), sum(s.bytes)]));
  const comparisons = input.ecdfs.map((e) =>
    row([
      FEATURE_LABEL[e.feature],
      e.subject,
      e.reference,
      fmtD(e.statistic),
      fmtP(e.pvalue),
      e.n,
      e.m,
      e.distinguishable ? 'distinguishable' : 'not distinguishable',
    ]),
  );
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${esc(input.title)}</title>`,
    '<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:0 0 1.5em}' +
      'th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}td:nth-child(n+2){font-variant-numeric:tabular-nums}</style>',
    '</head>',
    '<body>',
    `<h1>${esc(input.title)}</h1>`,
    '<h2>Classes</h2>',
    `<table>${head(['class', 'bin (s)', 'bins', 'packets', 'bytes'])}${classes.join('')}</table>`,
    '<h2>Two-sample KS comparisons</h2>',
    `<table>${head(['feature', 'subject', 'reference', 'D', 'p', 'n', 'm', 'verdict'])}${comparisons.join('')}</table>`,
    `<figure>${svg}</figure>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
