/**
 * The trained observer: a random forest (forest.ts: ml-random-forest's trees, grown faster) on per-window
 * features ({@link WINDOW_FEATURES}) told to separate each class's windows from the reference's. Stratified k-fold
 * cross-validation with a fixed seed, repeated on differently drawn folds, gives out-of-fold scores (the share of
 * trees voting "subject", averaged over the repeats: every score comes from forests that never saw that window),
 * from which come the ROC AUC, a bootstrap 95 % interval of it and the balanced accuracy at a score of ½. Beside
 * every result, the baseline: the same classifier on the reference cut into interleaved blocks (even blocks
 * against odd), which says how far the reference is from itself — an AUC near the baseline means "looks like normal traffic".
 *
 * Windows overlap (step < window) and follow each other in time. Dealt to folds one by one (the default), a
 * window's neighbours may be in training and the interval, resampling windows, is narrower than the truth:
 * compare with the baseline rather than with 0.5. Dealt by blocks ({@link AdversaryOptions.cv}; crossval.ts),
 * neighbours never train a fold that tests them, and permutations and the bootstrap move whole blocks.
 */
import { createDecoded, decodePacket } from '../capture/decode.js';
import { compileFilter } from '../capture/filter.js';
import { readCapture } from '../capture/reader.js';
import { smigError } from '../errors.js';
import { createRng } from '../util/rng.js';
import type { AdversarySegments } from './adversary-segments.js';
import { DEFAULT_ADVERSARY_SEGMENTS, MAX_ADVERSARY_SEGMENTS, segmentAucs } from './adversary-segments.js';
import type { AdversaryStretches } from './adversary-stretches.js';
import { MAX_ADVERSARY_STRETCHES, stretchAucs, stretchSettings } from './adversary-stretches.js';
import type { CvRows } from './crossval.js';
import { bootstrapAuc, fit, groupsByLabel, permutedLabels, repeatedScores, rocAuc } from './crossval.js';
import type { Window, WindowOptions } from './windows.js';
import { WINDOW_FEATURES, WindowBuilder } from './windows.js';

export { rocAuc };

/** Index of the packet count in a window's features. */
const PACKETS = WINDOW_FEATURES.indexOf('packets');

/** One class for the observer: a capture, an optional filter and time range (as `smig analyze`'s classes). */
export interface AdversaryClassSpec {
  name: string;
  file: string;
  filter?: string;
  fromNs?: bigint;
  toNs?: bigint;
}

/** How the cross-validation deals windows to folds (see {@link AdversaryOptions.cv}). */
export type CvMode = 'blocks' | 'windows';

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
  /**
   * How windows are dealt to folds (default "windows"). "windows": each window on its own, as if windows were
   * independent; a fold then trains on the overlapping neighbours of the windows it tests, which share packets with
   * them, and may score them by memory (the stronger observer, and the one earlier results used). "blocks": a
   * class's windows in one block of `blockNs` go to one fold together, no fold trains on a window of the same capture
   * less than a block from one it tests, and label permutations and the bootstrap move whole blocks; calibrated on
   * a capture's own halves, but with few blocks a side it has little power.
   */
  cv?: CvMode;
  /** Seed of the fold split, the forest and the bootstrap (default 1). */
  seed?: number;
  /** Trees in the forest (default 100). */
  trees?: number;
  /** Bootstrap resamples for the AUC interval (default 1000). */
  bootstrap?: number;
  /** Block length of the baseline's interleaved halves and of the cross-validation's groups, ns (default twice the window). */
  blockNs?: bigint;
  /**
   * Keep windows without a packet (default false: left out, and counted in {@link AdversaryClass.silentWindows}).
   * A silent window has no size, gap or burst to read, so both classes' silent windows get the same features: kept
   * in, they tie and pull every AUC towards ½, and a link that is silent half the time (a `constant` link once its
   * share is sent) scores as if it looked half normal. Left out, the observer judges the traffic that is there;
   * how much of each class is silence is reported beside it.
   */
  keepSilent?: boolean;
  /**
   * Normal traffic to cut stretches from (`--adversary-stretches K` with `--stretches`): each comparison is also run
   * on `count` stretches of it as long as the subject (adversary-stretches.ts). Each costs a cross-validation.
   */
  stretches?: { spec: AdversaryClassSpec; count: number };
  /**
   * Segments of a class longer than the reference, each as long as the reference, also scored against it (default
   * {@link DEFAULT_ADVERSARY_SEGMENTS}; 0: none; adversary-segments.ts). Each costs a cross-validation.
   */
  segments?: number;
}

