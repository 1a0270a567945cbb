/**
 * Test-only builders of synthetic pcap / pcapng bytes, written straight from the format documents
 * (draft-ietf-opsawg-pcap, draft-ietf-opsawg-pcapng-02) with DataView, independent of src/capture.
 * Also a tiny independent record walker used to know where records end in a file.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FIXTURE_DIR: string = fileURLToPath(new URL('../fixtures/captures/', import.meta.url));

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(FIXTURE_DIR + name));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** `n` bytes 0, 1, 2, ... (mod 256) starting at `seed`: recognisable packet payloads. */
export function payload(n: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (seed + i) & 0xff);
}

// ---- classic pcap ---------------------------------------------------------------------------------

export interface PcapRecordSpec {
  sec: number;
  /** µs or ns depending on the file. */
  frac: number;
  data: Uint8Array;
  origLen?: number;
  /** Override the incl_len field (to write a lying length). */
  inclLen?: number;
}

export interface PcapSpec {
  le?: boolean;
  ns?: boolean;
  major?: number;
  minor?: number;
  snaplen?: number;
  /** The whole 32-bit LinkType field (may carry FCS bits above the low 16). */
  linktype?: number;
  records: PcapRecordSpec[];
}

export function pcapFile(spec: PcapSpec): Uint8Array {
  const le = spec.le ?? true;
  const h = new DataView(new ArrayBuffer(24));
  h.setUint32(0, spec.ns ? 0xa1b23c4d : 0xa1b2c3d4, le);
  h.setUint16(4, spec.major ?? 2, le);
  h.setUint16(6, spec.minor ?? 4, le);
  h.setUint32(16, spec.snaplen ?? 65535, le);
  h.setUint32(20, spec.linktype ?? 1, le);
  const parts: Uint8Array[] = [new Uint8Array(h.buffer)];
  for (const r of spec.records) {
    const rh = new DataView(new ArrayBuffer(16));
    rh.setUint32(0, r.sec, le);
    rh.setUint32(4, r.frac, le);
    rh.setUint32(8, r.inclLen ?? r.data.length, le);
    rh.setUint32(12, r.origLen ?? r.data.length, le);
    parts.push(new Uint8Array(rh.buffer), r.data);
  }
  return concatBytes(...parts);
}

// ---- pcapng ---------------------------------------------------------------------------------------

/** One option (§3.5): code, length, value padded to 4 bytes. */
export function ngOption(le: boolean, code: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + ((value.length + 3) & ~3));
  const dv = new DataView(out.buffer);
  dv.setUint16(0, code, le);
  dv.setUint16(2, value.length, le);
  out.set(value, 4);
  return out;
}

/** Options list terminated by opt_endofopt. */
export function ngOptions(opts: Uint8Array[]): Uint8Array {
  return opts.length === 0 ? new Uint8Array(0) : concatBytes(...opts, new Uint8Array(4));
}

/** A generic block (§3.1): type, total length, body padded to 4, total length. */
export function ngBlock(
  le: boolean,
  type: number,
  body: Uint8Array,
  opts: { trailingLength?: number } = {},
): Uint8Array {
  const padded = (body.length + 3) & ~3;
  const total = 12 + padded;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, type, le);
  dv.setUint32(4, total, le);
  out.set(body, 8);
  dv.setUint32(total - 4, opts.trailingLength ?? total, le);
  return out;
}

export function shb(le: boolean, opts: { major?: number; minor?: number; options?: Uint8Array[] } = {}): Uint8Array {
  const fixed = new DataView(new ArrayBuffer(16));
  fixed.setUint32(0, 0x1a2b3c4d, le);
  fixed.setUint16(4, opts.major ?? 1, le);
  fixed.setUint16(6, opts.minor ?? 0, le);
  fixed.setBigInt64(8, -1n, le); // section length not specified
  return ngBlock(le, 0x0a0d0d0a, concatBytes(new Uint8Array(fixed.buffer), ngOptions(opts.options ?? [])));
}

