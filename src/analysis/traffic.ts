/**
 * Per-class traffic accumulation in constant memory per packet: everything `smig analyze` reports about
 * one traffic class is gathered here in one pass over its packets.
 *
 * What grows, and with what (nothing grows with the file itself):
 * - per-bin counts: a sparse map with one entry per non-empty bin (≤ duration ÷ bin);
 * - the Fano windows (10 ms, 100 ms, 1 s): a sliding set of at most FANO_HORIZON windows per width; older
 *   windows are folded into running sums (see FanoCounter);
 * - packet sizes: an exact histogram (≤ 65536 + jumbo distinct values);
 * - inter-arrival times: a reservoir of at most `maxSamples` values (exact below that, a uniform sample above);
 * - flows: at most `maxFlows` entries; packets of further flows are counted in `flowsDropped`.
 *
 * Bins are anchored at the earliest packet passing the filter (DESIGN §5): bin i = floor((ts − tMin) / width), or,
 * with a time window [from, to) relative to tMin, at tMin + from. Without a given anchor the first packet passing
 * the filter is taken; `analyze` (analyze.ts) reads a file a second time in the rare case where that is not the
 * earliest (`filteredMinNs` tells).
 */
import { createDecoded, decodePacket, formatAddress } from '../capture/decode.js';
import type { Decoded } from '../capture/decode.js';
import type { PacketPredicate } from '../capture/filter.js';
import type { PacketRecord } from '../capture/types.js';
import { Reservoir } from './stats.js';

/** Windows of the Fano factor (variance ÷ mean of packet counts per window), in nanoseconds. */
export const FANO_WINDOWS_NS: readonly bigint[] = [10_000_000n, 100_000_000n, 1_000_000_000n];

export interface FlowRecord {
  /** IP protocol number (6 TCP, 17 UDP, …). */
  protocol: number;
  /** Originator: the source of the first packet seen of this flow. */
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  startNs: bigint;
  endNs: bigint;
  origPackets: number;
  origBytes: number;
  respPackets: number;
  respBytes: number;
}

export interface TrafficOptions {
  /** Bin width in nanoseconds (≥ 1000: 1 µs). */
  binNs: bigint;
  /** The earliest timestamp of the class (after the filter); undefined: the first packet passing the filter. */
  anchorNs?: bigint;
  /** Time window relative to the anchor: packets with from ≤ ts − anchor < to are kept; bins start at from. */
  fromNs?: bigint;
  toNs?: bigint;
  filter?: PacketPredicate;
  maxSamples?: number;
  maxFlows?: number;
}

/** Counts of one bin: [packets, bytes]. */
type BinCounts = [number, number];

/** Accumulates one traffic class. Feed it with `add`, in file order. */
export class TrafficAccumulator {
  readonly binNs: bigint;
  /** Anchor of the window: the class's earliest packet (after the filter). */
  anchorNs: bigint | undefined;
  /** Earliest timestamp of the packets that passed the filter (in or out of the window). */
  filteredMinNs: bigint | undefined;
  private readonly fromNs: bigint;
  private readonly toNs: bigint | undefined;
  packets = 0;
  bytes = 0;
  capturedBytes = 0;
  /** Packets the reader delivered, before the filter. */
  packetsRead = 0;
  firstNs: bigint | undefined;
  lastNs: bigint | undefined;
  minNs: bigint | undefined;
  maxNs: bigint | undefined;
  /** Gaps in file order that were negative (packets out of time order): left out of the IAT sample. */
  outOfOrder = 0;
  flowsDropped = 0;
  readonly bins: Map<number, BinCounts> = new Map();
  readonly fanoCounters: FanoCounter[] = FANO_WINDOWS_NS.map(() => new FanoCounter());
  readonly sizes: Map<number, number> = new Map();
  readonly iat: Reservoir;
  readonly flows: Map<string, FlowRecord> = new Map();
  private readonly filter: PacketPredicate | undefined;
  private readonly maxFlows: number;
  private readonly decoded: Decoded = createDecoded();
  private prevNs: bigint | undefined;

  constructor(opts: TrafficOptions) {
    this.binNs = opts.binNs;
    this.anchorNs = opts.anchorNs;
    this.fromNs = opts.fromNs ?? 0n;
    this.toNs = opts.toNs;
    this.filter = opts.filter;
    this.maxFlows = opts.maxFlows ?? 100_000;
    this.iat = new Reservoir(opts.maxSamples ?? 1_000_000, 0x5eed);
  }

