/**
 * What a per-bin rejection of a short class is worth: the same test run on stretches of normal traffic as long as
 * the class (`smig analyze --stretches`). A migration link of 20 s is one stretch of traffic; a 20 s stretch of the
 * site's own normal traffic, tested per bin against a reference of the whole, is rejected now and then too (a
 * dense stretch is dense in every bin). The share of such stretches rejected at the test's alpha is the rate an
 * observer would accuse normal traffic at: a link rejected no more often than that is not told apart by the test.
 * Pure: the bins come from an accumulator that has read the stretches' capture.
 */
import { smigError } from '../errors.js';
import type { WeightedSample } from './ks.js';
import { ksTwoSampleWeighted } from './ks.js';
import { fromHistogram } from './stats.js';
import type { TrafficAccumulator } from './traffic.js';

/** Most stretches tested per class (evenly spaced starts; overlapping when the source is short). */
export const MAX_STRETCHES = 200;
/** Most bins the stretches' capture may span (its series is held dense: 16 bytes a bin). */
export const MAX_STRETCH_BINS = 10_000_000;

/** Per-bin counts of a capture, bin by bin from its first bin, empty bins included. */
export interface BinSeries {
  packets: Float64Array;
  bytes: Float64Array;
}

/** The stretch test of one per-bin feature of one class: stretches tested and how many were rejected. */
export interface StretchResult {
  /** Stretches of the class's length tested against the reference. */
  count: number;
  /** Of them, rejected at alpha. */
  rejected: number;
  /** Bins in a stretch (the class's bins). */
  bins: number;
}

/**
 * The dense per-bin series of what `acc` read.
 * @throws SmigError SMIG_ERR_USAGE when it spans more than {@link MAX_STRETCH_BINS} bins
 */
export function binSeries(acc: TrafficAccumulator, what: string): BinSeries {
  const n = acc.binCount;
  if (n > MAX_STRETCH_BINS)
    throw smigError(
      'SMIG_ERR_USAGE',
      `${what}: spans ${n} bins, at most ${MAX_STRETCH_BINS} for stretches: use a larger --bin or a shorter capture`,
    );
  const packets = new Float64Array(n);
  const bytes = new Float64Array(n);
  for (const [i, c] of acc.bins) {
    if (i < 0 || i >= n) continue;
    packets[i] = c[0];
    bytes[i] = c[1];
  }
  return { packets, bytes };
}

/** A weighted sample of `series[start … start + len)`. */
function stretchSample(series: Float64Array, start: number, len: number): WeightedSample {
  const h = new Map<number, number>();
  for (let i = start; i < start + len; i++) h.set(series[i]!, (h.get(series[i]!) ?? 0) + 1);
  return fromHistogram(h);
}

/**
 * Tests stretches of `bins` bins of `series` against `ref` (two-sample KS, as the class itself is tested): at most
 * {@link MAX_STRETCHES}, their starts evenly spaced over the series. Undefined when the series is shorter than a
 * stretch (a class as long as the whole source has no stretch to compare with: the source itself is the comparison).
 */
export function testStretches(
  series: Float64Array,
  bins: number,
  ref: WeightedSample,
  alpha: number,
): StretchResult | undefined {
  if (bins < 1 || series.length < bins) return undefined;
  const starts = series.length - bins + 1;
  const count = Math.min(MAX_STRETCHES, starts);
  let rejected = 0;
  for (let k = 0; k < count; k++) {
    const start = count === 1 ? 0 : Math.round((k * (starts - 1)) / (count - 1));
    if (ksTwoSampleWeighted(ref, stretchSample(series, start, bins)).pvalue < alpha) rejected++;
  }
  return { count, rejected, bins };
}
