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
 * Bins are anchored at the earliest packet passing the filter (docs/DESIGN.md §5): bin i = floor((ts − tMin) / width), or,
 * with a time window [from, to) relative to tMin, at tMin + from. Without a given anchor the first packet passing
 * the filter is taken; `analyze` (analyze.ts) reads a file a second time in the rare case where that is not the
 * earliest (`filteredMinNs` tells).
 */

import type { Decoded } from '../capture/decode.js';
import { createDecoded, decodePacketAt } from '../capture/decode.js';
import type { PacketPredicate } from '../capture/filter.js';
import type { PacketRecord } from '../capture/types.js';
import { BlockCollector } from './block-ks.js';
import { FanoCounter } from './fano.js';
import type { FlowRecord } from './flows.js';
import { FlowTable } from './flows.js';
import { radixPasses, radixSortU32 } from './radix.js';
import { Reservoir } from './stats.js';

export { FANO_HORIZON, FanoCounter } from './fano.js';
export type { FlowRecord } from './flows.js';

/** Windows of the Fano factor (variance ÷ mean of packet counts per window), in nanoseconds. */
export const FANO_WINDOWS_NS: readonly bigint[] = [10_000_000n, 100_000_000n, 1_000_000_000n];

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
  /** Blocks of this many bins: sizes and gaps are also kept with their block, for the tests by blocks (block-ks.ts). */
  blockBins?: number;
}

/** Counts of one bin: [packets, bytes]. */
type BinCounts = [number, number];

const NS = 1_000_000_000;
const NS_N = 1_000_000_000n;
/** Seconds apart below which a difference in nanoseconds is exact as a Number (2^53 ns ≈ 104 days). */
const EXACT_SECONDS = 9_000_000;
/** Packet sizes below this are counted in a typed array; larger ones (jumbo, reassembled) in a map. */
const DENSE_SIZES = 65_536;

/**
 * The inter-arrival sample: a {@link Reservoir} of gaps in integer nanoseconds (exact), read out in seconds. The
 * same values and the same sample as a reservoir of seconds (same size, same random choices), but sorting it is a
 * radix sort of integers — of 32-bit keys in three passes of 11 bits when every gap is under 4.3 s — instead of
 * one of doubles.
 */
export class IatSample {
  readonly #ns: Reservoir;

  constructor(capacity: number, seed: number) {
    this.#ns = new Reservoir(capacity, seed);
  }

  /** Gaps offered so far. */
  get seen(): number {
    return this.#ns.seen;
  }

  /** Offers one gap in nanoseconds (a non-negative integer below 2^53). */
  addNs(gapNs: number): void {
    this.#ns.add(gapNs);
  }

  /** The gaps kept, in seconds, in the reservoir's order (a copy). */
  values(): Float64Array {
    return toSeconds(this.#ns.values());
  }

  /** The gaps kept, in seconds, ascending (a copy). */
  sortedValues(): Float64Array {
    const ns = this.#ns.values();
    if (ns.length < 4096) return toSeconds(ns.sort());
    // every gap under 4.3 s (the common case): a radix sort of 32-bit keys, else of the two halves of each gap
    const keys = new Uint32Array(ns.length);
    if (!toUint32(ns, keys)) return toSeconds(sortIntegers(ns));
    toSecondsFrom(radixSortU32(keys, new Uint32Array(ns.length)), ns);
    return ns;
  }
}

/** Copies integers into 32-bit keys; false (keys incomplete) at the first one of 2^32 or more. */
function toUint32(a: Float64Array, keys: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    if (x > 0xffffffff) return false;
    keys[i] = x;
  }
  return true;
}

/** Nanoseconds (32-bit keys) to seconds into `out`: the same division as {@link toSeconds}. */
function toSecondsFrom(keys: Uint32Array, out: Float64Array): void {
  for (let i = 0; i < keys.length; i++) out[i] = keys[i]! / 1e9;
}

/** Nanoseconds to seconds in place (a function of its own: see splitIntegers). */
function toSeconds(v: Float64Array): Float64Array {
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / 1e9;
  return v;
}

/** Sorts non-negative integers below 2^53 in place (LSD radix on their two 32-bit halves, see radixPasses). */
function sortIntegers(a: Float64Array): Float64Array {
  const n = a.length;
  const lo = new Uint32Array(n);
  const hi = new Uint32Array(n);
  splitIntegers(a, lo, hi);
  const [l, h] = radixPasses(lo, hi);
  joinIntegers(a, l, h);
  return a;
}

// Each loop is a function of its own: V8 optimizes small hot functions at once, while one big function running a
// million-iteration loop once stays in the interpreter for a long time (3× slower in a one-shot run).
function splitIntegers(a: Float64Array, lo: Uint32Array, hi: Uint32Array): void {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const h = Math.floor(x / 4294967296);
    hi[i] = h;
    lo[i] = x - h * 4294967296;
  }
}

