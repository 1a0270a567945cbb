/**
 * Streaming reader for classic pcap and pcapng captures, optionally gzip-compressed.
 *
 * `CaptureParser` is a push parser with no I/O: feed it chunks of any size (down to one byte) and it
 * calls `onPacket` synchronously for every complete packet record. It keeps the pending input as a
 * chunk list and hands out views into it; bytes are copied only when a record spans chunks, and only
 * once the whole record is present (a lying length never causes an allocation of that length).
 * `readCapture` wires it to a file, stdin or any async iterable, and unwraps gzip.
 *
 * Formats:
 * - pcap: draft-ietf-opsawg-pcap (the libpcap file format), magics a1b2c3d4 (µs) and a1b23c4d (ns).
 * - pcapng: draft-ietf-opsawg-pcapng-02 ("§" references below are to that draft).
 */

import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { isSmigError, smigError } from '../errors.js';
import type { CaptureInfo, CaptureWarning, PacketRecord } from './types.js';

/** Default hard cap on one pcap record or pcapng block (64 MiB). */
export const DEFAULT_MAX_RECORD_BYTES: number = 64 * 1024 * 1024;

/** Options of {@link CaptureParser}. */
export interface ParserOptions {
  /** Called synchronously for every packet; `p.data` is valid only during the call. */
  onPacket: (p: PacketRecord) => void;
  /** Name of the input (file name) used in messages; default `'capture'`. */
  name?: string;
  /** Largest record/block accepted, in bytes (default 64 MiB); a larger one is treated as damage. */
  maxRecordBytes?: number;
  /** The bytes were gunzipped on the way in; recorded in `info.gzip`. */
  gzip?: boolean;
  /**
   * Hand out one record object, overwritten for every packet, whose `ts` BigInt is made only when read: a
   * consumer that only looks at `tsSec`/`tsNsec` costs no allocation per packet but the `data` view. The record
   * is then valid only during the callback, like its `data`. Default false (a fresh object per packet).
   */
  reuseRecord?: boolean;
}

/** The record of {@link ParserOptions.reuseRecord}: plain number fields, the BigInt timestamp on demand. */
class ReusedRecord implements PacketRecord {
  tsSec = 0;
  tsNsec = 0;
  origLen = 0;
  capLen = 0;
  linktype = 0;
  interfaceId = 0;
  index = 0;
  buf: Uint8Array = EMPTY;
  bufOffset = 0;
  /** The exact timestamp when the reader had it as a BigInt (pcapng): `tsSec` may round beyond 2^53 s. */
  big: bigint | undefined;
  get data(): Uint8Array {
    return this.buf.subarray(this.bufOffset, this.bufOffset + this.capLen);
  }
  get ts(): bigint {
    return this.big ?? BigInt(this.tsSec) * NS_PER_S + BigInt(this.tsNsec);
  }
}

/** Splits a nanosecond timestamp into floored seconds and the nanoseconds within them. */
function splitNs(ts: bigint): [sec: number, nsec: number] {
  let sec = ts / NS_PER_S;
  let nsec = ts - sec * NS_PER_S;
  if (nsec < 0n) {
    nsec += NS_PER_S;
    sec -= 1n;
  }
  return [Number(sec), Number(nsec)];
}

// Parser states (ws-style numbered state loop).
const DETECT = 0;
const PCAP_HEADER = 1;
const PCAP_RECORD = 2;
const NG_BLOCK = 3;
const DONE = 4;

const NS_PER_S = 1_000_000_000n;
/** Boundary copies up to this size reuse one scratch buffer; bigger records get an exact allocation. */
const SCRATCH_MAX = 1 << 20;
const EMPTY = new Uint8Array(0);

// pcapng block types (§4 and the block type registry, §11.1)
const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_OPB = 0x00000002;
const BT_SPB = 0x00000003;
const BT_NRB = 0x00000004;
const BT_ISB = 0x00000005;
const BT_EPB = 0x00000006;
const BT_DSB = 0x0000000a;
const BT_CUSTOM = 0x00000bad;
const BT_CUSTOM_NOCOPY = 0x40000bad;

/** Timestamp conversion and limits of one pcapng/pcap interface (internal, parallel to info.interfaces). */
interface Iface {
  linktype: number;
  snaplen: number;
  /** ns per tick when 1e9 is a multiple of the tick rate, else 0n (then divide by `tps`). */
  mul: bigint;
  tps: bigint;
  /** if_tsoffset in ns. */
  off: bigint;
}

function u16(b: Uint8Array, p: number, le: boolean): number {
  return le ? b[p] | (b[p + 1] << 8) : (b[p] << 8) | b[p + 1];
}

