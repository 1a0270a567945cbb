/** Number formats of the bench report's tables (report.ts, report-links.ts), and what a link's stretch tests say. */
import { formatAuc } from '../analysis/adversary-report.js';
import { stretchesCanReject } from '../analysis/adversary-stretches.js';
import { blocksCanReject } from '../analysis/block-ks.js';
import { ksCanReject } from '../analysis/ks.js';
import type { StretchResult } from '../analysis/stretches.js';
import type { BenchAdversary, BenchTest } from './result.js';

export const fmtP = (p: number): string =>
  p >= 1e-3 || p === 0 ? String(Number(p.toPrecision(3))) : p.toExponential(1);
export const fmtD = (t: BenchTest | undefined): string => (t === undefined ? '-' : t.statistic.toFixed(3));
export const fmtPv = (t: BenchTest | undefined): string => (t === undefined ? '-' : fmtP(t.pvalue));
export const fmtN = (t: BenchTest | undefined): string => (t === undefined ? '-' : `${t.n}/${t.m}`);
/**
 * A test's p by blocks (`smig analyze --blocks`), `-` without one, or `n/a (1 block)` when its blocks can be dealt in
 * fewer ways than 1 ÷ alpha: such a test cannot reject (a 0.2 s bulk copy is one 5 s block).
 */
export function fmtBlocks(t: BenchTest | undefined, alpha: number): string {
  const b = t?.blocks;
  if (b === undefined) return '-';
  const few = Math.min(b.blocks[0], b.blocks[1]);
  return blocksCanReject(b, alpha) ? fmtP(b.pvalue) : `n/a (${few} block${few === 1 ? '' : 's'})`;
}

/**
 * {@link formatAuc}, `n/a (too few windows)` or `-` when the observer did not run; with the silent windows left out,
 * when there were any.
 */
export function fmtAuc(a: BenchAdversary | undefined, alpha = 0.05): string {
  if (a === undefined) return '-';
  const silent = a.silentWindows
    ? ` (${a.silentWindows} of ${a.ofWindows ?? a.windows + a.silentWindows} windows silent)`
    : '';
  // beside it, what normal stretches as long scored (`--adversary-stretches`): its p-value among them
  const s = a.stretches;
  const st = s
    ? `; normal stretches as long: ${s.atLeast} of ${s.count} as high${stretchesCanReject(s, alpha) ? '' : ' (too few to reject)'}`
    : '';
  // beside it, the mean over segments as long as the reference (adversary-segments.ts)
  const seg = a.segments ? `; as long as the reference: ${a.segments.mean.toFixed(2)} (${a.segments.count})` : '';
  return (a.auc === null ? `n/a (${a.windows} windows)` : formatAuc(a)) + silent + seg + st;
}

/**
 * How many links the observer told apart by its permutation p-value (", the observer told 2 of 5 apart at
 * p ≤ 0.05"), or '' when no link has a p-value (no `--adversary-permutations`).
 */
export function observerTold(adversaries: readonly (BenchAdversary | undefined)[], alpha: number): string {
  const ps = adversaries.map((a) => a?.pValue).filter((p): p is number => typeof p === 'number');
  if (ps.length === 0) return '';
  const told = ps.filter((p) => p <= alpha).length;
  return `, the observer told ${told} of ${adversaries.length} apart at p ≤ ${alpha}`;
}

/** Of a link's per-bin tests, the stretch result (`smig analyze --stretches`) that rejects the larger share, if any. */
export function mostRejected(tests: readonly (BenchTest | undefined)[]): StretchResult | undefined {
  let most: StretchResult | undefined;
  for (const s of tests.map((t) => t?.stretches))
    if (s !== undefined && (most === undefined || s.rejected / s.count > most.rejected / most.count)) most = s;
  return most;
}

/**
 * How many links the tests by blocks told apart (", sizes or gaps told by blocks on 1 of 5, per bin on 0 of 5"), of
 * those whose blocks can be dealt in 1 ÷ alpha ways or more; '' when no link has a test by blocks that can reject.
 */
export function blocksTold(links: readonly { tests: readonly BenchTest[] }[], alpha: number): string {
  const count = (features: readonly string[]): { told: number; of: number } => {
    const of = (t: BenchTest): boolean => features.includes(t.feature) && t.blocks !== undefined;
    const testable = links.filter((l) => l.tests.some((t) => of(t) && blocksCanReject(t.blocks!, alpha)));
    const told = testable.filter((l) => l.tests.some((t) => of(t) && t.blocks!.pvalue < alpha)).length;
    return { told, of: testable.length };
  };
  const sg = count(['size', 'iat']);
  const bins = count(['packets_per_bin', 'bytes_per_bin']);
  const parts = [
    ...(sg.of > 0 ? [`sizes or gaps told by blocks on ${sg.told} of ${sg.of}`] : []),
    ...(bins.of > 0 ? [`per bin${sg.of > 0 ? '' : ' told by blocks'} on ${bins.told} of ${bins.of}`] : []),
  ];
  return parts.length === 0 ? '' : `, ${parts.join(', ')}`;
}

/** What {@link perBinMute} reads of a test: its feature and sample sizes. */
export type BinTest = Pick<BenchTest, 'feature' | 'n' | 'm'>;

/**
 * A link's per-bin tests when none of them can reject at `alpha` (their bins too few: {@link ksCanReject}), as
 * "1 and 32 bins"; else undefined. Such a link is "not distinguishable" only because nothing could be: its verdict
 * says so.
 */
export function perBinMute(tests: readonly BinTest[], alpha: number): string | undefined {
  const bins = tests.filter((t) => t.feature === 'packets_per_bin' || t.feature === 'bytes_per_bin');
  if (bins.length === 0 || bins.some((t) => ksCanReject(t.n, t.m, alpha))) return undefined;
  return `${bins[0]!.n} and ${bins[0]!.m} bin${bins[0]!.m === 1 ? '' : 's'}`;
}

/** A link's verdict per bin: distinguishable, not distinguishable, or that its bins are too few to tell. */
export function binVerdict(l: { distinguishable: boolean; tests: readonly BinTest[] }, alpha: number): string {
  if (l.distinguishable) return 'distinguishable';
  const mute = perBinMute(l.tests, alpha);
  return mute === undefined ? 'not distinguishable' : `cannot tell (${mute}: too few to reject at ${alpha})`;
}

/** ", on 2 of them the per-bin tests have too few bins to reject" for the links whose per-bin tests cannot reject. */
export function muteTold(links: readonly { tests: readonly BinTest[] }[], alpha: number): string {
  const mute = links.filter((l) => perBinMute(l.tests, alpha) !== undefined).length;
  return mute === 0 ? '' : ` (on ${mute} of them the per-bin tests have too few bins to reject at ${alpha})`;
}
