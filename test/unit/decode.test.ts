import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Decoded } from '../../src/capture/decode.js';
import { createDecoded, decodePacket, formatAddress, parseAddress } from '../../src/capture/decode.js';
import { readCapture } from '../../src/capture/reader.js';
import { SmigError } from '../../src/errors.js';

const CAPTURES = fileURLToPath(new URL('../fixtures/captures/', import.meta.url));
const VECTORS = fileURLToPath(new URL('../vectors/decode-fields.json', import.meta.url));
const TSHARK = '/usr/bin/tshark';

/** The fields compared, in a plain form (addresses as text). */
interface Fields {
  network: string;
  ethertype: number;
  vlanIds: number[];
  src: string;
  dst: string;
  protocol: number;
  srcPort: number;
  dstPort: number;
  tcpFlags: number;
  tcpPayload: number;
  fragment: boolean;
  ipTotalLength: number;
}

function fields(d: Decoded): Fields {
  return {
    network: d.network,
    ethertype: d.ethertype,
    vlanIds: [...d.vlanIds],
    src: formatAddress(d.src),
    dst: formatAddress(d.dst),
    protocol: d.protocol,
    srcPort: d.srcPort,
    dstPort: d.dstPort,
    tcpFlags: d.tcpFlags,
    tcpPayload: d.tcpPayload,
    fragment: d.fragment,
    ipTotalLength: d.ipTotalLength,
  };
}

function decode(linktype: number, bytes: Uint8Array | number[]): Decoded {
  return decodePacket(linktype, bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), createDecoded());
}

// ---------------------------------------------------------------------------------------------------
// Packet builders (plain arrays of bytes)

type Bytes = number[];
const be16 = (v: number): Bytes => [v >> 8, v & 0xff];
const addr = (text: string): Bytes => [...parseAddress(text)!];

function ipv4(
  proto: number,
  payload: Bytes,
  o: { frag?: number; options?: number; src?: string; dst?: string } = {},
): Bytes {
  const opts = new Array<number>(4 * (o.options ?? 0)).fill(1);
  const hlen = 20 + opts.length;
  return [
    0x40 | (hlen / 4),
    0,
    ...be16(hlen + payload.length),
    0x12,
    0x34,
    ...be16(o.frag ?? 0),
    64,
    proto,
    0,
    0,
    ...addr(o.src ?? '192.0.2.1'),
    ...addr(o.dst ?? '198.51.100.2'),
    ...opts,
    ...payload,
  ];
}

function ipv6(nh: number, payload: Bytes, src = '2001:db8::1', dst = 'fe80::2'): Bytes {
  return [0x60, 0, 0, 0, ...be16(payload.length), nh, 64, ...addr(src), ...addr(dst), ...payload];
}

const tcp = (sp: number, dp: number, flags = 0x12): Bytes => [
  ...be16(sp),
  ...be16(dp),
  0,
  0,
  0,
  1,
  0,
  0,
  0,
  0,
  0x50,
  flags,
  0xff,
  0xff,
  0,
  0,
  0,
  0,
];
const udp = (sp: number, dp: number, data: Bytes = [1, 2, 3]): Bytes => [
  ...be16(sp),
  ...be16(dp),
  ...be16(8 + data.length),
  0,
  0,
  ...data,
];
/** An extension header in 8-octet units (hop-by-hop, routing, destination options). */
const ext8 = (nh: number, units: number): Bytes => [nh, units, ...new Array<number>(6 + 8 * units).fill(0)];
const fragHdr = (nh: number, offset: number, more: boolean): Bytes => [
  nh,
  0,
  ...be16((offset << 3) | (more ? 1 : 0)),
  0,
  0,
  0,
  7,
];
/** Authentication Header: Payload Len = (length in 4-octet units) - 2. */
const ahHdr = (nh: number, words: number): Bytes => [nh, words - 2, ...new Array<number>(4 * words - 2).fill(0)];
const MAC = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
function eth(type: number, payload: Bytes, tags: [number, number][] = []): Bytes {
  const t = tags.flatMap(([tpid, tci]) => [...be16(tpid), ...be16(tci)]);
  return [...MAC, ...t, ...be16(type), ...payload];
}
function arpBody(op: number, spa: string, tpa: string): Bytes {
  return [0, 1, 8, 0, 6, 4, ...be16(op), 2, 0, 0, 0, 0, 1, ...addr(spa), 0, 0, 0, 0, 0, 0, ...addr(tpa)];
}

