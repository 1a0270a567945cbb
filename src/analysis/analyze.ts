/**
 * `smig analyze` as a library: read each traffic class's capture once (twice when its first packet is not
 * its earliest), accumulate it, and compare every class with the reference (the first class).
 */
import { basename } from 'node:path';
import { compileFilter } from '../capture/filter.js';
import type { ReadOptions } from '../capture/reader.js';
import { readCapture } from '../capture/reader.js';
import type { CaptureInfo, CaptureWarning } from '../capture/types.js';
import { smigError } from '../errors.js';
import { createRng } from '../util/rng.js';
import type { BlockSample } from './block-ks.js';
import { BLOCK_SAMPLE_CAPACITY, blockKs, DEFAULT_BLOCK_PERMUTATIONS } from './block-ks.js';
import type { Chi2Result } from './chi2.js';
import { chiSquareHomogeneity } from './chi2.js';
import type { KsResult, WeightedSample } from './ks.js';
import { ksCritical, ksTwoSample, ksTwoSampleWeighted } from './ks.js';
import type { Summary } from './stats.js';
import { fromHistogram, summaryOfSorted, weightedSummary } from './stats.js';
import type { StretchResult } from './stretches.js';
import { binSeries, testStretches } from './stretches.js';
import type { FlowRecord } from './traffic.js';
import { FANO_WINDOWS_NS, TrafficAccumulator } from './traffic.js';

export interface ClassSpec {
  /** Class name (a file's base name by default). */
  name: string;
  /** Capture path, or '-' for stdin. */
  file: string;
  /** BPF-subset filter for this class (combined with the global one by `and`). */
  filter?: string;
  /** Time window relative to the class's earliest packet: [fromNs, toNs). */
  fromNs?: bigint;
  toNs?: bigint;
}

export interface AnalyzeOptions {
  classes: ClassSpec[];
  filter?: string;
  binNs?: bigint;
  alpha?: number;
  maxSamples?: number;
  maxFlows?: number;
  /**
   * Blocks of time (whole bins; `--blocks`): the per-bin, size and gap tests also get a p-value by dealing whole
   * blocks to the two sides (block-ks.ts), with `blockPermutations` deals (default {@link DEFAULT_BLOCK_PERMUTATIONS}).
   */
  blockNs?: bigint;
  blockPermutations?: number;
  /**
   * Normal traffic to cut stretches from (`--stretches`): each class's per-bin tests are also run on stretches of it
   * as long as the class, against the reference (stretches.ts).
   */
  stretches?: ClassSpec;
  onProgress?: (file: string, bytesRead: number, totalBytes: number | undefined) => void;
  onWarning?: (w: CaptureWarning & { file: string }) => void;
}

export type Feature = 'packets_per_bin' | 'bytes_per_bin' | 'size' | 'iat';
export const FEATURES: readonly Feature[] = ['packets_per_bin', 'bytes_per_bin', 'size', 'iat'];

export interface ClassResult {
  name: string;
  file: string;
  filter: string | undefined;
  info: CaptureInfo;
  traffic: TrafficAccumulator;
  /** Dense-equivalent samples, as weighted samples (zero bins included). */
  samples: Record<Feature, WeightedSample>;
  summaries: Record<Feature, Summary>;
  fano: { windowNs: bigint; value: number | null }[];
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
  /** Per-bin tests with `stretches`: the same test on normal stretches as long as the subject (stretches.ts). */
  stretches?: StretchResult;
  /** Tests with `blockNs` (χ² aside): the same D, its p-value by dealing whole blocks (block-ks.ts). */
  blocks?: BlockTest;
}

