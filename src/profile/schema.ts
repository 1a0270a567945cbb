/**
 * The normal-traffic profile (docs/DESIGN.md §4 "Profile"): what `smig profile learn` writes and every pacing strategy
 * reads. A profile is plain JSON data, versioned (`{"format":"smig-profile","version":1}`) and validated on load:
 * a profile from another version or a hand-edited broken one is refused with one line naming the field.
 *
 * Units: bytes are wire bytes as the capture records them (original length, link header included); times are
 * seconds as numbers, except exact nanosecond quantities, which are decimal strings (`binNs`, `from`, …).
 *
 * Contents (version 1):
 * - `provenance`: the capture's base name, SHA-256 and size, the filter, the direction the filter implies
 *   ({@link Direction}), the time window (`from`/`to`, ns after the earliest packet passing the filter, which
 *   is also where `smig analyze` anchors its bins) and the absolute start of bin 0.
 * - the per-bin series (`series.packets`, `series.bytes`; bin i = floor((ts − start) / bin), from the window
 *   start to the bin of the window's last packet, as `smig analyze` counts them) and its empirical
 *   distributions (`perBin`);
 * - `chain`: a Markov chain over rate levels (per-bin bytes quantized at quantile `edges`); per level the
 *   empirical (bytes, packets) pairs of its bins, the transition counts and their probabilities. Transitions
 *   are counted around the series as a circle (the last bin is followed by the first, as `replay` loops it):
 *   every level then has a successor, the chain is irreducible, and its stationary distribution is exactly the
 *   level frequencies;
 * - `sizes`: histogram of wire sizes; `iat`: inter-arrival quantiles and a log histogram; `bursts`: packets
 *   per burst, a burst being a maximal run of packets (file order) whose gaps are shorter than `bursts.gapNs`;
 * - `rates`: mean byte and packet rates = totals ÷ `duration`, where duration = bins × bin.
 *
 * Version 2 adds `shape` ({@link PacketShape}): the packets themselves — the learned sequence of wire sizes and
 * gaps that `profile` pacing resamples, and its summaries (sizes, runs of full segments, gaps inside and between
 * bursts after small and large packets, burst lengths, share of small packets). Version 1 profiles still load.
 */
export const PROFILE_FORMAT = 'smig-profile';
export const PROFILE_VERSION = 2;
/** Versions this smig reads: 1 (no packet shapes: `profile` pacing falls back to per-bin bursts) and 2. */
export const PROFILE_VERSIONS: readonly number[] = [1, 2];
/** Most packets of the learned trace a profile keeps (see {@link PacketShape}). */
export const MAX_TRACE_PACKETS = 8000;
/** Longest gap kept in a trace, µs (a minute: longer silences are cut to it). */
export const MAX_TRACE_GAP_US = 60_000_000;
/** Most bins a profile may hold (a day at 1 s is 86 400); learn refuses more. */
export const MAX_PROFILE_BINS = 1_000_000;
/** Most rate levels of the chain. */
export const MAX_LEVELS = 8;
/** Largest profile file read (checked before reading). */
export const MAX_PROFILE_FILE_BYTES: number = 64 * 1024 * 1024;

/** An empirical distribution: ascending distinct values with positive integer counts. */
export interface Histogram {
  values: number[];
  counts: number[];
}

/**
 * Which direction of traffic the filter keeps: `both` when it has no `src`/`dst` qualifier; `src` (only `src`
 * qualifiers: packets sent by the named endpoints), `dst` (only `dst`: packets they receive), `src+dst` (both
 * kinds, e.g. one flow direction `src host a and dst host b`; read the filter).
 */
export type Direction = 'both' | 'src' | 'dst' | 'src+dst';

export interface Provenance {
  /** Base name of the capture file (`stdin` for -). */
  capture: string;
  /** SHA-256 (hex) of the capture file's bytes as stored (compressed if gzip). */
  sha256: string;
  captureBytes: number;
  filter: string | null;
  direction: Direction;
  /** Window start: nanoseconds after the earliest packet passing the filter (decimal integer). */
  from: string;
  /** Window end (exclusive), likewise, or null for the end of the capture. */
  to: string | null;
  /** Absolute time of the start of bin 0: exact decimal seconds since the epoch. */
  start: string;
  /** Seconds from the first to the last packet of the window. */
  span: number;
}

/** One rate level of the chain. */
export interface Level {
  /** Smallest and largest per-bin byte count among its bins. */
  min: number;
  max: number;
  /** Number of bins in this level. */
  bins: number;
  /** The level's bins as distinct [bytes, packets, count] triples, ascending by bytes then packets. */
  pairs: [number, number, number][];
}

export interface Chain {
  /** K − 1 ascending byte thresholds: a bin with b bytes is in level #{e ∈ edges: e ≤ b}. */
  edges: number[];
  levels: Level[];
  /** K × K transition counts (circular: row i sums to levels[i].bins). */
  transitions: number[][];
  /** Row-normalized transitions. */
  probabilities: number[][];
}

