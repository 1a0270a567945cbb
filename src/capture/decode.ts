/**
 * Link → network → transport decoding of one captured packet into a reusable {@link Decoded}.
 *
 * This is the analyzer's hot path (more than a million packets per second): {@link decodePacket}
 * writes plain numbers into a struct made once by {@link createDecoded}, allocates nothing and never
 * throws. A header that is cut short simply ends the decode; the fields it would have filled keep
 * their "absent" values (-1, empty). Addresses are kept as offsets into the packet; the `src` / `dst`
 * getters make views on demand (one small allocation each), so filters compare bytes in place.
 *
 * Link types (numbers from the tcpdump.org LINKTYPE registry): 1 Ethernet with 802.1Q / 802.1ad /
 * QinQ tag stacks, 113 Linux SLL, 276 Linux SLL2, 0 NULL and 108 LOOP (BSD loopback), 101 / 12 / 14
 * raw IP, 228 raw IPv4, 229 raw IPv6, 105 IEEE 802.11 and 127 radiotap (unprotected data frames with
 * LLC/SNAP). Any other link type yields network 'other'.
 */

/** What the link layer says follows it. 'none': the link-layer header itself is missing or cut short. */
export type NetworkKind = 'ipv4' | 'ipv6' | 'arp' | 'other' | 'none';

/**
 * The decoded headers of one packet. Reused across packets: every field is reset by each
 * {@link decodePacket} call, and `data`, `src` and `dst` refer to that call's packet bytes (valid only as
 * long as those bytes are).
 */
export interface Decoded {
  /** Network layer named by the link layer (EtherType, SLL protocol, loopback AF, IP version nibble). */
  network: NetworkKind;
  /**
   * EtherType of the network layer after any VLAN tags, or the equivalent EtherType for link types that
   * name the protocol another way (0x0800 / 0x86dd for loopback AF and raw IP); -1 if unknown
   * (802.3 length field, 802.2 LLC without SNAP, an unknown AF, a truncated tag).
   */
  ethertype: number;
  /** VLAN ids (12-bit) of the tag stack, outermost first. The same array on every call. */
  vlanIds: number[];
  /** The packet bytes of the last decode. */
  data: Uint8Array;
  /** Offset of the source address in `data`: IP source, or ARP/RARP sender protocol address; -1 if none. */
  srcOffset: number;
  /** Offset of the destination address in `data`: IP destination, or ARP/RARP target protocol address; -1 if none. */
  dstOffset: number;
  /** Address length in bytes: 4, 16, or 0 when the packet carries no (complete) address. */
  addrLength: number;
  /** View of the source address (allocates a view; empty when `addrLength` is 0). */
  readonly src: Uint8Array;
  /** View of the destination address (allocates a view; empty when `addrLength` is 0). */
  readonly dst: Uint8Array;
  /** IPv4 protocol, or the IPv6 next header after the extension headers (6 tcp, 17 udp, 1 icmp, 58 icmpv6, 132 sctp); -1 if none. */
  protocol: number;
  /** TCP/UDP/SCTP source port; -1 when absent (other protocol, non-first fragment, truncated). */
  srcPort: number;
  /** TCP/UDP/SCTP destination port; -1 when absent. */
  dstPort: number;
  /** TCP flags byte (offset 13: CWR ECE URG ACK PSH RST SYN FIN); -1 unless a TCP header of 14+ bytes is present. */
  tcpFlags: number;
  /**
   * TCP payload bytes by the headers (IP total length − IP and extension headers − TCP data offset × 4, whatever
   * the capture kept: a truncated packet still reports its payload); -1 unless a TCP header of 14+ bytes is present
   * and the IP length covers it (captures of offloaded segments have 0 there).
   */
  tcpPayload: number;
  /** IPv4 MF flag or non-zero fragment offset, or an IPv6 fragment header. */
  fragment: boolean;
  /** IPv4 total length, or 40 + IPv6 payload length; -1 if no IP header. */
  ipTotalLength: number;
  /** Length of the packet on the wire (the `wireLength` argument, default the captured length): used by `less` / `greater`. */
  wireLength: number;
}

