import type { PacketPredicate } from '../capture/filter.js';
import type { PacketRecord } from '../capture/types.js';
import { Reservoir } from './stats.js';
/** Windows of the Fano factor (variance ÷ mean of packet counts per window), in nanoseconds. */
export declare const FANO_WINDOWS_NS: readonly bigint[];
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
    /** Anchor of bin 0: the earliest timestamp of the class. */
    anchorNs: bigint;
    filter?: PacketPredicate;
    maxSamples?: number;
    maxFlows?: number;
}
/** Counts of one bin: [packets, bytes]. */
type BinCounts = [number, number];
/** Accumulates one traffic class. Feed it with `add`, in file order. */
export declare class TrafficAccumulator {
    readonly binNs: bigint;
    readonly anchorNs: bigint;
    packets: number;
    bytes: number;
    capturedBytes: number;
    /** Packets the reader delivered, before the filter. */
    packetsRead: number;
    firstNs: bigint | undefined;
    lastNs: bigint | undefined;
    minNs: bigint | undefined;
    maxNs: bigint | undefined;
    /** Gaps in file order that were negative (packets out of time order): left out of the IAT sample. */
    outOfOrder: number;
    flowsDropped: number;
    readonly bins: Map<number, BinCounts>;
    readonly fanoWindows: Map<number, number>[];
    readonly sizes: Map<number, number>;
    readonly iat: Reservoir;
    readonly flows: Map<string, FlowRecord>;
    private readonly filter;
    private readonly maxFlows;
    private readonly decoded;
    private prevNs;
    constructor(opts: TrafficOptions);
    /** Adds one packet (file order). Returns whether it passed the filter. */
    add(p: PacketRecord): boolean;
    /** Number of bins from the anchor to the latest packet: empty bins in between are zero-rate samples. */
    get binCount(): number;
    /**
     * Fano factor of packet counts per window FANO_WINDOWS_NS[i], over all windows from the anchor to the latest
     * packet (empty ones count as zeros): sample variance ÷ mean. Null with fewer than two windows.
     */
    fano(i: number): number | null;
    private addFlow;
}
export {};