export interface IatStats {
  /** Gaps seen (consecutive packets of the window in file order; negative gaps of unordered files left out). */
  n: number;
  /** Gaps kept in the sample the quantiles and histogram are computed from (all of them up to 1 M). */
  sampled: number;
  /** [q, seconds] pairs, q ascending in [0, 1] (numpy 'linear' quantiles). */
  quantiles: [number, number][];
  /** Log-spaced histogram in seconds: counts[i] gaps in [edges[i], edges[i+1]) (the last bin is closed). */
  histogram: { edges: number[]; counts: number[] };
}

export interface BurstStats {
  /** Gap below which consecutive packets belong to one burst, in nanoseconds (decimal integer). */
  gapNs: string;
  /** Number of bursts. */
  count: number;
  /** Packets per burst. */
  packets: Histogram;
  /** Bytes per burst. */
  bytes: { mean: number; p50: number; p90: number; p99: number; max: number };
}

/** Gap quantiles (seconds) at {@link SHAPE_GAP_QUANTILES}, and how many gaps they summarize. */
export interface GapSummary {
  n: number;
  quantiles: number[];
}

/** Quantiles of the gap summaries of a {@link PacketShape}. */
export const SHAPE_GAP_QUANTILES: readonly number[] = [0.05, 0.25, 0.5, 0.75, 0.95];

/**
 * Packet-level shape of the profiled direction (version 2). `trace` is the learned packet sequence in capture
 * order (at most {@link MAX_TRACE_PACKETS}: a longer window keeps evenly spaced contiguous pieces of it):
 * `sizes[i]` the wire size of packet i, `gapsUs[i]` the gap before it in µs (0 for the first, at most
 * {@link MAX_TRACE_GAP_US}). The rest summarizes it for reports and checks: `full` is the largest wire size (a
 * full segment), `small` the size at or below which a packet counts as small (the TCP/IP headers plus 60 bytes),
 * `fullRuns` the lengths of runs of consecutive full segments (how large writes were cut), `burstGapUs` the gap
 * that ends a burst, `burstPackets` packets per burst, and `gaps` the gaps inside bursts and between them, each
 * after a small or a large packet (what came before).
 */
export interface PacketShape {
  trace: { sizes: number[]; gapsUs: number[] };
  full: number;
  small: number;
  smallShare: number;
  fullShare: number;
  fullRuns: Histogram;
  burstGapUs: number;
  burstPackets: Histogram;
  gaps: {
    insideAfterSmall: GapSummary;
    insideAfterLarge: GapSummary;
    betweenAfterSmall: GapSummary;
    betweenAfterLarge: GapSummary;
  };
  /**
   * Wire sizes of the reverse direction: the packets going the other way on the profiled direction's TCP
   * connections (learned with a filter only; absent in older profiles). A shaped link's receiver draws the size of
   * each record it sends back from those above a pure ACK (profile/reverse.ts, roles/echo.ts).
   */
  reverse?: Histogram;
  /**
   * The sizes of those of {@link reverse} that carry data (a TCP payload; absent in older profiles): the echo records
   * draw from these when present. A SYN, a FIN or an ACK with SACK blocks is the kernel's, and no record can be one.
   */
  reverseData?: Histogram;
  /**
   * 6 when most of the trace's packets were IPv6 (their TCP/IP headers are 20 bytes larger: a pure ACK is 74 or 86
   * bytes on Ethernet); absent for IPv4 (and in older profiles). A lab set like the capture then runs over IPv6.
   */
  ipVersion?: 6;
  /**
   * The share of the profiled packets that were not TCP (a UDP tunnel, a call); absent when all were. smig's links
   * are TCP: they can take such traffic's sizes and times, not its protocol.
   */
  nonTcpShare?: number;
  /**
   * Whether the trace's TCP pure ACKs carried timestamps (more did than did not); absent when it had none, or in
   * older profiles (the link is then read from the sizes alone: pacing/link.ts).
   */
  tcpTimestamps?: boolean;
}

/** A learned normal-traffic profile (see the module comment for the meaning of each part). */
export interface Profile {
  format: typeof PROFILE_FORMAT;
  /** 2 (this smig writes) or 1 (older, without `shape`). */
  version: 1 | 2;
  provenance: Provenance;
  /** Bin width in nanoseconds (decimal integer) and in seconds. */
  binNs: string;
  bin: number;
  bins: number;
  /** bins × bin, seconds. */
  duration: number;
  packets: number;
  bytes: number;
  rates: { bytesPerSecond: number; packetsPerSecond: number };
  series: { packets: number[]; bytes: number[] };
  perBin: { packets: Histogram; bytes: Histogram };
  chain: Chain;
  sizes: Histogram;
  iat: IatStats;
  bursts: BurstStats;
  /** Version 2: the packets' shape. */
  shape?: PacketShape;
}
