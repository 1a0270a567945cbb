/**
 * The bench report's per-link side tables: the links' reverse directions, the links against the learned half
 * (fidelity), and the key relay flows.
 */
import { fmtAuc, fmtD, fmtPv } from './report-format.js';
import type { BenchLink, BenchResult, BenchRun, BenchTest, LinkSide } from './result.js';

/** The caption of {@link fidelityTable}. */
export const FIDELITY_CAPTION: string =
  'The same links against the learned half instead of the hold-out (how faithfully the pacer imitates what it learned; ' +
  "close to the learned half but far from the hold-out means the capture's halves differ); rows marked (reverse): " +
  "each link's reverse direction against the learned half's";

/** The table of one strategy's links compared on one side (`pick`), or undefined when none was. */
function sideTable(
  r: BenchResult,
  strategy: BenchRun['strategy'],
  pick: (l: BenchLink) => LinkSide | undefined,
  label: string,
): { head: string[]; rows: string[][] } | undefined {
  const runs = r.runs.filter((x) => x.strategy === strategy && x.links.some((l) => pick(l) !== undefined));
  if (runs.length === 0) return undefined;
  const head = ['size', label, 'packets', 'pkt/bin p', 'bytes/bin p', 'size D', 'p', 'gap D', 'p', 'AUC'];
  const rows = runs.flatMap((run) =>
    run.links.flatMap((l) => {
      const v = pick(l);
      if (v === undefined) return [];
      const t = (f: string): BenchTest | undefined => v.tests.find((y) => y.feature === f && y.test === 'ks');
      return [
        [
          String(run.size),
          l.link,
          String(v.packets),
          fmtPv(t('packets_per_bin')),
          fmtPv(t('bytes_per_bin')),
          fmtD(t('size')),
          fmtPv(t('size')),
          fmtD(t('iat')),
          fmtPv(t('iat')),
          fmtAuc(v.adversary),
        ],
      ];
    }),
  );
  return { head, rows };
}

/**
 * The table of the reverse directions of one strategy's links (their ACKs, progress messages and echoes against the
 * normal capture's reverse direction), or undefined when they were not tested.
 */
export function reverseTable(
  r: BenchResult,
  strategy: BenchRun['strategy'],
): { head: string[]; rows: string[][]; baseline?: string } | undefined {
  const t = sideTable(r, strategy, (l) => l.reverse, 'link (reverse)');
  if (t === undefined) return undefined;
  const b = r.runs.find(
    (x) => x.strategy === strategy && x.reverseAdversaryBaseline !== undefined,
  )?.reverseAdversaryBaseline;
  return { ...t, ...(b ? { baseline: `reverse direction, normal vs normal: ${fmtAuc(b)}` } : {}) };
}

/**
 * The table of one strategy's links against the learned half (the pacer's fidelity to what it learned), or
 * undefined when they were not tested so (a given profile has no learned half).
 */
export function fidelityTable(
  r: BenchResult,
  strategy: BenchRun['strategy'],
): { head: string[]; rows: string[][] } | undefined {
  const f = sideTable(r, strategy, (l) => l.fidelity, 'link (against the learned half)');
  const back = sideTable(r, strategy, (l) => l.reverseFidelity, 'link (against the learned half)');
  if (f === undefined || back === undefined) return f;
  return {
    head: f.head,
    rows: [...f.rows, ...back.rows.map(([size, link, ...rest]) => [size!, `${link} (reverse)`, ...rest])],
  };
}

/**
 * The table of one strategy's key relay flows (or, with `which` 'pollFlows', its polls for the outcome), each placed
 * among the normal capture's TCP flows (percentiles of duration and bytes), with a caption on those flows; undefined
 * without such flows.
 */
export function keyFlowTable(
  r: BenchResult,
  strategy: BenchRun['strategy'],
  which: 'keyFlows' | 'pollFlows' = 'keyFlows',
): { head: string[]; rows: string[][]; caption: string } | undefined {
  const runs = r.runs.filter((x) => x.strategy === strategy && (x[which]?.length ?? 0) > 0);
  if (runs.length === 0) return undefined;
  const polls = which === 'pollFlows';
  const head = [
    'size',
    polls ? 'polls (both ways)' : 'key link (both ways)',
    'connections',
    'seconds',
    'packets',
    'bytes',
    'duration pct',
    'bytes pct',
  ];
  const rows = runs.flatMap((run) =>
    run[which]!.map((k) => [
      String(run.size),
      k.link,
      String(k.connections),
      k.seconds.toFixed(2),
      String(k.packets),
      String(k.bytes),
      k.durationPercentile?.toFixed(0) ?? '–',
      k.bytesPercentile?.toFixed(0) ?? '–',
    ]),
  );
  const f = r.normal.tcpFlows;
  const what = polls
    ? 'polls for the outcome (new connections once the data links are released; seconds from the first to the last)'
    : 'key relay flows';
  const caption =
    f === undefined
      ? what
      : `${what}, set among the normal capture's ${f.count} TCP flows (median ${f.medianSeconds?.toFixed(2) ?? '–'} s, ` +
        `${f.medianBytes ?? '–'} bytes; pct = share of them that lasted less or carried fewer bytes, %)`;
  return { head, rows, caption };
}

/** Caption of {@link hopTable}. */
export const HOP_CAPTION: string =
  "each paced hop's pacer: its first write to its last, to the last that carried data (cover after it), the seconds " +
  'its schedule paused for data it did not have yet (a downstream hop waits for the one before it), the share of its ' +
  'frame bytes that was PAD (cover and fill), and how late its 99th percentile write was granted';

/** The table of one strategy's paced hops ({@link BenchRun.hops}); undefined when no run has them. */
export function hopTable(
  r: BenchResult,
  strategy: BenchRun['strategy'],
): { head: string[]; rows: string[][] } | undefined {
  const runs = r.runs.filter((x) => x.strategy === strategy && (x.hops?.length ?? 0) > 0);
  if (runs.length === 0) return undefined;
  const head = ['size', 'hop', 'writes', 'seconds', 'last data s', 'paused s', 'PAD share', 'late p99 ms'];
  const rows = runs.flatMap((run) =>
    run.hops!.map((h) => [
      String(run.size),
      h.hop,
      String(h.writes),
      h.seconds.toFixed(2),
      h.dataSeconds?.toFixed(2) ?? '–',
      h.pausedSeconds?.toFixed(2) ?? '–',
      h.padBytes === undefined || !(h.frameBytes > 0) ? '–' : `${((100 * h.padBytes) / h.frameBytes).toFixed(1)} %`,
      Number.isFinite(h.lateP99Ms) ? h.lateP99Ms.toFixed(2) : '–',
    ]),
  );
  return { head, rows };
}
