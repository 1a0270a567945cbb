/**
 * `smig profile learn` as a library: one pass over a capture (two when its earliest packet is not its first)
 * gathers the per-bin series, sizes, gaps and bursts of the packets that pass the filter inside the time
 * window, and {@link buildProfile} turns them into a {@link Profile} (docs/DESIGN.md §4 "Profile").
 *
 * The window is relative to the earliest packet passing the filter — the anchor `smig analyze` uses — so a
 * profile learned with `--to 60s` and an analysis of the rest line up bin for bin when 60 s is a multiple of
 * the bin width. Bin 0 starts at the window start; the series ends with the bin of the window's last packet
 * (as `smig analyze` counts bins), so its per-bin series equals analyze's for the same packets.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { nsToDecimal } from '../analysis/report.js';
import { quantileSorted, Reservoir } from '../analysis/stats.js';
import { TrafficAccumulator } from '../analysis/traffic.js';
import { createDecoded, decodePacket } from '../capture/decode.js';
import { ethernetWireSize } from '../capture/ethernet.js';
import { compileFilter } from '../capture/filter.js';
import { readCapture } from '../capture/reader.js';
import type { CaptureWarning, PacketRecord } from '../capture/types.js';
import { smigError } from '../errors.js';
import { createRng } from '../util/rng.js';
import type { Chain, Direction, Histogram, IatStats, Level, Profile } from './model.js';
import {
  levelOf,
  MAX_LEVELS,
  MAX_PROFILE_BINS,
  MAX_TRACE_GAP_US,
  MAX_TRACE_PACKETS,
  PROFILE_FORMAT,
  PROFILE_VERSION,
} from './model.js';
import { ReverseSizes } from './reverse.js';
import { histogramFromMap, pureAckKind, shapeOf } from './shape.js';

export interface LearnOptions {
  /** tcpdump-subset filter (as `smig analyze --filter`). */
  filter?: string;
  /** Bin width, ns (default 1 s, at least 1 µs). */
  binNs?: bigint;
  /** Window start and end (exclusive), ns after the earliest packet passing the filter. */
  fromNs?: bigint;
  toNs?: bigint;
  /** Rate levels of the chain (default {@link autoLevels}). */
  levels?: number;
  /** Gap that ends a burst, ns (default 1 ms). */
  burstGapNs?: bigint;
  /** Inter-arrival times kept for quantiles (default 1 M; a uniform sample beyond). */
  maxSamples?: number;
  signal?: AbortSignal;
}

export interface LearnResult {
  profile: Profile;
  /** Reader warnings (damaged tail, …) and `SMIG_WARN_ANCHOR` when stdin could not be re-read. */
  warnings: CaptureWarning[];
}

/** Default bin: 1 s. */
export const DEFAULT_BIN_NS = 1_000_000_000n;
/** Default burst gap: 1 ms. */
export const DEFAULT_BURST_GAP_NS = 1_000_000n;
/** Quantiles of the inter-arrival times kept in a profile. */
export const IAT_QUANTILES: readonly number[] = [0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1];

/**
 * Number of rate levels for a series of `bins` bins: round(√(bins / 4)), between 1 and {@link MAX_LEVELS}, so
 * that the K × K transition matrix has about four transitions per cell (96 bins → 5 levels, 256 → 8).
 */
export function autoLevels(bins: number): number {
  return Math.min(MAX_LEVELS, Math.max(1, Math.round(Math.sqrt(bins / 4))));
}

/**
 * Reads which directions a filter keeps from its `src`/`dst` qualifiers (see {@link Direction}).
 * @example filterDirection('src host 10.0.0.1 and tcp') === 'src'
 */
export function filterDirection(filter: string | undefined): Direction {
  if (filter === undefined) return 'both';
  const words = new Set(filter.split(/[\s()!]+/));
  const src = words.has('src');
  const dst = words.has('dst');
  return src && dst ? 'src+dst' : src ? 'src' : dst ? 'dst' : 'both';
}

