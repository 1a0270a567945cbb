/**
 * Packets of other link types read as on Ethernet (src/capture/ethernet.ts): by hand for each link type smig
 * decodes, then the netflix capture re-framed as `tcpdump -i any` writes it (Linux cooked v2) and as raw IP, whose
 * learned profile and bench split must be those of the Ethernet original.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { splitBlocks } from '../../src/bench/normal.js';
import { asEthernetFrame, ethernetWireSize, ipHeaderOffset } from '../../src/capture/ethernet.js';
import { createDecoded, decodePacket, PcapWriter, readCapture } from '../../src/capture/index.js';
import { learnProfile } from '../../src/profile/learn.js';
import { concatBytes, epb, idb, shb } from '../helpers/captures.js';
import { ROOT } from '../helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'smig-ether-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** An IPv4/TCP datagram of `total` bytes (TCP header 32 B). */
function ipv4(total: number): Uint8Array {
  const b = new Uint8Array(total);
  b.set([0x45, 0, total >> 8, total & 255, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 0);
  b[32] = 8 << 4;
  return b;
}

/** An IPv6/TCP datagram of `total` bytes. */
function ipv6(total: number): Uint8Array {
  const b = new Uint8Array(total);
  b[0] = 0x60;
  b[4] = (total - 40) >> 8;
  b[5] = (total - 40) & 255;
  b[6] = 6;
  b[7] = 64;
  b[23] = 1;
  b[39] = 2;
  b[52] = 8 << 4;
  return b;
}

/** Link headers of each link type, before an IPv4 (`v6` false) or IPv6 datagram. */
const HEADERS: [string, number, (v6: boolean) => Uint8Array][] = [
  [
    'Linux cooked v1',
    113,
    (v6) => Uint8Array.from([0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, v6 ? 0x86 : 0x08, v6 ? 0xdd : 0]),
  ],
  [
    'Linux cooked v2',
    276,
    (v6) => Uint8Array.from([v6 ? 0x86 : 0x08, v6 ? 0xdd : 0, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]),
  ],
  ['raw IP', 101, () => new Uint8Array(0)],
  ['BSD loopback', 0, (v6) => Uint8Array.from([v6 ? 30 : 2, 0, 0, 0])],
];

function ethernetOf(data: Uint8Array, linktype: number, origLen: number) {
  const d = createDecoded();
  decodePacket(linktype, data, d, origLen);
  return { d, frame: asEthernetFrame(linktype, data, origLen, d), size: ethernetWireSize(linktype, d, origLen) };
}

describe('a packet as on Ethernet', () => {
  it.each(HEADERS)('%s: the IP datagram behind a 14-byte Ethernet header, IPv4 and IPv6', (_name, lt, header) => {
    for (const [v6, dgram] of [
      [false, ipv4(52)],
      [false, ipv4(1500)],
      [true, ipv6(72)],
    ] as const) {
      const h = header(v6);
      const data = concatBytes(h, dgram);
      const { d, frame, size } = ethernetOf(data, lt, data.length);
      expect(ipHeaderOffset(d)).toBe(h.length);
      expect(size).toBe(14 + dgram.length);
      expect(frame!.origLen).toBe(14 + dgram.length);
      expect([...frame!.data.subarray(0, 14)]).toEqual([
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        ...(v6 ? [0x86, 0xdd] : [8, 0]),
      ]);
      expect([...frame!.data.subarray(14)]).toEqual([...dgram]);
      // what Ethernet shows of it decodes to the same addresses
      const e = createDecoded();
      decodePacket(1, frame!.data, e, frame!.origLen);
      expect([e.network, [...e.src], e.protocol]).toEqual([d.network, [...d.src], 6]);
    }
    // a packet cut at 64 bytes keeps its wire length less the header difference
    const long = concatBytes(header(false), ipv4(1500));
    const cut = long.subarray(0, 64);
    const { frame } = ethernetOf(cut, lt, long.length);
    expect(frame!.origLen).toBe(1514);
    expect(frame!.data.length).toBe(64 - header(false).length + 14);
  });

  it('leaves untagged Ethernet as it is, takes VLAN tags off (the lab has none), and packets without IP out', () => {
    const dgram = ipv4(60);
    const plain = concatBytes(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 8, 0]), dgram);
    const p = ethernetOf(plain, 1, plain.length);
    expect(p.size).toBe(74);
    expect(p.frame!.data).toBe(plain);
    // 802.1Q and QinQ: 4 B a tag, gone on the lab's links
    for (const tags of [
      [0x81, 0, 0, 5],
      [0x88, 0xa8, 0, 7, 0x81, 0, 0, 5],
    ]) {
      const tagged = concatBytes(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, ...tags, 8, 0]), dgram);
      const e = ethernetOf(tagged, 1, tagged.length);
      expect(e.d.vlanIds.length).toBe(tags.length / 4);
      expect(e.size).toBe(74);
      expect([...e.frame!.data.subarray(12)]).toEqual([8, 0, ...dgram]);
    }
    // an ARP request in a Linux cooked capture: no IP header, no Ethernet frame; its size is left as it was
    const arp = concatBytes(Uint8Array.from([0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 8, 6]), new Uint8Array(28));
    const a = ethernetOf(arp, 113, arp.length);
    expect(a.frame).toBeUndefined();
    expect(a.size).toBe(arp.length);
  });
});

