/**
 * The pcap writer: exact header bytes, and what it writes is read back by our reader, by pcap-parser
 * and by tshark (when /usr/bin/tshark exists; it does here and in CI).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pcapp from 'pcap-parser';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureParser } from '../../src/capture/reader.js';
import type { PacketRecord } from '../../src/capture/types.js';
import { PcapWriter } from '../../src/capture/writer.js';
import { concatBytes, payload } from '../helpers/captures.js';

const TSHARK = '/usr/bin/tshark';
const tmp = mkdtempSync(join(tmpdir(), 'smig-writer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** An in-memory sink that records what it is given. */
function sink(): { out: { write(b: Uint8Array): boolean }; bytes: () => Uint8Array } {
  const parts: Uint8Array[] = [];
  return { out: { write: (b) => (parts.push(b), true) }, bytes: () => concatBytes(...parts) };
}

function readBack(bytes: Uint8Array): PacketRecord[] {
  const out: PacketRecord[] = [];
  new CaptureParser({ onPacket: (p) => out.push({ ...p, data: p.data.slice() }) }).push(bytes);
  return out;
}

function tsharkRows(path: string): string[][] {
  const text = execFileSync(
    TSHARK,
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
  return text
    .trim()
    .split('\n')
    .map((l) => l.split('\t'));
}

// timestamps with a sub-µs part, to see the µs truncation
const PACKETS = [
  { ts: 1_700_000_000_123_456_789n, data: payload(60), origLen: 60 },
  { ts: 1_700_000_001_000_000_999n, data: payload(1514, 3), origLen: 1514 },
  { ts: 4_294_967_295_999_999_999n, data: payload(1, 9), origLen: 9000 },
  { ts: 0n, data: new Uint8Array(0), origLen: 0 },
];

describe('PcapWriter', () => {
  it('writes the 24-byte little-endian 2.4 header', () => {
    const us = sink();
    new PcapWriter(us.out, { linktype: 1 });
    expect(Buffer.from(us.bytes()).toString('hex')).toBe(
      'd4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + '00000400' + '01000000',
    );
    const ns = sink();
    new PcapWriter(ns.out, { linktype: 276, snaplen: 65535, nanosecond: true });
    expect(Buffer.from(ns.bytes()).toString('hex')).toBe(
      '4d3cb2a1' + '0200' + '0400' + '00000000' + '00000000' + 'ffff0000' + '14010000',
    );
  });

  it('µs: read back by our reader, pcap-parser and tshark, timestamps truncated to µs', async () => {
    const s = sink();
    const w = new PcapWriter(s.out, { linktype: 1 });
    for (const p of PACKETS) expect(w.writePacket(p.ts, p.data, p.origLen)).toBe(true);
    const bytes = s.bytes();
    const expected = [
      [1_700_000_000_123_456_000n, 60, 60],
      [1_700_000_001_000_000_000n, 1514, 1514],
      [4_294_967_295_999_999_000n, 1, 9000],
      [0n, 0, 0],
    ];

    const ours = readBack(bytes);
    expect(ours.map((p) => [p.ts, p.capLen, p.origLen])).toEqual(expected);
    expect(ours.map((p) => p.data)).toEqual(PACKETS.map((p) => p.data));

    const path = join(tmp, 'us.pcap');
    writeFileSync(path, bytes);
    const theirs = await new Promise<unknown[][]>((resolve, reject) => {
      const rows: unknown[][] = [];
      const parser = pcapp.parse(path);
      parser.on(
        'packet',
        (pk: {
          header: {
            timestampSeconds: number;
            timestampMicroseconds: number;
            capturedLength: number;
            originalLength: number;
          };
          data: Buffer;
        }) =>
          rows.push([
            BigInt(pk.header.timestampSeconds) * 1_000_000_000n + BigInt(pk.header.timestampMicroseconds) * 1000n,
            pk.header.capturedLength,
            pk.header.originalLength,
          ]),
      );
      parser.on('end', () => resolve(rows));
      parser.on('error', reject);
    });
    expect(theirs).toEqual(expected);

    if (existsSync(TSHARK)) {
      expect(tsharkRows(path)).toEqual([
        ['60', '60', '1700000000.123456000', '1'],
        ['1514', '1514', '1700000001.000000000', '1'],
        ['9000', '1', '4294967295.999999000', '1'],
        ['0', '0', '0.000000000', '1'],
      ]);
    }
  });

  it('ns: read back exactly by our reader and tshark', () => {
    const s = sink();
    const w = new PcapWriter(s.out, { linktype: 101, nanosecond: true });
    for (const p of PACKETS) w.writePacket(p.ts, p.data, p.origLen);
    const ours = readBack(s.bytes());
    expect(ours.map((p) => [p.ts, p.capLen, p.origLen, p.linktype])).toEqual(
      PACKETS.map((p) => [p.ts, p.data.length, p.origLen, 101]),
    );
    if (existsSync(TSHARK)) {
      const path = join(tmp, 'ns.pcap');
      writeFileSync(path, s.bytes());
      expect(tsharkRows(path).map((r) => r.slice(0, 3))).toEqual([
        ['60', '60', '1700000000.123456789'],
        ['1514', '1514', '1700000001.000000999'],
        ['9000', '1', '4294967295.999999999'],
        ['0', '0', '0.000000000'],
      ]);
    }
  });

  it('cuts data longer than the snaplen and keeps the original length', () => {
    const s = sink();
    new PcapWriter(s.out, { linktype: 1, snaplen: 64 }).writePacket(5n, payload(100));
    const [p] = readBack(s.bytes());
    expect([p!.capLen, p!.origLen]).toEqual([64, 100]);
    expect(p!.data).toEqual(payload(64));
  });

  it('copies the data: changing it after writePacket does not change the output', () => {
    const s = sink();
    const data = payload(10);
    new PcapWriter(s.out, { linktype: 1 }).writePacket(1n, data);
    data.fill(0xee);
    expect(readBack(s.bytes())[0]!.data).toEqual(payload(10));
  });

  it("returns the stream's write() result for backpressure", () => {
    const out = new Writable({ highWaterMark: 100, write: (_c, _e, cb) => setImmediate(cb) });
    const w = new PcapWriter(out, { linktype: 1 });
    expect(w.writePacket(1n, payload(10))).toBe(true); // 24 + 26 buffered bytes < 100
    expect(w.writePacket(2n, payload(200))).toBe(false);
    out.destroy();
  });

  it('rejects out-of-range arguments with RangeError naming the argument', () => {
    const s = sink();
    expect(() => new PcapWriter(s.out, { linktype: 70000 })).toThrow(
      new RangeError('linktype: expected an integer 0..65535, got 70000'),
    );
    expect(() => new PcapWriter(s.out, { linktype: 1, snaplen: 0 })).toThrow(
      new RangeError('snaplen: expected an integer 1..4294967295, got 0'),
    );
    const w = new PcapWriter(s.out, { linktype: 1 });
    expect(() => w.writePacket(-1n, payload(1))).toThrow(
      new RangeError('tsNs: -1 is outside what pcap can store (0 .. 2^32 s)'),
    );
    expect(() => w.writePacket(4_294_967_296_000_000_000n, payload(1))).toThrow(RangeError);
    expect(() => w.writePacket(1n, payload(10), 5)).toThrow(
      new RangeError('origLen: expected an integer 10..4294967295, got 5'),
    );
  });
});
