/**
 * Drawing synthetic traffic from a profile (docs/DESIGN.md §4): per-bin targets that follow the profile's Markov chain
 * over rate levels, and write sizes from its packet-size distribution. Pure: the randomness is an injected
 * {@link Rng}, so a seed reproduces a run and each hop can draw its own stream ({@link deriveSeed}).
 */
import { smigError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { createRng, deriveSeed } from '../util/rng.js';
import type { Histogram } from './model.js';

export type { Rng };
export { createRng, deriveSeed };

// ---------------------------------------------------------------------------------------------------
// Rate levels

/** What the rate sampler needs of a chain: a profile's `chain` or a pacing plan's compact one. */
export interface ChainModel {
  /** K × K transition weights (counts); row i is normalized to the probabilities of leaving level i. */
  transitions: readonly (readonly number[])[];
  /** Per level, the [bytes, packets, count] pairs to draw a bin from. */
  levels: readonly { pairs: readonly (readonly [number, number, number])[] }[];
}

/** The traffic of one bin: its level and its byte and packet counts. */
export interface BinTarget {
  level: number;
  bytes: number;
  packets: number;
}

export interface RateSampler {
  /** The next bin: the first from the chain's stationary distribution, then one transition per call. */
  next(): BinTarget;
}

/**
 * Per-bin targets following the profile's chain: the level moves by the transition probabilities, and each bin
 * draws an empirical (bytes, packets) pair of its level, so bursts and lulls last as long as in the capture and
 * the per-bin marginals are those of the capture. The first level is drawn from the stationary distribution,
 * taken as the transition row sums (the level frequencies, by the circular counting of model.ts).
 * @throws SmigError SMIG_ERR_USAGE for a chain without levels, a level without pairs, or a row without weight.
 */
export function createRateSampler(model: { chain: ChainModel }, rng: Rng): RateSampler {
  const { transitions, levels } = model.chain;
  const k = levels.length;
  if (k === 0 || transitions.length !== k)
    throw smigError('SMIG_ERR_USAGE', `createRateSampler: ${k} levels but ${transitions.length} transition rows`);
  const rows = transitions.map((r, i) => {
    if (r.length !== k)
      throw smigError(
        'SMIG_ERR_USAGE',
        `createRateSampler: transition row ${i} has ${r.length} entries, expected ${k}`,
      );
    return cumulative(r, `transition row ${i}`);
  });
  const stationary = cumulative(
    transitions.map((r) => r.reduce((a, b) => a + b, 0)),
    'level weights',
  );
  const pairs = levels.map((l, i) => ({
    pairs: l.pairs,
    cum: cumulative(
      l.pairs.map((p) => p[2]),
      `level ${i} pairs`,
    ),
  }));
  let level = -1;
  return {
    next(): BinTarget {
      level = level < 0 ? pick(stationary, rng()) : pick(rows[level]!, rng());
      const lv = pairs[level]!;
      const [bytes, packets] = lv.pairs[pick(lv.cum, rng())]!;
      return { level, bytes, packets };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Write sizes

export interface SizeSampler {
  /** Per-packet overhead subtracted from wire sizes (bytes). */
  readonly overhead: number;
  /** Next wire size drawn from the (possibly tilted) distribution. */
  nextWire(): number;
  /** Next write size: a wire size minus {@link overhead}, at least 1. */
  next(): number;
  /**
   * Tilts the distribution to mean wire size `mean` (see {@link tiltWeights}); `undefined` restores the learned
   * distribution. A mean outside [smallest, largest] size pins it to that end.
   */
  setMean(mean: number | undefined): void;
}

/**
 * Write sizes from the profile's packet-size histogram: wire size minus the per-packet `overhead` (headers
 * the stack adds to each write: TLS record, TCP/IP, link), floored at 1.
 * @throws SmigError SMIG_ERR_USAGE for an empty histogram or a negative overhead.
 */
export function createSizeSampler(model: { sizes: Histogram }, rng: Rng, overhead = 0): SizeSampler {
  const { values, counts } = model.sizes;
  if (values.length === 0 || values.length !== counts.length) {
    throw smigError('SMIG_ERR_USAGE', `createSizeSampler: ${values.length} sizes and ${counts.length} counts`);
  }
  if (!(overhead >= 0)) throw smigError('SMIG_ERR_USAGE', `createSizeSampler: overhead ${overhead} is negative`);
  const base = cumulative(counts, 'sizes');
  const cache = new Map<number, Float64Array>();
  let cum = base;
  const nextWire = (): number => values[pick(cum, rng())]!;
  return {
    overhead,
    nextWire,
    next: (): number => Math.max(1, nextWire() - overhead),
    setMean(mean: number | undefined): void {
      if (mean === undefined) {
        cum = base;
        return;
      }
      let c = cache.get(mean);
      if (!c) {
        if (cache.size >= 256) cache.clear();
        c = cumulative(Array.from(tiltWeights(values, counts, mean)), 'tilted sizes');
        cache.set(mean, c);
      }
      cum = c;
    },
  };
}

/**
 * The distribution closest to `weights` over `values` (minimum relative entropy) whose mean is `mean`: the
 * exponential tilt q_i ∝ w_i·e^{θ·v_i}, θ found by bisection (the tilted mean grows with θ). A mean at or beyond
 * the smallest (largest) value puts all mass there. Returns normalized probabilities.
 */
export function tiltWeights(values: readonly number[], weights: readonly number[], mean: number): Float64Array {
  const n = values.length;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const out = new Float64Array(n);
  if (!(hi > lo) || mean <= lo || mean >= hi) {
    const at = !(hi > lo) ? -1 : mean <= lo ? lo : hi;
    let total = 0;
    for (let i = 0; i < n; i++) total += at < 0 || values[i] === at ? weights[i]! : 0;
    for (let i = 0; i < n; i++) out[i] = (at < 0 || values[i] === at ? weights[i]! : 0) / total;
    return out;
  }
  const span = hi - lo;
  const target = (mean - lo) / span;
  const u = values.map((v) => (v - lo) / span);
  const logw = weights.map((w) => Math.log(w));
  const tilted = (theta: number): number => {
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, logw[i]! + theta * u[i]!);
    let z = 0;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp(logw[i]! + theta * u[i]! - max);
      out[i] = e;
      z += e;
      m += e * u[i]!;
    }
    for (let i = 0; i < n; i++) out[i]! /= z;
    return m / z;
  };
  let a = -2000;
  let b = 2000;
  for (let it = 0; it < 200 && b - a > 1e-12; it++) {
    const mid = (a + b) / 2;
    if (tilted(mid) < target) a = mid;
    else b = mid;
  }
  tilted((a + b) / 2);
  return out;
}

/** Cumulative sums of non-negative weights, normalized so the last is 1. */
function cumulative(weights: readonly number[], what: string): Float64Array {
  const c = new Float64Array(weights.length);
  let s = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (!(w >= 0) || !Number.isFinite(w)) throw smigError('SMIG_ERR_USAGE', `sampler: ${what} has weight ${w} at ${i}`);
    c[i] = s += w;
  }
  if (!(s > 0)) throw smigError('SMIG_ERR_USAGE', `sampler: ${what} has no weight`);
  for (let i = 0; i < c.length; i++) c[i]! /= s;
  return c;
}

/** Index of the first cumulative weight above u ∈ [0, 1). */
function pick(cum: Float64Array, u: number): number {
  let lo = 0;
  let hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid]! > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
