/**
 * The streaming capture reader against tshark/capinfos oracles (test/fixtures/captures/oracle), against
 * pcap-parser, and against synthetic files whose expected values are worked out by hand below.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import pcapp from 'pcap-parser';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSyntheticPcap } from '../../src/bench/pcap-gen.js';
import { CaptureParser, readCapture } from '../../src/capture/reader.js';
import type { CaptureInfo, PacketRecord } from '../../src/capture/types.js';
import {
  concatBytes,
  epb,
  FIXTURE_DIR,
  fixture,
  idb,
  ngBlock,
  payload,
  pcapFile,
  shb,
  spb,
  walkRecords,
} from '../helpers/captures.js';

// ---- helpers ---------------------------------------------------------------------------------------

interface Pkt extends Omit<PacketRecord, 'data'> {
  data: Uint8Array;
}

function keep(out: Pkt[]): (p: PacketRecord) => void {
  return (p) => out.push({ ...p, data: p.data.slice() }); // data is a plain Uint8Array: slice() copies
}

/** Parses `bytes` fed as the given chunk sizes (the remainder as a last chunk). */
function parse(
  bytes: Uint8Array,
  sizes: number[] = [],
  opts: { name?: string; maxRecordBytes?: number } = {},
): { packets: Pkt[]; info: CaptureInfo } {
  const packets: Pkt[] = [];
  const parser = new CaptureParser({
    onPacket: keep(packets),
    name: opts.name ?? 'test.pcap',
    maxRecordBytes: opts.maxRecordBytes,
  });
  let o = 0;
  for (const n of sizes) {
    parser.push(bytes.subarray(o, Math.min(o + n, bytes.length)));
    o = Math.min(o + n, bytes.length);
  }
  if (o < bytes.length) parser.push(bytes.subarray(o));
  return { packets, info: parser.end() };
}

/** Parses with a comparing callback: returns the first difference from `ref`, or '' when identical. */
function diffChunked(ref: Pkt[], push: (parser: CaptureParser) => void): string {
  let i = 0;
  let diff = '';
  const parser = new CaptureParser({
    name: 'x',
    onPacket: (p) => {
      const r = ref[i];
      if (
        !diff &&
        (!r ||
          p.ts !== r.ts ||
          p.origLen !== r.origLen ||
          p.capLen !== r.capLen ||
          p.linktype !== r.linktype ||
          p.interfaceId !== r.interfaceId ||
          p.index !== r.index ||
          !Buffer.from(p.data.buffer, p.data.byteOffset, p.data.length).equals(r.data))
      ) {
        diff = `packet ${i} differs`;
      }
      i++;
    },
  });
  push(parser);
  parser.end();
  if (!diff && i !== ref.length) diff = `${i} packets instead of ${ref.length}`;
  return diff;
}