const NONE: Fields = {
  network: 'none',
  ethertype: -1,
  vlanIds: [],
  src: '',
  dst: '',
  protocol: -1,
  srcPort: -1,
  dstPort: -1,
  tcpFlags: -1,
  tcpPayload: -1,
  fragment: false,
  ipTotalLength: -1,
};

// ---------------------------------------------------------------------------------------------------

describe('decodePacket: crafted packets', () => {
  it('Ethernet IPv4 TCP', () => {
    expect(fields(decode(1, eth(0x0800, ipv4(6, tcp(443, 51000, 0x18)))))).toEqual({
      ...NONE,
      network: 'ipv4',
      ethertype: 0x0800,
      src: '192.0.2.1',
      dst: '198.51.100.2',
      protocol: 6,
      srcPort: 443,
      dstPort: 51000,
      tcpFlags: 0x18,
      tcpPayload: 0,
      ipTotalLength: 40,
    });
  });

  it('TCP payload by the headers: options counted, a truncated capture still knows it, a length of 0 does not', () => {
    // data offset 8 (12 bytes of options), 100 bytes of payload
    const opts = tcp(443, 51000, 0x18);
    opts[12] = 0x80;
    const seg = [...opts, ...new Array<number>(12).fill(1), ...new Array<number>(100).fill(7)];
    expect(decode(1, eth(0x0800, ipv4(6, seg))).tcpPayload).toBe(100);
    const cut = eth(0x0800, ipv4(6, seg)).slice(0, 14 + 20 + 32); // snaplen: headers only
    expect(decode(1, cut).tcpPayload).toBe(100);
    expect(decode(101, ipv6(6, seg)).tcpPayload).toBe(100);
    // an offloaded segment captured before the NIC cut it: IP total length 0
    const tso = ipv4(6, seg);
    tso[2] = 0;
    tso[3] = 0;
    expect(decode(101, tso).tcpPayload).toBe(-1);
    // UDP has none
    expect(decode(101, ipv4(17, udp(53, 5353))).tcpPayload).toBe(-1);
  });

  it('802.1ad + 802.1Q (QinQ) and an old 0x9100 stack, PCP/DEI bits masked off', () => {
    const qinq = decode(
      1,
      eth(0x0800, ipv4(17, udp(53, 5353)), [
        [0x88a8, 100],
        [0x8100, 200],
      ]),
    );
    expect(fields(qinq)).toMatchObject({
      network: 'ipv4',
      ethertype: 0x0800,
      vlanIds: [100, 200],
      srcPort: 53,
      dstPort: 5353,
      protocol: 17,
    });
    const triple = decode(
      1,
      eth(0x86dd, ipv6(17, udp(1, 2)), [
        [0x9100, 0xe000 | 4095],
        [0x9100, 0x1000 | 1],
        [0x8100, 0],
      ]),
    );
    expect(fields(triple)).toMatchObject({
      network: 'ipv6',
      ethertype: 0x86dd,
      vlanIds: [4095, 1, 0],
      srcPort: 1,
      dstPort: 2,
    });
  });

  it('802.3 length field (LLC), unknown EtherType, ARP and RARP', () => {
    expect(fields(decode(1, eth(0x0026, [0x42, 0x42, 0x03, 0, 0, 0])))).toEqual({ ...NONE, network: 'other' });
    expect(fields(decode(1, eth(0x88cc, [1, 2, 3])))).toEqual({ ...NONE, network: 'other', ethertype: 0x88cc });
    expect(fields(decode(1, eth(0x0806, arpBody(1, '10.0.0.8', '10.0.0.138'))))).toEqual({
      ...NONE,
      network: 'arp',
      ethertype: 0x0806,
      src: '10.0.0.8',
      dst: '10.0.0.138',
    });
    expect(fields(decode(1, eth(0x8035, arpBody(3, '0.0.0.0', '10.0.0.7'))))).toEqual({
      ...NONE,
      network: 'other',
      ethertype: 0x8035,
      src: '0.0.0.0',
      dst: '10.0.0.7',
    });
    // an ARP packet for another protocol size carries no 4-byte addresses
    const odd = arpBody(1, '10.0.0.8', '10.0.0.138');
    odd[5] = 16;
    expect(decode(1, eth(0x0806, odd)).addrLength).toBe(0);
  });

  it('IPv4 options and fragments: only the first fragment has ports', () => {
    expect(fields(decode(101, ipv4(6, tcp(1, 2), { options: 3 })))).toMatchObject({
      srcPort: 1,
      dstPort: 2,
      tcpFlags: 0x12,
      fragment: false,
      ipTotalLength: 52,
    });
    expect(fields(decode(101, ipv4(17, udp(53, 99), { frag: 0x2000 })))).toMatchObject({
      protocol: 17,
      srcPort: 53,
      fragment: true,
    });
    expect(fields(decode(101, ipv4(17, udp(53, 99), { frag: 185 })))).toMatchObject({
      protocol: 17,
      srcPort: -1,
      dstPort: -1,
      fragment: true,
    });
    expect(fields(decode(101, ipv4(17, udp(53, 99), { frag: 0x4000 })))).toMatchObject({
      srcPort: 53,
      fragment: false,
    }); // DF only
    expect(fields(decode(101, ipv4(1, [8, 0, 0, 0])))).toMatchObject({ protocol: 1, srcPort: -1, tcpFlags: -1 });
    expect(fields(decode(101, ipv4(132, [0x0b, 0x58, 0x0b, 0x59, 0, 0, 0, 0])))).toMatchObject({
      protocol: 132,
      srcPort: 2904,
      dstPort: 2905,
      tcpFlags: -1,
    });
  });

  it('IPv6 extension headers are walked to the transport header', () => {
    // hop-by-hop → routing (24 B) → destination options → AH (24 B) → fragment (first, M=1) → TCP
    const chain = [
      ...ext8(43, 0),
      ...ext8(60, 2),
      ...ext8(51, 1),
      ...ahHdr(44, 6),
      ...fragHdr(6, 0, true),
      ...tcp(8080, 40000),
    ];
    expect(fields(decode(229, ipv6(0, chain)))).toEqual({
      ...NONE,
      network: 'ipv6',
      ethertype: 0x86dd,
      src: '2001:db8::1',
      dst: 'fe80::2',
      protocol: 6,
      srcPort: 8080,
      dstPort: 40000,
      tcpFlags: 0x12,
      tcpPayload: 0,
      fragment: true,
      ipTotalLength: 40 + chain.length,
    });
    // a later fragment: the next header is known, the ports are not here
    expect(
      fields(decode(229, ipv6(0, [...ext8(44, 0), ...fragHdr(17, 100, false), 1, 2, 3, 4, 5, 6, 7, 8]))),
    ).toMatchObject({
      protocol: 17,
      srcPort: -1,
      dstPort: -1,
      fragment: true,
    });
    expect(fields(decode(229, ipv6(60, [...ext8(50, 0), 0, 0, 1, 0])))).toMatchObject({ protocol: 50, srcPort: -1 }); // ESP
    expect(fields(decode(229, ipv6(59, [])))).toMatchObject({ protocol: 59, ipTotalLength: 40 }); // no next header
    expect(fields(decode(229, ipv6(58, [135, 0, 0, 0])))).toMatchObject({ protocol: 58, srcPort: -1, tcpFlags: -1 });
  });

  it('NULL loopback: AF in either byte order; LOOP: big-endian only', () => {
    const v4 = ipv4(17, udp(1, 2));
    const v6 = ipv6(6, tcp(3, 4));
    for (const af of [
      [2, 0, 0, 0],
      [0, 0, 0, 2],
    ])
      expect(decode(0, [...af, ...v4])).toMatchObject({ network: 'ipv4', ethertype: 0x0800, srcPort: 1 });
    for (const n of [24, 28, 30]) {
      for (const af of [
        [n, 0, 0, 0],
        [0, 0, 0, n],
      ])
        expect(decode(0, [...af, ...v6])).toMatchObject({ network: 'ipv6', ethertype: 0x86dd, srcPort: 3 });
    }
    expect(fields(decode(0, [7, 0, 0, 0, ...v4]))).toEqual({ ...NONE, network: 'other' });
    expect(decode(108, [0, 0, 0, 2, ...v4])).toMatchObject({ network: 'ipv4', srcPort: 1 });
    expect(decode(108, [0, 0, 0, 30, ...v6])).toMatchObject({ network: 'ipv6', srcPort: 3 });
    expect(decode(108, [2, 0, 0, 0, ...v4]).network).toBe('other');
    expect(decode(0, [2, 0, 0]).network).toBe('none');
  });

  it('raw IP link types: the version nibble decides (101, 12, 14); 228 / 229 are fixed', () => {
    for (const lt of [101, 12, 14]) {
      expect(decode(lt, ipv4(6, tcp(1, 2)))).toMatchObject({ network: 'ipv4', srcPort: 1 });
      expect(decode(lt, ipv6(17, udp(3, 4)))).toMatchObject({ network: 'ipv6', srcPort: 3 });
      expect(decode(lt, [0x50, 1, 2, 3]).network).toBe('other');
      expect(decode(lt, []).network).toBe('none');
    }
    expect(decode(228, ipv4(6, tcp(1, 2)))).toMatchObject({ network: 'ipv4', srcPort: 1 });
    expect(decode(229, ipv6(17, udp(3, 4)))).toMatchObject({ network: 'ipv6', srcPort: 3 });
    expect(decode(228, ipv6(17, udp(3, 4)))).toMatchObject({ network: 'ipv4', addrLength: 0 }); // wrong version: no header
  });

  it('Linux SLL / SLL2 carry an EtherType, VLAN tags included', () => {
    const sll = [0, 0, 0, 1, 0, 6, ...MAC.slice(0, 6), 0, 0];
    expect(decode(113, [...sll, ...be16(0x0800), ...ipv4(6, tcp(1, 2))])).toMatchObject({
      network: 'ipv4',
      srcPort: 1,
    });
    expect(
      decode(113, [...sll, ...be16(0x8100), ...be16(42), ...be16(0x0806), ...arpBody(2, '1.2.3.4', '5.6.7.8')]),
    ).toMatchObject({
      network: 'arp',
      vlanIds: [42],
    });
    expect(decode(113, [...sll, ...be16(0x0004), 0xaa, 0xaa, 3]).network).toBe('other'); // 802.2 LLC
    const sll2 = [...be16(0x86dd), 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, ...MAC.slice(0, 6), 0, 0];
    expect(decode(276, [...sll2, ...ipv6(17, udp(5, 6))])).toMatchObject({ network: 'ipv6', srcPort: 5 });
    expect(decode(276, sll2.slice(0, 19)).network).toBe('none');
  });

  it('radiotap + 802.11 data frames with LLC/SNAP; protected and management frames are other', () => {
    const snapIp = [0xaa, 0xaa, 3, 0, 0, 0, 8, 0, ...ipv4(17, udp(67, 68))];
    const addrs = new Array<number>(18).fill(0x11);
    const data = [0x08, 0x01, 0, 0, ...addrs, 0x10, 0]; // data, ToDS
    const qos = [0x88, 0x02, 0, 0, ...addrs, 0x10, 0, 0, 0]; // QoS data, FromDS
    const rt0 = [0, 0, 8, 0, 0, 0, 0, 0]; // no fields
    expect(decode(127, [...rt0, ...data, ...snapIp])).toMatchObject({ network: 'ipv4', srcPort: 67, dstPort: 68 });
    expect(decode(127, [...rt0, ...qos, ...snapIp])).toMatchObject({ network: 'ipv4', srcPort: 67 });
    expect(decode(105, [...qos, ...snapIp])).toMatchObject({ network: 'ipv4', srcPort: 67 });
    // TSFT (8 bytes, aligned to 8) then Flags with DATAPAD: the 26-byte QoS header is padded to 28
    const rtPad = [0, 0, 20, 0, 3, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x20, 0, 0, 0];
    expect(decode(127, [...rtPad, ...qos, 0, 0, ...snapIp])).toMatchObject({ network: 'ipv4', srcPort: 67 });
    const prot = [...data];
    prot[1] = 0x41;
    expect(decode(127, [...rt0, ...prot, ...snapIp])).toMatchObject({ network: 'other', ethertype: -1 });
    expect(decode(127, [...rt0, 0x80, 0, ...new Array<number>(40).fill(0)])).toMatchObject({
      network: 'other',
      ethertype: -1,
    });
    expect(decode(127, [0, 0, 200, 0, 0, 0, 0, 0, 1]).network).toBe('none'); // radiotap length beyond the packet
  });

  it('an unknown link type is still a packet', () => {
    expect(fields(decode(147, [1, 2, 3]))).toEqual({ ...NONE, network: 'other' });
  });

  it('wireLength defaults to the captured length', () => {
    const d = createDecoded();
    expect(decodePacket(1, new Uint8Array(60), d).wireLength).toBe(60);
    expect(decodePacket(1, new Uint8Array(60), d, 1514).wireLength).toBe(1514);
  });

  it('works on an unaligned view and does not modify the packet', () => {
    const pkt = eth(0x86dd, ipv6(6, tcp(22, 2222)));
    const buf = new Uint8Array(pkt.length + 3);
    buf.set(pkt, 3);
    const before = buf.slice();
    const d = decode(1, buf.subarray(3));
    expect(fields(d)).toMatchObject({ network: 'ipv6', src: '2001:db8::1', srcPort: 22, dstPort: 2222 });
    expect(d.src.byteOffset).toBe(3 + 14 + 8);
    expect(buf).toEqual(before);
  });
});

