/**
 * What the observer's AUC on a short class is worth: the same classification run on stretches of normal traffic
 * as long as the class (`smig analyze --adversary --adversary-stretches K --stretches CAPTURE`). A link of 8
 * windows scored against a reference of 12 scatters far either way: its AUC's interval spans half the scale, and
 * a stretch of the site's own normal traffic that long scores high now and then too. Scored the same way (same
 * folds, repeats, trees and seed), K stretches of the normal capture give the AUCs an observer reaches on normal
 * traffic of that length; the share of them that score at least the class's AUC is its p-value: the class is told
 * apart no better than normal traffic is when that share is large. The observer's counterpart of the per-bin
 * stretches (stretches.ts).
 */
import { quantileSorted } from './stats.js';
import type { Window } from './windows.js';
import { WINDOW_FEATURES } from './windows.js';

/** Index of the packet count in a window's features. */
const PACKETS = WINDOW_FEATURES.indexOf('packets');
/** Most stretches a comparison may ask for (each is a whole cross-validation). */
export const MAX_ADVERSARY_STRETCHES = 200;

/** The observer on stretches of normal traffic as long as one class (adversary.ts `AdversaryComparison.stretches`). */
export interface AdversaryStretches {
  /** Stretches scored (those with at least 2 windows with packets). */
  count: number;
  /** Complete windows in a stretch (the class's, silent ones included). */
  windows: number;
  /** Median and 95th percentile of the stretches' AUCs. */
  median: number;
  p95: number;
  /** Stretches whose AUC was at least the class's. */
  atLeast: number;
  /** (1 + atLeast) ÷ (1 + count): large when normal stretches score as high as the class. */
  pValue: number;
}

/** The classifier as {@link stretchAucs} calls it: adversary.ts `classify` over the reference and one stretch. */
export type StretchClassifier = (stretch: Window[]) => { auc: number | null };

/**
 * Scores `count` stretches of `source` (every complete window of the normal capture, silent ones included, in
 * order) of `length` windows each, their starts evenly spaced; a stretch's silent windows are left out unless
 * `keepSilent`, as the class's were. Undefined when the source is shorter than a stretch (the whole source is then
 * the comparison: the learned half against the reference), when the class has no AUC, or for no stretches.
 */
export function stretchAucs(
  source: readonly Window[],
  length: number,
  auc: number | null,
  count: number,
  keepSilent: boolean,
  classify: StretchClassifier,
): AdversaryStretches | undefined {
  if (auc === null || count < 1 || length < 1 || source.length < length) return undefined;
  const starts = source.length - length + 1;
  const k = Math.min(count, starts, MAX_ADVERSARY_STRETCHES);
  const aucs: number[] = [];
  for (let i = 0; i < k; i++) {
    const start = k === 1 ? 0 : Math.round((i * (starts - 1)) / (k - 1));
    const stretch = source.slice(start, start + length).filter((w) => keepSilent || w.features[PACKETS] !== 0);
    const a = classify(stretch).auc;
    if (a !== null) aucs.push(a);
  }
  if (aucs.length === 0) return undefined;
  aucs.sort((a, b) => a - b);
  const atLeast = aucs.filter((a) => a >= auc).length;
  return {
    count: aucs.length,
    windows: length,
    median: quantileSorted(aucs, 0.5),
    p95: quantileSorted(aucs, 0.95),
    atLeast,
    pValue: (1 + atLeast) / (1 + aucs.length),
  };
}

/** Whether so many stretches can reject at `alpha`: the smallest p, 1 ÷ (1 + count), is at most alpha. */
export function stretchesCanReject(s: Pick<AdversaryStretches, 'count'>, alpha: number): boolean {
  return 1 / (1 + s.count) <= alpha;
}

/** The settings a stretch is scored with: the class's, without the bootstrap and permutations it does not report. */
export function stretchSettings<T extends { bootstrap: number; permutations: number }>(o: T): T {
  return { ...o, bootstrap: 0, permutations: 0 };
}
