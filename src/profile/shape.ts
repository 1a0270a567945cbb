/**
 * The packet-level summaries of a learned trace (a version 2 profile's `shape`; see {@link PacketShape}), apart
 * from the pass over the capture that gathers it (learn.ts).
 */
import { quantileSorted } from '../analysis/stats.js';
import type { GapSummary, Histogram, PacketShape } from './model.js';
import { SHAPE_GAP_QUANTILES } from './model.js';

/**
 * Wire bytes of the TCP/IP headers with timestamps on Ethernet (14 + 20 + 32 over IPv4, 14 + 40 + 32 over IPv6): a
 * small packet is at most this + 60.
 */
const SMALL_ABOVE_HEADERS = { 4: 66 + 60, 6: 86 + 60 } as const;

/**
 * The summaries of a packet trace (see {@link PacketShape}): a packet is small at or below 126 wire bytes (a pure
 * ACK or a short message), full at the largest size seen; gaps are split by whether they end a burst
 * (≥ `burstGapUs`) and by the size class of the packet before them. `ipVersion` 6: most packets were IPv6;
 * `nonTcpShare`: the share of the packets that were not TCP; `tcpTimestamps`: whether its TCP pure ACKs carried
 * timestamps (absent when it had none); `reverseData`: the reverse direction's packets that carry data.
 */
export function shapeOf(
  trace: { sizes: number[]; gapsUs: number[] },
  burstGapUs: number,
  reverse?: Histogram,
  o: { ipVersion?: 4 | 6; nonTcpShare?: number; tcpTimestamps?: boolean; reverseData?: Histogram } = {},
): PacketShape {
  const ipVersion = o.ipVersion ?? 4;
  const { sizes, gapsUs } = trace;
  const n = sizes.length;
  const full = sizes.reduce((a, b) => Math.max(a, b), 0);
  const small = SMALL_ABOVE_HEADERS[ipVersion];
  let smallCount = 0;
  let fullCount = 0;
  const fullRuns = new Map<number, number>();
  const burstPackets = new Map<number, number>();
  const gaps = {
    insideAfterSmall: [] as number[],
    insideAfterLarge: [] as number[],
    betweenAfterSmall: [] as number[],
    betweenAfterLarge: [] as number[],
  };
  let run = 0;
  let burst = 0;
  for (let i = 0; i < n; i++) {
    const s = sizes[i]!;
    if (s <= small) smallCount++;
    if (s === full) {
      fullCount++;
      run++;
    } else if (run > 0) {
      fullRuns.set(run, (fullRuns.get(run) ?? 0) + 1);
      run = 0;
    }
    if (i > 0) {
      const g = gapsUs[i]!;
      const afterSmall = sizes[i - 1]! <= small;
      if (g >= burstGapUs) {
        burstPackets.set(burst, (burstPackets.get(burst) ?? 0) + 1);
        burst = 0;
        (afterSmall ? gaps.betweenAfterSmall : gaps.betweenAfterLarge).push(g / 1e6);
      } else {
        (afterSmall ? gaps.insideAfterSmall : gaps.insideAfterLarge).push(g / 1e6);
      }
    }
    burst++;
  }
  if (run > 0) fullRuns.set(run, (fullRuns.get(run) ?? 0) + 1);
  if (burst > 0) burstPackets.set(burst, (burstPackets.get(burst) ?? 0) + 1);
  const summary = (a: number[]): GapSummary => {
    const s = Float64Array.from(a).sort();
    return { n: s.length, quantiles: s.length === 0 ? [] : SHAPE_GAP_QUANTILES.map((p) => quantileSorted(s, p)) };
  };
  return {
    trace: { sizes: [...sizes], gapsUs: [...gapsUs] },
    full,
    small,
    smallShare: n === 0 ? 0 : smallCount / n,
    fullShare: n === 0 ? 0 : fullCount / n,
    fullRuns: histogramFromMap(fullRuns),
    burstGapUs,
    burstPackets: histogramFromMap(burstPackets),
    gaps: {
      insideAfterSmall: summary(gaps.insideAfterSmall),
      insideAfterLarge: summary(gaps.insideAfterLarge),
      betweenAfterSmall: summary(gaps.betweenAfterSmall),
      betweenAfterLarge: summary(gaps.betweenAfterLarge),
    },
    ...(reverse ? { reverse } : {}),
    ...(o.reverseData ? { reverseData: o.reverseData } : {}),
    ...(ipVersion === 6 ? { ipVersion: 6 as const } : {}),
    ...(o.nonTcpShare ? { nonTcpShare: o.nonTcpShare } : {}),
    ...(o.tcpTimestamps !== undefined ? { tcpTimestamps: o.tcpTimestamps } : {}),
  };
}

/**
 * Whether an Ethernet wire size is that of a TCP pure ACK without the timestamps option (IPv4 54 B, or 60 B once
 * Ethernet pads it; IPv6 74 B: 'plain'), with it (12 B more: 'stamped'), or neither. The one rule by which a trace
 * says whether its hosts sent timestamps (learn.ts on TCP packets, pacing/link.ts on a trace's sizes).
 */
export function pureAckKind(size: number, ipVersion: 4 | 6): 'plain' | 'stamped' | undefined {
  const plain = ipVersion === 6 ? 74 : 54;
  if (size === plain || (ipVersion === 4 && size === 60)) return 'plain';
  return size === plain + 12 ? 'stamped' : undefined;
}

/** A histogram of a value → count map, ascending, without empty entries. */
export function histogramFromMap(m: Map<number, number>): Histogram {
  const entries = [...m.entries()].filter(([, c]) => c > 0).sort((a, b) => a[0] - b[0]);
  return { values: entries.map((e) => e[0]), counts: entries.map((e) => e[1]) };
}