describe('decodePacket: truncated and random input', () => {
  const samples: [string, number, Bytes][] = [
    [
      'ethernet qinq ipv4 tcp',
      1,
      eth(0x0800, ipv4(6, tcp(1, 2), { options: 2 }), [
        [0x88a8, 5],
        [0x8100, 6],
      ]),
    ],
    [
      'ethernet ipv6 ext frag udp',
      1,
      eth(0x86dd, ipv6(0, [...ext8(51, 1), ...ahHdr(44, 4), ...fragHdr(17, 0, true), ...udp(7, 8)])),
    ],
    ['ethernet arp', 1, eth(0x0806, arpBody(1, '10.1.1.1', '10.1.1.2'))],
    ['sll ipv4 sctp', 113, [0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 8, 0, ...ipv4(132, [0, 9, 0, 10, 0, 0, 0, 0])]],
    ['sll2 ipv6 tcp', 276, [0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, ...ipv6(6, tcp(9, 10))]],
    ['null be ipv6', 0, [0, 0, 0, 30, ...ipv6(17, udp(11, 12))]],
    [
      'radiotap qos snap ipv4',
      127,
      [
        0,
        0,
        8,
        0,
        0,
        0,
        0,
        0,
        0x88,
        2,
        0,
        0,
        ...new Array<number>(18).fill(1),
        0,
        0,
        0,
        0,
        0xaa,
        0xaa,
        3,
        0,
        0,
        0,
        8,
        0,
        ...ipv4(6, tcp(13, 14)),
      ],
    ],
  ];
  const EXT = [0, 43, 44, 51, 60];

  it.each(samples)('%s: every prefix decodes without throwing, to a prefix of the full result', (_name, lt, pkt) => {
    const full = fields(decode(lt, pkt));
    expect(full.src).not.toBe('');
    const d = createDecoded();
    for (let n = 0; n <= pkt.length; n++) {
      const cut = new Uint8Array(pkt.slice(0, n));
      const f = fields(decodePacket(lt, cut, d));
      expect(['none', full.network]).toContain(f.network);
      expect(full.vlanIds.slice(0, f.vlanIds.length)).toEqual(f.vlanIds);
      for (const k of ['ethertype', 'srcPort', 'dstPort', 'tcpFlags', 'ipTotalLength'] as const)
        expect([-1, full[k]]).toContain(f[k]);
      expect(['', full.src]).toContain(f.src);
      expect(['', full.dst]).toContain(f.dst);
      if (f.protocol !== full.protocol) expect([-1, ...EXT]).toContain(f.protocol);
      if (d.addrLength > 0) expect(Math.max(d.srcOffset, d.dstOffset) + d.addrLength).toBeLessThanOrEqual(n);
      if (n === pkt.length) expect(f).toEqual(full);
    }
  });

  it('an Ethernet/IPv4/TCP header yields each field exactly once its bytes are there', () => {
    const pkt = eth(0x0800, ipv4(6, tcp(1, 2)));
    for (let n = 0; n <= pkt.length; n++) {
      const d = decode(1, pkt.slice(0, n));
      expect(d.network).toBe(n >= 14 ? 'ipv4' : 'none');
      expect(d.addrLength).toBe(n >= 34 ? 4 : 0);
      expect(d.srcPort).toBe(n >= 38 ? 1 : -1);
      expect(d.tcpFlags).toBe(n >= 48 ? 0x12 : -1);
    }
  });

  it('random bytes on every link type: no throw, offsets in bounds, and a reused struct equals a fresh one', () => {
    const reused = createDecoded();
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1, 12, 14, 101, 105, 108, 113, 127, 228, 229, 276, 9999),
        fc.uint8Array({ maxLength: 120 }),
        fc.uint8Array({ maxLength: 120 }),
        (lt, a, b) => {
          decodePacket(1, a, reused); // leave state behind
          const d = decodePacket(lt, b, reused);
          expect(fields(d)).toEqual(fields(decodePacket(lt, b, createDecoded())));
          if (d.addrLength > 0) expect(Math.max(d.srcOffset, d.dstOffset) + d.addrLength).toBeLessThanOrEqual(b.length);
          expect(d.srcPort).toBeGreaterThanOrEqual(-1);
          expect(d.srcPort).toBeLessThanOrEqual(65535);
          expect(d.vlanIds.length).toBeLessThanOrEqual(16);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('formatAddress / parseAddress', () => {
  it.each([
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // RFC 5952 §4.2.3: the first of equal runs
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2: a single 0 group is not compressed
    ['2001:DB8::AbCd', '2001:db8::abcd'], // §4.3 lower case
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'], // §5 IPv4-mapped
    ['::ffff:c000:0201', '::ffff:192.0.2.1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
  ])('%s → %s', (input, out) => {
    expect(formatAddress(parseAddress(input)!)).toBe(out);
  });

  it('formats other lengths as hex bytes (a MAC) and nothing as empty', () => {
    expect(formatAddress(new Uint8Array([0, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]))).toBe('00:1a:2b:3c:4d:5e');
    expect(formatAddress(new Uint8Array(0))).toBe('');
  });

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '256.1.1.1',
    '1.2.3.-1',
    '1::2::3',
    ':1::',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '12345::',
    '::1.2.3',
    '1.2.3.4::',
    'fe80::1%eth0',
    '2001:db8::/32',
    'g::',
    'localhost',
  ])('rejects %j', (text) => {
    expect(parseAddress(text)).toBeUndefined();
  });

  it('agrees with node:net isIP on which strings are addresses', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f:.]{0,22}$/), (s) => {
        expect(parseAddress(s) !== undefined, s).toBe(isIP(s) !== 0);
      }),
      { numRuns: 5000 },
    );
  });

  it('IPv6 text equals the WHATWG URL serializer (RFC 5952 compression) and round-trips', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        fc.pre(!(groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff)); // URL prints mapped addresses in hex
        const full = groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
        const bytes = parseAddress(full)!;
        const text = formatAddress(bytes);
        expect(text).toBe(new URL(`http://[${full}]/`).hostname.slice(1, -1));
        expect(parseAddress(text)).toEqual(bytes);
      }),
      { numRuns: 3000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Oracle: the fixtures, field by field, against tshark

const TSHARK_FIELDS = [
  'frame.protocols',
  'vlan.id',
  'ip.src',
  'ip.dst',
  'ipv6.src',
  'ipv6.dst',
  'arp.src.proto_ipv4',
  'arp.dst.proto_ipv4',
  'ip.proto',
  'ipv6.nxt',
  'tcp.srcport',
  'tcp.dstport',
  'udp.srcport',
  'udp.dstport',
  'sctp.srcport',
  'sctp.dstport',
  'tcp.flags',
  'tcp.len',
  'ip.len',
  'ipv6.plen',
  'ip.flags.mf',
  'ip.frag_offset',
  'eth.type',
  'sll.etype',
  'llc.type',
] as const;
const TSHARK_ARGS = [
  '-n',
  '-o',
  'ip.defragment:FALSE',
  '-o',
  'ipv6.defragment:FALSE',
  '-T',
  'fields',
  '-E',
  'separator=/t',
  '-E',
  'occurrence=a',
  '-E',
  'aggregator=,',
  ...TSHARK_FIELDS.flatMap((f) => ['-e', f]),
];
const TRANSPORT: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, icmpv6: 58 };

