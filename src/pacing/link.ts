/**
 * The link a capture was made on, read from its packets (Ethernet TCP wire sizes, over IPv4 or IPv6): whether its
 * hosts sent TCP timestamps and how large a full segment was. A lab set the same way (`smig lab up --mtu
 * --tcp-timestamps [--ipv6]`) lets packet-shaped pacing make the capture's packet sizes (docs/ARCHITECTURE.md "A lab matches the capture's TCP").
 */
import { pureAckKind } from '../profile/shape.js';
import { DEFAULT_SEGMENT } from './plan.js';

/**
 * The TCP link a capture was made on, as its packets show it: the wire size of a full segment and the TCP/IP
 * header bytes of a packet (IPv4 20 or IPv6 40, + TCP 20, plus 12 with the timestamps option).
 */
export interface CaptureLink {
  /** Wire size of a full segment (Ethernet 14 + MTU). */
  segment: number;
  /** Link MTU that gives that segment. */
  mtu: number;
  /** TCP/IP header bytes (40 or 52 over IPv4, 60 or 72 over IPv6). */
  tcpip: number;
  tcpTimestamps: boolean;
  /** The capture's IP version: a lab set like it runs over IPv6 when 6. */
  ipVersion: 4 | 6;
}

/** The least share of a trace's packets at its largest size for that size to count as the link's full segment. */
export const FULL_SEGMENT_MIN_SHARE = 0.02;
/** Largest wire size of a segment a link can be set for (a plan's `segment`; MTU 65521 on Ethernet). */
export const MAX_SEGMENT = 65_535;
/** Smallest MTU a link takes: IPv4's least datagram, and IPv6's least link MTU (RFC 8200 §5). */
const MIN_MTU = { 4: 576, 6: 1280 } as const;
/** IP header bytes without options. */
const IP_HEADER = { 4: 20, 6: 40 } as const;

/**
 * Infers the capture's link from a packet trace of Ethernet TCP (wire sizes) over IPv4 or IPv6 (`ipVersion`, the
 * profile's `shape.ipVersion`): timestamps are off when pure ACKs without the option (54 B over IPv4, 60 B once
 * Ethernet pads them; 74 B over IPv6) outnumber those with it (66 B; 86 B), unless `timestamps` says (what the
 * trace's TCP packets showed: a trace of a call counts its 66 B datagrams as stamped ACKs). The full segment is the largest size
 * when at least {@link FULL_SEGMENT_MIN_SHARE} of the packets have it and it fits an MTU from 576 (1280 over IPv6)
 * to 1500; when the largest size is beyond Ethernet's 1514 B (a capture made with receive offload, which shows
 * segments merged, or a jumbo-frame link), it is that size however rare (at most {@link MAX_SEGMENT}), so that a
 * link set so sends every packet of the trace as one packet, as the capture saw it; else the default (a link that
 * never filled a segment).
 */
export function captureLink(sizes: readonly number[], ipVersion: 4 | 6 = 4, timestamps?: boolean): CaptureLink {
  let ackPlain = 0;
  let ackStamped = 0;
  let full = 0;
  for (const s of sizes) {
    const kind = pureAckKind(s, ipVersion);
    if (kind === 'plain') ackPlain++;
    else if (kind === 'stamped') ackStamped++;
    if (s > full) full = s;
  }
  let fullCount = 0;
  for (const s of sizes) if (s === full) fullCount++;
  const mtu = full - 14;
  const segment =
    full > DEFAULT_SEGMENT
      ? Math.min(full, MAX_SEGMENT)
      : sizes.length > 0 && fullCount / sizes.length >= FULL_SEGMENT_MIN_SHARE && mtu >= MIN_MTU[ipVersion]
        ? full
        : DEFAULT_SEGMENT;
  const tcpTimestamps = timestamps ?? !(ackPlain > ackStamped);
  return {
    segment,
    mtu: segment - 14,
    tcpip: IP_HEADER[ipVersion] + 20 + (tcpTimestamps ? 12 : 0),
    tcpTimestamps,
    ipVersion,
  };
}

/** The link a profile's packets were captured on: {@link captureLink} of its trace, with the timestamps its TCP ACKs showed. */
export function shapeLink(shape: {
  trace: { sizes: readonly number[] };
  ipVersion?: 4 | 6;
  tcpTimestamps?: boolean;
}): CaptureLink {
  return captureLink(shape.trace.sizes, shape.ipVersion ?? 4, shape.tcpTimestamps);
}

/** How a lab set like `l` is described (`smig bench`'s log). */
export function linkText(l: CaptureLink): string {
  const segments =
    l.mtu > 1500
      ? `its largest packet, ${l.segment} B: it was captured with receive offload or on jumbo frames`
      : `full segments of ${l.segment} B`;
  return `IPv${l.ipVersion}, MTU ${l.mtu} (${segments}), TCP timestamps ${l.tcpTimestamps ? 'on' : 'off'}`;
}

/** What a profile whose packets were not all TCP can and cannot be imitated in (`shape.nonTcpShare`). */
export function notTcpText(share: number): string {
  return `${(share * 100).toFixed(share < 0.1 ? 1 : 0)} % of the profiled packets were not TCP (UDP, a tunnel, a call): smig's links are TCP, and take such traffic's sizes and times, not its protocol`;
}
