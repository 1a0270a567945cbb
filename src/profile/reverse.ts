/**
 * The reverse direction of a profiled capture: the packets that go the other way on the TCP connections of the
 * profiled direction (a client's requests and ACKs, when the profile learned a server's data). `smig profile
 * learn` keeps their wire sizes (`shape.reverse`), from which a shaped link's receiver sizes the records it sends
 * back (roles/echo.ts): what an observer of the reverse direction sees then has the capture's sizes, not one size.
 * The sizes of the packets that carry data are kept apart (`shape.reverseData`): a record can only stand for
 * those. A SYN (Webex's reverse direction opens a connection every second: 61 SYNs of 74 B, 11 % of its packets) or
 * an ACK with SACK blocks (netflix's: 94 of 86 and 94 B) is the kernel's, and a record drawn at its size came out as
 * the smallest record instead (81 B on Webex's links, 10–14 % of their reverse packets, a size the capture never has).
 */
import type { Decoded } from '../capture/decode.js';
import type { Histogram } from './schema.js';
import { histogramFromMap } from './shape.js';

/** Most connections of the profiled direction remembered (later ones' reverse packets are not counted). */
export const MAX_REVERSE_FLOWS = 65_536;
/**
 * Connections seen only the other way so far (a client's SYN and request come before the server's first packet),
 * and sizes kept per such connection until its first packet in the profiled direction claims them.
 */
export const MAX_PENDING_FLOWS = 16_384;
export const MAX_PENDING_SIZES = 32;
/** Largest wire size kept (as the trace's). */
const MAX_SIZE = 262_144;

/** Collects the wire sizes of the reverse direction of the TCP connections seen in the profiled direction. */
export class ReverseSizes {
  readonly #flows = new Set<string>();
  readonly #sizes = new Map<number, number>();
  readonly #dataSizes = new Map<number, number>();
  readonly #pending = new Map<string, number[]>();
  readonly #maxFlows: number;
  #packets = 0;

  constructor(maxFlows: number = MAX_REVERSE_FLOWS) {
    this.#maxFlows = maxFlows;
  }

  /** A packet of the profiled direction: its connection, if TCP. */
  forward(d: Decoded): void {
    if (d.protocol !== 6 || d.srcPort < 0 || d.addrLength === 0 || this.#flows.size >= this.#maxFlows) return;
    const key = flowKey(d, false);
    if (this.#flows.has(key)) return;
    this.#flows.add(key);
    const early = this.#pending.get(key);
    if (early === undefined) return;
    this.#pending.delete(key);
    for (const s of early) this.#count(Math.abs(s), s > 0);
  }

  /**
   * A packet outside the profiled direction: counted when it goes the other way on one of its connections; among
   * those with data unless its TCP payload is known to be empty.
   */
  other(d: Decoded, wireSize: number): void {
    if (d.protocol !== 6 || d.srcPort < 0 || d.addrLength === 0) return;
    const key = flowKey(d, true);
    const s = Math.min(MAX_SIZE, Math.max(1, wireSize));
    const data = d.tcpPayload !== 0;
    if (this.#flows.has(key)) {
      this.#count(s, data);
      return;
    }
    // not (yet) a connection of the profiled direction: kept until it is one, within bounds (negative: no data)
    const early = this.#pending.get(key);
    const v = data ? s : -s;
    if (early !== undefined) {
      if (early.length < MAX_PENDING_SIZES) early.push(v);
    } else if (this.#pending.size < MAX_PENDING_FLOWS && this.#flows.size < this.#maxFlows) this.#pending.set(key, [v]);
  }

  #count(s: number, data: boolean): void {
    this.#sizes.set(s, (this.#sizes.get(s) ?? 0) + 1);
    this.#packets++;
    if (data) this.#dataSizes.set(s, (this.#dataSizes.get(s) ?? 0) + 1);
  }

  /** Packets counted. */
  get packets(): number {
    return this.#packets;
  }

  /** Their wire sizes, ascending; undefined when none was seen. */
  histogram(): Histogram | undefined {
    return this.#packets === 0 ? undefined : histogramFromMap(this.#sizes);
  }

  /** The wire sizes of those that carry data (or whose payload is unknown), ascending; undefined when none. */
  dataHistogram(): Histogram | undefined {
    return this.#dataSizes.size === 0 ? undefined : histogramFromMap(this.#dataSizes);
  }
}

/** A TCP connection's key as the profiled direction sees it (source first); `reversed` reads a reply the other way. */
function flowKey(d: Decoded, reversed: boolean): string {
  const a = addr(d.data, d.srcOffset, d.addrLength);
  const b = addr(d.data, d.dstOffset, d.addrLength);
  return reversed ? `${b}/${d.dstPort}>${a}/${d.srcPort}` : `${a}/${d.srcPort}>${b}/${d.dstPort}`;
}

function addr(data: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += data[off + i]!.toString(16).padStart(2, '0');
  return s;
}
