/**
 * The analyzer's allocation-free per-packet path against straightforward references: the reused record against
 * fresh records, decodePacketAt against decodePacket, the flat flow table against a string-keyed map, the number
 * timestamps against BigInt arithmetic (also beyond the ±104-day exact range), and the radix sort against
 * Float64Array#sort.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FlowRecord } from '../../src/analysis/flows.js';
import { FlowTable } from '../../src/analysis/flows.js';
import { ecdfPoints, summary } from '../../src/analysis/stats.js';
import { TrafficAccumulator } from '../../src/analysis/traffic.js';
import type { Decoded } from '../../src/capture/decode.js';
import { createDecoded, decodePacket, decodePacketAt, formatAddress } from '../../src/capture/decode.js';
import { CaptureParser } from '../../src/capture/reader.js';
import type { PacketRecord } from '../../src/capture/types.js';
import { FIXTURES } from '../helpers/cli.js';

const DIR = join(FIXTURES, 'captures');
const FILES = readdirSync(DIR)
  .filter((f) => /\.pcap(ng)?$/.test(f))
  .sort();

interface Copy {
  ts: bigint;
  tsSec: number | undefined;
  tsNsec: number | undefined;
  origLen: number;
  capLen: number;
  linktype: number;
  interfaceId: number;
  index: number;
  data: Uint8Array;
  hex: string;
}

function copyOf(p: PacketRecord): Copy {
  return {
    ts: p.ts,
    tsSec: p.tsSec,
    tsNsec: p.tsNsec,
    origLen: p.origLen,
    capLen: p.capLen,
    linktype: p.linktype,
    interfaceId: p.interfaceId,
    index: p.index,
    data: new Uint8Array(p.data),
    hex: Buffer.from(p.data).toString('hex'),
  };
}

/** Parses `bytes` cut into chunks of the given sizes (cycled). */
function parse(bytes: Uint8Array, sizes: number[], reuseRecord: boolean, each: (p: PacketRecord) => void): void {
  const parser = new CaptureParser({ onPacket: each, name: 'x', reuseRecord });
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    parser.push(bytes.subarray(at, at + n));
    at += n;
  }
  try {
    parser.end();
  } catch {
    // a fixture that is not a capture: both modes fail alike (compared by the packets seen)
  }
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 4294967296;
}

function fields(d: Decoded, shift: number): object {
  return {
    network: d.network,
    ethertype: d.ethertype,
    vlanIds: [...d.vlanIds],
    addrLength: d.addrLength,
    protocol: d.protocol,
    srcPort: d.srcPort,
    dstPort: d.dstPort,
    tcpFlags: d.tcpFlags,
    fragment: d.fragment,
    ipTotalLength: d.ipTotalLength,
    wireLength: d.wireLength,
    srcOffset: d.srcOffset < 0 ? -1 : d.srcOffset - shift,
    dstOffset: d.dstOffset < 0 ? -1 : d.dstOffset - shift,
    src: [...d.src],
    dst: [...d.dst],
  };
}

/** The flow table as the analyzer kept it before: string keys, originator = source of the first packet. */
function referenceFlows(packets: Copy[]): FlowRecord[] {
  const flows = new Map<string, FlowRecord>();
  const d = createDecoded();
  const anchor = packets[0]?.ts ?? 0n; // the accumulator's window starts at its first packet (no anchor given)
  for (const p of packets) {
    if (p.ts < anchor) continue;
    decodePacket(p.linktype, p.data, d, p.origLen);
    if (!(d.srcPort >= 0 || d.network === 'ipv4' || d.network === 'ipv6')) continue;
    const src = formatAddress(d.src);
    const dst = formatAddress(d.dst);
    let f = flows.get(`${d.protocol}|${src}|${d.srcPort}|${dst}|${d.dstPort}`);
    let forward = true;
    if (!f) {
      f = flows.get(`${d.protocol}|${dst}|${d.dstPort}|${src}|${d.srcPort}`);
      forward = false;
    }
    if (!f) {
      f = {
        protocol: d.protocol,
        src,
        srcPort: d.srcPort,
        dst,
        dstPort: d.dstPort,
        startNs: p.ts,
        endNs: p.ts,
        origPackets: 0,
        origBytes: 0,
        respPackets: 0,
        respBytes: 0,
      };
      flows.set(`${d.protocol}|${src}|${d.srcPort}|${dst}|${d.dstPort}`, f);
      forward = true;
    }
    if (p.ts < f.startNs) f.startNs = p.ts;
    if (p.ts > f.endNs) f.endNs = p.ts;
    if (forward) {
      f.origPackets++;
      f.origBytes += p.origLen;
    } else {
      f.respPackets++;
      f.respBytes += p.origLen;
    }
  }
  return [...flows.values()];
}