/** The netflix capture re-framed: each Ethernet packet's datagram behind `header` in a capture of link type `lt`. */
async function reframe(out: string, lt: number, header: (v6: boolean) => Uint8Array): Promise<void> {
  const { createWriteStream } = await import('node:fs');
  const { once } = await import('node:events');
  const ws = createWriteStream(out);
  const w = new PcapWriter(ws, { linktype: lt, nanosecond: true });
  await readCapture(join(ROOT, 'captures', 'ndpi__netflix.pcap'), (p) => {
    const h = header(p.data[12] === 0x86);
    w.writePacket(p.ts, concatBytes(h, p.data.subarray(14)), p.origLen - 14 + h.length);
  });
  ws.end();
  await once(ws, 'close');
}

describe('netflix as `tcpdump -i any` and raw IP write it', () => {
  const original = join(ROOT, 'captures', 'ndpi__netflix.pcap');
  const filter = 'tcp and dst host 192.168.1.7';

  it.each([HEADERS[1]!, HEADERS[2]!])(
    '%s: the same profile sizes and the same split as the Ethernet original',
    async (name, lt, header) => {
      const file = join(tmp, `${lt}.pcap`);
      await reframe(file, lt, header);
      const a = (await learnProfile(original, { filter })).profile;
      const b = (await learnProfile(file, { filter })).profile;
      expect(b.shape!.trace.sizes).toEqual(a.shape!.trace.sizes);
      expect(b.sizes).toEqual(a.sizes);
      expect(b.shape!.reverse).toEqual(a.shape!.reverse);
      // the bench's learned half and hold-out: Ethernet, packet for packet the original's
      const frames = async (f: string): Promise<string[]> => {
        const even = join(tmp, `${name}-even.pcap`);
        const odd = join(tmp, `${name}-odd.pcap`);
        await splitBlocks(f, 5_000_000_000n, even, odd);
        const out: string[] = [];
        for (const part of [even, odd])
          await readCapture(part, (p) => {
            out.push(`${p.linktype} ${p.ts} ${p.origLen} ${Buffer.from(p.data.subarray(14)).toString('hex')}`);
          });
        return out;
      };
      expect(await frames(file)).toEqual(await frames(original));
      // without a second part (`bench --profile`: the whole capture is the reference): every packet at its own time
      const whole = join(tmp, `${name}-whole.pcap`);
      await splitBlocks(file, 5_000_000_000n, whole);
      const read = async (f: string): Promise<string[]> => {
        const out: string[] = [];
        await readCapture(f, (p) => {
          out.push(`${p.linktype} ${p.ts} ${p.origLen} ${Buffer.from(p.data.subarray(14)).toString('hex')}`);
        });
        return out;
      };
      expect(await read(whole)).toEqual(await read(original));
    },
  );
});

describe('a pcapng whose interfaces have different link types', () => {
  it('is split packet by packet into Ethernet, each packet in its block, and learned as on Ethernet', async () => {
    // interface 0 Ethernet, 1 Linux cooked v2, 2 raw IP (what `tcpdump -i any` beside a tunnel may write); one
    // datagram every 300 ms, going round the interfaces, of 60 + 40·k bytes
    const ethernet = Uint8Array.from([1, 2, 3, 4, 5, 6, 6, 5, 4, 3, 2, 1, 0x08, 0]);
    const headers = [ethernet, HEADERS[1]![2](false), HEADERS[2]![2](false)];
    const datagrams = Array.from({ length: 20 }, (_, k) => ipv4(60 + 40 * k));
    const file = join(tmp, 'mixed.pcapng');
    writeFileSync(
      file,
      concatBytes(
        shb(true),
        idb(true, { linktype: 1 }),
        idb(true, { linktype: 276 }),
        idb(true, { linktype: 101 }),
        ...datagrams.map((d, k) =>
          epb(true, { ifid: k % 3, ticks: 1_000_000n + BigInt(k) * 300_000n, data: concatBytes(headers[k % 3]!, d) }),
        ),
      ),
    );
    const even = join(tmp, 'mixed-even.pcap');
    const odd = join(tmp, 'mixed-odd.pcap');
    // 1 s blocks from the first packet: packets 0–3 even, 4–6 odd, 7–9 even, 10–13 odd, …
    const counts = await splitBlocks(file, 1_000_000_000n, even, odd);
    const parts: { linktype: number; data: Uint8Array; origLen: number }[][] = [[], []];
    for (const [i, part] of [even, odd].entries()) await readCapture(part, (p) => void parts[i]!.push(p));
    const block = (k: number): number => Math.floor((k * 300) / 1000) % 2;
    const want = [0, 1].map((b) => datagrams.filter((_, k) => block(k) === b));
    expect(counts).toEqual({ even: want[0]!.length, odd: want[1]!.length });
    for (const b of [0, 1]) {
      expect(parts[b]!.every((p) => p.linktype === 1 && p.origLen === p.data.length)).toBe(true);
      expect(parts[b]!.map((p) => Buffer.from(p.data.subarray(14)).toString('hex'))).toEqual(
        want[b]!.map((d) => Buffer.from(d).toString('hex')),
      );
      expect(parts[b]!.every((p) => p.data[12] === 0x08 && p.data[13] === 0)).toBe(true);
    }
    // the profile counts each packet as its datagram on Ethernet, whichever interface it came in on
    const { profile } = await learnProfile(file, {});
    expect(profile.shape!.trace.sizes).toEqual(datagrams.map((d) => d.length + 14));
  });
});