function joinIntegers(a: Float64Array, lo: Uint32Array, hi: Uint32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = hi[i]! * 4294967296 + lo[i]!;
}

/** Splits nanoseconds into floored seconds and the nanoseconds within them. */
function splitNs(ts: bigint): [sec: number, nsec: number] {
  let sec = ts / NS_N;
  let nsec = ts - sec * NS_N;
  if (nsec < 0n) {
    nsec += NS_N;
    sec -= 1n;
  }
  return [Number(sec), Number(nsec)];
}

function joinNs(sec: number, nsec: number): bigint {
  return BigInt(sec) * NS_N + BigInt(nsec);
}

/** ⌊a ÷ b⌋ for integers a, b > 0 with |a| < 2^53, exact (the float quotient can round up to the next integer). */
function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  const r = a - q * b;
  if (r < 0) q--;
  else if (r >= b) q++;
  return q;
}

/** A timestamp kept as seconds and nanoseconds (plain numbers, exact); `set` false until the first one. */
class Stamp {
  set = false;
  sec = 0;
  nsec = 0;
  /** The exact nanoseconds from the epoch when `sec` is beyond 2^53 (a float then only approximates it). */
  exact: bigint | undefined = undefined;
  put(sec: number, nsec: number, exact?: bigint): void {
    this.set = true;
    this.sec = sec;
    this.nsec = nsec;
    this.exact = exact;
  }
  after(sec: number, nsec: number): boolean {
    return sec < this.sec || (sec === this.sec && nsec < this.nsec);
  }
  before(sec: number, nsec: number): boolean {
    return sec > this.sec || (sec === this.sec && nsec > this.nsec);
  }
  ns(epoch: bigint): bigint | undefined {
    if (!this.set) return undefined;
    return (this.exact ?? joinNs(this.sec, this.nsec)) + epoch;
  }
}

/**
 * Accumulates one traffic class. Feed it with `add`, in file order.
 *
 * The per-packet path allocates nothing (the reader's `data` view aside): timestamps are handled as seconds and
 * nanoseconds in plain numbers (BigInt only beyond ±104 days from the anchor), the current bin and Fano windows
 * are cached, sizes go into a typed-array histogram and flows into a {@link FlowTable}.
 */
export class TrafficAccumulator {
  readonly binNs: bigint;
  /** Anchor of the window: the class's earliest packet (after the filter). */
  anchorNs: bigint | undefined;
  private readonly fromNs: bigint;
  private readonly toNs: bigint | undefined;
  packets = 0;
  bytes = 0;
  capturedBytes = 0;
  /** Packets the reader delivered, before the filter. */
  packetsRead = 0;
  /** Gaps in file order that were negative (packets out of time order): left out of the IAT sample. */
  outOfOrder = 0;
  flowsDropped = 0;
  readonly bins: Map<number, BinCounts> = new Map();
  readonly fanoCounters: FanoCounter[] = FANO_WINDOWS_NS.map(() => new FanoCounter());
  readonly iat: IatSample;
  /** With `blockBins`: sizes and gaps (s) with their blocks (a gap is in its later packet's block). */
  readonly blocks: { size: BlockCollector; iat: BlockCollector; bins: number } | undefined;
  private readonly filter: PacketPredicate | undefined;
  private readonly decoded: Decoded = createDecoded();
  readonly #flows: FlowTable;
  // number mirrors of the bigint options; `#wide` when they do not fit exactly (every packet takes the BigInt path)
  readonly #binW: number;
  readonly #fanoW: number[] = FANO_WINDOWS_NS.map(Number);
  readonly #from: number;
  readonly #to: number;
  readonly #wide: boolean;
  #anchor = new Stamp();
  readonly #filteredMin = new Stamp();
  readonly #first = new Stamp();
  readonly #last = new Stamp();
  readonly #min = new Stamp();
  readonly #max = new Stamp();
  readonly #prev = new Stamp();
  /**
   * Nanoseconds subtracted from every timestamp before it is split into numbers: 0 unless the timestamps lie beyond
   * 2^53 s from 1970 (a pcapng interface with a huge if_tsoffset), where seconds would no longer be exact numbers.
   */
  #epoch = 0n;
  /** `#epoch` is not 0 (a boolean: the per-packet test is then no BigInt comparison). */
  #shifted = false;
  #binIndex = NaN;
  #binCounts: BinCounts = [0, 0];
  readonly #sizesDense = new Float64Array(DENSE_SIZES);
  readonly #sizesLarge = new Map<number, number>();
  #sizes: Map<number, number> | undefined;
  // set by #place: the packet's bin and Fano windows
  #bin = 0;
  readonly #windows: number[] = FANO_WINDOWS_NS.map(() => 0);
  /** Start (ns after the window's start) of the cached bin and Fano windows; NaN: nothing cached. */
  #binStart = NaN;
  readonly #windowStarts: number[] = FANO_WINDOWS_NS.map(() => NaN);