/** Exact decimal seconds of a ns timestamp, as the oracle writes them ("1588770219.401826000"). */
function dec(ts: bigint): string {
  const neg = ts < 0n;
  const a = neg ? -ts : ts;
  return `${neg ? '-' : ''}${a / 1_000_000_000n}.${(a % 1_000_000_000n).toString().padStart(9, '0')}`;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

function catchErr(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected an error');
}

/** mulberry32: a small seeded PRNG so random chunkings are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Oracle {
  file: string;
  size: number;
  format: 'pcap' | 'pcapng';
  endianness: 'little' | 'big';
  ts_resolution?: 'microsecond' | 'nanosecond';
  version?: string;
  snaplen?: number;
  linktype: number | number[];
  sections?: number;
  interfaces?: { section: number; linktype: number; snaplen: number; if_tsresol: number; ticks_per_second: number }[];
  block_counts?: Record<string, number>;
  packets: number;
  bytes: { orig_len_sum: number; cap_len_sum: number };
  first_ts: string | null;
  last_ts: string | null;
  ts_min: string | null;
  ts_max: string | null;
  per_second: { t: number; packets: number; bytes: number; cap_bytes: number }[];
  expect: 'ok' | 'error_or_prefix';
}

const FILES = readdirSync(FIXTURE_DIR)
  .filter((f) => /\.pcap(ng)?$/.test(f))
  .sort();
const ORACLE = new Map<string, Oracle>(
  FILES.map((f) => [f, JSON.parse(readFileSync(`${FIXTURE_DIR}oracle/${f}.json`, 'utf8')) as Oracle]),
);
const BYTES = new Map(FILES.map((f) => [f, fixture(f)]));
const REF = new Map(FILES.map((f) => [f, parse(BYTES.get(f)!).packets]));
const SMALL = FILES.filter((f) => BYTES.get(f)!.length < 20_000);
const LARGE = FILES.filter((f) => BYTES.get(f)!.length >= 20_000);

const tmp = mkdtempSync(join(tmpdir(), 'smig-reader-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// ---- real fixtures against the tshark oracle -------------------------------------------------------

describe('fixtures vs tshark oracle', () => {
  it('covers all 14 fixtures, small and large', () => {
    expect(FILES.length).toBe(14);
    expect(LARGE.length).toBeGreaterThanOrEqual(3);
  });

  it.each(FILES)('%s', async (file) => {
    const o = ORACLE.get(file)!;
    const packets: Pkt[] = [];
    let progress = 0;
    let plain = true;
    const info = await readCapture(
      FIXTURE_DIR + file,
      (p) => {
        plain &&= Object.getPrototypeOf(p.data) === Uint8Array.prototype; // not a Buffer: slice() must copy
        keep(packets)(p);
      },
      {
        onProgress: (n, total) => {
          progress = n;
          expect(total).toBe(o.size);
        },
      },
    );
    expect(plain).toBe(true);
    expect(progress).toBe(o.size);

    expect(packets.length).toBe(o.packets);
    expect(packets.reduce((s, p) => s + p.origLen, 0)).toBe(o.bytes.orig_len_sum);
    expect(packets.reduce((s, p) => s + p.capLen, 0)).toBe(o.bytes.cap_len_sum);
    expect(packets.every((p, i) => p.index === i && p.data.length === p.capLen)).toBe(true);

    const ts = packets.map((p) => p.ts);
    const sorted = [...ts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(ts.length ? dec(ts[0]!) : null).toBe(o.first_ts);
    expect(ts.length ? dec(ts.at(-1)!) : null).toBe(o.last_ts);
    expect(ts.length ? dec(sorted[0]!) : null).toBe(o.ts_min);
    expect(ts.length ? dec(sorted.at(-1)!) : null).toBe(o.ts_max);

    const bins = new Map<bigint, { t: number; packets: number; bytes: number; cap_bytes: number }>();
    for (const p of packets) {
      const t = floorDiv(p.ts, 1_000_000_000n);
      const row = bins.get(t) ?? { t: Number(t), packets: 0, bytes: 0, cap_bytes: 0 };
      row.packets++;
      row.bytes += p.origLen;
      row.cap_bytes += p.capLen;
      bins.set(t, row);
    }
    expect([...bins.values()].sort((a, b) => a.t - b.t)).toEqual(o.per_second);

    expect(info.format).toBe(o.format);
    expect(info.endianness).toBe(o.endianness);
    expect(info.gzip).toBe(false);
    expect(info.linktypes).toEqual(Array.isArray(o.linktype) ? o.linktype : [o.linktype]);
    for (const p of packets) expect(info.linktypes).toContain(p.linktype);
    if (o.format === 'pcap') {
      expect(info.tsResolution).toBe(o.ts_resolution === 'nanosecond' ? 'ns' : 'us');
      expect(info.version).toBe(o.version);
      expect(info.interfaces).toEqual([
        {
          linktype: o.linktype,
          snaplen: o.snaplen,
          ticksPerSecond: o.ts_resolution === 'nanosecond' ? 1_000_000_000n : 1_000_000n,
          tsOffsetSeconds: 0n,
          section: 0,
        },
      ]);
    } else {
      expect(info.tsResolution).toBe('per-interface');
      expect(info.sections).toBe(o.sections);
      expect(info.blockCounts).toEqual(o.block_counts);
      expect(
        info.interfaces.map((i) => ({
          section: i.section,
          linktype: i.linktype,
          snaplen: i.snaplen,
          tps: i.ticksPerSecond,
        })),
      ).toEqual(
        o.interfaces!.map((i) => ({
          section: i.section,
          linktype: i.linktype,
          snaplen: i.snaplen,
          tps: 10n ** BigInt(i.if_tsresol),
        })),
      );
      expect(o.interfaces!.every((i) => BigInt(i.ticks_per_second) === 10n ** BigInt(i.if_tsresol))).toBe(true);
    }

    if (o.expect === 'ok') {
      expect(info.warnings).toEqual([]);
    } else {
      // the damaged file: exactly tshark's packets, then a warning at the start of the cut record
      const offset = 24 + 16 * o.packets + o.bytes.cap_len_sum;
      expect(offset).toBeLessThan(o.size);
      expect(info.warnings).toEqual([
        {
          code: 'SMIG_WARN_TRUNCATED',
          offset,
          message: expect.stringContaining(`${FIXTURE_DIR + file}: cut short at byte ${offset}`),
        },
      ]);
    }
  });

  it('zeek__empty.pcap: a header-only file has 0 packets and no warning', () => {
    const { packets, info } = parse(BYTES.get('zeek__empty.pcap')!);
    expect(packets).toEqual([]);
    expect(info.warnings).toEqual([]);
    expect(info.interfaces[0]!.snaplen).toBe(2000);
  });

  it('pcap-parser reads the same packet count and lengths from every µs pcap fixture', async () => {
    const micro = FILES.filter(
      (f) => ORACLE.get(f)!.format === 'pcap' && ORACLE.get(f)!.ts_resolution === 'microsecond',
    );
    expect(micro.length).toBe(10);
    for (const file of micro) {
      const theirs = await new Promise<{ cap: number; orig: number; sec: number; usec: number }[]>(
        (resolve, reject) => {
          const out: { cap: number; orig: number; sec: number; usec: number }[] = [];
          const p = pcapp.parse(FIXTURE_DIR + file);
          p.on(
            'packet',
            (pk: {
              header: {
                capturedLength: number;
                originalLength: number;
                timestampSeconds: number;
                timestampMicroseconds: number;
              };
            }) =>
              out.push({
                cap: pk.header.capturedLength,
                orig: pk.header.originalLength,
                sec: pk.header.timestampSeconds,
                usec: pk.header.timestampMicroseconds,
              }),
          );
          p.on('end', () => resolve(out));
          p.on('error', reject);
        },
      );
      const ours = REF.get(file)!;
      expect(
        ours.map((p) => [p.capLen, p.origLen, p.ts]),
        file,
      ).toEqual(theirs.map((t) => [t.cap, t.orig, BigInt(t.sec) * 1_000_000_000n + BigInt(t.usec) * 1000n]));
    }
  });
});

// ---- chunking ------------------------------------------------------------------------------------

describe('any chunking gives the same packets', () => {
  it.each(SMALL)('%s: split in two at every offset, and 1-byte chunks', (file) => {
    const bytes = BYTES.get(file)!;
    const ref = REF.get(file)!;
    const diffs: string[] = [];
    for (let i = 1; i < bytes.length; i++) {
      const d = diffChunked(ref, (p) => {
        p.push(bytes.subarray(0, i));
        p.push(bytes.subarray(i));
      });
      if (d) diffs.push(`split at ${i}: ${d}`);
    }
    const d = diffChunked(ref, (p) => {
      for (let i = 0; i < bytes.length; i++) p.push(bytes.subarray(i, i + 1));
    });
    if (d) diffs.push(`1-byte chunks: ${d}`);
    expect(diffs.slice(0, 5)).toEqual([]);
  });

  it(`large fixtures: 400 seeded random chunkings (${LARGE.join(', ')})`, () => {
    const rand = rng(20261126);
    const diffs: string[] = [];
    for (let k = 0; k < 400; k++) {
      const file = LARGE[k % LARGE.length]!;
      const bytes = BYTES.get(file)!;
      // chunk sizes log-uniform in 1 .. 256 KiB, so tiny and huge chunks both occur
      const d = diffChunked(REF.get(file)!, (p) => {
        for (let o = 0; o < bytes.length; ) {
          const n = Math.max(1, Math.floor(Math.exp(rand() * Math.log(262144))));
          p.push(bytes.subarray(o, o + n));
          o += n;
        }
      });
      if (d) diffs.push(`${file} chunking #${k}: ${d}`);
    }
    expect(diffs.slice(0, 5)).toEqual([]);
  });

  it(`pushTransient: one buffer overwritten after every call, 60 seeded random chunkings (${LARGE.join(', ')})`, () => {
    const rand = rng(20261204);
    const diffs: string[] = [];
    for (let k = 0; k < 60; k++) {
      const file = LARGE[k % LARGE.length]!;
      const bytes = BYTES.get(file)!;
      const buf = new Uint8Array(262144);
      const d = diffChunked(REF.get(file)!, (p) => {
        for (let o = 0; o < bytes.length; ) {
          // log-uniform 1 .. 256 KiB: records split over many chunks, and many records in one
          const n = Math.min(bytes.length - o, Math.max(1, Math.floor(Math.exp(rand() * Math.log(262144)))));
          buf.set(bytes.subarray(o, o + n));
          p.pushTransient(buf.subarray(0, n));
          buf.fill(0xee); // what a reader's next read would do to bytes still referenced
          o += n;
        }
      });
      if (d) diffs.push(`${file} chunking #${k}: ${d}`);
    }
    expect(diffs.slice(0, 5)).toEqual([]);
  });

  it('a chunk is never mutated and unaligned views are read correctly', () => {
    const bytes = BYTES.get('tcpdump__isup.pcap')!;
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const view = shifted.subarray(3);
    const before = Buffer.from(view);
    const { packets } = parse(view, [7, 100, 1]);
    expect(Buffer.from(view).equals(before)).toBe(true);
    expect(packets).toEqual(REF.get('tcpdump__isup.pcap'));
  });
});

// ---- truncation ------------------------------------------------------------------------------------

describe('truncation at every offset', () => {
  const files = [
    'tcpdump__isup.pcap',
    'zeek__get-to-ssh-server.pcap',
    'ndpi__knxip.pcapng',
    'gopacket__be_test005.pcapng',
    'scapy__bad_rsn_parsing_overrides_ssid.pcap',
  ];
  it.each(files)('%s', (file) => {
    const bytes = BYTES.get(file)!;
    const { headerEnd, records } = walkRecords(bytes);
    const ref = REF.get(file)!;
    const problems: string[] = [];
    for (let n = 0; n <= bytes.length; n++) {
      const cut = bytes.subarray(0, n);
      if (n < headerEnd) {
        const err = catchErr(() => parse(cut, [], { name: 'cut' }));
        const want = n === 0 ? 'SMIG_ERR_NOT_CAPTURE' : n < 4 ? 'SMIG_ERR_NOT_CAPTURE' : 'SMIG_ERR_CAPTURE_TRUNCATED';
        if (err.code !== want) problems.push(`cut ${n}: ${err.code} ${err.message}`);
        continue;
      }
      const { packets, info } = parse(cut, [], { name: 'cut' });
      const complete = records.filter((r) => r.end <= n);
      const boundary = complete.length ? complete.at(-1)!.end : headerEnd;
      const expected = complete.filter((r) => r.packet).length;
      if (
        packets.length !== expected ||
        JSON.stringify(packets.map((p) => String(p.ts))) !==
          JSON.stringify(ref.slice(0, expected).map((p) => String(p.ts)))
      ) {
        problems.push(`cut ${n}: ${packets.length} packets, expected ${expected}`);
      }
      const w = info.warnings.filter((x) => x.code === 'SMIG_WARN_TRUNCATED');
      const wantWarn = n > boundary ? [{ code: 'SMIG_WARN_TRUNCATED', offset: boundary }] : [];
      if (JSON.stringify(w.map((x) => ({ code: x.code, offset: x.offset }))) !== JSON.stringify(wantWarn))
        problems.push(`cut ${n}: warnings ${JSON.stringify(info.warnings)}`);
      if (w.length && !w[0]!.message.startsWith(`cut: cut short at byte ${boundary}: `))
        problems.push(`cut ${n}: message ${w[0]!.message}`);
    }
    expect(problems.slice(0, 5)).toEqual([]);
  });

  it('a cut header: the errors say what was cut', () => {
    const isup = BYTES.get('tcpdump__isup.pcap')!;
    expect(catchErr(() => parse(isup.subarray(0, 2), [], { name: 'a.pcap' }))).toMatchObject({
      code: 'SMIG_ERR_NOT_CAPTURE',
      message: 'a.pcap: not a pcap or pcapng capture (found only 2 bytes: a1 b2)',
    });
    expect(catchErr(() => parse(isup.subarray(0, 10), [], { name: 'a.pcap' }))).toMatchObject({
      code: 'SMIG_ERR_CAPTURE_TRUNCATED',
      message: 'a.pcap: pcap file header (24 bytes) cut short after 10 bytes',
    });
    expect(
      catchErr(() => parse(BYTES.get('ndpi__knxip.pcapng')!.subarray(0, 40), [], { name: 'b.pcapng' })),
    ).toMatchObject({
      code: 'SMIG_ERR_CAPTURE_TRUNCATED',
      message: 'b.pcapng: pcapng section header block cut short after 40 bytes',
    });
  });
});

// ---- synthetic pcap ------------------------------------------------------------------------------

describe('synthetic classic pcap', () => {
  // sec/frac written into the file, and the expected ns worked out by hand
  const recs = [
    { sec: 1_700_000_000, frac: 123_456, data: payload(60) },
    { sec: 0xffffffff, frac: 999_999, data: payload(1, 7), origLen: 1514 },
    { sec: 0, frac: 0, data: new Uint8Array(0) },
  ];
  it.each([true, false])('µs, little-endian=%s', (le) => {
    const { packets, info } = parse(pcapFile({ le, records: recs }), [5, 30, 17]);
    expect(packets.map((p) => p.ts)).toEqual([1_700_000_000_123_456_000n, 4_294_967_295_999_999_000n, 0n]);
    expect(packets.map((p) => [p.origLen, p.capLen, p.data.length])).toEqual([
      [60, 60, 60],
      [1514, 1, 1],
      [0, 0, 0],
    ]);
    expect(packets[0]!.data).toEqual(payload(60));
    expect(info).toMatchObject({
      format: 'pcap',
      endianness: le ? 'little' : 'big',
      tsResolution: 'us',
      version: '2.4',
      warnings: [],
    });
  });
  it.each([true, false])('ns, little-endian=%s', (le) => {
    const nsRecs = [
      { sec: 1_700_000_000, frac: 999_999_999, data: payload(3) },
      { sec: 0xffffffff, frac: 1, data: payload(2) },
    ];
    const { packets, info } = parse(pcapFile({ le, ns: true, records: nsRecs }));
    expect(packets.map((p) => p.ts)).toEqual([1_700_000_000_999_999_999n, 4_294_967_295_000_000_001n]);
    expect(info.tsResolution).toBe('ns');
    expect(info.interfaces[0]!.ticksPerSecond).toBe(1_000_000_000n);
  });

  it('masks FCS bits off the link type, warns once about an odd version and records above snaplen', () => {
    const bytes = pcapFile({
      le: false,
      major: 2,
      minor: 3,
      snaplen: 10,
      linktype: 0x1000_0000 | 105,
      records: [
        { sec: 1, frac: 0, data: payload(20) },
        { sec: 2, frac: 0, data: payload(30) },
        { sec: 3, frac: 0, data: payload(5) },
      ],
    });
    const { packets, info } = parse(bytes, [], { name: 'odd.pcap' });
    expect(packets.map((p) => [p.linktype, p.capLen])).toEqual([
      [105, 20],
      [105, 30],
      [105, 5],
    ]);
    expect(info.linktypes).toEqual([105]);
    expect(info.warnings).toEqual([
      {
        code: 'SMIG_WARN_VERSION',
        offset: 4,
        message: 'odd.pcap: unusual pcap version 2.3 (expected 2.4); reading it as 2.4',
      },
      {
        code: 'SMIG_WARN_SNAPLEN',
        offset: 24,
        message: 'odd.pcap: packet at byte 24 has 20 captured bytes, more than the snapshot length 10; read anyway',
      },
    ]);
  });

  it('snaplen 0 and a huge snaplen are accepted without warnings', () => {
    for (const snaplen of [0, 0xffffffff]) {
      const { packets, info } = parse(pcapFile({ snaplen, records: [{ sec: 1, frac: 2, data: payload(100) }] }));
      expect(packets.length).toBe(1);
      expect(info.interfaces[0]!.snaplen).toBe(snaplen);
      expect(info.warnings).toEqual([]);
    }
  });

  it('a record longer than maxRecordBytes is damage: stop there, keep what came before', () => {
    const bytes = pcapFile({
      records: [
        { sec: 1, frac: 0, data: payload(10) },
        { sec: 2, frac: 0, data: payload(2000) },
        { sec: 3, frac: 0, data: payload(10) },
      ],
    });
    const { packets, info } = parse(bytes, [], { name: 'big.pcap', maxRecordBytes: 1024 });
    expect(packets.length).toBe(1);
    expect(info.warnings).toEqual([
      {
        code: 'SMIG_WARN_DAMAGED',
        offset: 50,
        message:
          'big.pcap: damaged at byte 50: packet record claims 2000 captured bytes, above the limit of 1008; kept the 1 packets before it',
      },
    ]);
  });

  it('a 16 MB lying incl_len in a 1 KB file allocates nothing big and ends as a truncation warning', () => {
    const bytes = pcapFile({ records: [{ sec: 1, frac: 0, data: payload(1000), inclLen: 16 * 1024 * 1024 }] });
    expect(bytes.length).toBe(1040);
    let peak = 0;
    const base = process.memoryUsage().arrayBuffers;
    const packets: Pkt[] = [];
    const parser = new CaptureParser({ onPacket: keep(packets), name: 'lie.pcap' });
    for (let i = 0; i < bytes.length; i += 8) {
      parser.push(bytes.subarray(i, i + 8));
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    }
    // the parser holds the pending 1 KB (as views) and nothing else: an up-front 16 MiB buffer would show here
    expect(peak).toBeLessThan(4 * 1024 * 1024);
    const info = parser.end();
    expect(packets).toEqual([]);
    expect(info.warnings).toEqual([
      {
        code: 'SMIG_WARN_TRUNCATED',
        offset: 24,
        message:
          'lie.pcap: cut short at byte 24: the packet record there is incomplete (1016 bytes present, at least 16777232 needed); kept the 0 packets before it',
      },
    ]);
  });
});

// ---- synthetic pcapng ----------------------------------------------------------------------------

/** A valid Decryption Secrets Block body (§4.7): TLS key log type, 8 bytes of secrets. */
function dsbBody(): Uint8Array {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint32(0, 0x544c534b, true);
  new DataView(b.buffer).setUint32(4, 8, true);
  return b;
}

describe('synthetic pcapng', () => {
  // Section 0 (little-endian): IDB 0 (Ethernet, if_tsresol 9), an EPB, custom + unknown + NRB/ISB/DSB blocks.
  // Section 1 (big-endian): IDB 0 (raw 802.11 = 105, if_tsresol 0x94 = 2^-20 s, if_tsoffset 1.6e9 s),
  // IDB 1 (Ethernet, default µs, if_tsoffset −5 s), EPBs on both, an OPB and an SPB.
  const file = concatBytes(
    shb(true),
    idb(true, { linktype: 1, snaplen: 0, tsresol: 9 }),
    epb(true, { ifid: 0, ticks: 1_700_000_000_123_456_789n, data: payload(42) }),
    ngBlock(true, 0x00000bad, payload(9)),
    ngBlock(true, 0x40000bad, payload(4)),
    ngBlock(true, 0x12345678, payload(16)),
    ngBlock(true, 4, new Uint8Array(4)),
    ngBlock(true, 5, new Uint8Array(12)),
    ngBlock(true, 0x0a, dsbBody()),
    shb(false),
    idb(false, { linktype: 105, snaplen: 64, tsresol: 0x94, tsoffset: 1_600_000_000n }),
    idb(false, { linktype: 1, snaplen: 65535, tsoffset: -5n }),
    epb(false, { ifid: 0, ticks: 5n * 2n ** 20n + 1n, data: payload(10), origLen: 99 }),
    epb(false, { ifid: 1, ticks: 10_000_000n, data: payload(7) }),
    epb(false, { ifid: 1, ticks: 6_000_000_001n, data: payload(5), obsolete: true }),
    spb(false, { data: payload(64), origLen: 100 }),
  );

  it('tshark reads the same synthetic file the same way (when /usr/bin/tshark exists)', () => {
    if (!existsSync('/usr/bin/tshark')) return; // installed here and in CI; the hand-worked test below stands alone
    const path = join(tmp, 'syn.pcapng');
    writeFileSync(path, file);
    const out = execFileSync(
      '/usr/bin/tshark',
      [
        '-r',
        path,
        '-T',
        'fields',
        '-e',
        'frame.len',
        '-e',
        'frame.cap_len',
        '-e',
        'frame.time_epoch',
        '-e',
        'frame.encap_type',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    // tshark also lists the two custom blocks as records without an encapsulation: not packets for us
    const rows = out
      .trim()
      .split('\n')
      .map((l) => l.split('\t'))
      .filter((r) => r[3] !== '');
    const ours = parse(file).packets;
    expect(rows.map((r) => [Number(r[0]), Number(r[1]), r[2]])).toEqual(
      ours.map((p, i) => [p.origLen, p.capLen, i === 4 ? '' : dec(p.ts)]),
    );
  });

  it('two sections of different byte order, every timestamp exact', () => {
    const { packets, info } = parse(file, [], { name: 'syn.pcapng' });
    expect(
      packets.map((p) => ({
        ts: p.ts,
        interfaceId: p.interfaceId,
        linktype: p.linktype,
        capLen: p.capLen,
        origLen: p.origLen,
      })),
    ).toEqual([
      { ts: 1_700_000_000_123_456_789n, interfaceId: 0, linktype: 1, capLen: 42, origLen: 42 },
      // 5·2^20 + 1 ticks of 2^-20 s = 5 s + 953.67… ns, floored to 953 ns; plus 1.6e9 s
      { ts: 1_600_000_005_000_000_953n, interfaceId: 1, linktype: 105, capLen: 10, origLen: 99 },
      // 10 s in µs ticks, minus 5 s offset
      { ts: 5_000_000_000n, interfaceId: 2, linktype: 1, capLen: 7, origLen: 7 },
      // OPB: 6000.000001 s − 5 s
      { ts: 5_995_000_001_000n, interfaceId: 2, linktype: 1, capLen: 5, origLen: 5 },
      // SPB: interface 0 of its section, previous packet's timestamp, cut to that interface's snaplen 64
      { ts: 5_995_000_001_000n, interfaceId: 1, linktype: 105, capLen: 64, origLen: 100 },
    ]);
    expect(packets[1]!.data).toEqual(payload(10));
    expect(packets[4]!.data).toEqual(payload(64));
    expect(info).toMatchObject({
      format: 'pcapng',
      endianness: 'little',
      version: '1.0',
      tsResolution: 'per-interface',
      sections: 2,
      linktypes: [1, 105],
      blockCounts: { SHB: 2, IDB: 3, EPB: 3, OPB: 1, SPB: 1, custom: 2, unknown: 1, NRB: 1, ISB: 1, DSB: 1 },
    });
    expect(info.interfaces).toEqual([
      { linktype: 1, snaplen: 0, ticksPerSecond: 1_000_000_000n, tsOffsetSeconds: 0n, section: 0 },
      { linktype: 105, snaplen: 64, ticksPerSecond: 1_048_576n, tsOffsetSeconds: 1_600_000_000n, section: 1 },
      { linktype: 1, snaplen: 65535, ticksPerSecond: 1_000_000n, tsOffsetSeconds: -5n, section: 1 },
    ]);
    const spbOffset = file.length - 12 - 4 - 64;
    expect(info.warnings).toEqual([
      {
        code: 'SMIG_WARN_NO_TIMESTAMP',
        offset: spbOffset,
        message: `syn.pcapng: simple packet blocks (first at byte ${spbOffset}) carry no timestamp; each gets the previous packet's timestamp (0 if none)`,
      },
    ]);
  });

  it('an SPB before any timestamped packet gets timestamp 0', () => {
    const { packets } = parse(concatBytes(shb(false), idb(false, { linktype: 1 }), spb(false, { data: payload(3) })));
    expect(packets.map((p) => [p.ts, p.capLen])).toEqual([[0n, 3]]);
  });

  it('every split of the synthetic file gives the same packets', () => {
    const ref = parse(file).packets;
    const diffs: string[] = [];
    for (let i = 1; i < file.length; i++) {
      const d = diffChunked(ref, (p) => {
        p.push(file.subarray(0, i));
        p.push(file.subarray(i));
      });
      if (d) diffs.push(`split ${i}: ${d}`);
    }
    expect(diffs).toEqual([]);
  });

  describe('damage stops the parse with a warning and keeps the packets before it', () => {
    const head = concatBytes(
      shb(true),
      idb(true, { linktype: 1, tsresol: 6 }),
      epb(true, { ifid: 0, ticks: 1n, data: payload(4) }),
    );
    const tail = epb(true, { ifid: 0, ticks: 2n, data: payload(4) });
    const cases: [string, Uint8Array, string][] = [
      [
        'trailing length differs',
        ngBlock(true, 6, new Uint8Array(24), { trailingLength: 40 }),
        'block has trailing length 40, leading length 36',
      ],
      [
        'length not a multiple of 4',
        (() => {
          const b = ngBlock(true, 5, new Uint8Array(8));
          new DataView(b.buffer).setUint32(4, 22, true);
          return b;
        })(),
        'block has total length 22, not a multiple of 4 of at least 12',
      ],
      [
        'length below 12',
        (() => {
          const b = ngBlock(true, 5, new Uint8Array(0));
          new DataView(b.buffer).setUint32(4, 8, true);
          return b;
        })(),
        'block has total length 8, not a multiple of 4 of at least 12',
      ],
      [
        'unknown interface',
        epb(true, { ifid: 3, ticks: 1n, data: payload(4) }),
        'enhanced packet block refers to interface 3, but its section describes only 1',
      ],
      [
        'captured length beyond the block',
        epb(true, { ifid: 0, ticks: 1n, data: payload(4), capLen: 400 }),
        'enhanced packet block claims 400 captured bytes in a 36-byte block',
      ],
      [
        'EPB too short',
        ngBlock(true, 6, new Uint8Array(8)),
        'enhanced packet block is 20 bytes long, shorter than the minimum 32',
      ],
      [
        'second SHB with bad byte-order magic',
        (() => {
          const b = shb(true);
          b[8] = 0;
          return b;
        })(),
        'section header has a bad byte-order magic (00 3c 2b 1a)',
      ],
      ['second SHB of version 2', shb(true, { major: 2 }), 'section header has unsupported pcapng version 2.0'],
    ];
    it.each(cases)('%s', (_name, bad, why) => {
      const { packets, info } = parse(concatBytes(head, bad, tail), [], { name: 'd.pcapng' });
      expect(packets.length).toBe(1);
      expect(info.warnings).toEqual([
        {
          code: 'SMIG_WARN_DAMAGED',
          offset: head.length,
          message: `d.pcapng: damaged at byte ${head.length}: ${why}; kept the 1 packets before it`,
        },
      ]);
    });
  });

  it('a broken first section header is a format error', () => {
    const bad = shb(true);
    bad[9] = 0;
    expect(catchErr(() => parse(bad, [], { name: 'e.pcapng' }))).toMatchObject({
      code: 'SMIG_ERR_CAPTURE_FORMAT',
      message: 'e.pcapng: damaged at byte 0: section header has a bad byte-order magic (4d 00 2b 1a)',
    });
    expect(catchErr(() => parse(shb(false, { major: 2 }), [], { name: 'e.pcapng' }))).toMatchObject({
      code: 'SMIG_ERR_CAPTURE_FORMAT',
      message: 'e.pcapng: damaged at byte 0: section header has unsupported pcapng version 2.0',
    });
  });

  it('a 16 MB lying block length allocates nothing big and ends as a truncation warning', () => {
    const head = concatBytes(shb(true), idb(true, { linktype: 1 }));
    const lie = epb(true, { ifid: 0, ticks: 1n, data: payload(1000) });
    new DataView(lie.buffer).setUint32(4, 16 * 1024 * 1024, true);
    const base = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const parser = new CaptureParser({
      onPacket: () => {
        throw new Error('no packet expected');
      },
      name: 'lie.pcapng',
    });
    const bytes = concatBytes(head, lie);
    for (let i = 0; i < bytes.length; i += 1) {
      parser.push(bytes.subarray(i, i + 1));
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    }
    expect(peak).toBeLessThan(4 * 1024 * 1024);
    expect(parser.end().warnings).toMatchObject([{ code: 'SMIG_WARN_TRUNCATED', offset: head.length }]);
  });
});

// ---- not a capture ---------------------------------------------------------------------------------

describe('inputs that are not captures', () => {
  const cases: [string, Uint8Array, string][] = [
    ['empty', new Uint8Array(0), 'empty file'],
    ['snoop', new TextEncoder().encode('snoop\0\0\0\0\0\0\x02\0\0\0\x04'), 'a snoop capture'],
    ['zstd', Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x05, 0x29, 0, 0), 'zstd-compressed data'],
    ['bzip2', new TextEncoder().encode('BZh91AY&SY'), 'bzip2-compressed data'],
    ['xz', Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04), 'xz-compressed data'],
    ['garbage (ERF-like)', Uint8Array.of(0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77), 'bytes 00 11 22 33'],
    ['gzip fed to the bare parser', Uint8Array.of(0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0), 'gzip-compressed data'],
    ['three bytes', Uint8Array.of(0xd4, 0xc3, 0xb2), 'only 3 bytes: d4 c3 b2'],
  ];
  it.each(cases)('%s (parser, also in 1-byte chunks)', (_name, bytes, found) => {
    const msg = `in.bin: not a pcap or pcapng capture (found ${found})`;
    expect(catchErr(() => parse(bytes, [], { name: 'in.bin' }))).toMatchObject({
      code: 'SMIG_ERR_NOT_CAPTURE',
      message: msg,
    });
    expect(catchErr(() => parse(bytes, Array(bytes.length).fill(1), { name: 'in.bin' }))).toMatchObject({
      code: 'SMIG_ERR_NOT_CAPTURE',
      message: msg,
    });
  });

  it('readCapture names the file', async () => {
    const path = join(tmp, 'trace.zst');
    writeFileSync(path, Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4));
    await expect(readCapture(path, () => {})).rejects.toMatchObject({
      code: 'SMIG_ERR_NOT_CAPTURE',
      message: `${path}: not a pcap or pcapng capture (found zstd-compressed data)`,
    });
    const empty = join(tmp, 'empty.pcap');
    writeFileSync(empty, '');
    await expect(readCapture(empty, () => {})).rejects.toMatchObject({
      code: 'SMIG_ERR_NOT_CAPTURE',
      message: `${empty}: not a pcap or pcapng capture (found empty file)`,
    });
  });

  it('missing files and directories are SMIG_ERR_FILE', async () => {
    await expect(readCapture(join(tmp, 'nope.pcap'), () => {})).rejects.toMatchObject({
      code: 'SMIG_ERR_FILE',
      message: `${join(tmp, 'nope.pcap')}: cannot open (ENOENT)`,
    });
    await expect(readCapture(tmp, () => {})).rejects.toMatchObject({
      code: 'SMIG_ERR_FILE',
      message: `${tmp}: cannot open (EISDIR)`,
    });
  });
});