  /** Adds one packet (file order). Returns whether it passed the filter. */
  add(p: PacketRecord): boolean {
    this.packetsRead++;
    const d = decodePacket(p.linktype, p.data, this.decoded, p.origLen);
    if (this.filter && !this.filter(d)) return false;
    const ts = p.ts;
    if (this.filteredMinNs === undefined || ts < this.filteredMinNs) this.filteredMinNs = ts;
    this.anchorNs ??= ts;
    const sinceAnchor = ts - this.anchorNs;
    if (sinceAnchor < this.fromNs || (this.toNs !== undefined && sinceAnchor >= this.toNs)) return false;
    this.packets++;
    this.bytes += p.origLen;
    this.capturedBytes += p.capLen;
    if (this.firstNs === undefined) this.firstNs = ts;
    this.lastNs = ts;
    if (this.minNs === undefined || ts < this.minNs) this.minNs = ts;
    if (this.maxNs === undefined || ts > this.maxNs) this.maxNs = ts;

    const rel = sinceAnchor - this.fromNs;
    const bin = Number(rel / this.binNs);
    const counts = this.bins.get(bin);
    if (counts) {
      counts[0]++;
      counts[1] += p.origLen;
    } else {
      this.bins.set(bin, [1, p.origLen]);
    }
    for (let i = 0; i < FANO_WINDOWS_NS.length; i++) this.fanoCounters[i]!.add(Number(rel / FANO_WINDOWS_NS[i]!));
    this.sizes.set(p.origLen, (this.sizes.get(p.origLen) ?? 0) + 1);
    if (this.prevNs !== undefined) {
      const gap = ts - this.prevNs;
      if (gap < 0n) this.outOfOrder++;
      else this.iat.add(Number(gap) / 1e9);
    }
    this.prevNs = ts;
    if (d.srcPort >= 0 || d.network === 'ipv4' || d.network === 'ipv6') this.addFlow(d, ts, p.origLen);
    return true;
  }

  /** Number of bins from the anchor to the latest packet: empty bins in between are zero-rate samples. */
  get binCount(): number {
    if (this.maxNs === undefined) return 0;
    return Number((this.maxNs - this.baseNs) / this.binNs) + 1;
  }

  /** Start of bin 0: the anchor plus the window's start. */
  get baseNs(): bigint {
    return (this.anchorNs ?? 0n) + this.fromNs;
  }

  /** Packets that arrived more than FANO_HORIZON windows late (their Fano windows are approximate). */
  get fanoLate(): number {
    return this.fanoCounters.reduce((a, c) => a + c.late, 0);
  }

  /**
   * Fano factor of packet counts per window FANO_WINDOWS_NS[i], over all windows from the anchor to the latest
   * packet (empty ones count as zeros): sample variance ÷ mean. Null with fewer than two windows.
   */
  fano(i: number): number | null {
    const width = FANO_WINDOWS_NS[i]!;
    if (this.maxNs === undefined) return null;
    const windows = Number((this.maxNs - this.baseNs) / width) + 1;
    if (windows < 2) return null;
    const sumSq = this.fanoCounters[i]!.sumOfSquares();
    const mean = this.packets / windows;
    const variance = (sumSq - windows * mean * mean) / (windows - 1);
    return variance / mean;
  }

  private addFlow(d: Decoded, ts: bigint, len: number): void {
    const src = formatAddress(d.src);
    const dst = formatAddress(d.dst);
    const sp = d.srcPort;
    const dp = d.dstPort;
    const key = `${d.protocol}|${src}|${sp}|${dst}|${dp}`;
    let flow = this.flows.get(key);
    let forward = true;
    if (!flow) {
      flow = this.flows.get(`${d.protocol}|${dst}|${dp}|${src}|${sp}`);
      forward = false;
    }
    if (!flow) {
      if (this.flows.size >= this.maxFlows) {
        this.flowsDropped++;
        return;
      }
      flow = {
        protocol: d.protocol, src, srcPort: sp, dst, dstPort: dp, startNs: ts, endNs: ts,
        origPackets: 0, origBytes: 0, respPackets: 0, respBytes: 0,
      };
      this.flows.set(key, flow);
      forward = true;
    }
    if (ts < flow.startNs) flow.startNs = ts;
    if (ts > flow.endNs) flow.endNs = ts;
    if (forward) {
      flow.origPackets++;
      flow.origBytes += len;
    } else {
      flow.respPackets++;
      flow.respBytes += len;
    }
  }
}

/** Windows kept open per Fano width before they are folded into the running sum of squares. */
export const FANO_HORIZON = 65_536;

/**
 * Σ c² over the packet counts c of all windows of one width, in bounded memory: open windows live in a map;
 * once the map holds more than FANO_HORIZON windows, those more than FANO_HORIZON / 2 behind the newest are
 * folded into the sum. Exact unless a packet comes so late that its window was already folded (a file out of
 * time order by more than ~FANO_HORIZON / 2 windows: 5 min at 10 ms); such a packet counts as a window of its
 * own and is reported in `late`.
 */
export class FanoCounter {
  private readonly open: Map<number, number> = new Map();
  private folded = 0;
  private foldedBelow = -Infinity;
  private newest = -Infinity;
  late = 0;

  add(w: number): void {
    if (w < this.foldedBelow) {
      this.late++;
      this.folded += 1;
      return;
    }
    this.open.set(w, (this.open.get(w) ?? 0) + 1);
    if (w > this.newest) this.newest = w;
    if (this.open.size > FANO_HORIZON) this.fold(this.newest - FANO_HORIZON / 2);
  }

  sumOfSquares(): number {
    let s = this.folded;
    for (const c of this.open.values()) s += c * c;
    return s;
  }

  private fold(below: number): void {
    for (const [w, c] of this.open) {
      if (w < below) {
        this.folded += c * c;
        this.open.delete(w);
      }
    }
    this.foldedBelow = below;
  }
}
