/**
 * Small descriptive-statistics helpers for `smig analyze`: summaries (numpy-compatible quantiles), the
 * Fano factor, ECDF points for plots, weighted-sample normalization, and a seeded reservoir sampler that
 * bounds memory on huge captures.
 */
import { smigError } from '../errors.js';
import { createRng } from '../util/rng.js';
import { radixSort } from './radix.js';

/** A sample given as distinct-or-not values with non-negative integer multiplicities, in any order. */
export interface WeightedSample {
  values: Float64Array;
  counts: Float64Array;
}

/** The weighted sample of a histogram (value → multiplicity). */
export function fromHistogram(h: Map<number, number>): WeightedSample {
  const values = new Float64Array(h.size);
  const counts = new Float64Array(h.size);
  let i = 0;
  for (const [v, c] of h) {
    values[i] = v;
    counts[i++] = c;
  }
  return { values, counts };
}

/** Descriptive summary of a sample. With n = 0 every other field is NaN; with n = 1, sd is NaN. */
export interface Summary {
  n: number;
  mean: number;
  /** Sample standard deviation (divisor n − 1), numpy's std(ddof=1). */
  sd: number;
  min: number;
  max: number;
  /** Quantiles by numpy's default 'linear' method (Hyndman & Fan type 7), as np.percentile(v, 50). */
  p50: number;
  p90: number;
  p99: number;
}

/** A weighted sample with ascending distinct values and positive integer counts summing to n. */
export interface SortedWeighted {
  values: Float64Array;
  counts: Float64Array;
  n: number;
}

const EMPTY: Summary = { n: 0, mean: NaN, sd: NaN, min: NaN, max: NaN, p50: NaN, p90: NaN, p99: NaN };

/**
 * Summary of a sample: mean (compensated sum), sample sd, min, max and the 50/90/99th percentiles.
 * Does not modify `values`.
 * @throws SmigError SMIG_ERR_USAGE when a value is NaN.
 * @example summary([1, 2, 3, 4]).p90 // 3.7 (np.percentile([1, 2, 3, 4], 90))
 */
export function summary(values: ArrayLike<number>): Summary {
  return summaryOfSorted(sortedNumbers(values, 'summary'));
}

/**
 * {@link summary} of values already in ascending order and free of NaN (not checked): for a caller that sorted
 * them itself, e.g. as integers.
 */
export function summaryOfSorted(sorted: ArrayLike<number>): Summary {
  const n = sorted.length;
  if (n === 0) return { ...EMPTY };
  // simple-statistics' mean and sampleVariance, operation for operation (the same bits): a compensated (Neumaier)
  // sum, and the n − 1 variance around that mean — in two passes over the values, not its three
  const mean = neumaierSum(sorted) / n;
  const at = (i: number): number => sorted[i]!;
  return {
    n,
    mean,
    sd: n > 1 ? Math.sqrt(squaredDeviations(sorted, mean) / (n - 1)) : NaN,
    min: sorted[0]!,
    max: sorted[n - 1]!,
    p50: quantileAt(at, n, 0.5),
    p90: quantileAt(at, n, 0.9),
    p99: quantileAt(at, n, 0.99),
  };
}

/**
 * simple-statistics' `sum` of a non-empty NaN-free sample: Neumaier's compensated sum, in its order of operations
 * (so that the numbers stay those of the library, which this module no longer loads: ~6 ms of every start).
 */
function neumaierSum(x: ArrayLike<number>): number {
  let sum = x[0]!;
  let correction = 0;
  for (let i = 1; i < x.length; i++) {
    const v = x[i]!;
    const t = sum + v;
    if (Math.abs(sum) >= Math.abs(v)) correction += sum - t + v;
    else correction += v - t + sum;
    sum = t;
  }
  return sum + correction;
}

/** simple-statistics' `sumNthPowerDeviations(x, 2)` around a given mean. */
function squaredDeviations(x: ArrayLike<number>, mean: number): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    const d = x[i]! - mean;
    sum += d * d;
  }
  return sum;
}