describe.each(FILES)('%s', (file) => {
  const bytes = new Uint8Array(readFileSync(join(DIR, file)));
  const fresh: Copy[] = [];
  parse(bytes, [bytes.length], false, (p) => fresh.push(copyOf(p)));

  it('a reused record carries what fresh records carry, in random chunkings', () => {
    const next = rng(bytes.length);
    for (let k = 0; k < 2; k++) {
      const sizes = Array.from({ length: 7 }, () => 1 + Math.floor(next() * 3000));
      const reused: Copy[] = [];
      parse(bytes, sizes, true, (p) => reused.push(copyOf(p)));
      // compared as text: a deep comparison of every byte array is slow
      const text = (ps: Copy[]): string[] =>
        ps.map(
          (p) =>
            `${p.ts} ${p.tsSec} ${p.tsNsec} ${p.origLen} ${p.capLen} ${p.linktype} ${p.interfaceId} ${p.index} ${p.hex}`,
        );
      expect(text(reused)).toEqual(text(fresh));
    }
    expect(fresh.filter((p) => BigInt(p.tsSec!) * 1_000_000_000n + BigInt(p.tsNsec!) !== p.ts)).toEqual([]);
  });

  it('decodePacketAt in a larger buffer decodes as decodePacket does', () => {
    const a = createDecoded();
    const b = createDecoded();
    const want: object[] = [];
    const got: object[] = [];
    for (const p of fresh) {
      const buf = new Uint8Array(p.data.length + 40).fill(0xee);
      buf.set(p.data, 17);
      want.push(fields(decodePacket(p.linktype, p.data, a, p.origLen), 0));
      got.push(fields(decodePacketAt(p.linktype, buf, 17, 17 + p.data.length, b, p.origLen), 17));
    }
    expect(got).toEqual(want);
  });

  it('the flow table equals the string-keyed reference, and records without tsSec give the same accumulation', () => {
    const acc = new TrafficAccumulator({ binNs: 1_000_000_000n });
    const slow = new TrafficAccumulator({ binNs: 1_000_000_000n });
    for (const p of fresh) {
      acc.add(p);
      slow.add({ ...p, tsSec: undefined, tsNsec: undefined });
    }
    expect(acc.flowRecords()).toEqual(referenceFlows(fresh));
    expect([...slow.bins]).toEqual([...acc.bins]);
    expect([...slow.sizes]).toEqual([...acc.sizes]);
    expect(slow.iat.values()).toEqual(acc.iat.values());
    expect([0, 1, 2].map((i) => slow.fano(i))).toEqual([0, 1, 2].map((i) => acc.fano(i)));
    expect([acc.minNs, acc.maxNs, acc.firstNs, acc.lastNs]).toEqual([
      slow.minNs,
      slow.maxNs,
      slow.firstNs,
      slow.lastNs,
    ]);
  });
});

/** An Ethernet/IPv4/UDP packet. */
function udp(src: number, dst: number, sport: number, dport: number, len = 60): Uint8Array {
  const p = new Uint8Array(len);
  const v = new DataView(p.buffer);
  v.setUint16(12, 0x0800);
  p[14] = 0x45;
  v.setUint16(16, len - 14);
  p[23] = 17;
  v.setUint32(26, src);
  v.setUint32(30, dst);
  v.setUint16(34, sport);
  v.setUint16(36, dport);
  return p;
}

function record(data: Uint8Array, ts: bigint, index = 0): PacketRecord {
  return { ts, origLen: data.length, capLen: data.length, linktype: 1, interfaceId: 0, index, data };
}

describe('FlowTable', () => {
  it('grows past its first allocation, keeps the originator, and drops packets of flows beyond the cap', () => {
    const t = new FlowTable(3000);
    const d = createDecoded();
    for (let i = 0; i < 5000; i++) {
      decodePacket(1, udp(0x0a000000 + i, 0xc0a80001, 1000 + (i % 7), 53), d);
      expect(t.add(d, 1, i, 60)).toBe(i < 3000);
      decodePacket(1, udp(0xc0a80001, 0x0a000000 + i, 53, 1000 + (i % 7), 80), d); // the answer
      expect(t.add(d, 2, i, 80)).toBe(i < 3000);
    }
    const r = t.records();
    expect(r.length).toBe(3000);
    expect(r[2999]).toEqual({
      protocol: 17,
      src: '10.0.11.183',
      srcPort: 1000 + (2999 % 7),
      dst: '192.168.0.1',
      dstPort: 53,
      startNs: 1_000_002_999n,
      endNs: 2_000_002_999n,
      origPackets: 1,
      origBytes: 60,
      respPackets: 1,
      respBytes: 80,
    });
  });
});