function u32(b: Uint8Array, p: number, le: boolean): number {
  return le
    ? (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0
    : ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

function i64(b: Uint8Array, p: number, le: boolean): bigint {
  const hi = u32(b, le ? p + 4 : p, le);
  const lo = u32(b, le ? p : p + 4, le);
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
}

function hex(b: Uint8Array, p: number, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(b[p + i].toString(16).padStart(2, '0'));
  return out.join(' ');
}

/** What a non-capture input looks like, from its first bytes (at least 4 available). */
function describeMagic(b: Uint8Array, p: number): string {
  const m = u32(b, p, false);
  if (m === 0x736e6f6f) return 'a snoop capture'; // "snoop\0\0\0" (RFC 1761)
  if (m === 0x28b52ffd) return 'zstd-compressed data';
  if (b[p] === 0x1f && b[p + 1] === 0x8b) return 'gzip-compressed data';
  if (b[p] === 0x42 && b[p + 1] === 0x5a && b[p + 2] === 0x68) return 'bzip2-compressed data'; // "BZh"
  if (m === 0xfd377a58) return 'xz-compressed data';
  if (m === 0x04224d18) return 'lz4-compressed data';
  if (m === 0x504b0304) return 'a zip archive';
  return `bytes ${hex(b, p, 4)}`;
}

/**
 * Push parser for pcap and pcapng. Feed it with {@link push}, finish with {@link end}.
 *
 * Damage (a record or block cut short, inconsistent block lengths, a length above `maxRecordBytes`, a
 * packet for an unknown interface) stops the parse at that record: the packets before it are kept and
 * a warning (`SMIG_WARN_TRUNCATED` or `SMIG_WARN_DAMAGED`) with its byte offset is added to the info.
 * Input that is not a capture at all throws.
 *
 * `PacketRecord.data` is a plain `Uint8Array` view: into the pushed chunk when the record lies in one,
 * else into a scratch buffer reused for the next record that spans chunks. Copy it to keep it.
 *
 * @throws SmigError `SMIG_ERR_NOT_CAPTURE` (from `push` once 4 bytes are in, or from `end` for fewer),
 *   `SMIG_ERR_CAPTURE_TRUNCATED` (from `end`: the pcap file header or the first pcapng section header is
 *   incomplete), `SMIG_ERR_CAPTURE_FORMAT` (the first section header is unreadable).
 * @example
 * const parser = new CaptureParser({ onPacket: (p) => n++, name: 'a.pcap' });
 * for (const chunk of chunks) parser.push(chunk);
 * const info = parser.end();
 */
export class CaptureParser {
  readonly #onPacket: (p: PacketRecord) => void;
  readonly #name: string;
  readonly #max: number;
  readonly #gzip: boolean;
  readonly #reused: ReusedRecord | undefined;

  // Pending input: chunks[head..] with the first unread byte at chunks[head][pos].
  #chunks: Uint8Array[] = [];
  #head = 0;
  #pos = 0;
  #buffered = 0;
  #consumed = 0;
  /** Size of the last request #need could not satisfy (for the truncation message). */
  #want = 0;
  // Where #need found the requested bytes (a chunk or the scratch buffer) and their offset there.
  #b: Uint8Array = EMPTY;
  #p = 0;
  #scratch: Uint8Array = EMPTY;

  #state = DETECT;
  #ended = false;
  /** The error that ended the parse (rethrown by end()). */
  #failed: Error | undefined;
  #le = true;
  #info: CaptureInfo | undefined;
  #count = 0;
  #ifaces: Iface[] = [];
  #warned = new Set<string>();
  // pcap only
  #nsRes = false;
  // pcapng only: index of the current section's first interface; last timestamp (for SPBs)
  #sectionBase = 0;
  #lastTs = 0n;

  constructor(opts: ParserOptions) {
    const max = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    if (!Number.isSafeInteger(max) || max < 16)
      throw new RangeError(`maxRecordBytes: expected an integer >= 16, got ${max}`);
    this.#onPacket = opts.onPacket;
    this.#name = opts.name ?? 'capture';
    this.#max = max;
    this.#gzip = opts.gzip ?? false;
    this.#reused = opts.reuseRecord === true ? new ReusedRecord() : undefined;
  }

  /** Delivers one packet: a fresh record, or the reused one overwritten (`ts` then made only on demand). */
  #emit(
    ts: bigint | undefined,
    sec: number,
    nsec: number,
    origLen: number,
    capLen: number,
    linktype: number,
    interfaceId: number,
    buf: Uint8Array,
    at: number,
  ): void {
    const r = this.#reused;
    if (r === undefined) {
      const data = buf.subarray(at, at + capLen);
      this.#onPacket({
        ts: ts ?? BigInt(sec) * NS_PER_S + BigInt(nsec),
        tsSec: sec,
        tsNsec: nsec,
        origLen,
        capLen,
        linktype,
        interfaceId,
        index: this.#count++,
        data,
      });
      return;
    }
    r.big = ts;
    r.tsSec = sec;
    r.tsNsec = nsec;
    r.origLen = origLen;
    r.capLen = capLen;
    r.linktype = linktype;
    r.interfaceId = interfaceId;
    r.index = this.#count++;
    r.buf = buf;
    r.bufOffset = at;
    this.#onPacket(r);
  }

  /** Facts about the capture; known once the pcap file header or the first pcapng SHB is parsed. */
  get info(): CaptureInfo | undefined {
    return this.#info;
  }

  /** Bytes of the (decompressed) stream consumed so far: the start of the next record. */
  get offset(): number {
    return this.#consumed;
  }

  /**
   * Feeds the next bytes. Packets complete within them are delivered before this returns. The chunk
   * is kept by reference until consumed: do not modify it afterwards.
   * @throws SmigError see the class documentation.
   */
  push(chunk: Uint8Array): void {
    if (this.#ended) throw new Error('CaptureParser: push() after end()');
    if (this.#state === DONE || chunk.length === 0) return;
    // Keep plain Uint8Array views (not Buffers), so `PacketRecord.data.slice()` is a copy as documented.
    this.#chunks.push(
      chunk.constructor === Uint8Array ? chunk : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length),
    );
    this.#buffered += chunk.length;
    this.#run();
  }

  /**
   * {@link push} of a chunk that the caller overwrites once this returns (one read buffer reused for a whole
   * file): packets complete within it are delivered, and the bytes it leaves pending (the start of a record that
   * continues in the next chunk) are copied out of it. Only the unread part of this chunk is copied, never the
   * earlier pending ones (already copies), so a huge record arriving in many chunks is copied once overall.
   */
  pushTransient(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.push(chunk);
    // push appended the chunk last; pending bytes left in it (anything pending at all) are its unread end
    if (this.#buffered === 0) return;
    const last = this.#chunks.length - 1;
    const c = this.#chunks[last];
    if (last === this.#head) {
      this.#chunks = [c.slice(this.#pos)];
      this.#head = 0;
      this.#pos = 0;
    } else {
      this.#chunks[last] = c.slice();
    }
  }

  /**
   * Finishes the parse. Bytes left over (a record or block cut short) become a `SMIG_WARN_TRUNCATED`
   * warning at the offset where that record starts.
   * @throws SmigError `SMIG_ERR_NOT_CAPTURE` for an empty or too short input,
   *   `SMIG_ERR_CAPTURE_TRUNCATED` when the file header itself is cut.
   */
  end(): CaptureInfo {
    if (!this.#ended) {
      this.#ended = true;
      const left = this.#buffered;
      if (this.#failed === undefined && this.#info === undefined) {
        if (left === 0) {
          this.#notCapture('empty file');
        } else if (this.#state === DETECT) {
          this.#notCapture(`only ${left} byte${left === 1 ? '' : 's'}: ${hex(this.#copyAll(), 0, left)}`);
        } else {
          // The header is what makes this a capture: without all of it there is nothing to report.
          const what = this.#state === PCAP_HEADER ? 'pcap file header (24 bytes)' : 'pcapng section header block';
          this.#fail(smigError('SMIG_ERR_CAPTURE_TRUNCATED', `${this.#name}: ${what} cut short after ${left} bytes`));
        }
      } else if (this.#state !== DONE && left > 0) {
        const what = this.#state === PCAP_RECORD ? 'packet record' : 'block';
        this.#warn(
          'SMIG_WARN_TRUNCATED',
          this.#consumed,
          `${this.#name}: cut short at byte ${this.#consumed}: the ${what} there is incomplete (${left} bytes present, at least ${this.#want} needed); kept the ${this.#count} packets before it`,
        );
      }
      this.#state = DONE;
      this.#release();
    }
    if (this.#failed !== undefined) throw this.#failed;
    return this.#info!;
  }

  // ---- chunk list -----------------------------------------------------------------------------

  /**
   * Makes `n` contiguous bytes available at `#b[#p]` without consuming them: a view into the head
   * chunk when they lie in it, else one copy (the only copy, made once all `n` bytes are buffered).
   */
  #need(n: number): boolean {
    if (this.#buffered < n) {
      this.#want = n;
      return false;
    }
    const c = this.#chunks[this.#head];
    if (c.length - this.#pos >= n) {
      this.#b = c;
      this.#p = this.#pos;
      return true;
    }
    let out: Uint8Array;
    if (n <= SCRATCH_MAX) {
      if (this.#scratch.length < n)
        this.#scratch = new Uint8Array(Math.min(SCRATCH_MAX, Math.max(n, 4096, 2 * this.#scratch.length)));
      out = this.#scratch;
    } else {
      out = new Uint8Array(n);
    }
    for (let i = this.#head, off = this.#pos, w = 0; w < n; i++, off = 0) {
      const ch = this.#chunks[i];
      const take = Math.min(ch.length - off, n - w);
      out.set(take === ch.length ? ch : ch.subarray(off, off + take), w);
      w += take;
    }
    this.#b = out;
    this.#p = 0;
    return true;
  }

  /** Consumes `n` buffered bytes (views already handed out stay valid: chunks are never mutated). */
  #skip(n: number): void {
    this.#buffered -= n;
    this.#consumed += n;
    const chunks = this.#chunks;
    let pos = this.#pos + n;
    let head = this.#head;
    while (head < chunks.length && pos >= chunks[head].length) pos -= chunks[head++].length;
    if (head === chunks.length) {
      chunks.length = 0;
      head = 0;
    } else if (head >= 64) {
      chunks.splice(0, head);
      head = 0;
    }
    this.#head = head;
    this.#pos = pos;
  }

  /** The whole pending input as one view (only used for short error messages). */
  #copyAll(): Uint8Array {
    return this.#need(this.#buffered) ? this.#b.subarray(this.#p, this.#p + this.#buffered) : EMPTY;
  }

  #release(): void {
    this.#chunks = [];
    this.#head = this.#pos = this.#buffered = 0;
    this.#scratch = this.#b = EMPTY;
  }

  // ---- state loop -----------------------------------------------------------------------------

  #run(): void {
    for (;;) {
      switch (this.#state) {
        case DETECT:
          if (!this.#detect()) return;
          break;
        case PCAP_HEADER:
          if (!this.#pcapHeader()) return;
          break;
        case PCAP_RECORD:
          this.#pcapRecords();
          return;
        case NG_BLOCK:
          this.#ngBlocks();
          return;
        default:
          return;
      }
    }
  }

  #detect(): boolean {
    if (!this.#need(4)) return false;
    const m = u32(this.#b, this.#p, false);
    switch (m) {
      // pcap §4 File Header: the magic, written in the writer's byte order, gives order and resolution
      case 0xa1b2c3d4:
        this.#le = false;
        this.#nsRes = false;
        break;
      case 0xd4c3b2a1:
        this.#le = true;
        this.#nsRes = false;
        break;
      case 0xa1b23c4d:
        this.#le = false;
        this.#nsRes = true;
        break;
      case 0x4d3cb2a1:
        this.#le = true;
        this.#nsRes = true;
        break;
      case BT_SHB:
        this.#state = NG_BLOCK;
        return true;
      default:
        this.#notCapture(describeMagic(this.#b, this.#p));
    }
    this.#state = PCAP_HEADER;
    return true;
  }

  #pcapHeader(): boolean {
    if (!this.#need(24)) return false;
    const b = this.#b,
      p = this.#p,
      le = this.#le;
    const major = u16(b, p + 4, le),
      minor = u16(b, p + 6, le);
    // thiszone (p+8) and sigfigs (p+12) are ignored, as libpcap and Wireshark do.
    const snaplen = u32(b, p + 16, le);
    // pcap §4: LinkType holds the link type in its low 16 bits; the upper bits carry FCS information.
    const linktype = u32(b, p + 20, le) & 0xffff;
    this.#skip(24);
    const tps = this.#nsRes ? NS_PER_S : 1_000_000n;
    this.#ifaces.push({ linktype, snaplen, tps, mul: NS_PER_S / tps, off: 0n });
    this.#info = {
      format: 'pcap',
      endianness: le ? 'little' : 'big',
      gzip: this.#gzip,
      tsResolution: this.#nsRes ? 'ns' : 'us',
      version: `${major}.${minor}`,
      interfaces: [{ linktype, snaplen, ticksPerSecond: tps, tsOffsetSeconds: 0n, section: 0 }],
      linktypes: [linktype],
      sections: 1,
      blockCounts: {},
      warnings: [],
    };
    if (major !== 2 || minor !== 4) {
      this.#warn(
        'SMIG_WARN_VERSION',
        4,
        `${this.#name}: unusual pcap version ${major}.${minor} (expected 2.4); reading it as 2.4`,
      );
    }
    this.#state = PCAP_RECORD;
    return true;
  }

  /** Hot loop of classic pcap: 16-byte record header (pcap §5), then incl_len bytes of packet data. */
  #pcapRecords(): void {
    const le = this.#le,
      ns = this.#nsRes,
      iface = this.#ifaces[0];
    const linktype = iface.linktype,
      snaplen = iface.snaplen;
    for (;;) {
      this.#pcapRecordsInChunk(le, ns, linktype, snaplen);
      if (!this.#need(16)) return;
      const incl = u32(this.#b, this.#p + 8, le);
      if (incl > this.#max - 16) {
        this.#damage(
          this.#consumed,
          `packet record claims ${incl} captured bytes, above the limit of ${this.#max - 16}`,
        );
        return;
      }
      const size = 16 + incl;
      if (!this.#need(size)) return;
      const b = this.#b,
        p = this.#p;
      const sec = u32(b, p, le),
        frac = u32(b, p + 4, le),
        orig = u32(b, p + 12, le);
      // the fraction may exceed a second (a broken writer): carry it into the seconds, as the BigInt sum would
      let s = sec,
        n = ns ? frac : frac * 1000;
      if (n >= 1_000_000_000) {
        s += Math.floor(n / 1_000_000_000);
        n %= 1_000_000_000;
      }
      this.#skip(size);
      if (incl > snaplen && snaplen !== 0) this.#snaplenWarning(incl, snaplen, this.#consumed - size);
      this.#emit(undefined, s, n, orig, incl, linktype, 0, b, p + 16);
    }
  }

  /**
   * The common case of {@link #pcapRecords} without its per-record bookkeeping: records that lie wholly in the
   * head chunk, read in place. Stops at the first record that does not (crosses the chunk's end, or is damaged:
   * the general loop then deals with it). The parser's position is updated before each packet is handed out.
   */
  #pcapRecordsInChunk(le: boolean, ns: boolean, linktype: number, snaplen: number): void {
    const c = this.#chunks[this.#head];
    if (c === undefined) return;
    const end = c.length;
    const max = this.#max - 16;
    let pos = this.#pos;
    while (pos + 16 <= end && this.#state === PCAP_RECORD) {
      const incl = u32(c, pos + 8, le);
      if (incl > max || pos + 16 + incl > end) return;
      const sec = u32(c, pos, le),
        frac = u32(c, pos + 4, le),
        orig = u32(c, pos + 12, le);
      let s = sec,
        n = ns ? frac : frac * 1000;
      if (n >= 1_000_000_000) {
        s += Math.floor(n / 1_000_000_000);
        n %= 1_000_000_000;
      }
      const size = 16 + incl;
      const at = pos + 16;
      pos += size;
      this.#pos = pos;
      this.#buffered -= size;
      this.#consumed += size;
      if (pos === end) this.#skip(0); // drop the finished chunk
      if (incl > snaplen && snaplen !== 0) this.#snaplenWarning(incl, snaplen, this.#consumed - size);
      this.#emit(undefined, s, n, orig, incl, linktype, 0, c, at);
      if (pos === end) return;
    }
  }

  /** pcapng §3.1 General Block Structure: type, total length, body, total length again. */
  #ngBlocks(): void {
    for (;;) {
      if (!this.#need(8)) return;
      let b = this.#b,
        p = this.#p;
      const start = this.#consumed;
      let le = this.#le;
      const type = u32(b, p, le);
      if (type === BT_SHB) {
        // §4.1: the SHB type is a palindrome; its byte-order magic sets the order of the whole section.
        if (!this.#need(12)) return;
        b = this.#b;
        p = this.#p;
        const bom = u32(b, p + 8, false);
        if (bom === 0x1a2b3c4d) le = false;
        else if (bom === 0x4d3c2b1a) le = true;
        else {
          this.#damage(start, `section header has a bad byte-order magic (${hex(b, p + 8, 4)})`);
          return;
        }
      }
      const len = u32(b, p + 4, le);
      if (len < 12 || len % 4 !== 0 || len > this.#max) {
        const why = len > this.#max ? `above the limit of ${this.#max}` : 'not a multiple of 4 of at least 12';
        this.#damage(start, `block has total length ${len}, ${why}`);
        return;
      }
      if (!this.#need(len)) return;
      b = this.#b;
      p = this.#p;
      const trailing = u32(b, p + len - 4, le);
      if (trailing !== len) {
        this.#damage(start, `block has trailing length ${trailing}, leading length ${len}`);
        return;
      }
      // The block is complete: consume it now (b/p stay valid) so a throwing onPacket leaves us consistent.
      this.#skip(len);
      if (!this.#block(type, b, p, len, le, start)) return;
    }
  }

  /** Handles one complete pcapng block; false when it was damage (the parse stopped). */
  #block(type: number, b: Uint8Array, p: number, len: number, le: boolean, start: number): boolean {
    switch (type) {
      case BT_SHB:
        return this.#shb(b, p, len, le, start);
      case BT_IDB:
        return this.#idb(b, p, len, start);
      case BT_EPB:
        return this.#packetBlock(b, p, len, start, false);
      case BT_OPB:
        return this.#packetBlock(b, p, len, start, true);
      case BT_SPB:
        return this.#spb(b, p, len, start);
      default: {
        // §4.5 NRB, §4.6 ISB, DSB, §4.8 custom blocks and unknown types carry no packets: skip, count.
        const name =
          type === BT_NRB
            ? 'NRB'
            : type === BT_ISB
              ? 'ISB'
              : type === BT_DSB
                ? 'DSB'
                : type === BT_CUSTOM || type === BT_CUSTOM_NOCOPY
                  ? 'custom'
                  : 'unknown';
        this.#countBlock(name);
        return true;
      }
    }
  }

  /** §4.1 Section Header Block: BOM, major, minor, section length, options. Interfaces restart. */
  #shb(b: Uint8Array, p: number, len: number, le: boolean, start: number): boolean {
    if (len < 28) return this.#badBlock('section header block', start, len, 28);
    const major = u16(b, p + 12, le),
      minor = u16(b, p + 14, le);
    if (major !== 1) {
      return this.#damage(start, `section header has unsupported pcapng version ${major}.${minor}`);
    }
    this.#le = le;
    this.#sectionBase = this.#ifaces.length;
    if (this.#info === undefined) {
      this.#info = {
        format: 'pcapng',
        endianness: le ? 'little' : 'big',
        gzip: this.#gzip,
        tsResolution: 'per-interface',
        version: `${major}.${minor}`,
        interfaces: [],
        linktypes: [],
        sections: 1,
        blockCounts: {},
        warnings: [],
      };
    } else {
      this.#info.sections++;
    }
    this.#countBlock('SHB');
    return true;
  }

  /** §4.2 Interface Description Block: link type, snaplen, options (if_tsresol, if_tsoffset). */
  #idb(b: Uint8Array, p: number, len: number, start: number): boolean {
    if (len < 20) return this.#badBlock('interface description block', start, len, 20);
    const le = this.#le;
    const linktype = u16(b, p + 8, le),
      snaplen = u32(b, p + 12, le);
    let tsresol = 6; // §4.2: if_tsresol absent → 10^-6
    let tsoffset = 0n;
    // §3.5 Options: code u16, length u16, value padded to 32 bits; opt_endofopt (0) ends the list.
    for (let q = p + 16, end = p + len - 4; q + 4 <= end; ) {
      const code = u16(b, q, le),
        olen = u16(b, q + 2, le);
      if (code === 0) break;
      if (q + 4 + olen > end)
        return this.#damage(start, `interface description block: option ${code} overruns the block`);
      if (code === 9 && olen >= 1)
        tsresol = b[q + 4]; // if_tsresol
      else if (code === 14 && olen >= 8) tsoffset = i64(b, q + 4, le); // if_tsoffset, signed seconds
      q += 4 + ((olen + 3) & ~3);
    }
    // if_tsresol: MSB clear → 10^-v s per tick, MSB set → 2^-(v & 0x7f)
    const tps = tsresol & 0x80 ? 1n << BigInt(tsresol & 0x7f) : 10n ** BigInt(tsresol);
    const mul = NS_PER_S % tps === 0n ? NS_PER_S / tps : 0n;
    this.#ifaces.push({ linktype, snaplen, tps, mul, off: tsoffset * NS_PER_S });
    const info = this.#info!;
    info.interfaces.push({
      linktype,
      snaplen,
      ticksPerSecond: tps,
      tsOffsetSeconds: tsoffset,
      section: info.sections - 1,
    });
    if (!info.linktypes.includes(linktype)) info.linktypes.push(linktype);
    this.#countBlock('IDB');
    return true;
  }

  /**
   * §4.3 Enhanced Packet Block (and §4.3-compatible obsolete Packet Block, type 2, §A): interface id
   * (EPB u32, OPB u16 + drops u16), timestamp high/low, captured length, original length, data.
   */
  #packetBlock(b: Uint8Array, p: number, len: number, start: number, obsolete: boolean): boolean {
    const kind = obsolete ? 'packet block' : 'enhanced packet block';
    if (len < 32) return this.#badBlock(kind, start, len, 32);
    const le = this.#le;
    const local = obsolete ? u16(b, p + 8, le) : u32(b, p + 8, le);
    const id = this.#sectionBase + local;
    if (id >= this.#ifaces.length) {
      return this.#damage(
        start,
        `${kind} refers to interface ${local}, but its section describes only ${this.#ifaces.length - this.#sectionBase}`,
      );
    }
    const iface = this.#ifaces[id];
    const hi = u32(b, p + 12, le),
      lo = u32(b, p + 16, le);
    const cap = u32(b, p + 20, le),
      orig = u32(b, p + 24, le);
    if (cap > len - 32) return this.#damage(start, `${kind} claims ${cap} captured bytes in a ${len}-byte block`);
    // Timestamp: ticks = hi·2^32 + lo (exact as a Number below 2^53), ns = ticks·1e9 / tps + offset.
    // For a tick rate that does not divide 1e9 (e.g. 2^-20 s) the bigint division floors the result.
    const ticks = hi < 0x200000 ? BigInt(hi * 4294967296 + lo) : (BigInt(hi) << 32n) | BigInt(lo);
    let ts = iface.mul !== 0n ? ticks * iface.mul : (ticks * NS_PER_S) / iface.tps;
    if (iface.off !== 0n) ts += iface.off;
    this.#lastTs = ts;
    this.#countBlock(obsolete ? 'OPB' : 'EPB');
    if (cap > iface.snaplen && iface.snaplen !== 0) this.#snaplenWarning(cap, iface.snaplen, start);
    const [sec, nsec] = splitNs(ts);
    this.#emit(ts, sec, nsec, orig, cap, iface.linktype, id, b, p + 28);
    return true;
  }

  /** §4.4 Simple Packet Block: original length and data only; interface 0 of the section, no timestamp. */
  #spb(b: Uint8Array, p: number, len: number, start: number): boolean {
    if (len < 16) return this.#badBlock('simple packet block', start, len, 16);
    const id = this.#sectionBase;
    if (id >= this.#ifaces.length)
      return this.#damage(start, `simple packet block comes before any interface description in its section`);
    const iface = this.#ifaces[id];
    const orig = u32(b, p + 8, this.#le);
    // §4.4: captured length = min(original length, snaplen of interface 0, room in the block).
    let cap = Math.min(orig, len - 16);
    if (iface.snaplen !== 0 && cap > iface.snaplen) cap = iface.snaplen;
    if (!this.#warned.has('SMIG_WARN_NO_TIMESTAMP')) {
      this.#warned.add('SMIG_WARN_NO_TIMESTAMP');
      this.#warn(
        'SMIG_WARN_NO_TIMESTAMP',
        start,
        `${this.#name}: simple packet blocks (first at byte ${start}) carry no timestamp; each gets the previous packet's timestamp (0 if none)`,
      );
    }
    this.#countBlock('SPB');
    const [sec, nsec] = splitNs(this.#lastTs);
    this.#emit(this.#lastTs, sec, nsec, orig, cap, iface.linktype, id, b, p + 12);
    return true;
  }

  // ---- bookkeeping ----------------------------------------------------------------------------

  #countBlock(name: string): void {
    const counts = this.#info!.blockCounts;
    counts[name] = (counts[name] ?? 0) + 1;
  }

  #warn(code: string, offset: number, message: string): void {
    const w: CaptureWarning = { code, offset, message };
    this.#info!.warnings.push(w);
  }

  #snaplenWarning(incl: number, snaplen: number, offset: number): void {
    if (this.#warned.has('SMIG_WARN_SNAPLEN')) return;
    this.#warned.add('SMIG_WARN_SNAPLEN');
    this.#warn(
      'SMIG_WARN_SNAPLEN',
      offset,
      `${this.#name}: packet at byte ${offset} has ${incl} captured bytes, more than the snapshot length ${snaplen}; read anyway`,
    );
  }

  #badBlock(kind: string, start: number, len: number, min: number): false {
    return this.#damage(start, `${kind} is ${len} bytes long, shorter than the minimum ${min}`);
  }

  /**
   * Stops the parse at `offset`: the packets before it are kept, the rest of the input is ignored.
   * Damage inside the first section header (before there is any info to report) is an error.
   */
  #damage(offset: number, what: string): false {
    if (this.#info === undefined)
      this.#fail(smigError('SMIG_ERR_CAPTURE_FORMAT', `${this.#name}: damaged at byte ${offset}: ${what}`));
    this.#warn(
      'SMIG_WARN_DAMAGED',
      offset,
      `${this.#name}: damaged at byte ${offset}: ${what}; kept the ${this.#count} packets before it`,
    );
    this.#consumed = offset;
    this.#state = DONE;
    this.#release();
    return false;
  }

  #notCapture(found: string): never {
    this.#fail(smigError('SMIG_ERR_NOT_CAPTURE', `${this.#name}: not a pcap or pcapng capture (found ${found})`));
  }

  #fail(err: Error): never {
    this.#failed = err;
    this.#state = DONE;
    this.#release();
    throw err;
  }
}