// ---- readCapture: gzip, iterables, abort -----------------------------------------------------------

describe('readCapture', () => {
  const name = 'lwerdna__200722_tcp_anon.pcapng';
  const raw = BYTES.get(name)!;
  const gz = gzipSync(raw);

  it('reads a gzip-compressed capture (same packets; progress counts compressed bytes)', async () => {
    const path = join(tmp, `${name}.gz`);
    writeFileSync(path, gz);
    const packets: Pkt[] = [];
    const progress: [number, number | undefined][] = [];
    const info = await readCapture(path, keep(packets), { onProgress: (n, t) => progress.push([n, t]) });
    expect(packets).toEqual(REF.get(name));
    expect(info.gzip).toBe(true);
    expect(info.warnings).toEqual([]);
    expect(progress.at(-1)).toEqual([gz.length, gz.length]);
  });

  it('reads gzip from an async iterable that splits the magic across chunks', async () => {
    async function* src(): AsyncGenerator<Uint8Array> {
      yield gz.subarray(0, 1);
      yield gz.subarray(1, 2);
      for (let o = 2; o < gz.length; o += 777) yield gz.subarray(o, o + 777);
    }
    const packets: Pkt[] = [];
    const info = await readCapture(src(), keep(packets), { name: 'it' });
    expect(packets).toEqual(REF.get(name));
    expect(info.gzip).toBe(true);
  });

  it('a cut gzip stream keeps the complete packets and warns', async () => {
    const big = BYTES.get('ndpi__netflix.pcap')!;
    const path = join(tmp, 'cut.pcap.gz');
    writeFileSync(path, gzipSync(big).subarray(0, 200_000));
    const packets: Pkt[] = [];
    const info = await readCapture(path, keep(packets));
    const ref = REF.get('ndpi__netflix.pcap')!;
    expect(packets.length).toBeGreaterThan(100);
    expect(packets.length).toBeLessThan(ref.length);
    expect(packets).toEqual(ref.slice(0, packets.length));
    expect(info.warnings.map((w) => w.code)).toContain('SMIG_WARN_TRUNCATED');
    expect(info.warnings.at(-1)!.message).toMatch(
      new RegExp(`^${path}: gzip stream cut short after 200000 compressed bytes`),
    );
  });

  it('corrupt gzip data is SMIG_ERR_GZIP naming the file', async () => {
    const bad = Buffer.from(gz);
    for (let i = 100; i < 200; i++) bad[i] ^= 0x55;
    const path = join(tmp, 'bad.pcapng.gz');
    writeFileSync(path, bad);
    await expect(readCapture(path, () => {})).rejects.toMatchObject({
      code: 'SMIG_ERR_GZIP',
      message: expect.stringMatching(new RegExp(`^${path}: corrupt gzip data \\(`)),
    });
  });

  it('an aborted signal stops the read', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(readCapture(FIXTURE_DIR + name, () => {}, { signal: ac.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    const ac2 = new AbortController();
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield raw.subarray(0, 1000);
      ac2.abort();
      yield raw.subarray(1000);
    }
    await expect(readCapture(slow(), () => {}, { signal: ac2.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('reads a capture of many read buffers (records across their ends) as the parser does', async () => {
    const path = join(tmp, 'many-reads.pcap');
    // ~2.7 MB of whole packets (60–1514 bytes): several 1 MiB reads, a record cut at the end of each
    await writeSyntheticPcap(path, { packets: 5000, seed: 7 });
    const bytes = readFileSync(path);
    expect(bytes.length).toBeGreaterThan(2 << 20);
    const packets: Pkt[] = [];
    const progress: [number, number | undefined][] = [];
    const info = await readCapture(path, keep(packets), { onProgress: (n, t) => progress.push([n, t]) });
    const ref = parse(new Uint8Array(bytes)).packets;
    expect(packets.length).toBe(5000);
    // compared as one line per packet (a deep comparison of 2.7 MB of byte arrays takes seconds)
    const lines = (ps: Pkt[]): string[] =>
      ps.map((p) => `${p.index} ${p.ts} ${p.capLen} ${p.origLen} ${Buffer.from(p.data).toString('base64')}`);
    expect(lines(packets)).toEqual(lines(ref));
    expect(info.warnings).toEqual([]);
    expect(progress.length).toBeGreaterThan(1); // one call per read
    expect(progress.at(-1)).toEqual([bytes.length, bytes.length]);
  });

  it('errors thrown by onPacket propagate unchanged', async () => {
    const boom = new Error('consumer failed');
    await expect(
      readCapture(FIXTURE_DIR + name, () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
  });
});