const EMPTY: Uint8Array = new Uint8Array(0);

class DecodedState implements Decoded {
  network: NetworkKind = 'none';
  ethertype: number = -1;
  vlanIds: number[] = [];
  data: Uint8Array = EMPTY;
  srcOffset: number = -1;
  dstOffset: number = -1;
  addrLength: number = 0;
  protocol: number = -1;
  srcPort: number = -1;
  dstPort: number = -1;
  tcpFlags: number = -1;
  tcpPayload: number = -1;
  fragment: boolean = false;
  ipTotalLength: number = -1;
  wireLength: number = 0;

  get src(): Uint8Array {
    return this.addrLength === 0 ? EMPTY : this.data.subarray(this.srcOffset, this.srcOffset + this.addrLength);
  }

  get dst(): Uint8Array {
    return this.addrLength === 0 ? EMPTY : this.data.subarray(this.dstOffset, this.dstOffset + this.addrLength);
  }
}

/** A fresh, reusable decode result: make one per consumer, pass it to every {@link decodePacket} call. */
export function createDecoded(): Decoded {
  return new DecodedState();
}

// LINKTYPE_* values (https://www.tcpdump.org/linktypes.html)
const LT_NULL = 0;
const LT_ETHERNET = 1;
const LT_RAW_12 = 12;
const LT_RAW_14 = 14;
const LT_RAW = 101;
const LT_IEEE802_11 = 105;
const LT_LOOP = 108;
const LT_LINUX_SLL = 113;
const LT_RADIOTAP = 127;
const LT_IPV4 = 228;
const LT_IPV6 = 229;
const LT_LINUX_SLL2 = 276;

const ET_IPV4 = 0x0800;
const ET_ARP = 0x0806;
const ET_RARP = 0x8035;
const ET_IPV6 = 0x86dd;
/** Length/Type values from 0x0600 up are EtherTypes; up to 1500 they are 802.3 lengths (IEEE 802.3 §3.2.6). */
const MIN_ETHERTYPE = 0x0600;
/** Deepest VLAN stack recorded; deeper tags are still skipped. */
const MAX_VLAN_TAGS = 16;

/**
 * Decode the headers of one packet into `out` (which is also returned). Never throws, allocates nothing.
 *
 * @param linktype LINKTYPE_* of the packet's interface.
 * @param data captured bytes.
 * @param out a struct from {@link createDecoded}; every field is overwritten.
 * @param wireLength original length on the wire (pcap orig_len); defaults to `data.length`.
 * @example
 * const d = createDecoded();
 * await readCapture(path, (p) => { decodePacket(p.linktype, p.data, d, p.origLen); if (pred(d)) n++; });
 */
export function decodePacket(
  linktype: number,
  data: Uint8Array,
  out: Decoded,
  wireLength: number = data.length,
): Decoded {
  return decodePacketAt(linktype, data, 0, data.length, out, wireLength);
}

/**
 * {@link decodePacket} of the packet in bytes [start, end) of `buf`, without making a view of them: `out.data` is
 * `buf` and the offsets in `out` are offsets in `buf`. For a reader that hands out packets in place.
 */
