/** Number formats of the bench report's tables (report.ts, report-links.ts). */
import type { BenchAdversary, BenchTest } from './result.js';

export const fmtP = (p: number): string =>
  p >= 1e-3 || p === 0 ? String(Number(p.toPrecision(3))) : p.toExponential(1);
export const fmtD = (t: BenchTest | undefined): string => (t === undefined ? '-' : t.statistic.toFixed(3));
export const fmtPv = (t: BenchTest | undefined): string => (t === undefined ? '-' : fmtP(t.pvalue));
export const fmtN = (t: BenchTest | undefined): string => (t === undefined ? '-' : `${t.n}/${t.m}`);

/**
 * `0.81 [0.62–0.95]` (with ` p 0.05` when permutations ran), `n/a (too few windows)` or `-` when the observer did
 * not run.
 */
export function fmtAuc(a: BenchAdversary | undefined): string {
  if (a === undefined) return '-';
  if (a.auc === null) return `n/a (${a.windows} windows)`;
  const auc =
    a.aucLow === null || a.aucHigh === null
      ? a.auc.toFixed(2)
      : `${a.auc.toFixed(2)} [${a.aucLow.toFixed(2)}–${a.aucHigh.toFixed(2)}]`;
  return a.pValue == null ? auc : `${auc} p ${fmtP(a.pValue)}`;
}
