/**
 * The observer's cross-validation: grouped, purged, stratified k-fold, repeated on folds drawn anew, with a
 * group-level label permutation for p-values and a group-level bootstrap of the AUC.
 *
 * Windows of traffic are not independent rows: two windows of one capture that overlap share packets, and
 * windows close in time share the traffic's state of the moment. A fold that trains on a window's neighbour and
 * tests the window scores it by memory, not by a difference between the classes; on a capture whose rate drifts,
 * that alone tells its own halves apart. So rows may come in groups (a class's windows in one block of time), a
 * group is dealt whole to a fold, and a training set leaves out every row too close to one it is tested on.
 */
import type { Rng } from '../util/rng.js';
import { createRng } from '../util/rng.js';
import { Forest } from './forest.js';

/** Rows to cross-validate, and what ties them together. */
export interface CvRows {
  data: number[][];
  /** 0 (reference) or 1 (subject) per row. */
  labels: number[];
  /** Group per row: a group's rows share a fold and, in a permutation, a side. All of a group share a label. */
  group: number[];
  /** Per row, the rows too close to it in time (overlapping it, or nearly): never trained on while it is tested. */
  neighbours: number[][];
}

/** What the cross-validation and the forest need of the observer's settings. */
export interface CvSettings {
  repeats: number;
  seed: number;
  trees: number;
}

/** Seed distance between two repeats' fold draws and forests (beyond any fold index). */
const REPEAT_SEED_STEP = 1_000_003;

/** Groups carrying each label, in order of first row. */
export function groupsByLabel(group: readonly number[], labels: readonly number[]): [number[], number[]] {
  const seen = new Set<number>();
  const out: [number[], number[]] = [[], []];
  for (let i = 0; i < group.length; i++) {
    if (seen.has(group[i]!)) continue;
    seen.add(group[i]!);
    out[labels[i] === 1 ? 1 : 0].push(group[i]!);
  }
  return out;
}

/** Out-of-fold scores averaged over `o.repeats` cross-validations on folds drawn anew, for these labels. */
export function repeatedScores(rows: CvRows, labels: readonly number[], folds: number, o: CvSettings): Float64Array {
  const scores = new Float64Array(rows.data.length);
  for (let r = 0; r < o.repeats; r++) {
    // the first repeat is the single split of a run with repeats 1 (same folds, same forests)
    const s = outOfFold(rows, labels, folds, o, o.seed + r * REPEAT_SEED_STEP);
    for (let i = 0; i < s.length; i++) scores[i] = scores[i]! + s[i]! / o.repeats;
  }
  return scores;
}

/**
 * One grouped, stratified k-fold cross-validation: each label's groups shuffled by `seed` and dealt round-robin
 * to the folds; a fold trains on the other folds' rows less those overlapping one of its own. The out-of-fold
 * score of every row (½ where a fold's training set lacks a label).
 */
function outOfFold(rows: CvRows, labels: readonly number[], folds: number, o: CvSettings, seed: number): Float64Array {
  const total = rows.data.length;
  const rng = createRng(seed);
  const foldOf = new Map<number, number>();
  for (const groups of groupsByLabel(rows.group, labels))
    shuffle(groups, rng).forEach((g, j) => foldOf.set(g, j % folds));
  const fold = rows.group.map((g) => foldOf.get(g)!);
  const scores = new Float64Array(total);
  for (let f = 0; f < folds; f++) {
    const train: number[] = [],
      test: number[] = [];
    for (let i = 0; i < total; i++) {
      if (fold[i] === f) test.push(i);
      else if (!rows.neighbours[i]!.some((j) => fold[j] === f)) train.push(i);
    }
    if (test.length === 0) continue;
    const y = train.map((i) => labels[i]!);
    if (!y.includes(0) || !y.includes(1)) {
      for (const i of test) scores[i] = 0.5;
      continue;
    }
    const forest = fit(
      train.map((i) => rows.data[i]!),
      y,
      o,
      seed + f,
    );
    const s = forest.votes(test.map((i) => rows.data[i]!));
    test.forEach((i, j) => (scores[i] = s[j]!));
  }
  return scores;
}

/**
 * The labels dealt anew at the level of groups: the groups' labels shuffled among them (as many groups a side as
 * before; a side's rows may change in number).
 */
export function permutedLabels(rows: CvRows, rng: Rng): number[] {
  const [zero, one] = groupsByLabel(rows.group, rows.labels);
  const all = shuffle([...zero, ...one], rng);
  const side = new Map<number, number>();
  all.forEach((g, j) => side.set(g, j < zero.length ? 0 : 1));
  return rows.group.map((g) => side.get(g)!);
}

/** A forest of `o.trees` trees, each on a bootstrap sample of the rows and half the features. */
export function fit(x: number[][], y: number[], o: CvSettings, seed: number): Forest {
  // each tree sees half the features (drawn without replacement) and a bootstrap sample of the windows
  return Forest.train(x, y, { trees: o.trees, maxFeatures: 0.5, seed: seed >>> 0, maxDepth: 12, minNumSamples: 2 });
}

/** Fisher-Yates in place. */
export function shuffle<T>(a: T[], rng: Rng): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/**
 * ROC AUC of scores for binary labels (1 = positive): the Mann-Whitney probability that a positive scores
 * above a negative, ties counting ½. NaN when a class is missing.
 * @example rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) // 0.75
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let pos = 0,
    rankSum = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    const rank = (i + j) / 2 + 1; // average 1-based rank of the tie group
    for (let k = i; k <= j; k++) {
      if (labels[idx[k]!] === 1) {
        pos++;
        rankSum += rank;
      }
    }
    i = j + 1;
  }
  const neg = idx.length - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/**
 * Percentile 95 % interval of the AUC over bootstrap resamples of whole groups, stratified by label (a group's
 * rows stay together, as they are not independent); [null, null] when b is 0.
 */
export function bootstrapAuc(scores: Float64Array, rows: CvRows, b: number, rng: Rng): [number | null, number | null] {
  if (b === 0) return [null, null];
  const members = new Map<number, number[]>();
  rows.group.forEach((g, i) => {
    const m = members.get(g);
    if (m) m.push(i);
    else members.set(g, [i]);
  });
  const byLabel = groupsByLabel(rows.group, rows.labels);
  const s: number[] = [];
  const l: number[] = [];
  const aucs = new Float64Array(b);
  for (let r = 0; r < b; r++) {
    s.length = 0;
    l.length = 0;
    for (const label of [0, 1] as const) {
      const groups = byLabel[label];
      for (let k = 0; k < groups.length; k++) {
        for (const i of members.get(groups[Math.floor(rng() * groups.length)]!)!) {
          s.push(scores[i]!);
          l.push(label);
        }
      }
    }
    aucs[r] = rocAuc(s, l);
  }
  aucs.sort();
  const at = (q: number): number => aucs[Math.min(b - 1, Math.max(0, Math.round(q * (b - 1))))]!;
  return [at(0.025), at(0.975)];
}