/**
 * {@link summary} of a weighted sample, equal to the summary of its expansion (value i repeated counts[i]
 * times), in time linear in the number of distinct values after sorting them.
 * @throws SmigError SMIG_ERR_USAGE on NaN values, counts that are not non-negative integers, or arrays of
 *   different lengths.
 */
export function weightedSummary(s: WeightedSample): Summary {
  const w = sortedWeighted(s, 'weightedSummary', 'sample');
  const { values, counts, n } = w;
  if (n === 0) return { ...EMPTY };
  const products = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) products[i] = values[i]! * counts[i]!;
  const mean = neumaierSum(products) / n;
  let ss = 0;
  for (let i = 0; i < values.length; i++) ss += counts[i]! * (values[i]! - mean) ** 2;
  const cum = new Float64Array(values.length);
  let c = 0;
  for (let i = 0; i < values.length; i++) cum[i] = c += counts[i]!;
  // value at index i of the expanded sorted sample: the first k with cum[k] > i
  const at = (i: number): number => {
    let lo = 0,
      hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cum[mid]! > i) hi = mid;
      else lo = mid + 1;
    }
    return values[lo]!;
  };
  return {
    n,
    mean,
    sd: n > 1 ? Math.sqrt(ss / (n - 1)) : NaN,
    min: values[0]!,
    max: values[values.length - 1]!,
    p50: quantileAt(at, n, 0.5),
    p90: quantileAt(at, n, 0.9),
    p99: quantileAt(at, n, 0.99),
  };
}

/**
 * Quantile q ∈ [0, 1] of an ascending sample by numpy's 'linear' method: virtual index h = (n − 1)·q,
 * interpolated between the neighbours with numpy's `_lerp` (which subtracts from the upper neighbour
 * when the fraction is ≥ ½), so results match np.quantile to the last bit. (simple-statistics'
 * quantileSorted is the same method but always interpolates from the lower neighbour, which differs from
 * numpy in the last bit; the reports promise numpy's numbers, so this stays.)
 * @throws SmigError SMIG_ERR_USAGE when q is outside [0, 1] or the sample is empty.
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw smigError('SMIG_ERR_USAGE', `quantileSorted: q must be in [0, 1] (got ${q})`);
  if (sorted.length === 0) throw smigError('SMIG_ERR_USAGE', 'quantileSorted: sample is empty');
  return quantileAt((i) => sorted[i]!, sorted.length, q);
}

function quantileAt(at: (i: number) => number, n: number, q: number): number {
  const h = (n - 1) * q;
  const lo = Math.min(Math.floor(h), n - 1);
  const gamma = h - Math.floor(h);
  const a = at(lo);
  const b = at(Math.min(lo + 1, n - 1));
  const diff = b - a;
  return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
}

/**
 * Fano factor of counts per window: sample variance (divisor n − 1) ÷ mean. 1 for a Poisson process,
 * > 1 bursty, < 1 more regular than Poisson (a constant rate gives 0).
 * Returns NaN when it is undefined: fewer than two windows, or a mean of 0 (no events at all).
 * @throws SmigError SMIG_ERR_USAGE when a count is NaN.
 */
export function fanoFactor(counts: ArrayLike<number>): number {
  const n = counts.length;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(counts[i])) throw smigError('SMIG_ERR_USAGE', `fanoFactor: counts holds NaN at index ${i}`);
  }
  if (n < 2) return NaN;
  const mean = neumaierSum(counts) / n;
  if (mean === 0) return NaN;
  return squaredDeviations(counts, mean) / (n - 1) / mean;
}

/**
 * Points of the right-continuous empirical CDF for plotting: x ascending distinct values and f = F(x) =
 * (number of observations ≤ x)/n, exact at every point kept. With more than `maxPoints` distinct values,
 * keeps the first value reaching each level k/(maxPoints − 1) of F (k = 0…maxPoints−1), so the first and
 * last values and every large jump survive. Draw as a step function (interpolate 'step-after').
 * @throws SmigError SMIG_ERR_USAGE when maxPoints is not an integer ≥ 2, or on bad sample data.
 */
