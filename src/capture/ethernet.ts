/**
 * A packet of any link type as it would be on Ethernet: its IP datagram behind a 14-byte Ethernet header. A capture
 * made with `tcpdump -i any` (Linux cooked, 16 or 20 bytes of link header), on a tunnel (raw IP, none), on a BSD
 * loopback (4) or on a trunk port (4 B per VLAN tag) has packets of other sizes than the same traffic on the lab's
 * untagged Ethernet links; a profile learned from it for Ethernet hosts, and a hold-out compared with links captured
 * on Ethernet, read its packets as such.
 */
import type { Decoded } from './decode.js';

/** LINKTYPE_ETHERNET: untagged packets of that link type are taken as they are. */
export const LINKTYPE_ETHERNET = 1;
const ETHERNET_HEADER = 14;

/** Offset in `d.data` of the packet's IP header, or -1 when it has none with both addresses (not IP, cut short). */
export function ipHeaderOffset(d: Decoded): number {
  if (d.addrLength === 0) return -1;
  if (d.network === 'ipv4') return d.srcOffset - 12;
  if (d.network === 'ipv6') return d.srcOffset - 8;
  return -1;
}

/**
 * The wire size the packet would have on an untagged Ethernet link: its wire length less its own link header (VLAN
 * tags included), plus 14. An untagged Ethernet packet, or one without an IP header, keeps its wire length. `d` is
 * the packet decoded from its start (offset 0).
 */
export function ethernetWireSize(linktype: number, d: Decoded, origLen: number): number {
  if (linktype === LINKTYPE_ETHERNET && d.vlanIds.length === 0) return origLen;
  const ip = ipHeaderOffset(d);
  return ip < 0 ? origLen : Math.max(ETHERNET_HEADER + 1, origLen - ip + ETHERNET_HEADER);
}

/**
 * The packet re-framed for Ethernet (zero MAC addresses, the EtherType of its IP version) with its wire length, or
 * undefined when it has no IP header to carry over (such packets have no place in an Ethernet capture of its IP
 * traffic). An untagged Ethernet packet comes back as it is.
 */
export function asEthernetFrame(
  linktype: number,
  data: Uint8Array,
  origLen: number,
  d: Decoded,
): { data: Uint8Array; origLen: number } | undefined {
  if (linktype === LINKTYPE_ETHERNET && d.vlanIds.length === 0) return { data, origLen };
  const ip = ipHeaderOffset(d);
  if (ip < 0) return undefined;
  const out = new Uint8Array(ETHERNET_HEADER + data.length - ip);
  out[12] = d.network === 'ipv6' ? 0x86 : 0x08;
  out[13] = d.network === 'ipv6' ? 0xdd : 0x00;
  out.set(data.subarray(ip), ETHERNET_HEADER);
  return { data: out, origLen: ethernetWireSize(linktype, d, origLen) };
}