export function idb(
  le: boolean,
  opts: { linktype: number; snaplen?: number; tsresol?: number; tsoffset?: bigint; extra?: Uint8Array[] },
): Uint8Array {
  const fixed = new DataView(new ArrayBuffer(8));
  fixed.setUint16(0, opts.linktype, le);
  fixed.setUint32(4, opts.snaplen ?? 0, le);
  const list: Uint8Array[] = [...(opts.extra ?? [])];
  if (opts.tsresol !== undefined) list.push(ngOption(le, 9, Uint8Array.of(opts.tsresol)));
  if (opts.tsoffset !== undefined) {
    const v = new DataView(new ArrayBuffer(8));
    v.setBigInt64(0, opts.tsoffset, le);
    list.push(ngOption(le, 14, new Uint8Array(v.buffer)));
  }
  return ngBlock(le, 1, concatBytes(new Uint8Array(fixed.buffer), ngOptions(list)));
}

/** Enhanced Packet Block (§4.3), or with `obsolete` the Packet Block (type 2, u16 id + u16 drops). */
export function epb(
  le: boolean,
  opts: { ifid: number; ticks: bigint; data: Uint8Array; origLen?: number; capLen?: number; obsolete?: boolean },
): Uint8Array {
  const fixed = new DataView(new ArrayBuffer(20));
  if (opts.obsolete) fixed.setUint16(0, opts.ifid, le);
  else fixed.setUint32(0, opts.ifid, le);
  fixed.setUint32(4, Number(opts.ticks >> 32n), le);
  fixed.setUint32(8, Number(opts.ticks & 0xffffffffn), le);
  fixed.setUint32(12, opts.capLen ?? opts.data.length, le);
  fixed.setUint32(16, opts.origLen ?? opts.data.length, le);
  const data = new Uint8Array((opts.data.length + 3) & ~3);
  data.set(opts.data);
  return ngBlock(le, opts.obsolete ? 2 : 6, concatBytes(new Uint8Array(fixed.buffer), data));
}

/** Simple Packet Block (§4.4): original length + data. */
export function spb(le: boolean, opts: { data: Uint8Array; origLen?: number }): Uint8Array {
  const fixed = new DataView(new ArrayBuffer(4));
  fixed.setUint32(0, opts.origLen ?? opts.data.length, le);
  return ngBlock(le, 3, concatBytes(new Uint8Array(fixed.buffer), opts.data));
}

// ---- independent record walker -----------------------------------------------------------------

export interface RecordSpan {
  start: number;
  end: number;
  /** True for a packet record (pcap record, EPB, SPB, OPB). */
  packet: boolean;
}

/** Where the file header ends and each record/block ends (stops at the first incomplete one). */
export function walkRecords(bytes: Uint8Array): { headerEnd: number; records: RecordSpan[] } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: RecordSpan[] = [];
  const magic = dv.getUint32(0, false);
  if (magic === 0x0a0d0d0a) {
    let le = true;
    let headerEnd = -1;
    for (let o = 0; o + 12 <= bytes.length; ) {
      const type = dv.getUint32(o, le);
      if (type === 0x0a0d0d0a) le = dv.getUint32(o + 8, true) === 0x1a2b3c4d;
      const len = dv.getUint32(o + 4, le);
      if (o + len > bytes.length) break;
      if (headerEnd < 0) headerEnd = o + len;
      records.push({ start: o, end: o + len, packet: type === 2 || type === 3 || type === 6 });
      o += len;
    }
    return { headerEnd, records };
  }
  const le = magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1;
  for (let o = 24; o + 16 <= bytes.length; ) {
    const end = o + 16 + dv.getUint32(o + 8, le);
    if (end > bytes.length) break;
    records.push({ start: o, end, packet: true });
    o = end;
  }
  return { headerEnd: 24, records };
}
