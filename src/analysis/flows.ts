/**
 * The analyzer's flow table: 5-tuple flows (protocol, addresses, ports) in flat typed arrays, so that counting a
 * packet allocates nothing. A flow is keyed by its two endpoints in a canonical order (the smaller address‖port
 * first), so one probe finds it in either direction; the endpoint that sent its first packet is its originator.
 *
 * Layout: key words (KEY_WORDS int32 per flow: protocol and address length, the two ports, the two addresses as
 * big-endian 32-bit words) in one Int32Array; per-flow counters and first/last timestamps (seconds and
 * nanoseconds, so they stay exact) in Float64Arrays; an open-addressing index (linear probing, load ≤ 1/2) of
 * flow number + 1. Everything doubles when full, up to the flow cap.
 */

import type { Decoded } from '../capture/decode.js';
import { formatAddress } from '../capture/decode.js';

/** One flow as `smig analyze` reports it. */
export interface FlowRecord {
  /** IP protocol number (6 TCP, 17 UDP, …). */
  protocol: number;
  /** Originator: the source of the first packet seen of this flow. */
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  startNs: bigint;
  endNs: bigint;
  origPackets: number;
  origBytes: number;
  respPackets: number;
  respBytes: number;
}

/** meta (address length << 16 | protocol + 1), port A + 1, port B + 1, address A (4 words), address B (4 words). */
const KEY_WORDS = 11;
const NS_PER_S = 1_000_000_000n;

/** Bounded flow table; see the module comment. */
export class FlowTable {
  readonly maxFlows: number;
  /** Flows held. */
  size = 0;
  #keys: Int32Array;
  #index: Int32Array;
  #mask: number;
  #origIsA: Uint8Array;
  /** Per flow: [origPackets, origBytes, respPackets, respBytes, startSec, startNsec, endSec, endNsec]. */
  #stats: Float64Array;
  /** The packet's key in canonical order, and whether its source is endpoint A. */
  readonly #k = new Int32Array(KEY_WORDS);
  readonly #src = new Uint32Array(4);
  readonly #dst = new Uint32Array(4);

  constructor(maxFlows: number) {
    this.maxFlows = maxFlows;
    const cap = Math.max(1, Math.min(maxFlows, 1024));
    this.#keys = new Int32Array(cap * KEY_WORDS);
    this.#origIsA = new Uint8Array(cap);
    this.#stats = new Float64Array(cap * 8);
    this.#index = new Int32Array(indexSize(cap));
    this.#mask = this.#index.length - 1;
  }