/** tshark's dissection of one frame, mapped onto {@link Fields}. */
function fromTshark(line: string): Fields {
  const cols = line.split('\t');
  const all = (f: (typeof TSHARK_FIELDS)[number]): string[] =>
    (cols[TSHARK_FIELDS.indexOf(f)] ?? '').split(',').filter(Boolean);
  const first = (f: (typeof TSHARK_FIELDS)[number]): string => all(f)[0] ?? '';
  const num = (f: (typeof TSHARK_FIELDS)[number]): number => (first(f) === '' ? -1 : Number(first(f)));
  const protos = first('frame.protocols').split(':');
  const net = protos.find((p) => p === 'ip' || p === 'ipv6' || p === 'arp');
  const out: Fields = { ...NONE, network: 'other', vlanIds: all('vlan.id').map(Number) };
  if (net === 'ip') {
    Object.assign(out, {
      network: 'ipv4',
      ethertype: 0x0800,
      src: first('ip.src'),
      dst: first('ip.dst'),
      protocol: num('ip.proto'),
      ipTotalLength: num('ip.len'),
      fragment: first('ip.flags.mf') === '1' || num('ip.frag_offset') > 0,
    });
  } else if (net === 'ipv6') {
    const last = protos.findLastIndex((p) => p.startsWith('ipv6'));
    Object.assign(out, {
      network: 'ipv6',
      ethertype: 0x86dd,
      src: first('ipv6.src'),
      dst: first('ipv6.dst'),
      protocol: TRANSPORT[protos[last + 1] ?? ''] ?? num('ipv6.nxt'),
      ipTotalLength: 40 + num('ipv6.plen'),
      fragment: protos.includes('ipv6.fraghdr'),
    });
  } else if (net === 'arp') {
    Object.assign(out, {
      network: 'arp',
      ethertype: 0x0806,
      src: first('arp.src.proto_ipv4'),
      dst: first('arp.dst.proto_ipv4'),
    });
  } else {
    const type = num('llc.type') >= 0 ? num('llc.type') : num('eth.type') >= 0 ? num('eth.type') : num('sll.etype');
    out.ethertype = type;
  }
  const name = ({ 6: 'tcp', 17: 'udp', 132: 'sctp' } as Record<number, string>)[out.protocol];
  if (name) {
    out.srcPort = num(`${name}.srcport` as (typeof TSHARK_FIELDS)[number]);
    out.dstPort = num(`${name}.dstport` as (typeof TSHARK_FIELDS)[number]);
  }
  if (out.protocol === 6 && first('tcp.flags') !== '') {
    out.tcpFlags = num('tcp.flags') & 0xff;
    out.tcpPayload = num('tcp.len');
  }
  return out;
}