  constructor(opts: TrafficOptions) {
    this.binNs = opts.binNs;
    this.anchorNs = opts.anchorNs;
    this.fromNs = opts.fromNs ?? 0n;
    this.toNs = opts.toNs;
    this.filter = opts.filter;
    this.#flows = new FlowTable(opts.maxFlows ?? 100_000);
    this.iat = new IatSample(opts.maxSamples ?? 1_000_000, 0x5eed);
    const bb = opts.blockBins;
    this.blocks = bb === undefined ? undefined : { size: new BlockCollector(), iat: new BlockCollector(), bins: bb };
    if (opts.anchorNs !== undefined) {
      if (!Number.isSafeInteger(splitNs(opts.anchorNs)[0])) {
        this.#epoch = (opts.anchorNs / NS_N) * NS_N;
        this.#shifted = true;
      }
      this.#anchor.put(...this.#relative(opts.anchorNs));
    }
    const limit = BigInt(EXACT_SECONDS) * NS_N;
    const fits = (x: bigint): boolean => x > -limit && x < limit;
    this.#wide = !fits(this.fromNs) || (this.toNs !== undefined && !fits(this.toNs)) || !fits(this.binNs);
    this.#binW = Number(this.binNs);
    this.#from = Number(this.fromNs);
    this.#to = this.toNs === undefined ? Infinity : Number(this.toNs);
  }

  /** Earliest timestamp of the packets that passed the filter (in or out of the window). */
  get filteredMinNs(): bigint | undefined {
    return this.#filteredMin.ns(this.#epoch);
  }
  get firstNs(): bigint | undefined {
    return this.#first.ns(this.#epoch);
  }
  get lastNs(): bigint | undefined {
    return this.#last.ns(this.#epoch);
  }
  get minNs(): bigint | undefined {
    return this.#min.ns(this.#epoch);
  }
  get maxNs(): bigint | undefined {
    return this.#max.ns(this.#epoch);
  }

