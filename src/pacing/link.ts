/**
 * The link a capture was made on, read from its packets (Ethernet/IPv4 TCP wire sizes): whether its hosts sent TCP
 * timestamps and how large a full segment was. A lab set the same way (`smig lab up --mtu --tcp-timestamps`) lets
 * packet-shaped pacing make the capture's packet sizes (docs/ARCHITECTURE.md "A lab matches the capture's TCP").
 */
import { DEFAULT_SEGMENT } from './plan.js';

/**
 * The TCP link a capture was made on, as its packets show it: the wire size of a full segment and the TCP/IP
 * header bytes of a packet (IPv4 20 + TCP 20, plus 12 with the timestamps option).
 */
export interface CaptureLink {
  /** Wire size of a full segment (Ethernet 14 + MTU). */
  segment: number;
  /** Link MTU that gives that segment. */
  mtu: number;
  /** TCP/IP header bytes (40 or 52). */
  tcpip: number;
  tcpTimestamps: boolean;
}

/** The least share of a trace's packets at its largest size for that size to count as the link's full segment. */
export const FULL_SEGMENT_MIN_SHARE = 0.02;
/** Largest wire size of a segment a link can be set for (a plan's `segment`; MTU 65521 on Ethernet). */
export const MAX_SEGMENT = 65_535;

/**
 * Infers the capture's link from a packet trace of Ethernet/IPv4 TCP (wire sizes): timestamps are off when pure
 * ACKs of 54 B (60 B once Ethernet pads them) outnumber those of 66 B. The full segment is the largest size when
 * at least {@link FULL_SEGMENT_MIN_SHARE} of the packets have it and it fits an MTU from 576 to 1500; when the
 * largest size is beyond Ethernet's 1514 B (a capture made with receive offload, which shows segments merged, or
 * a jumbo-frame link), it is that size however rare (at most {@link MAX_SEGMENT}), so that a link set so sends
 * every packet of the trace as one packet, as the capture saw it; else the default (a link that never filled a
 * segment).
 */
export function captureLink(sizes: readonly number[]): CaptureLink {
  let ack40 = 0;
  let ack52 = 0;
  let full = 0;
  for (const s of sizes) {
    if (s === 54 || s === 60) ack40++;
    else if (s === 66) ack52++;
    if (s > full) full = s;
  }
  let fullCount = 0;
  for (const s of sizes) if (s === full) fullCount++;
  const mtu = full - 14;
  const segment =
    full > DEFAULT_SEGMENT
      ? Math.min(full, MAX_SEGMENT)
      : sizes.length > 0 && fullCount / sizes.length >= FULL_SEGMENT_MIN_SHARE && mtu >= 576
        ? full
        : DEFAULT_SEGMENT;
  const tcpTimestamps = !(ack40 > ack52);
  return { segment, mtu: segment - 14, tcpip: tcpTimestamps ? 52 : 40, tcpTimestamps };
}