/** What the observer saw of one class. */
export interface AdversaryClass {
  name: string;
  file: string;
  packets: number;
  /** Windows classified. */
  windows: number;
  /** Complete windows without a packet: left out unless {@link AdversaryOptions.keepSilent} (then also in `windows`). */
  silentWindows: number;
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
  /** Groups (blocks, or single windows) of the reference and the subject side that the folds were dealt. */
  groups: [number, number];
  /** ROC AUC of the out-of-fold scores; null (with `note`) when a side has fewer than 2 windows. */
  auc: number | null;
  aucLow: number | null;
  aucHigh: number | null;
  balancedAccuracy: number | null;
  /** Permutation p-value of the AUC (null without permutations or without an AUC). */
  pValue: number | null;
  /** Mean decrease in impurity of a forest trained on all windows, per feature, largest first. */
  importance: { feature: string; value: number }[];
  /** The same classification on stretches of normal traffic as long as the subject ({@link AdversaryOptions.stretches}). */
  stretches?: AdversaryStretches;
  /** The same classification on segments of the subject as long as the reference ({@link AdversaryOptions.segments}). */
  segments?: AdversarySegments;
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
  /**
   * Windows of the subject (of a baseline: of the whole reference) without a packet, left out (see
   * {@link AdversaryOptions.keepSilent}), of `ofWindows` complete ones.
   */
  silentWindows?: number;
  ofWindows?: number;
  /** The observer on stretches of normal traffic as long as the subject, when asked for. */
  stretches?: AdversaryStretches;
  /** The observer on segments of the subject as long as the reference, when the subject is longer. */
  segments?: AdversarySegments;
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
  cv: CvMode;
  seed: number;
  trees: number;
  bootstrap: number;
  /** Silent windows were kept ({@link AdversaryOptions.keepSilent}). */
  keepSilent: boolean;
  /** Segments scored per comparison at most ({@link AdversaryOptions.segments}). */
  segments: number;
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
  const silent = b.windows.filter((w) => w.features[PACKETS] === 0).length;
  const windows = opts.keepSilent ? b.windows : b.windows.filter((w) => w.features[PACKETS] !== 0);
  return {
    windows,
    info: {
      name: spec.name,
      file: spec.file,
      packets: b.packets,
      windows: windows.length,
      silentWindows: silent,
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
  const k = opts.stretches?.count;
  if (k !== undefined && (!Number.isInteger(k) || k < 1 || k > MAX_ADVERSARY_STRETCHES))
    throw smigError('SMIG_ERR_USAGE', `adversary stretches: expected 1 … ${MAX_ADVERSARY_STRETCHES}, got ${k}`);
  const segments = opts.segments ?? DEFAULT_ADVERSARY_SEGMENTS;
  if (!Number.isInteger(segments) || segments < 0 || segments > MAX_ADVERSARY_SEGMENTS)
    throw smigError('SMIG_ERR_USAGE', `adversary segments: expected 0 … ${MAX_ADVERSARY_SEGMENTS}, got ${segments}`);
  const read = [];
  for (const c of classes) read.push(await classWindows(c, opts));
  const ref = read[0]!;
  const baseline = baselineOf(ref.info.name, ref.windows, o);
  const refX = features(ref.windows);
  const refTimes = ref.windows.map((w) => w.startNs);
  const source = opts.stretches ? (await classWindows(opts.stretches.spec, { ...opts, keepSilent: true })).windows : [];
  const so = stretchSettings(o);
  const comparisons = read.slice(1).map((s) => {
    const whole = classify(ref.info.name, s.info.name, refX, features(s.windows), o, {
      x: refTimes,
      y: s.windows.map((w) => w.startNs),
    });
    // a subject longer than the reference: also segments of it as long as the reference
    const seg =
      whole.auc === null
        ? undefined
        : segmentAucs(s.windows, refX.length, segments, (w) =>
            classify(ref.info.name, 'segment', refX, features(w), so, { x: refTimes, y: w.map((x) => x.startNs) }),
          );
    const c = seg ? { ...whole, segments: seg } : whole;
    if (!opts.stretches) return c;
    // a stretch spans as many complete windows as the subject, silent ones included
    const length = opts.keepSilent ? s.info.windows : s.info.windows + s.info.silentWindows;
    const st = stretchAucs(source, length, c.auc, opts.stretches.count, opts.keepSilent === true, (w) =>
      classify(ref.info.name, 'stretch', refX, features(w), so, { x: refTimes, y: w.map((x) => x.startNs) }),
    );
    return st ? { ...c, stretches: st } : c;
  });
  return {
    windowNs: o.windowNs,
    stepNs: o.stepNs,
    blockNs: o.blockNs,
    folds: o.folds,
    repeats: o.repeats,
    permutations: o.permutations,
    cv: o.cv,
    seed: o.seed,
    trees: o.trees,
    bootstrap: o.bootstrap,
    keepSilent: opts.keepSilent === true,
    segments,
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
  cv: CvMode;
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
    cv: opts.cv ?? 'windows',
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
  if (o.cv !== 'blocks' && o.cv !== 'windows')
    throw smigError('SMIG_ERR_USAGE', `adversary cv: expected blocks or windows, got ${String(o.cv)}`);
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
  const even: Window[] = [];
  const odd: Window[] = [];
  for (const w of windows) {
    const block = w.startNs / o.blockNs;
    if ((w.startNs + o.windowNs - 1n) / o.blockNs !== block) continue;
    (block % 2n === 0n ? even : odd).push(w);
  }
  return classify(`${name} (even blocks)`, `${name} (odd blocks)`, features(even), features(odd), o, {
    x: even.map((w) => w.startNs),
    y: odd.map((w) => w.startNs),
    oneSeries: true,
  });
}

/** Where classified rows lie in time: their windows' starts, for grouping them (see {@link AdversaryOptions.cv}). */
export interface RowTimes {
  x: readonly bigint[];
  y: readonly bigint[];
  /** Both sides come from one capture's time line (the baseline's halves) rather than from two. */
  oneSeries?: boolean;
}

/**
 * Cross-validated classification of `x` (label 0) against `y` (label 1). With `times` (and `cv` "blocks"),
 * windows are grouped by block and those less than a block apart kept apart; without, every row stands alone.
 * Deterministic for a given seed.
 */
export function classify(
  reference: string,
  subject: string,
  x: number[][],
  y: number[][],
  o: AdversarySettings,
  times?: RowTimes,
): AdversaryComparison {
  const n = x.length,
    m = y.length;
  const base = { reference, subject, n, m };
  if (n < 2 || m < 2) {
    return {
      ...base,
      folds: 0,
      groups: [0, 0],
      auc: null,
      aucLow: null,
      aucHigh: null,
      balancedAccuracy: null,
      pValue: null,
      importance: [],
      note: `too few windows to classify (${n} and ${m}; each side needs 2): a longer capture or a shorter --adversary-window`,
    };
  }
  const rows = cvRows(x, y, o, o.cv === 'blocks' ? times : undefined);
  const [g0, g1] = groupsByLabel(rows.group, rows.labels);
  const folds = Math.min(o.folds, g0.length, g1.length);
  // few groups: each fold's held-out block differs from the few left to train on, and the AUC scatters far either way
  const few =
    rows.byBlocks && folds < o.folds
      ? `only ${g0.length} and ${g1.length} blocks: ${folds}-fold, and an AUC from so few blocks scatters far from 0.5 either way; read its permutation p`
      : undefined;
  const { labels } = rows;
  const scores = repeatedScores(rows, labels, folds, o);
  const auc = rocAuc(scores, labels);
  let pValue: number | null = null;
  if (o.permutations > 0) {
    // the groups dealt to the sides at random (as many a side as before), the same procedure run again
    const prng = createRng(o.seed ^ 0x2545f491);
    let atLeast = 0;
    for (let k = 0; k < o.permutations; k++) {
      const dealt = permutedLabels(rows, prng);
      if (rocAuc(repeatedScores(rows, dealt, folds, o), dealt) >= auc) atLeast++;
    }
    pValue = (atLeast + 1) / (o.permutations + 1);
  }
  const [aucLow, aucHigh] = bootstrapAuc(scores, rows, o.bootstrap, createRng(o.seed ^ 0x5a5a5a5a));
  let tp = 0,
    tn = 0;
  for (let i = 0; i < n + m; i++) {
    if (labels[i] === 1 && scores[i]! > 0.5) tp++;
    if (labels[i] === 0 && scores[i]! <= 0.5) tn++;
  }
  const all = fit(rows.data, labels, o, o.seed);
  const imp = all.featureImportance();
  const importance = WINDOW_FEATURES.map((feature, i) => ({
    feature,
    value: Number.isFinite(imp[i]) ? imp[i]! : 0,
  })).sort((a, b) => b.value - a.value || a.feature.localeCompare(b.feature));
  return {
    ...base,
    folds,
    groups: [g0.length, g1.length],
    auc,
    aucLow,
    aucHigh,
    balancedAccuracy: (tp / m + tn / n) / 2,
    pValue,
    importance,
    ...(few ? { note: few } : {}),
  };
}

/**
 * The rows with their groups and the rows kept apart from each. With times: a side's windows in one block of
 * `o.blockNs` form a group, and windows of one time line whose starts are less than a block apart are kept apart
 * (they overlap, or follow each other closely enough to share the traffic's state); when a side would have fewer
 * than 2 groups, each window is its own group. Without times: every row its own group, none kept apart.
 */
function cvRows(
  x: number[][],
  y: number[][],
  o: AdversarySettings,
  times: RowTimes | undefined,
): CvRows & { byBlocks: boolean } {
  const data = [...x, ...y];
  const labels = [...x.map(() => 0), ...y.map(() => 1)];
  const perRow = data.map((_, i) => i);
  if (!times) return { data, labels, group: perRow, neighbours: data.map(() => []), byBlocks: false };
  const starts = [...times.x, ...times.y];
  const series = labels.map((l) => (times.oneSeries ? 0 : l));
  const blockGroups = starts.map((t, i) => series[i]! * 2 ** 32 + Number(t / o.blockNs));
  const [b0, b1] = groupsByLabel(blockGroups, labels);
  const byBlocks = b0.length >= 2 && b1.length >= 2;
  const group = byBlocks ? blockGroups : perRow;
  // rows of one series sorted by start: a row is kept apart from those starting less than a block from it
  const order = perRow.slice().sort((a, b) => series[a]! - series[b]! || (starts[a]! < starts[b]! ? -1 : 1));
  const neighbours: number[][] = data.map(() => []);
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    for (let q = k + 1; q < order.length; q++) {
      const j = order[q]!;
      if (series[j] !== series[i] || starts[j]! - starts[i]! >= o.blockNs) break;
      neighbours[i]!.push(j);
      neighbours[j]!.push(i);
    }
  }
  return { data, labels, group, neighbours, byBlocks };
}
