/**
 * The stealth criteria a bench run is read by, counted over its links (pure: from bench.json's shape).
 *
 * Per link, against the hold-out:
 * - per bin: KS of packets and of bytes per bin both at p ≥ α (the bench's α, 0.05);
 * - per packet: KS of packet sizes and of gaps both at p ≥ 0.01, packet by packet, and again by blocks (the same D,
 *   its p from dealing whole blocks: packets come in bursts);
 * - the trained observer: AUC ≤ the baseline (the hold-out's own halves) + 0.05, of the links it scored;
 *   for `bulk` and `constant`, which should stay detected, AUC ≥ 0.9 instead. Counted twice: on the link's whole
 *   AUC, and on equal footing, the mean AUC of its segments as long as the hold-out (analysis/adversary-segments.ts:
 *   the baseline's sides are of about equal size, and a longer side that repeats itself scores higher by memory).
 *
 * The learned half is counted the same way, as one link: it is what a perfect imitation of the learned traffic
 * scores, so a criterion it fails says more about the capture's halves than about any pacer.
 */
import { equalFootingAuc } from '../analysis/adversary-segments.js';
import type {
  BenchCriteria,
  BenchLink,
  BenchResult,
  BenchRun,
  BenchTest,
  CriteriaCounts,
  RunCriteria,
} from './result.js';

export type { BenchCriteria, CriteriaCounts, RunCriteria } from './result.js';

/** Significance level of the per-packet tests in the criteria. */
export const PACKET_ALPHA = 0.01;
/** How far above the baseline an AUC may be and still count as within it. */
export const AUC_MARGIN = 0.05;
/** The AUC at or above which `bulk` and `constant` count as detected. */
export const DETECTED_AUC = 0.9;

/** The observer criterion of a strategy: `bulk` and `constant` should stay detected, the others within the baseline. */
export const observerRule = (strategy: BenchRun['strategy']): 'within' | 'detected' =>
  strategy === 'bulk' || strategy === 'constant' ? 'detected' : 'within';

const test = (l: Pick<BenchLink, 'tests'>, feature: string): BenchTest | undefined =>
  l.tests.find((t) => t.feature === feature && t.test === 'ks');

/** Whether a test passes at `alpha` (a missing test passes: there was nothing to test). */
const passes = (t: BenchTest | undefined, alpha: number, byBlocks = false): boolean =>
  t === undefined || (byBlocks && t.blocks !== undefined ? t.blocks.pvalue : t.pvalue) >= alpha;

/** Counts of nothing yet, over `links` links. */
const zeroCounts = (links: number): Required<CriteriaCounts> => ({
  links,
  perBin: 0,
  packets: 0,
  packetsByBlocks: 0,
  scored: 0,
  observer: 0,
  observerEqual: 0,
});

/** The counts over `links` (the learned half is counted as one such link). */
export function countCriteria(
  links: readonly Pick<BenchLink, 'tests' | 'adversary'>[],
  alpha: number,
  baseline: number | null,
  rule: 'within' | 'detected',
): CriteriaCounts {
  const c = zeroCounts(links.length);
  // 1e-9: float sums
  const meets = (auc: number): boolean =>
    rule === 'detected' ? auc >= DETECTED_AUC : baseline !== null && auc <= baseline + AUC_MARGIN + 1e-9;
  for (const l of links) {
    if (passes(test(l, 'packets_per_bin'), alpha) && passes(test(l, 'bytes_per_bin'), alpha)) c.perBin++;
    if (passes(test(l, 'size'), PACKET_ALPHA) && passes(test(l, 'iat'), PACKET_ALPHA)) c.packets++;
    if (passes(test(l, 'size'), PACKET_ALPHA, true) && passes(test(l, 'iat'), PACKET_ALPHA, true)) c.packetsByBlocks++;
    const a = l.adversary;
    if (a === undefined || a.auc === null) continue;
    c.scored++;
    if (meets(a.auc)) c.observer++;
    if (meets(equalFootingAuc(a) ?? a.auc)) c.observerEqual++;
  }
  return c;
}

/** Each migration run's counts. */
export function runCriteria(r: Pick<BenchResult, 'alpha' | 'runs'>): RunCriteria[] {
  return r.runs
    .filter((run) => run.kind === 'migration')
    .map((run) => {
      const baseline = run.adversaryBaseline?.auc ?? null;
      const rule = observerRule(run.strategy);
      return {
        strategy: run.strategy,
        size: run.size,
        ratio: run.ratio,
        ...(run.oneHopRatio === undefined ? {} : { oneHopRatio: run.oneHopRatio }),
        wireOverhead: run.wireOverhead ?? null,
        baseline,
        observerRule: rule,
        ...countCriteria(run.links, r.alpha, baseline, rule),
      };
    });
}

/** The learned half's counts (one link) against the first run's baseline, or undefined without a learned half. */
export function learnedCriteria(r: Pick<BenchResult, 'alpha' | 'runs' | 'normal'>): CriteriaCounts | undefined {
  const l = r.normal.learned;
  if (l === undefined) return undefined;
  const baseline = r.runs.find((x) => x.adversaryBaseline !== undefined)?.adversaryBaseline?.auc ?? null;
  return countCriteria([l], r.alpha, baseline, 'within');
}

/** Sums of counts (runs of several splits, or of several sizes). */
export function sumCriteria(all: readonly CriteriaCounts[]): CriteriaCounts {
  const s = zeroCounts(0);
  for (const c of all) for (const k of Object.keys(s) as (keyof CriteriaCounts)[]) s[k] += c[k] ?? 0;
  return s;
}

