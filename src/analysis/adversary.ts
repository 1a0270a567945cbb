/**
 * The trained observer: a random forest (ml-random-forest) on per-window features ({@link WINDOW_FEATURES})
 * told to separate each class's windows from the reference's. Stratified k-fold cross-validation with a fixed
 * seed, repeated on differently drawn folds, gives out-of-fold scores (the share of trees voting "subject",
 * averaged over the repeats: every score comes from forests that never saw that window), from which come the
 * ROC AUC, a bootstrap 95 % interval of it and the balanced accuracy at a score of ½. Beside every result, the
 * baseline: the same classifier on the reference cut into interleaved blocks (even blocks against odd), which
 * says how far the reference is from itself — an AUC near the baseline means "looks like normal traffic".
 *
 * The interval resamples windows, which overlap (step < window) and follow each other in time: it is
 * narrower than the truth. Compare with the baseline rather than with 0.5, or ask for label permutations
 * ({@link AdversaryOptions.permutations}), whose p-value needs neither.
 */
import { RandomForestClassifier } from 'ml-random-forest';
import { createDecoded, decodePacket } from '../capture/decode.js';
import { compileFilter } from '../capture/filter.js';
import { readCapture } from '../capture/reader.js';
import { smigError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { createRng } from '../util/rng.js';
import type { Window, WindowOptions } from './windows.js';
import { WINDOW_FEATURES, WindowBuilder } from './windows.js';

/** One class for the observer: a capture, an optional filter and time range (as `smig analyze`'s classes). */
export interface AdversaryClassSpec {
  name: string;
  file: string;
  filter?: string;
  fromNs?: bigint;
  toNs?: bigint;
}

/** Options of {@link runAdversary}. */
export interface AdversaryOptions extends WindowOptions {
  /** Filter applied to every class (combined with each class's own by `and`). */
  filter?: string;
  /** Cross-validation folds (default 5; fewer when a class has fewer windows). */
  folds?: number;
  /**
   * Times the cross-validation is run, each on folds drawn anew (default 5). With a few dozen windows a side, one
   * draw of the folds moves the AUC by ±0.1 (netflix's hold-out against itself: 0.32 to 0.67 over 20 seeds); the
   * average of the repeats' scores does not depend on one draw. 1 is a single split.
   */
  repeats?: number;
  /**
   * Label permutations for a p-value of the AUC (default 0: none): the windows are dealt to the two sides at
   * random, the whole cross-validation is run again, and p = (1 + permutations scoring at least the AUC) ÷
   * (1 + permutations). It needs no baseline and answers "can the observer tell at all" for these windows,
   * whatever their number (few windows a side pull an out-of-fold AUC below 0.5 when nothing differs).
   * Costs permutations × repeats × folds forests per comparison.
   */
  permutations?: number;
  /** Seed of the fold split, the forest and the bootstrap (default 1). */
  seed?: number;
  /** Trees in the forest (default 100). */
  trees?: number;
  /** Bootstrap resamples for the AUC interval (default 1000). */
  bootstrap?: number;
  /** Block length of the baseline's interleaved halves, ns (default twice the window). */
  blockNs?: bigint;
}

/** What the observer saw of one class. */
export interface AdversaryClass {
  name: string;
  file: string;
  packets: number;
  windows: number;
  /** The window cap was reached: later packets were not used. */
  capped: boolean;
  outOfOrder: number;
}

/** Result of one classification (subject against reference, or the baseline's halves). */
export interface AdversaryComparison {
  reference: string;
  subject: string;
  /** Windows of the reference and the subject side. */
  n: number;
  m: number;
  folds: number;
  /** ROC AUC of the out-of-fold scores; null (with `note`) when a side has fewer than 2 windows. */
  auc: number | null;
  aucLow: number | null;
  aucHigh: number | null;
  balancedAccuracy: number | null;
  /** Permutation p-value of the AUC (null without permutations or without an AUC). */
  pValue: number | null;
  /** Mean decrease in impurity of a forest trained on all windows, per feature, largest first. */
  importance: { feature: string; value: number }[];
  note?: string;
}

/** A comparison in brief, as the bench and the demo keep it per link. */
export interface AdversarySummary {
  auc: number | null;
  aucLow: number | null;
  aucHigh: number | null;
  balancedAccuracy: number | null;
  /** Permutation p-value of the AUC, when permutations were run. */
  pValue?: number | null;
  /** Windows of the subject side. */
  windows: number;
  note?: string;
}

/** Everything `--adversary` reports (also `adversary` in `smig analyze --json`). */
export interface AdversaryResult {
  windowNs: bigint;
  stepNs: bigint;
  blockNs: bigint;
  folds: number;
  repeats: number;
  permutations: number;
  seed: number;
  trees: number;
  bootstrap: number;
  features: readonly string[];
  classes: AdversaryClass[];
  /** The reference against itself (even blocks vs odd blocks). */
  baseline: AdversaryComparison;
  /** Every other class against the reference. */
  comparisons: AdversaryComparison[];
}

/** Windows of one class (streaming over the capture). */
export async function classWindows(
  spec: AdversaryClassSpec,
  opts: AdversaryOptions = {},
): Promise<{ windows: Window[]; info: AdversaryClass }> {
  const parts = [opts.filter, spec.filter].filter((f): f is string => f !== undefined && f.trim() !== '');
  const filter = parts.length === 0 ? undefined : compileFilter(parts.map((p) => `(${p})`).join(' and '));
  const b = new WindowBuilder(opts);
  const d = createDecoded();
  let anchor: bigint | undefined;
  await readCapture(spec.file, (p) => {
    if (b.capped) return;
    if (filter && !filter(decodePacket(p.linktype, p.data, d, p.origLen))) return;
    anchor ??= p.ts;
    const rel = p.ts - anchor;
    if ((spec.fromNs !== undefined && rel < spec.fromNs) || (spec.toNs !== undefined && rel >= spec.toNs)) return;
    b.add(p.ts, p.origLen);
  });
  return {
    windows: b.windows,
    info: {
      name: spec.name,
      file: spec.file,
      packets: b.packets,
      windows: b.windows.length,
      capped: b.capped,
      outOfOrder: b.outOfOrder,
    },
  };
}

/**
 * Reads every class, then classifies each against the first (the reference) and the reference against
 * itself (the baseline).
 * @throws SmigError SMIG_ERR_USAGE on bad options or no class; reader errors for unreadable captures.
 */
export async function runAdversary(
  classes: AdversaryClassSpec[],
  opts: AdversaryOptions = {},
): Promise<AdversaryResult> {
  if (classes.length === 0) throw smigError('SMIG_ERR_USAGE', 'adversary: no capture given');
  const o = adversarySettings(opts);
  const read = [];
  for (const c of classes) read.push(await classWindows(c, opts));
  const ref = read[0]!;
  const baseline = baselineOf(ref.info.name, ref.windows, o);
  const comparisons = read
    .slice(1)
    .map((s) => classify(ref.info.name, s.info.name, features(ref.windows), features(s.windows), o));
  return {
    windowNs: o.windowNs,
    stepNs: o.stepNs,
    blockNs: o.blockNs,
    folds: o.folds,
    repeats: o.repeats,
    permutations: o.permutations,
    seed: o.seed,
    trees: o.trees,
    bootstrap: o.bootstrap,
    features: WINDOW_FEATURES,
    classes: read.map((r) => r.info),
    baseline,
    comparisons,
  };
}

/** Cross-validation runs whose out-of-fold scores are averaged (see {@link AdversaryOptions.repeats}). */
export const DEFAULT_REPEATS = 5;

/** Options of the observer with every default filled in. */
export interface AdversarySettings {
  windowNs: bigint;
  stepNs: bigint;
  blockNs: bigint;
  folds: number;
  repeats: number;
  permutations: number;
  seed: number;
  trees: number;
  bootstrap: number;
}

/**
 * The options with their defaults, checked.
 * @throws SmigError SMIG_ERR_USAGE on a value out of range.
 */
export function adversarySettings(opts: AdversaryOptions = {}): AdversarySettings {
  const windowNs = opts.windowNs ?? 5_000_000_000n;
  const o: AdversarySettings = {
    windowNs,
    stepNs: opts.stepNs ?? windowNs / 2n,
    blockNs: opts.blockNs ?? 2n * windowNs,
    folds: opts.folds ?? 5,
    repeats: opts.repeats ?? DEFAULT_REPEATS,
    permutations: opts.permutations ?? 0,
    seed: opts.seed ?? 1,
    trees: opts.trees ?? 100,
    bootstrap: opts.bootstrap ?? 1000,
  };
  if (!Number.isInteger(o.folds) || o.folds < 2 || o.folds > 100)
    throw smigError('SMIG_ERR_USAGE', `adversary folds: expected 2 … 100, got ${o.folds}`);
  if (!Number.isInteger(o.repeats) || o.repeats < 1 || o.repeats > 100)
    throw smigError('SMIG_ERR_USAGE', `adversary repeats: expected 1 … 100, got ${o.repeats}`);
  if (!Number.isInteger(o.permutations) || o.permutations < 0 || o.permutations > 10_000)
    throw smigError('SMIG_ERR_USAGE', `adversary permutations: expected 0 … 10000, got ${o.permutations}`);
  if (!Number.isInteger(o.trees) || o.trees < 1 || o.trees > 10_000)
    throw smigError('SMIG_ERR_USAGE', `adversary trees: expected 1 … 10000, got ${o.trees}`);
  if (!Number.isInteger(o.bootstrap) || o.bootstrap < 0 || o.bootstrap > 100_000)
    throw smigError('SMIG_ERR_USAGE', `adversary bootstrap: expected 0 … 100000, got ${o.bootstrap}`);
  if (!Number.isSafeInteger(o.seed))
    throw smigError('SMIG_ERR_USAGE', `adversary seed: expected a whole number, got ${o.seed}`);
  if (o.blockNs < o.windowNs) throw smigError('SMIG_ERR_USAGE', 'adversary block: must be at least the window');
  return o;
}

function features(ws: Window[]): number[][] {
  return ws.map((w) => Array.from(w.features));
}

/**
 * The baseline: windows wholly inside even blocks of `blockNs` (from the first packet) against windows wholly
 * inside odd blocks; windows across a block edge are left out (they would share packets with both sides).
 */
export function baselineOf(name: string, windows: Window[], o: AdversarySettings): AdversaryComparison {
  const even: number[][] = [];
  const odd: number[][] = [];
  for (const w of windows) {
    const block = w.startNs / o.blockNs;
    if ((w.startNs + o.windowNs - 1n) / o.blockNs !== block) continue;
    (block % 2n === 0n ? even : odd).push(Array.from(w.features));
  }
  return classify(`${name} (even blocks)`, `${name} (odd blocks)`, even, odd, o);
}

/**
 * Cross-validated classification of `x` (label 0) against `y` (label 1).
 * Deterministic for a given seed.
 */
export function classify(
  reference: string,
  subject: string,
  x: number[][],
  y: number[][],
  o: AdversarySettings,
): AdversaryComparison {
  const n = x.length,
    m = y.length;
  const base = { reference, subject, n, m };
  if (n < 2 || m < 2) {
    return {
      ...base,
      folds: 0,
      auc: null,
      aucLow: null,
      aucHigh: null,
      balancedAccuracy: null,
      pValue: null,
      importance: [],
      note: `too few windows to classify (${n} and ${m}; each side needs 2): a longer capture or a shorter --adversary-window`,
    };
  }
  const folds = Math.min(o.folds, n, m);
  const data = [...x, ...y];
  const labels = [...x.map(() => 0), ...y.map(() => 1)];
  const scores = repeatedScores(data, labels, n, folds, o);
  const auc = rocAuc(scores, labels);
  let pValue: number | null = null;
  if (o.permutations > 0) {
    // the windows dealt to the sides at random (labels stay: n zeros, then ones), the same procedure run again
    const prng = createRng(o.seed ^ 0x2545f491);
    let atLeast = 0;
    for (let k = 0; k < o.permutations; k++) {
      const dealt = shuffle(data.slice(), prng);
      if (rocAuc(repeatedScores(dealt, labels, n, folds, o), labels) >= auc) atLeast++;
    }
    pValue = (atLeast + 1) / (o.permutations + 1);
  }
  const [aucLow, aucHigh] = bootstrapAuc(scores, labels, o.bootstrap, createRng(o.seed ^ 0x5a5a5a5a));
  let tp = 0,
    tn = 0;
  for (let i = 0; i < n + m; i++) {
    if (labels[i] === 1 && scores[i]! > 0.5) tp++;
    if (labels[i] === 0 && scores[i]! <= 0.5) tn++;
  }
  const all = fit(data, labels, o, o.seed);
  const imp = (all as unknown as { featureImportance(): number[] }).featureImportance();
  const importance = WINDOW_FEATURES.map((feature, i) => ({
    feature,
    value: Number.isFinite(imp[i]) ? imp[i]! : 0,
  })).sort((a, b) => b.value - a.value || a.feature.localeCompare(b.feature));
  return { ...base, folds, auc, aucLow, aucHigh, balancedAccuracy: (tp / m + tn / n) / 2, pValue, importance };
}

/** Out-of-fold scores averaged over `o.repeats` cross-validations on folds drawn anew. */
function repeatedScores(
  data: number[][],
  labels: number[],
  n: number,
  folds: number,
  o: AdversarySettings,
): Float64Array {
  const scores = new Float64Array(data.length);
  for (let r = 0; r < o.repeats; r++) {
    // the first repeat is the single split of a run with repeats 1 (same folds, same forests)
    const s = outOfFold(data, labels, n, folds, o, o.seed + r * REPEAT_SEED_STEP);
    for (let i = 0; i < data.length; i++) scores[i] = scores[i]! + s[i]! / o.repeats;
  }
  return scores;
}

/** Seed distance between two repeats' fold draws and forests (beyond any fold index). */
const REPEAT_SEED_STEP = 1_000_003;

/**
 * One stratified k-fold cross-validation (each class shuffled by `seed`, then dealt round-robin to the folds):
 * the out-of-fold score of every row. Rows 0 … n−1 are label 0.
 */
function outOfFold(
  data: number[][],
  labels: number[],
  n: number,
  folds: number,
  o: AdversarySettings,
  seed: number,
): Float64Array {
  const total = data.length;
  const rng = createRng(seed);
  const fold = new Int32Array(total);
  for (const [from, count] of [
    [0, n],
    [n, total - n],
  ] as const) {
    const idx = shuffle(
      Array.from({ length: count }, (_, i) => from + i),
      rng,
    );
    idx.forEach((i, j) => (fold[i] = j % folds));
  }
  const scores = new Float64Array(total);
  for (let f = 0; f < folds; f++) {
    const train: number[] = [],
      test: number[] = [];
    for (let i = 0; i < total; i++) (fold[i] === f ? test : train).push(i);
    const forest = fit(
      train.map((i) => data[i]!),
      train.map((i) => labels[i]!),
      o,
      seed + f,
    );
    const s = voteShare(
      forest,
      test.map((i) => data[i]!),
    );
    test.forEach((i, j) => (scores[i] = s[j]!));
  }
  return scores;
}

function fit(x: number[][], y: number[], o: AdversarySettings, seed: number): RandomForestClassifier {
  const forest = new RandomForestClassifier({
    nEstimators: o.trees,
    // each tree sees half the features (drawn without replacement) and a bootstrap sample of the windows
    maxFeatures: 0.5,
    replacement: false,
    useSampleBagging: true,
    noOOB: true,
    seed: seed >>> 0,
    treeOptions: { maxDepth: 12, minNumSamples: 2 },
  });
  forest.train(x, y);
  return forest;
}

/** Share of trees voting 1 for each row (the library's predictProbability skips the first tree's vote). */
function voteShare(forest: RandomForestClassifier, rows: number[][]): number[] {
  const votes = forest.predictionValues(rows);
  const out: number[] = [];
  for (let i = 0; i < votes.rows; i++) {
    const r = votes.getRow(i);
    let ones = 0;
    for (const v of r) if (v === 1) ones++;
    out.push(ones / r.length);
  }
  return out;
}

function shuffle<T>(a: T[], rng: Rng): T[] {
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

/** Percentile 95 % interval of the AUC over stratified bootstrap resamples; [null, null] when b is 0. */
function bootstrapAuc(scores: Float64Array, labels: number[], b: number, rng: Rng): [number | null, number | null] {
  if (b === 0) return [null, null];
  const pos = labels.flatMap((l, i) => (l === 1 ? [i] : []));
  const neg = labels.flatMap((l, i) => (l === 0 ? [i] : []));
  const s = new Float64Array(pos.length + neg.length);
  const l = new Array<number>(pos.length + neg.length);
  const aucs = new Float64Array(b);
  for (let r = 0; r < b; r++) {
    let k = 0;
    for (const [group, label] of [
      [neg, 0],
      [pos, 1],
    ] as const) {
      for (let i = 0; i < group.length; i++) {
        s[k] = scores[group[Math.floor(rng() * group.length)]!]!;
        l[k++] = label;
      }
    }
    aucs[r] = rocAuc(s, l);
  }
  aucs.sort();
  const at = (q: number): number => aucs[Math.min(b - 1, Math.max(0, Math.round(q * (b - 1))))]!;
  return [at(0.025), at(0.975)];
}

/** The result as plain JSON (bigints as decimal seconds). */
export function adversaryToJson(r: AdversaryResult): Record<string, unknown> {
  const s = (ns: bigint): number => Number(ns) / 1e9;
  return {
    window_s: s(r.windowNs),
    step_s: s(r.stepNs),
    block_s: s(r.blockNs),
    folds: r.folds,
    repeats: r.repeats,
    permutations: r.permutations,
    seed: r.seed,
    trees: r.trees,
    bootstrap: r.bootstrap,
    features: r.features,
    classes: r.classes,
    baseline: r.baseline,
    comparisons: r.comparisons,
  };
}