/** Options of {@link readCapture}. */
export interface ReadOptions {
  /** Called after each chunk read: bytes read so far (compressed, for gzip) and the file size if known. */
  onProgress?: (bytesRead: number, totalBytes: number | undefined) => void;
  signal?: AbortSignal;
  maxRecordBytes?: number;
  /** Name used in messages when `source` is an iterable (default `'input'`). */
  name?: string;
  /** See {@link ParserOptions.reuseRecord}. */
  reuseRecord?: boolean;
}

function errCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'error';
}

/** Bytes asked for by one read of a regular file (see {@link readRegularFile}). */
const FILE_READ_BYTES = 1 << 20;

/**
 * The common case of {@link readCapture}, an uncompressed capture in a regular file, without a stream: reads of
 * FILE_READ_BYTES into two buffers used in turn for the whole file (the next read runs while the parser works
 * through the last one), handed to {@link CaptureParser.pushTransient}. No buffer is allocated per read, so memory
 * and garbage stay flat whatever the file's size. Closes `fh`. Returns undefined, having read nothing of
 * consequence and with `fh` open, when the file starts with the gzip magic (the caller then streams it through
 * gunzip).
 */
async function readRegularFile(
  fh: FileHandle,
  name: string,
  total: number,
  onPacket: (p: PacketRecord) => void,
  opts: ReadOptions,
): Promise<CaptureInfo | undefined> {
  const { signal, onProgress } = opts;
  const size = Math.max(2, Math.min(FILE_READ_BYTES, total));
  let cur = new Uint8Array(size);
  let next = new Uint8Array(size);
  let pending: Promise<{ bytesRead: number }> | undefined;
  let gzip = false;
  try {
    let position = 0;
    pending = fh.read(cur, 0, size, position);
    let first = true;
    let parser: CaptureParser | undefined;
    for (;;) {
      const { bytesRead } = await pending;
      pending = undefined;
      signal?.throwIfAborted();
      if (first) {
        first = false;
        // RFC 1952 §2.3.1: ID1 = 0x1f, ID2 = 0x8b (a one-byte file is no gzip stream: the parser says what it is)
        if (bytesRead >= 2 && cur[0] === 0x1f && cur[1] === 0x8b) {
          gzip = true;
          return undefined;
        }
        parser = new CaptureParser({
          onPacket,
          name,
          maxRecordBytes: opts.maxRecordBytes,
          gzip: false,
          reuseRecord: opts.reuseRecord,
        });
      }
      if (bytesRead === 0) break;
      position += bytesRead;
      onProgress?.(position, total);
      pending = fh.read(next, 0, size, position);
      parser!.pushTransient(bytesRead === size ? cur : cur.subarray(0, bytesRead));
      [cur, next] = [next, cur];
    }
    return parser!.end();
  } catch (e) {
    if (isSmigError(e) || signal?.aborted) throw e;
    if ((e as { syscall?: unknown } | null)?.syscall !== undefined)
      throw smigError('SMIG_ERR_FILE', `${name}: read failed (${errCode(e)})`, e);
    throw e;
  } finally {
    // a read still running writes into a buffer: let it finish before the file is closed
    await pending?.catch(() => {});
    if (!gzip) await fh.close();
  }
}