export function decodePacketAt(
  linktype: number,
  data: Uint8Array,
  b: number,
  end: number,
  out: Decoded,
  wireLength: number = end - b,
): Decoded {
  out.network = 'none';
  out.ethertype = -1;
  if (out.vlanIds.length !== 0) out.vlanIds.length = 0; // setting a length is a runtime call: only when needed
  out.data = data;
  out.srcOffset = -1;
  out.dstOffset = -1;
  out.addrLength = 0;
  out.protocol = -1;
  out.srcPort = -1;
  out.dstPort = -1;
  out.tcpFlags = -1;
  out.tcpPayload = -1;
  out.fragment = false;
  out.ipTotalLength = -1;
  out.wireLength = wireLength;
  const len = end - b;
  switch (linktype) {
    case LT_ETHERNET:
      // IEEE 802.3 §3.1.1: destination(6) source(6) length/type(2)
      if (len >= 14) etherPayload(data, b + 14, end, u16(data, b + 12), out);
      break;
    case LT_LINUX_SLL:
      // tcpdump.org LINKTYPE_LINUX_SLL: packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2)
      if (len >= 16) etherPayload(data, b + 16, end, u16(data, b + 14), out);
      break;
    case LT_LINUX_SLL2:
      // LINKTYPE_LINUX_SLL2: protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) addr len(1) addr(8)
      if (len >= 20) etherPayload(data, b + 20, end, u16(data, b), out);
      break;
    case LT_NULL: {
      // LINKTYPE_NULL: a 4-byte AF_ value in the capturing host's byte order; either order is accepted
      // (the small AF values cannot be mistaken for a byte-swapped one).
      if (len < 4) break;
      const le = (data[b]! | (data[b + 1]! << 8) | (data[b + 2]! << 16) | (data[b + 3]! << 24)) >>> 0;
      loopback(
        data,
        b,
        end,
        le <= 0xffff ? le : ((data[b]! << 24) | (data[b + 1]! << 16) | (data[b + 2]! << 8) | data[b + 3]!) >>> 0,
        out,
      );
      break;
    }
    case LT_LOOP:
      // LINKTYPE_LOOP: the same AF_ value, always big-endian
      if (len >= 4)
        loopback(
          data,
          b,
          end,
          ((data[b]! << 24) | (data[b + 1]! << 16) | (data[b + 2]! << 8) | data[b + 3]!) >>> 0,
          out,
        );
      break;
    case LT_RAW:
    case LT_RAW_12:
    case LT_RAW_14:
      // Raw IP: the version nibble decides
      if (len === 0) break;
      switch (data[b]! >> 4) {
        case 4:
          ipv4(data, b, end, out);
          break;
        case 6:
          ipv6(data, b, end, out);
          break;
        default:
          out.network = 'other';
      }
      break;
    case LT_IPV4:
      if (len > 0) ipv4(data, b, end, out);
      break;
    case LT_IPV6:
      if (len > 0) ipv6(data, b, end, out);
      break;
    case LT_RADIOTAP:
      radiotap(data, b, end, out);
      break;
    case LT_IEEE802_11:
      ieee80211(data, b, end, false, out);
      break;
    default:
      out.network = 'other';
  }
  return out;
}

function u16(data: Uint8Array, off: number): number {
  return (data[off]! << 8) | data[off + 1]!;
}

function loopback(data: Uint8Array, off: number, end: number, af: number, out: Decoded): void {
  // AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS) — libpcap's BSD_AFNUM_INET6_*
  if (af === 2) ipv4(data, off + 4, end, out);
  else if (af === 24 || af === 28 || af === 30) ipv6(data, off + 4, end, out);
  else out.network = 'other';
}

/** Dispatch on an EtherType at `off`, first skipping 802.1Q (0x8100), 802.1ad (0x88a8) and old QinQ (0x9100) tags. */
function etherPayload(data: Uint8Array, off: number, len: number, type: number, out: Decoded): void {
  while (type === 0x8100 || type === 0x88a8 || type === 0x9100) {
    // IEEE 802.1Q §9.6: TCI(2) = PCP(3) DEI(1) VID(12), then the next type
    if (off + 4 > len) return;
    if (out.vlanIds.length < MAX_VLAN_TAGS) out.vlanIds.push(u16(data, off) & 0x0fff);
    type = u16(data, off + 2);
    off += 4;
  }
  if (type < MIN_ETHERTYPE) {
    // An 802.3 length (<= 1500) with 802.2 LLC behind it, or an invalid value: no EtherType
    out.network = 'other';
    return;
  }
  switch (type) {
    case ET_IPV4:
      ipv4(data, off, len, out);
      break;
    case ET_IPV6:
      ipv6(data, off, len, out);
      break;
    case ET_ARP:
      out.network = 'arp';
      arp(data, off, len, out);
      break;
    case ET_RARP:
      out.network = 'other';
      arp(data, off, len, out);
      break;
    default:
      out.network = 'other';
  }
  out.ethertype = type;
}