export function ecdfPoints(
  sample: ArrayLike<number> | WeightedSample,
  maxPoints: number,
): { x: number[]; f: number[] } {
  if (!Number.isInteger(maxPoints) || maxPoints < 2) {
    throw smigError('SMIG_ERR_USAGE', `ecdfPoints: maxPoints must be an integer ≥ 2 (got ${maxPoints})`);
  }
  const w = isWeighted(sample)
    ? sortedWeighted(sample, 'ecdfPoints', 'sample')
    : compress(sortedNumbers(sample, 'ecdfPoints'));
  const k = w.values.length;
  const x: number[] = [];
  const f: number[] = [];
  let cum = 0;
  if (k <= maxPoints) {
    for (let i = 0; i < k; i++) {
      cum += w.counts[i]!;
      x.push(w.values[i]!);
      f.push(cum / w.n);
    }
    return { x, f };
  }
  let level = 0;
  for (let i = 0; i < k && level < maxPoints; i++) {
    cum += w.counts[i]!;
    const F = cum / w.n;
    if (F >= level / (maxPoints - 1)) {
      x.push(w.values[i]!);
      f.push(F);
      while (level < maxPoints && F >= level / (maxPoints - 1)) level++;
    }
  }
  return { x, f };
}

/**
 * Validates a weighted sample and returns it normalized: ascending distinct values (zero counts dropped,
 * duplicates merged) and their total. O(k log k) for k entries, without a comparator sort.
 * @throws SmigError SMIG_ERR_USAGE naming `fn` and `name` on a malformed sample.
 */
export function sortedWeighted(s: WeightedSample, fn: string, name: string): SortedWeighted {
  if (s == null || s.values == null || s.counts == null || typeof s.values.length !== 'number') {
    throw smigError('SMIG_ERR_USAGE', `${fn}: ${name} is not a weighted sample ({ values, counts })`);
  }
  const { values, counts } = s;
  if (values.length !== counts.length) {
    throw smigError(
      'SMIG_ERR_USAGE',
      `${fn}: ${name}.values and ${name}.counts differ in length (${values.length} vs ${counts.length})`,
    );
  }
  let n = 0,
    kept = 0,
    ascending = true;
  for (let i = 0; i < values.length; i++) {
    const c = counts[i]!;
    if (!(Number.isInteger(c) && c >= 0)) {
      throw smigError('SMIG_ERR_USAGE', `${fn}: ${name}.counts[${i}] is not a non-negative integer (${c})`);
    }
    if (Number.isNaN(values[i])) throw smigError('SMIG_ERR_USAGE', `${fn}: ${name}.values holds NaN at index ${i}`);
    if (c === 0) continue;
    if (kept > 0 && !(values[i]! > values[i - 1]!)) ascending = false;
    n += c;
    kept++;
  }
  if (!Number.isSafeInteger(n)) throw smigError('SMIG_ERR_USAGE', `${fn}: ${name} total count ${n} is too large`);
  if (ascending && kept === values.length) return { values, counts, n };
  // Sort the values natively, deduplicate, then add each count at its value's position (binary search)
  const sorted = new Float64Array(kept);
  for (let i = 0, j = 0; i < values.length; i++) if (counts[i]! > 0) sorted[j++] = values[i]!;
  sorted.sort();
  const distinct = compress(sorted).values;
  const merged = new Float64Array(distinct.length);
  for (let i = 0; i < values.length; i++) {
    if (counts[i]! === 0) continue;
    let lo = 0,
      hi = distinct.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (distinct[mid]! < values[i]!) lo = mid + 1;
      else hi = mid;
    }
    merged[lo]! += counts[i]!;
  }
  return { values: distinct, counts: merged, n };
}