function tshark(file: string, count?: number): Fields[] {
  const args = ['-r', CAPTURES + file, ...(count ? ['-c', String(count)] : []), ...TSHARK_ARGS];
  const r = spawnSync(TSHARK, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  return r.stdout.split('\n').filter(Boolean).map(fromTshark);
}

async function ours(file: string, count = Infinity): Promise<Fields[]> {
  const out: Fields[] = [];
  const d = createDecoded();
  try {
    await readCapture(CAPTURES + file, (p) => {
      if (out.length < count) out.push(fields(decodePacket(p.linktype, p.data, d, p.origLen)));
    });
  } catch (e) {
    if (!(e instanceof SmigError)) throw e; // a damaged tail (scapy fixture): keep the packets before it
  }
  return out;
}

interface DecodeVectors {
  source: string;
  command: string;
  packets_per_file: number;
  files: Record<string, Fields[]>;
}

const vectors = JSON.parse(readFileSync(VECTORS, 'utf8')) as DecodeVectors;
const files = Object.keys(vectors.files);

describe('decodePacket on the fixtures equals tshark', () => {
  it('covers every link type among the fixtures', () => {
    const all = readFileSync(CAPTURES + 'SOURCES.md', 'utf8')
      .match(/^\| `([^`]+)`/gm)!
      .map((s) => s.slice(3, -1));
    expect(files.sort()).toEqual(all.filter((f) => f !== 'zeek__empty.pcap').sort());
  });

  it.each(files)('%s: first packets equal the recorded tshark fields', async (file) => {
    expect(await ours(file, vectors.packets_per_file)).toEqual(vectors.files[file]);
  });

  it.runIf(existsSync(TSHARK))('live tshark: every packet of every fixture', async () => {
    for (const file of files) {
      const [want, got] = [tshark(file), await ours(file)];
      expect(got.length, file).toBe(want.length);
      // report the first difference with its packet number
      const i = got.findIndex((g, k) => JSON.stringify(g) !== JSON.stringify(want[k]));
      expect(i === -1 ? null : { file, packet: i + 1, got: got[i] }).toEqual(
        i === -1 ? null : { file, packet: i + 1, got: want[i] },
      );
    }
  });
});

// Regenerate the vectors (test-only hook): SMIG_UPDATE_VECTORS=1 npx vitest run test/unit/decode.test.ts
if (process.env['SMIG_UPDATE_VECTORS'] === '1' && existsSync(TSHARK)) {
  const out: Record<string, Fields[]> = {};
  for (const file of files) out[file] = tshark(file, vectors.packets_per_file);
  // one packet per line, so that a change shows as a readable diff
  const body = Object.entries(out).map(
    ([f, rows]) => `  ${JSON.stringify(f)}: [\n${rows.map((r) => `   ${JSON.stringify(r)}`).join(',\n')}\n  ]`,
  );
  const head = JSON.stringify({ ...vectors, files: {} }, null, 1).replace(/"files": \{\}\n\}$/, '');
  writeFileSync(VECTORS, `${head}"files": {\n${body.join(',\n')}\n }\n}\n`);
}