  /**
   * Counts one packet of `len` bytes at (sec, nsec) for the flow of `d`. Returns false when the flow is new and
   * the table is full (the packet is not counted).
   */
  add(d: Decoded, sec: number, nsec: number, len: number): boolean {
    const aIsSrc = this.#keyOf(d);
    const k = this.#k;
    const index = this.#index;
    const keys = this.#keys;
    let slot = hashKey(k, 0) & this.#mask;
    let flow = -1;
    // a key whose addresses are not 16 bytes has zeros in words 4–6 and 8–10, and so has every stored key with the
    // same word 0 (which holds the address length): only words 0–3 and 7 can differ
    const words = k[0]! >>> 16 === 16 ? KEY_WORDS : 4;
    for (;;) {
      const e = index[slot]!;
      if (e === 0) break;
      const base = (e - 1) * KEY_WORDS;
      let same = keys[base + 7] === k[7];
      for (let i = 0; same && i < words; i++) same = keys[base + i] === k[i];
      if (same) {
        flow = e - 1;
        break;
      }
      slot = (slot + 1) & this.#mask;
    }
    if (flow < 0) {
      if (this.size >= this.maxFlows) return false;
      flow = this.size++;
      if (flow * KEY_WORDS >= this.#keys.length) {
        this.#grow();
        return this.add(d, sec, nsec, len); // the index was rebuilt: probe again (the key is not in it)
      }
      this.#keys.set(k, flow * KEY_WORDS);
      this.#origIsA[flow] = aIsSrc ? 1 : 0;
      const s = this.#stats;
      const b = flow * 8;
      s[b + 4] = sec;
      s[b + 5] = nsec;
      s[b + 6] = sec;
      s[b + 7] = nsec;
      index[slot] = flow + 1;
    }
    const s = this.#stats;
    const b = flow * 8;
    if (sec < s[b + 4]! || (sec === s[b + 4]! && nsec < s[b + 5]!)) {
      s[b + 4] = sec;
      s[b + 5] = nsec;
    }
    if (sec > s[b + 6]! || (sec === s[b + 6]! && nsec > s[b + 7]!)) {
      s[b + 6] = sec;
      s[b + 7] = nsec;
    }
    const forward = (this.#origIsA[flow] === 1) === aIsSrc;
    const at = forward ? b : b + 2;
    s[at]!++;
    s[at + 1] += len;
    return true;
  }

  /** The flows in the order they were first seen. */
  records(): FlowRecord[] {
    const out: FlowRecord[] = [];
    const keys = this.#keys;
    const s = this.#stats;
    for (let f = 0; f < this.size; f++) {
      const base = f * KEY_WORDS;
      const meta = keys[base]!;
      const addrLength = meta >>> 16;
      const a = { text: addressText(keys, base + 3, addrLength), port: keys[base + 1]! - 1 };
      const bEnd = { text: addressText(keys, base + 7, addrLength), port: keys[base + 2]! - 1 };
      const [o, r] = this.#origIsA[f] === 1 ? [a, bEnd] : [bEnd, a];
      const b = f * 8;
      out.push({
        protocol: (meta & 0xffff) - 1,
        src: o.text,
        srcPort: o.port,
        dst: r.text,
        dstPort: r.port,
        startNs: BigInt(s[b + 4]!) * NS_PER_S + BigInt(s[b + 5]!),
        endNs: BigInt(s[b + 6]!) * NS_PER_S + BigInt(s[b + 7]!),
        origPackets: s[b]!,
        origBytes: s[b + 1]!,
        respPackets: s[b + 2]!,
        respBytes: s[b + 3]!,
      });
    }
    return out;
  }

  /** Fills #k with the packet's canonical key; true when its source is endpoint A (the smaller one). */
  #keyOf(d: Decoded): boolean {
    const len = d.addrLength === 4 || d.addrLength === 16 ? d.addrLength : 0;
    const data = d.data;
    const sp = d.srcPort + 1;
    const dp = d.dstPort + 1;
    const k = this.#k;
    k[0] = (len << 16) | ((d.protocol + 1) & 0xffff);
    if (len !== 16) {
      // IPv4 (or no address): one word each, compared as unsigned numbers
      const s = len === 4 ? word(data, d.srcOffset) : 0;
      const t = len === 4 ? word(data, d.dstOffset) : 0;
      const aIsSrc = s < t || (s === t && sp <= dp);
      k[1] = aIsSrc ? sp : dp;
      k[2] = aIsSrc ? dp : sp;
      k[3] = aIsSrc ? s : t;
      k[7] = aIsSrc ? t : s;
      k[4] = k[5] = k[6] = k[8] = k[9] = k[10] = 0;
      return aIsSrc;
    }
    const src = this.#src;
    const dst = this.#dst;
    for (let i = 0; i < 4; i++) {
      src[i] = word(data, d.srcOffset + 4 * i);
      dst[i] = word(data, d.dstOffset + 4 * i);
    }
    let cmp = 0;
    for (let i = 0; i < 4 && cmp === 0; i++) cmp = src[i]! < dst[i]! ? -1 : src[i]! > dst[i]! ? 1 : 0;
    if (cmp === 0) cmp = sp < dp ? -1 : sp > dp ? 1 : 0;
    const aIsSrc = cmp <= 0;
    const a = aIsSrc ? src : dst;
    const b = aIsSrc ? dst : src;
    k[1] = aIsSrc ? sp : dp;
    k[2] = aIsSrc ? dp : sp;
    for (let i = 0; i < 4; i++) {
      k[3 + i] = a[i]!;
      k[7 + i] = b[i]!;
    }
    return aIsSrc;
  }

  #grow(): void {
    const cap = Math.min(this.maxFlows, (this.#keys.length / KEY_WORDS) * 2);
    const keys = new Int32Array(cap * KEY_WORDS);
    keys.set(this.#keys);
    this.#keys = keys;
    const orig = new Uint8Array(cap);
    orig.set(this.#origIsA);
    this.#origIsA = orig;
    const stats = new Float64Array(cap * 8);
    stats.set(this.#stats);
    this.#stats = stats;
    // the new flow (number size − 1) is not stored yet: rebuild the index without it
    this.size--;
    this.#index = new Int32Array(indexSize(cap));
    this.#mask = this.#index.length - 1;
    for (let f = 0; f < this.size; f++) {
      let slot = hashKey(keys, f * KEY_WORDS) & this.#mask;
      while (this.#index[slot] !== 0) slot = (slot + 1) & this.#mask;
      this.#index[slot] = f + 1;
    }
  }
}

/**
 * FNV-1a over the key's 32-bit words at `at`, then a final mix. A key without 16-byte addresses is hashed on the
 * words that can be non-zero (0–3 and 7): the same function for a packet's key and for a stored one.
 */
function hashKey(k: Int32Array, at: number): number {
  let h = 0x811c9dc5;
  if (k[at]! >>> 16 === 16) {
    for (let i = 0; i < KEY_WORDS; i++) h = Math.imul(h ^ k[at + i]!, 0x01000193);
  } else {
    for (let i = 0; i < 4; i++) h = Math.imul(h ^ k[at + i]!, 0x01000193);
    h = Math.imul(h ^ k[at + 7]!, 0x01000193);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 12);
}

function indexSize(cap: number): number {
  let n = 2;
  while (n < cap * 2) n *= 2;
  return n;
}

/** The big-endian 32-bit word at `off`, as an unsigned number. */
function word(data: Uint8Array, off: number): number {
  return ((data[off]! << 24) | (data[off + 1]! << 16) | (data[off + 2]! << 8) | data[off + 3]!) >>> 0;
}

function addressText(keys: Int32Array, at: number, len: number): string {
  const bytes = new Uint8Array(len);
  for (let i = 0; i < len; i++) bytes[i] = (keys[at + (i >> 2)]! >>> (24 - 8 * (i & 3))) & 0xff;
  return formatAddress(bytes);
}