/**
 * Builds the Markov chain over rate levels of a per-bin series (docs/DESIGN.md §4). Levels are cut at the byte
 * quantiles k/K (k = 1 … K−1, the order statistic at floor(k·n/K)); equal cut points, and those not above the
 * minimum, are merged, so every level holds at least one bin and K may come out smaller than asked. Transitions
 * are counted circularly (bin n−1 → bin 0; see model.ts), so each row sums to its level's bins.
 * @throws SmigError SMIG_ERR_USAGE on an empty series, series of different lengths, or levels outside 1…8.
 */
export function buildChain(
  bytes: readonly number[],
  packets: readonly number[],
  levels: number = autoLevels(bytes.length),
): Chain {
  const n = bytes.length;
  if (n === 0) throw smigError('SMIG_ERR_USAGE', 'buildChain: the series is empty');
  if (packets.length !== n)
    throw smigError('SMIG_ERR_USAGE', `buildChain: ${n} byte counts but ${packets.length} packet counts`);
  if (!Number.isInteger(levels) || levels < 1 || levels > MAX_LEVELS) {
    throw smigError('SMIG_ERR_USAGE', `levels: ${levels} is not an integer from 1 to ${MAX_LEVELS}`);
  }
  const sorted = Float64Array.from(bytes).sort();
  const edges: number[] = [];
  for (let k = 1; k < levels; k++) {
    const cut = sorted[Math.floor((k * n) / levels)]!;
    if (cut > sorted[0]! && cut !== edges[edges.length - 1]) edges.push(cut);
  }
  const K = edges.length + 1;
  const seq = bytes.map((b) => levelOf(edges, b));
  const transitions = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  for (let i = 0; i < n; i++) transitions[seq[i]!]![seq[(i + 1) % n]!]!++;
  const pairMaps = Array.from({ length: K }, () => new Map<string, [number, number, number]>());
  for (let i = 0; i < n; i++) {
    const key = `${bytes[i]},${packets[i]}`;
    const m = pairMaps[seq[i]!]!;
    const e = m.get(key);
    if (e) e[2]++;
    else m.set(key, [bytes[i]!, packets[i]!, 1]);
  }
  const lv: Level[] = pairMaps.map((m) => {
    const pairs = [...m.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return { min: pairs[0]![0], max: pairs[pairs.length - 1]![0], bins: pairs.reduce((s, p) => s + p[2], 0), pairs };
  });
  const probabilities = transitions.map((row) => {
    const s = row.reduce((a, b) => a + b, 0);
    return row.map((c) => c / s);
  });
  return { edges, levels: lv, transitions, probabilities };
}

/** Everything one pass gathers; the input of {@link buildProfile}. */
export interface LearnData {
  acc: TrafficAccumulator;
  /** Bursts: packets per burst, and a sample of bytes per burst. */
  burstPackets: Map<number, number>;
  burstBytes: Reservoir;
  /** The packet sequence (or pieces of it): see {@link TraceKeeper}. */
  trace?: TraceKeeper;
  /** The reverse direction's wire sizes (only with a filter, which tells the directions apart). */
  reverse?: ReverseSizes;
  /** 6 when most packets of the window were IPv6. */
  ipVersion?: 4 | 6;
  /** The share of the window's packets that were not TCP. */
  nonTcpShare?: number;
  /** Whether the window's TCP pure ACKs carried timestamps (more of them did than not); absent without any. */
  tcpTimestamps?: boolean;
}

/** Packets per contiguous piece a long trace is kept in. */
export const TRACE_PIECE = 500;

/**
 * Keeps the learned packet sequence in bounded memory: pieces of {@link TRACE_PIECE} consecutive packets, of which
 * at most MAX_TRACE_PACKETS ÷ TRACE_PIECE are kept by reservoir sampling (a uniform choice among all pieces, in
 * capture order), so a short window is kept whole and a long one as pieces spread over all of it.
 */
export class TraceKeeper {
  readonly #maxPieces: number;
  readonly #rng = createRng(0x7ace);
  #pieces: { index: number; sizes: number[]; gapsUs: number[] }[] = [];
  #current: { index: number; sizes: number[]; gapsUs: number[] } | undefined;
  #count = 0;
  #prevNs: bigint | undefined;

  constructor(maxPackets: number = MAX_TRACE_PACKETS) {
    this.#maxPieces = Math.max(1, Math.floor(maxPackets / TRACE_PIECE));
  }

  add(ts: bigint, size: number): void {
    const gapNs = this.#prevNs === undefined ? 0n : ts - this.#prevNs;
    this.#prevNs = ts;
    const gapUs = gapNs <= 0n ? 0 : Math.min(MAX_TRACE_GAP_US, Math.round(Number(gapNs) / 1000));
    if (this.#current === undefined || this.#current.sizes.length >= TRACE_PIECE) {
      const index = this.#count++;
      this.#current = { index, sizes: [], gapsUs: [] };
      if (this.#pieces.length < this.#maxPieces) this.#pieces.push(this.#current);
      else {
        const j = Math.floor(this.#rng() * (index + 1));
        if (j < this.#maxPieces) this.#pieces[j] = this.#current;
      }
    }
    this.#current.sizes.push(Math.min(262144, Math.max(1, size)));
    this.#current.gapsUs.push(this.#current.sizes.length === 1 && this.#current.index === 0 ? 0 : gapUs);
  }

  /** The kept packets in capture order. */
  trace(): { sizes: number[]; gapsUs: number[] } {
    const kept = [...this.#pieces].sort((a, b) => a.index - b.index);
    return { sizes: kept.flatMap((p) => p.sizes), gapsUs: kept.flatMap((p) => p.gapsUs) };
  }
}

/**
 * Learns a profile from a capture file (`-` for stdin).
 * @throws SmigError SMIG_ERR_FILE (cannot open), capture errors of the reader, SMIG_ERR_FILTER, and
 *   SMIG_ERR_PROFILE when no packet is left in the window or the series would exceed {@link MAX_PROFILE_BINS}.
 */
export async function learnProfile(capture: string, opts: LearnOptions = {}): Promise<LearnResult> {
  const binNs = opts.binNs ?? DEFAULT_BIN_NS;
  const fromNs = opts.fromNs ?? 0n;
  const burstGapNs = opts.burstGapNs ?? DEFAULT_BURST_GAP_NS;
  if (binNs < 1000n) throw smigError('SMIG_ERR_BAD_DURATION', `bin: ${binNs} ns is shorter than 1us`);
  if (burstGapNs < 1n) throw smigError('SMIG_ERR_BAD_DURATION', 'burst gap: must be at least 1ns');
  if (fromNs < 0n) throw smigError('SMIG_ERR_BAD_DURATION', '--from: must not be negative');
  if (opts.toNs !== undefined && opts.toNs <= fromNs) {
    throw smigError('SMIG_ERR_USAGE', `--to must be after --from (${opts.toNs} ns ≤ ${fromNs} ns)`);
  }
  const filter = opts.filter === undefined || opts.filter.trim() === '' ? undefined : opts.filter;
  const predicate = filter === undefined ? undefined : compileFilter(filter);
  const name = capture === '-' ? 'stdin' : capture;

  const hash = createHash('sha256');
  let size = 0;
  const pass = async (source: string | AsyncIterable<Uint8Array>, anchorNs: bigint | undefined) => {
    const decoded = createDecoded();
    let anchor = anchorNs;
    let earliest: bigint | undefined;
    let acc: TrafficAccumulator | undefined;
    const burstPackets = new Map<number, number>();
    const burstBytes = new Reservoir(100_000, 0xb0057);
    const trace = new TraceKeeper();
    const reverse = predicate ? new ReverseSizes() : undefined;
    const inWindow = (rel: bigint): boolean => rel >= fromNs && (opts.toNs === undefined || rel < opts.toNs);
    let prev: bigint | undefined;
    let ipv4 = 0;
    let ipv6 = 0;
    let nonTcp = 0;
    let ackPlain = 0;
    let ackStamped = 0;
    let traced = 0;
    let bp = 0;
    let bb = 0;
    const onPacket = (p: PacketRecord): void => {
      decodePacket(p.linktype, p.data, decoded, p.origLen);
      // sizes as on Ethernet, whatever the capture's link type (`tcpdump -i any`, raw IP): capture/ethernet.ts
      const wire = ethernetWireSize(p.linktype, decoded, p.origLen);
      if (predicate) {
        if (!predicate(decoded)) {
          if (anchor !== undefined && inWindow(p.ts - anchor)) reverse?.other(decoded, wire);
          return;
        }
      }
      anchor ??= p.ts;
      if (earliest === undefined || p.ts < earliest) earliest = p.ts;
      const rel = p.ts - anchor;
      if (!inWindow(rel)) return;
      if (predicate) reverse?.forward(decoded);
      acc ??= new TrafficAccumulator({ binNs, anchorNs: anchor + fromNs, maxSamples: opts.maxSamples });
      acc.add(wire === p.origLen ? p : { ...p, origLen: wire });
      trace.add(p.ts, wire);
      traced++;
      if (decoded.protocol !== 6) nonTcp++;
      else {
        // pure ACKs counted on TCP packets only: a 66 B datagram of a call is no stamped ACK
        const kind = pureAckKind(wire, decoded.network === 'ipv6' ? 6 : 4);
        if (kind === 'plain') ackPlain++;
        else if (kind === 'stamped') ackStamped++;
      }
      if (decoded.network === 'ipv6') ipv6++;
      else if (decoded.network === 'ipv4') ipv4++;
      // a burst: consecutive packets (file order) less than burstGapNs apart
      const gap = prev === undefined ? burstGapNs : p.ts - prev;
      if (gap >= burstGapNs || gap <= -burstGapNs) {
        if (bp > 0) endBurst();
        bp = 0;
        bb = 0;
      }
      bp++;
      bb += wire;
      prev = p.ts;
    };
    const endBurst = (): void => {
      burstPackets.set(bp, (burstPackets.get(bp) ?? 0) + 1);
      burstBytes.add(bb);
    };
    const info = await readCapture(source, onPacket, { signal: opts.signal, name });
    if (bp > 0) endBurst();
    const ipVersion: 4 | 6 = ipv6 > ipv4 ? 6 : 4;
    const nonTcpShare = nonTcp / Math.max(1, traced);
    const stamps = ackPlain + ackStamped > 0 ? { tcpTimestamps: ackStamped >= ackPlain } : {};
    const data = acc
      ? { acc, burstPackets, burstBytes, trace, ipVersion, nonTcpShare, ...stamps, ...(reverse ? { reverse } : {}) }
      : undefined;
    return { acc, info, anchor, earliest, data };
  };

  const first = await pass(
    capture === '-' ? hashed(process.stdin) : hashed(await openCapture(capture, opts.signal)),
    undefined,
  );
  const warnings = [...first.info.warnings];
  let result = first;
  // Bins are anchored at the earliest packet passing the filter (docs/DESIGN.md §5); the first pass anchored at the first
  // one. When they differ (a capture out of time order), read again with the right anchor.
  if (first.earliest !== undefined && first.earliest !== first.anchor) {
    if (capture === '-') {
      warnings.push({
        code: 'SMIG_WARN_ANCHOR',
        offset: 0,
        message: 'stdin: the window is anchored at the first packet, not the earliest (stdin cannot be read twice)',
      });
    } else {
      result = await pass(capture, first.earliest);
    }
  }
  if (!result.data || result.data.acc.packets === 0) {
    const where = filter === undefined ? '' : ` passing the filter '${filter}'`;
    const window = opts.fromNs !== undefined || opts.toNs !== undefined ? ' in the window' : '';
    throw smigError('SMIG_ERR_PROFILE', `${name}: no packets${where}${window}: nothing to learn from`);
  }
  const profile = buildProfile(result.data, {
    capture: capture === '-' ? 'stdin' : basename(capture),
    sha256: hash.digest('hex'),
    captureBytes: size,
    filter,
    fromNs,
    toNs: opts.toNs,
    burstGapNs,
    levels: opts.levels,
  });
  return { profile, warnings };

  async function* hashed(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const chunk of input) {
      hash.update(chunk);
      size += chunk.length;
      yield chunk;
    }
  }
}

async function openCapture(path: string, signal: AbortSignal | undefined): Promise<AsyncIterable<Uint8Array>> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    if ((await fh.stat()).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
  } catch (e) {
    await fh?.close();
    throw smigError('SMIG_ERR_FILE', `${path}: cannot open (${(e as { code?: string }).code ?? 'error'})`, e);
  }
  return fh.createReadStream({ highWaterMark: 1 << 20, signal });
}

export interface BuildMeta {
  capture: string;
  sha256: string;
  captureBytes: number;
  filter: string | undefined;
  fromNs: bigint;
  toNs: bigint | undefined;
  burstGapNs: bigint;
  levels?: number;
}

/**
 * Turns the data of a pass into a profile.
 * @throws SmigError SMIG_ERR_PROFILE when the series would be longer than {@link MAX_PROFILE_BINS} bins.
 */
export function buildProfile(d: LearnData, meta: BuildMeta): Profile {
  const { acc } = d;
  const bins = acc.binCount;
  const binLabel = `${acc.binNs} ns`;
  if (bins > MAX_PROFILE_BINS) {
    throw smigError(
      'SMIG_ERR_PROFILE',
      `${meta.capture}: the window spans ${bins} bins of ${binLabel}, more than ${MAX_PROFILE_BINS}: use a larger --bin or a --from/--to window`,
    );
  }
  const packets = new Array<number>(bins).fill(0);
  const bytes = new Array<number>(bins).fill(0);
  for (const [i, [p, b]] of acc.bins) {
    packets[i] = p;
    bytes[i] = b;
  }
  const bin = Number(acc.binNs) / 1e9;
  const duration = bins * bin;
  const iatValues = acc.iat.values().sort();
  const bb = d.burstBytes.values().sort();
  const burstCount = [...d.burstPackets.values()].reduce((a, b) => a + b, 0);
  const q = (s: Float64Array, p: number): number => (s.length === 0 ? 0 : quantileSorted(s, p));
  const reverseData = d.reverse?.dataHistogram();
  return {
    format: PROFILE_FORMAT,
    version: PROFILE_VERSION,
    provenance: {
      capture: meta.capture,
      sha256: meta.sha256,
      captureBytes: meta.captureBytes,
      filter: meta.filter ?? null,
      direction: filterDirection(meta.filter),
      from: meta.fromNs.toString(),
      to: meta.toNs === undefined ? null : meta.toNs.toString(),
      start: nsToDecimal(acc.baseNs),
      span: Number(acc.maxNs! - acc.minNs!) / 1e9,
    },
    binNs: acc.binNs.toString(),
    bin,
    bins,
    duration,
    packets: acc.packets,
    bytes: acc.bytes,
    rates: { bytesPerSecond: acc.bytes / duration, packetsPerSecond: acc.packets / duration },
    series: { packets, bytes },
    perBin: { packets: histogramOf(packets), bytes: histogramOf(bytes) },
    chain: buildChain(bytes, packets, Math.min(meta.levels ?? autoLevels(bins), MAX_LEVELS)),
    sizes: histogramFromMap(acc.sizes),
    iat: iatStats(acc.iat.seen, iatValues),
    bursts: {
      gapNs: meta.burstGapNs.toString(),
      count: burstCount,
      packets: histogramFromMap(d.burstPackets),
      bytes: {
        mean: bb.reduce((a, b) => a + b, 0) / Math.max(1, bb.length),
        p50: q(bb, 0.5),
        p90: q(bb, 0.9),
        p99: q(bb, 0.99),
        max: q(bb, 1),
      },
    },
    ...(d.trace
      ? {
          shape: shapeOf(d.trace.trace(), Number(meta.burstGapNs) / 1000, d.reverse?.histogram(), {
            ...d,
            ...(reverseData ? { reverseData } : {}),
          }),
        }
      : {}),
  };
}

/** Log-spaced gap histogram: [0, 1 µs), then four bins per decade up to 1000 s, the last bin open-ended. */
function iatStats(seen: number, sorted: Float64Array): IatStats {
  const edges = [0];
  for (let k = -24; k <= 12; k++) edges.push(Number((10 ** (k / 4)).toPrecision(12)));
  const counts = new Array<number>(edges.length - 1).fill(0);
  let j = 0;
  for (const v of sorted) {
    while (j < counts.length - 1 && v >= edges[j + 1]!) j++;
    counts[j]!++;
  }
  return {
    n: seen,
    sampled: sorted.length,
    quantiles: sorted.length === 0 ? [] : IAT_QUANTILES.map((p) => [p, quantileSorted(sorted, p)] as [number, number]),
    histogram: { edges, counts },
  };
}

function histogramOf(values: readonly number[]): Histogram {
  const m = new Map<number, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return histogramFromMap(m);
}