/** A per-bin, size or gap test by blocks (JSON: `blocks` of the comparison). */
export interface BlockTest {
  /** Block length, s (whole bins). */
  blockSeconds: number;
  statistic: number;
  pvalue: number;
  permutations: number;
  /** Blocks with values: the reference's, the subject's. */
  blocks: [number, number];
  /** Ways to deal them (capped at 1e15): fewer than about 1 ÷ alpha and the test cannot reject. */
  deals: number;
  distinguishable: boolean;
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
export async function analyze(opts: AnalyzeOptions): Promise<AnalysisResult> {
  const binNs = opts.binNs ?? 1_000_000_000n;
  const alpha = opts.alpha ?? 0.05;
  if (opts.classes.length === 0) throw smigError('SMIG_ERR_USAGE', 'no capture given');
  if (!(alpha > 0 && alpha < 1)) throw smigError('SMIG_ERR_USAGE', `--alpha: ${alpha} is not between 0 and 1`);
  const classes: ClassResult[] = [];
  for (const spec of opts.classes) classes.push(await analyzeClass(spec, binNs, opts));
  const comparisons: Comparison[] = [];
  const verdicts: Verdict[] = [];
  const ref = classes[0]!;
  const source = opts.stretches === undefined ? undefined : await analyzeClass(opts.stretches, binNs, opts);
  const series = source === undefined ? undefined : binSeries(source.traffic, `--stretches ${source.file}`);
  for (const subject of classes.slice(1)) {
    const rows = compareClasses(ref, subject, alpha, opts.blockPermutations);
    if (series !== undefined)
      for (const r of rows) {
        if (r.feature !== 'packets_per_bin' && r.feature !== 'bytes_per_bin') continue;
        const s = testStretches(
          r.feature === 'packets_per_bin' ? series.packets : series.bytes,
          subject.traffic.binCount,
          ref.samples[r.feature],
          alpha,
        );
        if (s !== undefined) r.stretches = s;
      }
    comparisons.push(...rows);
    const perTest = alpha / rows.length;
    const rejected = rows.filter((r) => r.pvalue < perTest).length;
    verdicts.push({
      reference: ref.name,
      subject: subject.name,
      distinguishable: rejected > 0,
      tests: rows.length,
      rejected,
      alphaPerTest: perTest,
    });
  }
  return { binNs, alpha, classes, comparisons, verdicts };
}

function combinedFilter(global: string | undefined, local: string | undefined): string | undefined {
  const parts = [global, local].filter((f): f is string => f !== undefined && f.trim() !== '');
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : parts.map((p) => `(${p})`).join(' and ');
}

async function analyzeClass(spec: ClassSpec, binNs: bigint, opts: AnalyzeOptions): Promise<ClassResult> {
  const filterText = combinedFilter(opts.filter, spec.filter);
  const filter = filterText === undefined ? undefined : compileFilter(filterText);
  const readOpts: ReadOptions = {
    reuseRecord: true, // the accumulator keeps nothing of a record: one object for every packet
    onProgress: opts.onProgress ? (r, t) => opts.onProgress!(spec.file, r, t) : undefined,
  };
  if (spec.fromNs !== undefined && spec.toNs !== undefined && spec.toNs <= spec.fromNs) {
    throw smigError('SMIG_ERR_USAGE', `${spec.name}: the window's end must be after its start`);
  }
  const pass = async (anchorNs: bigint | undefined): Promise<{ acc: TrafficAccumulator; info: CaptureInfo }> => {
    const acc = new TrafficAccumulator({
      binNs,
      anchorNs,
      fromNs: spec.fromNs,
      toNs: spec.toNs,
      filter,
      maxSamples: opts.maxSamples,
      maxFlows: opts.maxFlows,
      ...(opts.blockNs === undefined ? {} : { blockBins: blockBins(opts.blockNs, binNs) }),
    });
    const info = await readCapture(spec.file, (p) => void acc.add(p), readOpts);
    return { acc, info };
  };
  let { acc, info } = await pass(undefined);
  // Bins are anchored at the earliest packet that passes the filter (docs/DESIGN.md §5). The first pass anchored at the
  // first such packet; when that is not the earliest, read again with the right anchor.
  if (acc.filteredMinNs !== undefined && acc.filteredMinNs !== acc.anchorNs) {
    if (spec.file === '-') {
      info.warnings.push({
        code: 'SMIG_WARN_ANCHOR',
        offset: 0,
        message: 'stdin: bins anchored at the first packet, not the earliest (stdin cannot be read twice)',
      });
    } else {
      ({ acc, info } = await pass(acc.filteredMinNs));
    }
  }
  checkSpan(spec.file, acc, binNs);
  for (const w of info.warnings) opts.onWarning?.({ ...w, file: spec.file });
  if (acc.outOfOrder > 0) {
    info.warnings.push({
      code: 'SMIG_WARN_OUT_OF_ORDER',
      offset: 0,
      message: `${spec.file}: ${acc.outOfOrder} packets earlier than the one before them; their negative gaps are left out of the inter-arrival times`,
    });
  }
  if (acc.fanoLate > 0) {
    info.warnings.push({
      code: 'SMIG_WARN_FANO_LATE',
      offset: 0,
      message: `${spec.file}: ${acc.fanoLate} packets came minutes out of time order; the Fano factors count them in windows of their own`,
    });
  }
  if (acc.flowsDropped > 0) {
    info.warnings.push({
      code: 'SMIG_WARN_FLOWS',
      offset: 0,
      message: `${spec.file}: more than ${acc.flowCount} flows; ${acc.flowsDropped} packets of further flows are not in the flow table`,
    });
  }
  const samples = classSamples(acc);
  const summaries = {
    packets_per_bin: weightedSummary(samples.packets_per_bin),
    bytes_per_bin: weightedSummary(samples.bytes_per_bin),
    size: weightedSummary(samples.size),
    iat: summaryOfSorted(samples.iat.values), // sorted by classSamples
  };
  const fano = FANO_WINDOWS_NS.map((windowNs, i) => ({
    windowNs,
    value: acc.fano(i),
  }));
  const flows = acc.flowRecords().sort((a, b) => b.origBytes + b.respBytes - (a.origBytes + a.respBytes));
  return { name: spec.name, file: spec.file, filter: filterText, info, traffic: acc, samples, summaries, fano, flows };
}

/** Most bins (empty ones included) a class may span: beyond it the weighted statistics lose exact counts. */
export const MAX_BINS = 1e12;

/**
 * Refuses a class whose packets span more bins than {@link MAX_BINS} (timestamps centuries apart: typically a
 * pcapng interface with a huge if_tsoffset) with one line naming the span and what to do.
 * @throws SmigError SMIG_ERR_CAPTURE_FORMAT
 */
function checkSpan(file: string, acc: TrafficAccumulator, binNs: bigint): void {
  if (acc.maxNs === undefined || acc.anchorNs === undefined) return;
  const span = acc.maxNs - acc.baseNs;
  if (span / binNs < BigInt(MAX_BINS)) return;
  const years = Number(span / 1_000_000_000n) / (365.25 * 86400);
  const when = (ns: bigint): string => {
    const ms = Number(ns / 1_000_000n);
    return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ns / 1_000_000_000n} s`;
  };
  throw smigError(
    'SMIG_ERR_CAPTURE_FORMAT',
    `${file}: its packets span ${years >= 1e6 ? years.toExponential(2) : years.toFixed(1)} years (${when(acc.baseNs)} to ${when(acc.maxNs)}; ` +
      `a pcapng interface with a huge if_tsoffset?): ${(Number(span / binNs) + 1).toExponential(2)} bins of the --bin width, at most ${MAX_BINS.toExponential(0)}; ` +
      'use a larger --bin, or --from/--to to keep a part',
  );
}

function classSamples(acc: TrafficAccumulator): Record<Feature, WeightedSample> {
  const total = acc.binCount;
  const zeros = total - acc.bins.size;
  const perBin = (pick: 0 | 1): WeightedSample => {
    const counts = new Map<number, number>();
    if (zeros > 0) counts.set(0, zeros);
    for (const c of acc.bins.values()) counts.set(c[pick], (counts.get(c[pick]) ?? 0) + 1);
    return fromHistogram(counts);
  };
  const iat = acc.iat.sortedValues(); // ascending: the summary needs that order, the tests and plots accept any
  return {
    packets_per_bin: perBin(0),
    bytes_per_bin: perBin(1),
    size: fromHistogram(acc.sizes),
    iat: { values: iat, counts: new Float64Array(iat.length).fill(1) },
  };
}

function sampleSize(s: WeightedSample): number {
  let n = 0;
  for (const c of s.counts) n += c;
  return n;
}

/** Bins in a block of `blockNs` (at least one). */
export function blockBins(blockNs: bigint, binNs: bigint): number {
  return Math.max(1, Math.round(Number(blockNs) / Number(binNs)));
}

/**
 * Runs every test of `subject` against `ref`. Features with an empty side are left out. Classes read with blocks
 * (`blockNs`) also get the per-bin, size and gap tests by blocks, with `permutations` deals from a fixed seed.
 */
export function compareClasses(
  ref: ClassResult,
  subject: ClassResult,
  alpha: number,
  permutations: number = DEFAULT_BLOCK_PERMUTATIONS,
): Comparison[] {
  const rows: Comparison[] = [];
  for (const feature of FEATURES) {
    const x = ref.samples[feature];
    const y = subject.samples[feature];
    const n = sampleSize(x);
    const m = sampleSize(y);
    if (n === 0 || m === 0) continue;
    const r: KsResult = feature === 'iat' ? ksTwoSample(x.values, y.values) : ksTwoSampleWeighted(x, y);
    const blocks = blockTest(ref, subject, feature, alpha, permutations);
    rows.push({
      reference: ref.name,
      subject: subject.name,
      feature,
      test: 'ks',
      statistic: r.statistic,
      pvalue: r.pvalue,
      n: r.n,
      m: r.m,
      critical: ksCritical(r.n, r.m, alpha),
      alpha,
      distinguishable: r.pvalue < alpha,
      method: r.method,
      ...(blocks === null ? {} : { blocks }),
    });
  }
  if (ref.traffic.sizes.size > 0 && subject.traffic.sizes.size > 0) {
    const c: Chi2Result = chiSquareHomogeneity(ref.traffic.sizes, subject.traffic.sizes, { alpha });
    rows.push({
      reference: ref.name,
      subject: subject.name,
      feature: 'size_histogram',
      test: 'chi2',
      statistic: c.statistic,
      pvalue: c.pvalue,
      n: ref.traffic.packets,
      m: subject.traffic.packets,
      critical: c.critical,
      alpha,
      distinguishable: c.pvalue < alpha,
      df: c.df,
    });
  }
  return rows;
}

/**
 * A test of two classes read with blocks, by blocks; null without blocks or with too few. Sizes and gaps come with
 * their blocks as the capture is read; a per-bin feature is the class's series of bins (empty bins included), bin i
 * in block ⌊i ÷ bins a block⌋, so bins that come in episodes are dealt a block at a time too.
 */
function blockTest(
  ref: ClassResult,
  subject: ClassResult,
  feature: Feature,
  alpha: number,
  permutations: number,
): BlockTest | null {
  const a = ref.traffic.blocks;
  const b = subject.traffic.blocks;
  if (a === undefined || b === undefined) return null;
  const sample = (acc: TrafficAccumulator, blocks: NonNullable<TrafficAccumulator['blocks']>): BlockSample | null =>
    feature === 'size' || feature === 'iat'
      ? blocks[feature].sample()
      : binBlockSample(acc, feature === 'packets_per_bin' ? 0 : 1, blocks.bins);
  const sa = sample(ref.traffic, a);
  const sb = sample(subject.traffic, b);
  if (sa === null || sb === null) return null;
  const r = blockKs(sa, sb, permutations, createRng(0xb10c));
  if (r === null) return null;
  const blockSeconds = (a.bins * Number(ref.traffic.binNs)) / 1e9;
  return { blockSeconds, ...r, distinguishable: r.pvalue < alpha };
}

/**
 * A class's packets (0) or bytes (1) per bin with their blocks of `blockBins` bins, every bin from the first to the
 * last; null beyond {@link BLOCK_SAMPLE_CAPACITY} bins (a block test would then cost more than the class did).
 */
export function binBlockSample(acc: TrafficAccumulator, pick: 0 | 1, blockBins: number): BlockSample | null {
  const n = acc.binCount;
  if (n > BLOCK_SAMPLE_CAPACITY) return null;
  const values = new Float64Array(n);
  const blocks = new Uint32Array(n);
  for (let i = 0; i < n; i++) blocks[i] = Math.floor(i / blockBins);
  for (const [i, c] of acc.bins) if (i >= 0 && i < n) values[i] = c[pick];
  return { values, blocks };
}

/** Parses `NAME=CAPTURE[@FILTER]` (the @ is the last one, so paths may contain @ when a filter follows). */
export function parseClassSpec(text: string): ClassSpec {
  const eq = text.indexOf('=');
  if (eq <= 0) throw smigError('SMIG_ERR_USAGE', `--class: '${text}' is not NAME=CAPTURE[@FILTER]`);
  const name = text.slice(0, eq);
  const rest = text.slice(eq + 1);
  const at = rest.lastIndexOf('@');
  const file = at < 0 ? rest : rest.slice(0, at);
  const filter = at < 0 ? undefined : rest.slice(at + 1);
  if (file === '') throw smigError('SMIG_ERR_USAGE', `--class: '${text}' names no capture file`);
  return filter === undefined ? { name, file } : { name, file, filter };
}

/** Default class name for a positional capture: the file's base name (`-` → `stdin`). */
export function defaultClassName(file: string): string {
  return file === '-' ? 'stdin' : basename(file);
}
