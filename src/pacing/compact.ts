/**
 * The reductions that keep a pacing plan within its JSON limit (plan.ts `PLAN_MAX_JSON_BYTES`): histograms and a
 * chain's level pairs cut to quantiles, a trace to evenly spaced contiguous pieces. Pure.
 */
import type { Histogram } from '../profile/model.js';

/**
 * A histogram reduced to at most `max` entries: the values at the quantiles (j + ½)/max, j = 0 … max−1, merged
 * with their multiplicities (so atoms keep their weight to within 1/max). Returned unchanged when small enough.
 */
export function compactHistogram(h: Histogram, max: number): Histogram {
  if (h.values.length <= max) return { values: [...h.values], counts: [...h.counts] };
  const picks = quantilePicks(h.counts, max);
  const values: number[] = [];
  const counts: number[] = [];
  for (const i of picks) {
    if (values.length > 0 && values[values.length - 1] === h.values[i]) counts[counts.length - 1]!++;
    else {
      values.push(h.values[i]!);
      counts.push(1);
    }
  }
  return { values, counts };
}

/** Level pairs reduced to at most `max` the same way (pairs are ascending by bytes, then packets). */
export function compactPairs(pairs: readonly [number, number, number][], max: number): [number, number, number][] {
  if (pairs.length <= max) return pairs.map((p) => [p[0], p[1], p[2]]);
  const out: [number, number, number][] = [];
  let last = -1;
  for (const i of quantilePicks(
    pairs.map((p) => p[2]),
    max,
  )) {
    if (i === last) out[out.length - 1]![2]++;
    else out.push([pairs[i]![0], pairs[i]![1], 1]);
    last = i;
  }
  return out;
}

/** Indices of the entries at cumulative positions (j + ½)/max of the total count, ascending. */
function quantilePicks(counts: readonly number[], max: number): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  const picks: number[] = [];
  let i = 0;
  let cum = counts[0]!;
  for (let j = 0; j < max; j++) {
    const pos = ((j + 0.5) / max) * total;
    while (cum <= pos && i < counts.length - 1) cum += counts[++i]!;
    picks.push(i);
  }
  return picks;
}

/**
 * A trace cut to at most `max` packets: evenly spaced contiguous pieces of it (whole when small enough), so the
 * plan carries the capture's variety and its local rhythm.
 */
export function compactTrace(
  t: { sizes: readonly number[]; gapsUs: readonly number[] },
  max: number,
): { sizes: number[]; gapsUs: number[] } {
  const n = t.sizes.length;
  if (n <= max) return { sizes: [...t.sizes], gapsUs: [...t.gapsUs] };
  const pieces = Math.max(1, Math.ceil(max / 200));
  const len = Math.floor(max / pieces);
  const sizes: number[] = [];
  const gapsUs: number[] = [];
  for (let k = 0; k < pieces; k++) {
    const from = Math.floor((k * (n - len)) / Math.max(1, pieces - 1));
    sizes.push(...t.sizes.slice(from, from + len));
    gapsUs.push(...t.gapsUs.slice(from, from + len));
  }
  return { sizes, gapsUs };
}
