/**
 * A capture of Ethernet/IPv4 traffic rewritten as the same traffic over IPv6: what a lab with IPv6 is tested on,
 * since no shipped normal capture carries TCP over IPv6. Each IPv4 packet's header becomes an IPv6 header (the
 * addresses `2001:db8::A.B.C.D`, documentation prefix, RFC 3849; hop limit = TTL; IPv4 options dropped), so a
 * packet grows by 20 bytes, as over a real IPv6 path, except that a frame that filled a 1500-byte link (1514 B)
 * still fills it: its TCP or UDP payload loses 20 bytes at the end (as IPv6's smaller MSS cuts it). Checksums are
 * left as they were (wrong over IPv6; no analysis here reads them). Everything else passes through unchanged.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { PacketRecord } from '../capture/index.js';

const ETHERNET = 1;
const ETH_FULL = 1514;
const V6_PREFIX = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0];

/**
 * One packet over IPv6 instead of IPv4: its captured bytes and wire length, or undefined when it is not an
 * Ethernet/IPv4 packet (or its header is cut), which passes through as it is.
 */
export function ipv4FrameToIpv6(
  linktype: number,
  data: Uint8Array,
  origLen: number,
): { data: Uint8Array; origLen: number } | undefined {
  if (linktype !== ETHERNET || data.length < 34 || data[12] !== 0x08 || data[13] !== 0x00) return undefined;
  const ihl = (data[14]! & 15) * 4;
  const total = (data[16]! << 8) | data[17]!;
  if (data[14]! >> 4 !== 4 || ihl < 20 || total < ihl || data.length < 14 + ihl) return undefined;
  let payload = total - ihl;
  // a full 1500-byte frame stays full: IPv6's 20 more header bytes come off its payload
  const grown = 14 + 40 + payload;
  if (origLen <= ETH_FULL && grown > ETH_FULL) payload -= Math.min(payload, grown - ETH_FULL);
  const captured = Math.max(0, Math.min(payload, data.length - 14 - ihl));
  const out = new Uint8Array(14 + 40 + captured);
  out.set(data.subarray(0, 12), 0);
  out[12] = 0x86;
  out[13] = 0xdd;
  out[14] = 0x60;
  out[18] = payload >> 8;
  out[19] = payload & 255;
  out[20] = data[23]!; // next header: the IPv4 protocol
  out[21] = data[22]!; // hop limit: the TTL
  out.set(V6_PREFIX, 22);
  out.set(data.subarray(26, 30), 34);
  out.set(V6_PREFIX, 38);
  out.set(data.subarray(30, 34), 50);
  out.set(data.subarray(14 + ihl, 14 + ihl + captured), 54);
  return { data: out, origLen: 14 + 40 + payload };
}

/** The IPv6 address {@link ipv4FrameToIpv6} gives an IPv4 address (`192.168.1.7` → `2001:db8::c0a8:107`). */
export function ipv6Of(ipv4: string): string {
  const [a, b, c, d] = ipv4.split('.').map(Number) as [number, number, number, number];
  return `2001:db8::${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/** Writes `input` (any capture smig reads) to `output` (pcap, nanosecond) with its Ethernet/IPv4 packets over IPv6. */
export async function writeIpv6Capture(input: string, output: string): Promise<{ packets: number; rewritten: number }> {
  const { readCapture, PcapWriter } = await import('../capture/index.js');
  const ws = createWriteStream(output);
  let writer: InstanceType<typeof PcapWriter> | undefined;
  let packets = 0;
  let rewritten = 0;
  await readCapture(input, (p: PacketRecord) => {
    writer ??= new PcapWriter(ws, { linktype: p.linktype, nanosecond: true });
    const v6 = ipv4FrameToIpv6(p.linktype, p.data, p.origLen);
    writer.writePacket(p.ts, v6?.data ?? p.data, v6?.origLen ?? p.origLen);
    packets++;
    if (v6) rewritten++;
  });
  ws.end();
  await once(ws, 'close');
  return { packets, rewritten };
}