/** Default seed of {@link Reservoir}: reports are reproducible unless a caller asks otherwise. */
export const RESERVOIR_DEFAULT_SEED = 0x5eed;
/** Largest reservoir capacity accepted (2^25 doubles = 256 MiB when full). */
export const RESERVOIR_MAX_CAPACITY: number = 2 ** 25;

/**
 * Uniform sample of at most `capacity` values from a stream of unknown length (Vitter's algorithm R),
 * deterministic for a given seed. Storage grows geometrically up to `capacity`, so a small stream costs
 * little. Exact (every value kept, in arrival order) while `seen ≤ capacity`.
 */
export class Reservoir {
  readonly capacity: number;
  #buf: Float64Array;
  #size = 0;
  #seen = 0;
  readonly #next: () => number;

  /** @throws SmigError SMIG_ERR_USAGE unless capacity is an integer in [1, RESERVOIR_MAX_CAPACITY]. */
  constructor(capacity: number, seed: number = RESERVOIR_DEFAULT_SEED) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > RESERVOIR_MAX_CAPACITY) {
      throw smigError(
        'SMIG_ERR_USAGE',
        `Reservoir: capacity must be an integer in [1, ${RESERVOIR_MAX_CAPACITY}] (got ${capacity})`,
      );
    }
    if (!Number.isFinite(seed))
      throw smigError('SMIG_ERR_USAGE', `Reservoir: seed must be a finite number (got ${seed})`);
    this.capacity = capacity;
    this.#buf = new Float64Array(Math.min(capacity, 1024));
    this.#next = createRng(seed);
  }

  /** Number of values offered so far. */
  get seen(): number {
    return this.#seen;
  }

  /**
   * Offers one value.
   * @throws SmigError SMIG_ERR_USAGE when value is NaN.
   */
  add(value: number): void {
    if (Number.isNaN(value)) throw smigError('SMIG_ERR_USAGE', `Reservoir.add: NaN (value ${this.#seen + 1})`);
    this.#seen++;
    if (this.#size < this.capacity) {
      if (this.#size === this.#buf.length) {
        const grown = new Float64Array(Math.min(this.capacity, this.#buf.length * 2));
        grown.set(this.#buf);
        this.#buf = grown;
      }
      this.#buf[this.#size++] = value;
      return;
    }
    const j = Math.floor(this.#next() * this.#seen);
    if (j < this.capacity) this.#buf[j] = value;
  }

  /** A copy of the values kept (min(seen, capacity) of them). */
  values(): Float64Array {
    return this.#buf.slice(0, this.#size);
  }
}

// ---------------------------------------------------------------------------------------------------

function isWeighted(s: ArrayLike<number> | WeightedSample): s is WeightedSample {
  return s != null && typeof s === 'object' && 'values' in s && 'counts' in s;
}

function sortedNumbers(values: ArrayLike<number>, fn: string): Float64Array {
  if (values == null || typeof values.length !== 'number') {
    throw smigError('SMIG_ERR_USAGE', `${fn}: values is not an array of numbers`);
  }
  // the constructor copies an array-like (a typed array: one memcpy); Float64Array.from would iterate
  const out = new Float64Array(values);
  for (let i = 0; i < out.length; i++) {
    if (Number.isNaN(out[i])) throw smigError('SMIG_ERR_USAGE', `${fn}: values holds NaN at index ${i}`);
  }
  return out.length >= RADIX_MIN ? radixSort(out) : out.sort();
}

/** From this many values on, {@link radixSort} beats the comparison sort of `Float64Array#sort` (~4× at 1 M). */
const RADIX_MIN = 65_536;

/** Run-length encodes an ascending array. */
function compress(sorted: Float64Array): SortedWeighted {
  const values: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    if (values.length > 0 && sorted[i] === values[values.length - 1]) counts[counts.length - 1]!++;
    else {
      values.push(sorted[i]!);
      counts.push(1);
    }
  }
  return { values: Float64Array.from(values), counts: Float64Array.from(counts), n: sorted.length };
}