/**
 * Streams a capture from a path (`'-'` for stdin) or an async iterable of bytes, unwrapping gzip
 * (detected by its magic 1f 8b), and calls `onPacket` for every packet in file order.
 *
 * A truncated gzip stream keeps what decompressed and adds a `SMIG_WARN_TRUNCATED` warning.
 * @throws SmigError `SMIG_ERR_FILE` (cannot open/read), `SMIG_ERR_GZIP` (corrupt gzip data), and those
 *   of {@link CaptureParser}. An aborted `signal` rejects with its reason.
 * @example
 * const info = await readCapture('trace.pcap.gz', (p) => { bytes += p.origLen; });
 */
export async function readCapture(
  source: string | AsyncIterable<Uint8Array>,
  onPacket: (p: PacketRecord) => void,
  opts: ReadOptions = {},
): Promise<CaptureInfo> {
  const { signal, onProgress } = opts;
  signal?.throwIfAborted();
  let input: AsyncIterable<Uint8Array>;
  let total: number | undefined;
  let name: string;
  if (typeof source !== 'string') {
    input = source;
    name = opts.name ?? 'input';
  } else if (source === '-') {
    input = process.stdin;
    name = opts.name ?? 'stdin';
  } else {
    name = source;
    let fh: FileHandle | undefined;
    try {
      fh = await open(source, 'r');
      const st = await fh.stat();
      if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      if (st.isFile()) total = st.size;
    } catch (e) {
      await fh?.close();
      throw smigError('SMIG_ERR_FILE', `${source}: cannot open (${errCode(e)})`, e);
    }
    if (total !== undefined) {
      const info = await readRegularFile(fh, source, total, onPacket, opts);
      if (info !== undefined) return info;
    }
    input = fh.createReadStream({ highWaterMark: 1 << 20, signal });
  }

  let read = 0;
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const c of input) {
      signal?.throwIfAborted();
      read += c.length;
      onProgress?.(read, total);
      yield c;
    }
  }
  const it = counted();
  try {
    // Peek at the first two bytes for the gzip magic (RFC 1952 §2.3.1: ID1 = 0x1f, ID2 = 0x8b).
    const head: Uint8Array[] = [];
    let headLen = 0;
    let done = false;
    while (headLen < 2) {
      const r = await it.next();
      if (r.done) {
        done = true;
        break;
      }
      head.push(r.value);
      headLen += r.value.length;
    }
    const first: number[] = [];
    for (const h of head) for (let i = 0; i < h.length && first.length < 2; i++) first.push(h[i]);
    const gzip = first[0] === 0x1f && first[1] === 0x8b;
    async function* all(): AsyncGenerator<Uint8Array> {
      yield* head;
      if (!done) for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    }
    const parser = new CaptureParser({
      onPacket,
      name,
      maxRecordBytes: opts.maxRecordBytes,
      gzip,
      reuseRecord: opts.reuseRecord,
    });
    if (!gzip) {
      for await (const c of all()) parser.push(c);
      return parser.end();
    }
    let cut = false;
    const { createGunzip } = await import('node:zlib'); // loaded only for a compressed capture
    try {
      await pipeline(all(), createGunzip(), async (out: AsyncIterable<Uint8Array>) => {
        for await (const c of out) parser.push(c);
      });
    } catch (e) {
      const code = errCode(e);
      if (isSmigError(e) || !code.startsWith('Z_')) throw e;
      // zlib reports a stream that simply stops as Z_BUF_ERROR ("unexpected end of file")
      if (code !== 'Z_BUF_ERROR')
        throw smigError('SMIG_ERR_GZIP', `${name}: corrupt gzip data (${(e as Error).message})`, e);
      cut = true;
    }
    const info = parser.end();
    if (cut) {
      info.warnings.push({
        code: 'SMIG_WARN_TRUNCATED',
        offset: parser.offset,
        message: `${name}: gzip stream cut short after ${read} compressed bytes; read the ${parser.offset} bytes it held`,
      });
    }
    return info;
  } catch (e) {
    if (isSmigError(e) || signal?.aborted) throw e;
    // an I/O error of the source (has a syscall), e.g. EIO or EISDIR on read
    if ((e as { syscall?: unknown } | null)?.syscall !== undefined)
      throw smigError('SMIG_ERR_FILE', `${name}: read failed (${errCode(e)})`, e);
    throw e;
  } finally {
    await it.return(undefined);
  }
}
