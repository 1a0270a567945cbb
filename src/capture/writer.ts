/**
 * Minimal classic-pcap writer (draft-ietf-opsawg-pcap): little-endian, version 2.4, microsecond or
 * nanosecond timestamps. Used to save live captures and synthetic traffic.
 */

/** Options of {@link PcapWriter}. */
export interface PcapWriterOptions {
  /** LINKTYPE_* value written in the file header (0..65535). */
  linktype: number;
  /** Snapshot length in the file header (default 262144); longer packets are cut to it. */
  snaplen?: number;
  /** Write the nanosecond magic (a1b23c4d) and ns timestamps; default µs. */
  nanosecond?: boolean;
}

/** Anything with a `write(bytes)` that answers `false` when the caller should wait (a Node Writable). */
export type PcapSink = NodeJS.WritableStream | { write(b: Uint8Array): boolean };

const NS_PER_S = 1_000_000_000n;
const MAX_TS_NS = 0x1_0000_0000n * NS_PER_S; // the pcap seconds field is an unsigned 32-bit number

/**
 * Writes a pcap stream: the 24-byte file header at construction, then one record per `writePacket`.
 *
 * Each record (16-byte header + data) goes out as ONE freshly allocated buffer: the data is copied
 * rather than written by reference, because callers hand in views that are only valid for a moment
 * (a `PacketRecord.data` is valid only during its callback) while a stream may queue what it is given.
 * @example
 * const w = new PcapWriter(fs.createWriteStream('out.pcap'), { linktype: 1 });
 * if (!w.writePacket(ts, frame)) await once(out, 'drain');
 */
export class PcapWriter {
  readonly #out: PcapSink;
  readonly #snaplen: number;
  readonly #ns: boolean;

  /** @throws RangeError for a linktype or snaplen out of range. */
  constructor(out: PcapSink, opts: PcapWriterOptions) {
    const { linktype, snaplen = 262144, nanosecond = false } = opts;
    if (!Number.isInteger(linktype) || linktype < 0 || linktype > 0xffff)
      throw new RangeError(`linktype: expected an integer 0..65535, got ${linktype}`);
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0xffffffff)
      throw new RangeError(`snaplen: expected an integer 1..4294967295, got ${snaplen}`);
    this.#out = out;
    this.#snaplen = snaplen;
    this.#ns = nanosecond;
    // pcap §4 File Header: magic, version 2.4, thiszone 0, sigfigs 0, snaplen, linktype (no FCS bits)
    const h = Buffer.alloc(24);
    h.writeUInt32LE(nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeUInt32LE(snaplen, 16);
    h.writeUInt32LE(linktype, 20);
    out.write(h);
  }

  /**
   * Appends one packet. In µs mode the timestamp is truncated (floored) to whole microseconds.
   * Data longer than the snaplen is cut to it; `origLen` (default `data.length`) is kept as given.
   * @returns the sink's `write()` result: `false` means wait for `'drain'` before writing more.
   * @throws RangeError for a timestamp outside 0 .. 2^32 s or an `origLen` below `data.length`.
   */
  writePacket(tsNs: bigint, data: Uint8Array, origLen: number = data.length): boolean {
    if (tsNs < 0n || tsNs >= MAX_TS_NS)
      throw new RangeError(`tsNs: ${tsNs} is outside what pcap can store (0 .. 2^32 s)`);
    if (!Number.isInteger(origLen) || origLen < data.length || origLen > 0xffffffff) {
      throw new RangeError(`origLen: expected an integer ${data.length}..4294967295, got ${origLen}`);
    }
    const cap = Math.min(data.length, this.#snaplen);
    const sub = tsNs % NS_PER_S;
    // pcap §5 Packet Record: ts seconds, ts fraction, captured length, original length, data
    const rec = Buffer.allocUnsafe(16 + cap);
    rec.writeUInt32LE(Number(tsNs / NS_PER_S), 0);
    rec.writeUInt32LE(Number(this.#ns ? sub : sub / 1000n), 4);
    rec.writeUInt32LE(cap, 8);
    rec.writeUInt32LE(origLen, 12);
    rec.set(cap === data.length ? data : data.subarray(0, cap), 16);
    return this.#out.write(rec);
  }
}