/** RFC 826: htype(2) ptype(2) hlen(1) plen(1) op(2) sha(hlen) spa(plen) tha(hlen) tpa(plen); RARP (RFC 903) alike. */
function arp(data: Uint8Array, off: number, end: number, out: Decoded): void {
  if (off + 8 > end || data[off + 5] !== 4) return;
  const hlen = data[off + 4]!;
  if (off + 16 + 2 * hlen > end) return;
  out.srcOffset = off + 8 + hlen;
  out.dstOffset = off + 12 + 2 * hlen;
  out.addrLength = 4;
}

/** RFC 791 §3.1 Internet header. */
function ipv4(data: Uint8Array, off: number, end: number, out: Decoded): void {
  out.network = 'ipv4';
  out.ethertype = ET_IPV4;
  if (off + 20 > end) return;
  const vihl = data[off]!;
  const ihl = (vihl & 0x0f) * 4;
  if (vihl >> 4 !== 4 || ihl < 20) return;
  out.ipTotalLength = u16(data, off + 2);
  out.srcOffset = off + 12;
  out.dstOffset = off + 16;
  out.addrLength = 4;
  const protocol = data[off + 9]!;
  out.protocol = protocol;
  // flags(3) | fragment offset(13): MF = 0x2000. Only the first fragment (offset 0) carries the ports.
  const frag = u16(data, off + 6);
  out.fragment = (frag & 0x3fff) !== 0;
  if ((frag & 0x1fff) === 0) transport(data, off + ihl, end, protocol, out, off + out.ipTotalLength);
}

/** RFC 8200 §3 IPv6 header, then the extension headers of §4 up to the transport header. */
function ipv6(data: Uint8Array, off: number, len: number, out: Decoded): void {
  out.network = 'ipv6';
  out.ethertype = ET_IPV6;
  if (off + 40 > len || data[off]! >> 4 !== 6) return;
  out.ipTotalLength = 40 + u16(data, off + 4);
  out.srcOffset = off + 8;
  out.dstOffset = off + 24;
  out.addrLength = 16;
  let nh = data[off + 6]!;
  let p = off + 40;
  for (;;) {
    out.protocol = nh;
    let size: number;
    switch (nh) {
      case 0: // Hop-by-Hop Options, RFC 8200 §4.3
      case 43: // Routing, §4.4
      case 60: // Destination Options, §4.6
      case 135: // Mobility, RFC 6275 §6.1
      case 139: // HIP, RFC 7401 §5.1
      case 140: // Shim6, RFC 5533 §5.1
        if (p + 2 > len) return;
        size = (data[p + 1]! + 1) * 8; // Hdr Ext Len: 8-octet units, not counting the first 8
        break;
      case 51: // Authentication Header, RFC 4302 §2.2: Payload Len in 4-octet units, minus 2
        if (p + 2 > len) return;
        size = (data[p + 1]! + 2) * 4;
        break;
      case 44: {
        // Fragment, RFC 8200 §4.5: next(1) reserved(1) offset(13)|res(2)|M(1) identification(4)
        if (p + 8 > len) return;
        out.fragment = true;
        nh = data[p]!;
        if ((u16(data, p + 2) & 0xfff8) !== 0) {
          out.protocol = nh; // a later fragment: the upper-layer header is not here
          return;
        }
        p += 8;
        continue;
      }
      default:
        transport(data, p, len, nh, out, off + out.ipTotalLength);
        return;
    }
    if (p + size > len) return;
    nh = data[p]!;
    p += size;
  }
}