describe('TrafficAccumulator timestamps', () => {
  it('bins packets 200 days apart (beyond the exact number range) as BigInt arithmetic does', () => {
    const day = 86_400_000_000_000n;
    const base = 1_700_000_000_123_456_789n;
    const stamps = [
      base,
      base + 1n,
      base + 3n * day + 7n,
      base + 200n * day + 999_999_999n,
      base + 200n * day + 1_000_000_000n,
    ];
    const acc = new TrafficAccumulator({ binNs: 1_000_000_000n, fromNs: 1n });
    stamps.forEach((ts, i) => acc.add(record(udp(1, 2, 3, 4), ts, i)));
    const want = new Map<number, [number, number]>();
    for (const ts of stamps.slice(1)) {
      const bin = Number((ts - base - 1n) / 1_000_000_000n);
      const c = want.get(bin) ?? [0, 0];
      want.set(bin, [c[0] + 1, c[1] + 60]);
    }
    expect([...acc.bins].sort((a, b) => a[0] - b[0])).toEqual([...want].sort((a, b) => a[0] - b[0]));
    expect(acc.packets).toBe(4);
    const gaps = stamps.slice(2).map((ts, i) => Number(ts - stamps[i + 1]!) / 1e9);
    expect([...acc.iat.values()]).toEqual(gaps);
  });

  it('bin boundaries are exact where the float quotient rounds up', () => {
    const acc = new TrafficAccumulator({ binNs: 1_000_000_000n, anchorNs: 0n });
    const ts = 8_999_999n * 1_000_000_000n - 1n; // one ns before a bin edge, ~104 days from the anchor
    acc.add(record(udp(1, 2, 3, 4), ts));
    expect([...acc.bins.keys()]).toEqual([Number(ts / 1_000_000_000n)]);
  });
});

describe('radix sort of large samples', () => {
  it('orders as Float64Array#sort, signed zeros, infinities and subnormals included', () => {
    const next = rng(42);
    const n = 100_000;
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const k = next();
      a[i] =
        k < 0.1
          ? -next() * 1e6
          : k < 0.2
            ? 0
            : k < 0.25
              ? -0
              : k < 0.3
                ? Infinity
                : k < 0.35
                  ? -Infinity
                  : k < 0.5
                    ? next() * 1e-300
                    : k < 0.55
                      ? -5e-324
                      : next() * 1e9;
    }
    const sorted = Float64Array.from(a).sort();
    const e = ecdfPoints(a, n + 1);
    const distinct = sorted.filter((x, i) => i === 0 || x !== sorted[i - 1]);
    expect(e.x).toEqual([...distinct]);
    const s = summary(a);
    expect([s.min, s.max, s.n]).toEqual([sorted[0], sorted[n - 1], n]);
  });
});

describe('TrafficAccumulator far beyond 2^53 seconds (a huge pcapng if_tsoffset)', () => {
  it('keeps timestamps, bins and gaps exact, with and without a given anchor', () => {
    const base = 2n ** 60n * 1_000_000_000n + 123n; // ~3.7e10 years from 1970
    const stamps = [base, base + 1n, base + 2_500_000_001n, base + 2_500_000_001n + 86_400_000_000_000n];
    for (const anchorNs of [undefined, base]) {
      const acc = new TrafficAccumulator({ binNs: 1_000_000_000n, ...(anchorNs === undefined ? {} : { anchorNs }) });
      stamps.forEach((ts, i) => {
        const [s, n] = [ts / 1_000_000_000n, ts % 1_000_000_000n];
        acc.add({ ...record(udp(1, 2, 3, 4), ts, i), tsSec: Number(s), tsNsec: Number(n) }); // tsSec rounded, as a reader gives it
      });
      expect([acc.anchorNs, acc.minNs, acc.maxNs, acc.firstNs, acc.lastNs]).toEqual([
        base,
        base,
        stamps[3],
        base,
        stamps[3],
      ]);
      expect([...acc.bins.keys()]).toEqual([0, 2, 86_402]);
      expect([...acc.iat.values()]).toEqual([1e-9, 2.5, 86_400]);
    }
  });
});