/**
 * One line of counts: "per bin 5 of 5, sizes and gaps at p ≥ 0.01 1 of 5 (by blocks 5 of 5), observer within 0.75 +
 * 0.05 on 4 of 5 scored". `baseline`: the AUC the observer's counts were read against, or a phrase for it.
 */
export function criteriaText(c: CriteriaCounts, baseline: number | string | null, rule: 'within' | 'detected'): string {
  const equal = c.observerEqual === undefined ? '' : ` (as long as the hold-out: ${c.observerEqual})`;
  const obs =
    c.scored === 0
      ? ''
      : rule === 'detected'
        ? `, observer AUC ≥ ${DETECTED_AUC} on ${c.observer} of ${c.scored} scored${equal}`
        : baseline === null
          ? `, observer: no baseline (${c.scored} scored)`
          : `, observer within ${typeof baseline === 'number' ? baseline.toFixed(2) : baseline} + ${AUC_MARGIN} on ${c.observer} of ${c.scored} scored${equal}`;
  return (
    `per bin ${c.perBin} of ${c.links}, sizes and gaps at p ≥ ${PACKET_ALPHA} ${c.packets} of ${c.links} ` +
    `(by blocks ${c.packetsByBlocks} of ${c.links})${obs}`
  );
}

/** The counts of a bench result (what bench.json's `criteria` holds). */
export function benchCriteria(r: Pick<BenchResult, 'alpha' | 'runs' | 'normal'>): BenchCriteria {
  const learned = learnedCriteria(r);
  return { runs: runCriteria(r), ...(learned ? { learned } : {}) };
}

/**
 * The criteria as report lines: a caption, one line per migration run, and one for the learned half; empty without
 * a migration run.
 */
export function criteriaLines(r: Pick<BenchResult, 'alpha' | 'runs' | 'normal' | 'criteria'>): string[] {
  const c = r.criteria ?? benchCriteria(r);
  if (c.runs.length === 0) return [];
  const baseline = c.runs.find((x) => x.baseline !== null)?.baseline ?? null;
  return [
    `criteria, per link against the hold-out (per bin: packets and bytes at p ≥ ${r.alpha}; sizes and gaps: both at p ≥ ${PACKET_ALPHA}; ` +
      `observer: AUC within the baseline + ${AUC_MARGIN}, and for bulk and constant AUC ≥ ${DETECTED_AUC}):`,
    ...c.runs.map(
      (x) =>
        `- ${x.strategy} ${x.size} bytes: ${criteriaText(x, x.baseline, x.observerRule)}; ${x.ratio.toFixed(2)} × the bound` +
        `${x.oneHopRatio === undefined ? '' : ` (${x.oneHopRatio.toFixed(2)} × one hop)`}` +
        `${x.wireOverhead === null ? '' : `, ${(x.wireOverhead * 100).toFixed(1)} % not payload`}`,
    ),
    ...(c.learned
      ? [`- the learned half itself (a perfect imitation of it): ${criteriaText(c.learned, baseline, 'within')}`]
      : []),
  ];
}

/** One split's criteria in a bench over several splits (`smig bench --split-seed 1,2,3`). */
export interface SplitCriteria {
  splitSeed: number;
  /** That split's bench.json. */
  bench: string;
  criteria: BenchCriteria;
}

/** What `smig bench` over several splits prints with `--json` (and writes as splits.json). */
export interface SplitsSummary {
  version: 1;
  splits: SplitCriteria[];
  /** Per strategy, the counts summed over every split and size; `learned`: the learned halves', one per split. */
  totals: { strategies: Partial<Record<BenchRun['strategy'], CriteriaCounts>>; learned?: CriteriaCounts };
}

const SPLIT_BASELINE = "its split's baseline";

/** Sums each strategy's counts, and the learned halves', over the splits. */
export function splitsSummary(splits: readonly SplitCriteria[]): SplitsSummary {
  const strategies: Partial<Record<BenchRun['strategy'], CriteriaCounts>> = {};
  for (const s of new Set(splits.flatMap((x) => x.criteria.runs.map((r) => r.strategy))))
    strategies[s] = sumCriteria(splits.flatMap((x) => x.criteria.runs.filter((r) => r.strategy === s)));
  const learned = splits.flatMap((x) => (x.criteria.learned ? [x.criteria.learned] : []));
  return {
    version: 1,
    splits: [...splits],
    totals: { strategies, ...(learned.length > 0 ? { learned: sumCriteria(learned) } : {}) },
  };
}

/**
 * The totals as lines: one per strategy and one for the learned halves. The observer's counts are of links within
 * their own split's baseline (or, for bulk and constant, detected), so no single baseline is named.
 */
export function splitsLines(s: SplitsSummary): string[] {
  const seeds = s.splits.map((x) => x.splitSeed).join(', ');
  return [
    `over ${s.splits.length} splits (split seeds ${seeds}), every link of every size:`,
    ...Object.entries(s.totals.strategies).map(
      ([k, c]) => `- ${k}: ${criteriaText(c, SPLIT_BASELINE, observerRule(k as BenchRun['strategy']))}`,
    ),
    ...(s.totals.learned
      ? [`- the learned halves themselves: ${criteriaText(s.totals.learned, SPLIT_BASELINE, 'within')}`]
      : []),
  ];
}
