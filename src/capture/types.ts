/** Shared types of the capture layer: what the streaming reader hands to its consumers. */

/** Container format as found in the file (after any gzip layer). */
export type CaptureFormat = 'pcap' | 'pcapng';

/**
 * One packet record. `data` is a view into the reader's buffers: it is valid only during the
 * callback that receives it; copy it (`data.slice()`) to keep it.
 */
export interface PacketRecord {
  /** Absolute timestamp in integer nanoseconds since the Unix epoch (exact, never through a float). */
  ts: bigint;
  /**
   * The same timestamp as whole seconds since the epoch (floored) and nanoseconds within that second (0..1e9−1),
   * as plain numbers: what a hot loop can compare and subtract without a BigInt. Set by the reader on every record;
   * optional so that hand-made records need not carry them (consumers fall back to `ts`). Exact while the seconds are
   * a safe integer (below 2^53, some 285 million years from 1970); `ts` is exact always.
   */
  tsSec?: number;
  tsNsec?: number;
  /** Original length on the wire (pcap orig_len, pcapng original packet length). */
  origLen: number;
  /** Captured length: the number of bytes in `data`. */
  capLen: number;
  /** Link-layer header type (LINKTYPE_* value) of the interface the packet was captured on. */
  linktype: number;
  /** Interface index across the whole file (pcapng: running count of IDBs over all sections; pcap: 0). */
  interfaceId: number;
  /** 0-based index of the packet in file order. */
  index: number;
  /** Captured bytes (a view, see above). */
  data: Uint8Array;
  /**
   * Where `data` lies without making the view: bytes [bufOffset, bufOffset + capLen) of `buf`. Set by a reader
   * that reuses its record (`reuseRecord`), whose `data` view is then only made when read.
   */
  buf?: Uint8Array;
  bufOffset?: number;
}

/** A problem the reader survived (damaged tail, odd header): reported on stderr and in JSON output. */
export interface CaptureWarning {
  /** Stable code, e.g. 'SMIG_WARN_TRUNCATED'. */
  code: string;
  /** Byte offset in the (decompressed) capture stream where the problem starts. */
  offset: number;
  /** One-line human message. */
  message: string;
}

/** One capture interface (pcap has exactly one; pcapng one per IDB). */
export interface CaptureInterface {
  linktype: number;
  snaplen: number;
  /** Timestamp ticks per second for this interface (1e6 for µs pcap, 1e9 for ns pcap, from if_tsresol). */
  ticksPerSecond: bigint;
  /** pcapng if_tsoffset in seconds (0 when absent). */
  tsOffsetSeconds: bigint;
  /** pcapng section number (0-based) this interface belongs to. */
  section: number;
}

/** Facts about the file learned while reading it; complete once the reader has finished. */
export interface CaptureInfo {
  format: CaptureFormat;
  /** 'little' | 'big'; for pcapng with several sections, the first section's byte order. */
  endianness: 'little' | 'big';
  /** Whether the input was gzip-compressed. */
  gzip: boolean;
  /** pcap: 'us' or 'ns' (from the magic number); pcapng: 'per-interface'. */
  tsResolution: 'us' | 'ns' | 'per-interface';
  /** pcap file header version (major.minor), pcapng SHB version of the first section. */
  version: string;
  interfaces: CaptureInterface[];
  /** Distinct link types in order of first appearance. */
  linktypes: number[];
  sections: number;
  /** Counts of pcapng blocks by type name (SHB, IDB, EPB, SPB, OPB, ISB, NRB, DSB, custom, unknown). */
  blockCounts: Record<string, number>;
  warnings: CaptureWarning[];
}