/**
 * Ports of TCP (RFC 9293 §3.1), UDP (RFC 768) and SCTP (RFC 9260 §3.1) share offsets 0 and 2; TCP's flags and, by
 * its data offset, its payload up to `ipEnd` (where the IP packet ends by its length field).
 */
function transport(data: Uint8Array, p: number, end: number, protocol: number, out: Decoded, ipEnd: number): void {
  if (protocol !== 6 && protocol !== 17 && protocol !== 132) return;
  if (p + 4 > end) return;
  out.srcPort = u16(data, p);
  out.dstPort = u16(data, p + 2);
  if (protocol === 6 && p + 14 <= end) {
    out.tcpFlags = data[p + 13]!;
    const payload = ipEnd - p - (data[p + 12]! >> 4) * 4;
    // a length field below the headers (0 in captures of offloaded segments) tells nothing: unknown
    out.tcpPayload = payload >= 0 ? payload : -1;
  }
}

/**
 * Radiotap header (https://www.radiotap.org): version(1) pad(1) length(2, LE) present(4, LE)...
 * The Flags field (bit 1) says whether the 802.11 header is padded to 32 bits (0x20 DATAPAD).
 */
function radiotap(data: Uint8Array, b: number, end: number, out: Decoded): void {
  const len = end - b;
  if (len < 8) return;
  const rtlen = data[b + 2]! | (data[b + 3]! << 8);
  if (rtlen < 8 || rtlen > len) return;
  const present = (data[b + 4]! | (data[b + 5]! << 8) | (data[b + 6]! << 16) | (data[b + 7]! << 24)) >>> 0;
  let p = 8;
  for (let word = present; word & 0x80000000 && p + 4 <= rtlen; p += 4) {
    word = (data[b + p]! | (data[b + p + 1]! << 8) | (data[b + p + 2]! << 16) | (data[b + p + 3]! << 24)) >>> 0;
  }
  let datapad = false;
  if (present & 0x2) {
    if (present & 0x1) p = ((p + 7) & ~7) + 8; // TSFT: u64, 8-byte aligned (relative to the header's start)
    if (p < rtlen) datapad = (data[b + p]! & 0x20) !== 0;
  }
  ieee80211(data, b + rtlen, end, datapad, out);
}

/** IEEE 802.11-2020 §9.3.2.1 data frames, then 802.2 LLC + SNAP (RFC 1042 / 802.1H) carrying an EtherType. */
function ieee80211(data: Uint8Array, off: number, len: number, datapad: boolean, out: Decoded): void {
  if (off + 2 > len) return;
  const fc0 = data[off]!;
  const fc1 = data[off + 1]!;
  // type 2 = data (control frames are shorter than 24 bytes); subtype bit 2 = no data (Null);
  // flags bit 6 = protected (encrypted body)
  if (((fc0 >> 2) & 3) !== 2 || fc0 & 0x40 || fc1 & 0x40) {
    out.network = 'other';
    return;
  }
  let hdr = 24;
  if ((fc1 & 3) === 3) hdr += 6; // ToDS and FromDS: Address 4
  if (fc0 & 0x80) {
    hdr += 2; // QoS Control
    if (fc1 & 0x80) hdr += 4; // +HTC (order bit on a QoS frame)
  }
  if (datapad) hdr = (hdr + 3) & ~3;
  const p = off + hdr;
  if (p + 8 > len) return;
  out.network = 'other';
  if (data[p] !== 0xaa || data[p + 1] !== 0xaa || data[p + 2] !== 0x03) return;
  if (data[p + 3] !== 0 || data[p + 4] !== 0 || (data[p + 5] !== 0 && data[p + 5] !== 0xf8)) return;
  etherPayload(data, p + 8, len, u16(data, p + 6), out);
}

export { formatAddress, parseAddress } from './address.js';