  /** Exact histogram of packet sizes (original lengths), in size order. */
  get sizes(): Map<number, number> {
    if (this.#sizes === undefined) {
      const m = new Map<number, number>();
      const dense = this.#sizesDense;
      for (let i = 0; i < DENSE_SIZES; i++) if (dense[i]! > 0) m.set(i, dense[i]!);
      for (const k of [...this.#sizesLarge.keys()].sort((a, b) => a - b)) m.set(k, this.#sizesLarge.get(k)!);
      this.#sizes = m;
    }
    return this.#sizes;
  }

  /** The flow table as records keyed `protocol|src|srcPort|dst|dstPort` (originator first), in order of first packet. */
  get flows(): Map<string, FlowRecord> {
    const m = new Map<string, FlowRecord>();
    for (const f of this.#flows.records()) m.set(`${f.protocol}|${f.src}|${f.srcPort}|${f.dst}|${f.dstPort}`, f);
    return m;
  }

  /** Adds one packet (file order). Returns whether it passed the filter. */
  add(p: PacketRecord): boolean {
    this.packetsRead++;
    const buf = p.buf;
    const d =
      buf === undefined
        ? decodePacketAt(p.linktype, p.data, 0, p.data.length, this.decoded, p.origLen)
        : decodePacketAt(p.linktype, buf, p.bufOffset!, p.bufOffset! + p.capLen, this.decoded, p.origLen);
    if (this.filter && !this.filter(d)) return false;
    let sec = p.tsSec;
    let nsec = p.tsNsec;
    let exact: bigint | undefined;
    if (sec === undefined || nsec === undefined || this.#shifted || !Number.isSafeInteger(sec)) {
      if (!this.#shifted && !this.#anchor.set && sec !== undefined && !Number.isSafeInteger(sec)) {
        this.#epoch = (p.ts / NS_N) * NS_N; // seconds beyond 2^53: count from the first packet's second instead
        this.#shifted = true;
      }
      [sec, nsec] = this.#relative(p.ts);
      if (!Number.isSafeInteger(sec)) exact = p.ts - this.#epoch;
    }
    if (!this.#filteredMin.set || this.#filteredMin.after(sec, nsec)) this.#filteredMin.put(sec, nsec, exact);
    if (!this.#anchor.set) {
      this.#anchor.put(sec, nsec, exact);
      this.anchorNs = (exact ?? joinNs(sec, nsec)) + this.#epoch;
    }
    if (!this.#place(sec, nsec)) return false;
    const len = p.origLen;
    this.packets++;
    this.bytes += len;
    this.capturedBytes += p.capLen;
    if (!this.#first.set) this.#first.put(sec, nsec, exact);
    this.#last.put(sec, nsec, exact);
    if (!this.#min.set || this.#min.after(sec, nsec)) this.#min.put(sec, nsec, exact);
    if (!this.#max.set || this.#max.before(sec, nsec)) this.#max.put(sec, nsec, exact);

    const bin = this.#bin;
    if (bin !== this.#binIndex) {
      let counts = this.bins.get(bin);
      if (counts === undefined) {
        counts = [0, 0];
        this.bins.set(bin, counts);
      }
      this.#binIndex = bin;
      this.#binCounts = counts;
    }
    this.#binCounts[0]++;
    this.#binCounts[1] += len;
    for (let i = 0; i < this.#windows.length; i++) this.fanoCounters[i]!.add(this.#windows[i]!);
    if (len < DENSE_SIZES) this.#sizesDense[len]!++;
    else this.#sizesLarge.set(len, (this.#sizesLarge.get(len) ?? 0) + 1);
    this.#sizes = undefined;
    const block = this.blocks === undefined ? 0 : Math.floor(bin / this.blocks.bins);
    this.blocks?.size.add(len, block);
    const prev = this.#prev;
    if (prev.set) {
      const ds = sec - prev.sec;
      let gap = -1;
      if (ds > -EXACT_SECONDS && ds < EXACT_SECONDS) {
        gap = ds * NS + (nsec - prev.nsec);
        if (gap < 0) this.outOfOrder++;
      } else if (ds < 0) {
        this.outOfOrder++;
      } else {
        gap = Number(joinNs(sec, nsec) - joinNs(prev.sec, prev.nsec));
      }
      if (gap >= 0) {
        this.iat.addNs(gap);
        this.blocks?.iat.add(gap / NS, block);
      }
    }
    prev.put(sec, nsec);
    if (d.srcPort >= 0 || d.network === 'ipv4' || d.network === 'ipv6') {
      if (!this.#flows.add(d, sec, nsec, len)) this.flowsDropped++;
    }
    return true;
  }

  /**
   * Checks the window (from ≤ ts − anchor < to) and sets #bin and #windows for a packet at (sec, nsec); false when
   * the packet is outside the window. Plain numbers within ±104 days of the anchor, BigInt beyond.
   */
  #place(sec: number, nsec: number): boolean {
    const a = this.#anchor;
    const ds = sec - a.sec;
    if (!this.#wide && ds > -EXACT_SECONDS && ds < EXACT_SECONDS) {
      const since = ds * NS + (nsec - a.nsec);
      if (since < this.#from || since >= this.#to) return false;
      const rel = since - this.#from;
      // most packets fall in the same bin and windows as the one before: a comparison instead of a division
      if (!(rel >= this.#binStart && rel < this.#binStart + this.#binW)) {
        // NaN: nothing cached yet
        this.#bin = floorDiv(rel, this.#binW);
        this.#binStart = this.#bin * this.#binW;
      }
      for (let i = 0; i < this.#fanoW.length; i++) {
        const w = this.#fanoW[i]!;
        const start = this.#windowStarts[i]!;
        if (!(rel >= start && rel < start + w)) {
          const k = floorDiv(rel, w);
          this.#windows[i] = k;
          this.#windowStarts[i] = k * w;
        }
      }
      return true;
    }
    const since = joinNs(sec, nsec) + this.#epoch - this.anchorNs!;
    if (since < this.fromNs || (this.toNs !== undefined && since >= this.toNs)) return false;
    const rel = since - this.fromNs;
    this.#bin = Number(rel / this.binNs);
    this.#binStart = NaN; // the cache of the exact path does not apply
    for (let i = 0; i < FANO_WINDOWS_NS.length; i++) {
      this.#windows[i] = Number(rel / FANO_WINDOWS_NS[i]!);
      this.#windowStarts[i] = NaN;
    }
    return true;
  }

  /** A timestamp as seconds and nanoseconds after the epoch (see #epoch). */
  #relative(ts: bigint): [sec: number, nsec: number] {
    return splitNs(ts - this.#epoch);
  }

  /** Number of bins from the anchor to the latest packet: empty bins in between are zero-rate samples. */
  get binCount(): number {
    const max = this.maxNs;
    if (max === undefined) return 0;
    return Number((max - this.baseNs) / this.binNs) + 1;
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
    const max = this.maxNs;
    if (max === undefined) return null;
    const windows = Number((max - this.baseNs) / width) + 1;
    if (windows < 2) return null;
    const sumSq = this.fanoCounters[i]!.sumOfSquares();
    const mean = this.packets / windows;
    const variance = (sumSq - windows * mean * mean) / (windows - 1);
    return variance / mean;
  }

  /** The flows in the order of their first packet. */
  flowRecords(): FlowRecord[] {
    return this.#flows.records();
  }

  /** Flows held in the table. */
  get flowCount(): number {
    return this.#flows.size;
  }
}
