/**
 * The session envelope (docs/DESIGN.md §3 "Envelope"; paper §5): the payload is wrapped with a header and a trailer
 * and encrypted with the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online
 * Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015) over ChaCha20-Poly1305
 * (RFC 8439). Pure code: no sockets, no clock.
 *
 * Ciphertext layout (S = segment size from the header, default 64 KiB; all integers big-endian):
 * ```
 *   offset 0    u8 format version (1) ‖ 7-byte random nonce prefix P          8 bytes, in the clear
 *   offset 8    segment 0: sealed header (544 B plaintext, fixed size)        560 bytes
 *   offset 568  segment i = 1..N: sealed payload[(i−1)·S, i·S)                 S+16 bytes; segment N may be short
 *   then        segment N+1: sealed trailer = SHA-256(payload) ‖ u64 length   56 bytes, last flag = 1
 * ```
 * nonce_i = P ‖ u32(i) ‖ u8(last), AAD = the 16-byte session id; N = ⌈length / S⌉ (0 for an empty payload).
 *
 * Decisions (recorded here and to be mirrored in docs/ARCHITECTURE.md):
 * - The trailer is its own final segment, the only one with last = 1. Every payload segment before the last
 *   one is full, so the ciphertext offset of segment i is a closed formula and payload segment i always holds
 *   payload bytes [(i−1)·S, i·S): the source can re-read and re-encrypt any range and get identical bytes.
 * - The header segment has a fixed size (strings are zero-padded), so offsets do not depend on the names and
 *   the ciphertext does not leak the length of the destination or the file name.
 * - The opener never trial-decrypts: with a known length it knows where every segment ends; for a stream of
 *   unknown length it holds back 56 bytes (the trailer) plus at most one segment, so a segment is opened
 *   with last = 0 only when more than a trailer's worth of bytes follows it, and finish() opens the rest.
 * - The opener must be told the session id it expects (AAD), so an envelope of another session fails.
 */

import type { Hash, KeyObject } from 'node:crypto';
import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomBytes } from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import type { SmigErrorCode } from '../errors.js';
import { smigError } from '../errors.js';
import { isHostPort } from '../net/address.js';
import { SESSION_ID_LENGTH } from '../protocol/messages.js';
import { hasControlChar } from '../util/text.js';
import { KEY_BYTES } from './shares.js';
import { wipe } from './wipe.js';

/** Envelope format version, first byte of the ciphertext and of the header plaintext. */
export const ENVELOPE_VERSION = 1;
/** Random part of every nonce (STREAM: nonce = prefix ‖ counter ‖ last-flag). */
export const NONCE_PREFIX_BYTES = 7;
/** Poly1305 tag length: every sealed segment is its plaintext plus this. */
export const TAG_BYTES = 16;
/** Clear bytes before segment 0: version ‖ nonce prefix. */
export const STREAM_HEADER_BYTES: number = 1 + NONCE_PREFIX_BYTES;
/** Plaintext size of the (fixed-size) header segment. */
export const HEADER_PLAIN_BYTES = 544;
/** Bytes before the first payload segment: the clear stream header and the sealed header segment. */
export const PREFIX_BYTES: number = STREAM_HEADER_BYTES + HEADER_PLAIN_BYTES + TAG_BYTES;
/** Plaintext size of the final segment: SHA-256 (32) ‖ u64 payload length. */
export const TRAILER_PLAIN_BYTES = 40;
/** Sealed size of the final segment. */
export const TRAILER_BYTES: number = TRAILER_PLAIN_BYTES + TAG_BYTES;
export const DEFAULT_SEGMENT_SIZE = 65536;
export const MIN_SEGMENT_SIZE = 64;
/** Hard cap on the segment size (the protocol's default frame limit). */
export const MAX_SEGMENT_SIZE: number = 16 * 1024 * 1024;
/** The u32 counter numbers segments 0..2^32−1: header, at most 2^32−2 payload segments, the trailer. */
export const MAX_PAYLOAD_SEGMENTS: number = 2 ** 32 - 2;
/** Payload lengths are counted exactly in a JS number, so at most 2^53−1 bytes (8 PiB). */
export const MAX_PAYLOAD_BYTES: number = Number.MAX_SAFE_INTEGER;
const UNKNOWN_LENGTH = 0xffff_ffff_ffff_ffffn;
const MAX_HEADER_TEXT_BYTES = 255;

/** Plaintext of segment 0 (docs/DESIGN.md §3: version, session id, destination, original name, length, segment size). */
export interface EnvelopeHeader {
  version: 1;
  /** 16 random bytes naming the session; bound to every segment as AAD. */
  sessionId: Uint8Array;
  /** Where the leader forwards the payload, `host:port` (at most 255 UTF-8 bytes). */
  destination: string;
  /** Original file name: a base name of 1..255 UTF-8 bytes (no `/`, `\`, control characters, `.` or `..`). */
  name: string;
  /** Payload length in bytes, or null for a stream of unknown length. */
  length: bigint | null;
  /** Plaintext bytes per payload segment (MIN_SEGMENT_SIZE..MAX_SEGMENT_SIZE). */
  segmentSize: number;
}

/** `node` = node:crypto (OpenSSL, the fast path); `noble` = @noble/ciphers (pure JS). Both give the same bytes. */
export type CipherEngine = 'node' | 'noble';

/** What the final segment authenticates: SHA-256 of the payload and its length. */
export interface EnvelopeTrailer {
  sha256: Uint8Array;
  length: bigint;
}

/** Result of {@link EnvelopeOpener.push}: the header the first time it is opened, and authenticated plaintext. */
export interface OpenResult {
  header?: EnvelopeHeader;
  plaintext: Uint8Array[];
}

/** Result of {@link EnvelopeOpener.finish}: the trailer and any plaintext that was held back (unknown length). */
export interface OpenFinal extends EnvelopeTrailer {
  plaintext: Uint8Array[];
}

// ---------------------------------------------------------------------------------------------------------
// Header codec (pure). Layout of the 544 plaintext bytes:
//   0 u8 version | 1 session id[16] | 17 u8 dest len | 18 dest[255] | 273 u8 name len | 274 name[255]
//   | 529 u64 length (all ones = unknown) | 537 u32 segment size | 541 reserved[3] = 0
// ---------------------------------------------------------------------------------------------------------
const H_SID = 1;
const H_DEST = 17;
const H_NAME = 273;
const H_LENGTH = 529;
const H_SEGSIZE = 537;
const H_RESERVED = 541;

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

type Problem = [code: SmigErrorCode, message: string];

/** Checks the header fields; returns the first problem (with the code to use when building an envelope). */
function headerProblem(h: EnvelopeHeader): Problem | undefined {
  if (h.version !== ENVELOPE_VERSION) return ['SMIG_ERR_INTERNAL', `unsupported version ${String(h.version)}`];
  if (!(h.sessionId instanceof Uint8Array) || h.sessionId.length !== SESSION_ID_LENGTH) {
    return ['SMIG_ERR_INTERNAL', `session id must be ${SESSION_ID_LENGTH} bytes`];
  }
  const dest = textProblem(h.destination, 'destination');
  if (dest) return ['SMIG_ERR_BAD_ADDRESS', dest];
  if (!isHostPort(h.destination)) {
    return ['SMIG_ERR_BAD_ADDRESS', `destination '${h.destination}' is not host:port`];
  }
  const name = textProblem(h.name, 'name');
  if (name) return ['SMIG_ERR_FILE', name];
  if (/[/\\]/.test(h.name) || h.name === '.' || h.name === '..') {
    return ['SMIG_ERR_FILE', `name '${h.name}' is not a base name`];
  }
  const S = h.segmentSize;
  if (!Number.isInteger(S) || S < MIN_SEGMENT_SIZE || S > MAX_SEGMENT_SIZE) {
    return ['SMIG_ERR_BAD_SIZE', `segment size ${S} is outside ${MIN_SEGMENT_SIZE}..${MAX_SEGMENT_SIZE}`];
  }
  if (h.length !== null) {
    if (
      typeof h.length !== 'bigint' ||
      h.length < 0n ||
      h.length > BigInt(MAX_PAYLOAD_BYTES) ||
      payloadSegments(Number(h.length), S) > MAX_PAYLOAD_SEGMENTS
    ) {
      return ['SMIG_ERR_BAD_SIZE', `payload length ${String(h.length)} is out of range for segments of ${S} bytes`];
    }
  }
  return undefined;
}

function textProblem(s: string, what: string): string | undefined {
  if (typeof s !== 'string' || s.length === 0) return `${what} is empty`;
  const bytes = utf8.encode(s);
  if (bytes.length > MAX_HEADER_TEXT_BYTES) return `${what} is ${bytes.length} bytes, at most ${MAX_HEADER_TEXT_BYTES}`;
  if (utf8Strict.decode(bytes) !== s) return `${what} is not valid Unicode`;
  if (hasControlChar(s)) return `${what} contains a control character`;
  return undefined;
}

/**
 * Encodes the header segment's plaintext (exactly {@link HEADER_PLAIN_BYTES} bytes).
 * @throws SmigError SMIG_ERR_BAD_ADDRESS (destination), SMIG_ERR_FILE (name), SMIG_ERR_BAD_SIZE (segment size,
 *   length), SMIG_ERR_INTERNAL (version, session id)
 */
export function encodeHeader(h: EnvelopeHeader): Uint8Array {
  const p = headerProblem(h);
  if (p) throw smigError(p[0], `envelope header: ${p[1]}`);
  const out = new Uint8Array(HEADER_PLAIN_BYTES);
  const dv = new DataView(out.buffer);
  out[0] = ENVELOPE_VERSION;
  out.set(h.sessionId, H_SID);
  for (const [at, s] of [
    [H_DEST, h.destination],
    [H_NAME, h.name],
  ] as const) {
    const b = utf8.encode(s);
    out[at] = b.length;
    out.set(b, at + 1);
  }
  dv.setBigUint64(H_LENGTH, h.length ?? UNKNOWN_LENGTH);
  dv.setUint32(H_SEGSIZE, h.segmentSize);
  return out;
}

/**
 * Decodes and strictly validates a header segment's plaintext (sizes, padding, UTF-8, field ranges). The
 * bytes have been authenticated, so any problem means a foreign or broken sealer.
 * @throws SmigError SMIG_ERR_AUTH naming the field
 */
export function decodeHeader(b: Uint8Array): EnvelopeHeader {
  const bad = (msg: string): Error => smigError('SMIG_ERR_AUTH', `envelope header: ${msg}`);
  if (b.length !== HEADER_PLAIN_BYTES) throw bad(`${b.length} bytes, expected ${HEADER_PLAIN_BYTES}`);
  if (b[0] !== ENVELOPE_VERSION) throw bad(`unsupported version ${b[0]!}`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const text = (at: number, what: string): string => {
    const n = b[at]!;
    const field = b.subarray(at + 1, at + 1 + MAX_HEADER_TEXT_BYTES);
    if (field.subarray(n).some((x) => x !== 0)) throw bad(`${what} padding is not zero`);
    try {
      return utf8Strict.decode(field.subarray(0, n));
    } catch {
      throw bad(`${what} is not valid UTF-8`);
    }
  };
  if (b.subarray(H_RESERVED).some((x) => x !== 0)) throw bad('reserved bytes are not zero');
  const len = dv.getBigUint64(H_LENGTH);
  const h: EnvelopeHeader = {
    version: ENVELOPE_VERSION,
    sessionId: copy(b.subarray(H_SID, H_SID + SESSION_ID_LENGTH)),
    destination: text(H_DEST, 'destination'),
    name: text(H_NAME, 'name'),
    length: len === UNKNOWN_LENGTH ? null : len,
    segmentSize: dv.getUint32(H_SEGSIZE),
  };
  const p = headerProblem(h);
  if (p) throw bad(p[1]);
  return h;
}

// ---------------------------------------------------------------------------------------------------------
// Layout (pure)
// ---------------------------------------------------------------------------------------------------------

function payloadSegments(length: number, S: number): number {
  return Math.ceil(length / S);
}

/**
 * Ciphertext offset of segment `index`: 0 is the sealed header (after the 8 clear bytes), 1..N the payload
 * segments. Valid for every segment preceded only by full segments, i.e. all but the final (trailer) one,
 * whose offset is {@link ciphertextLength} − {@link TRAILER_BYTES}.
 */
export function segmentCiphertextOffset(index: number, segmentSize: number): number {
  if (index === 0) return STREAM_HEADER_BYTES;
  return PREFIX_BYTES + (index - 1) * (segmentSize + TAG_BYTES);
}

/** Total ciphertext bytes of an envelope carrying `payloadLength` bytes in segments of `segmentSize`. */
export function ciphertextLength(payloadLength: number, segmentSize: number): number {
  return PREFIX_BYTES + payloadLength + TAG_BYTES * payloadSegments(payloadLength, segmentSize) + TRAILER_BYTES;
}

// ---------------------------------------------------------------------------------------------------------
// AEAD engines: ChaCha20-Poly1305 (RFC 8439 §2.8) with a fixed AAD
// ---------------------------------------------------------------------------------------------------------

/** ChaCha20-Poly1305 (RFC 8439 §2.8) bound to one key and one AAD. */
export interface Aead {
  /** Returns ciphertext ‖ tag in one new buffer. */
  seal(nonce: Uint8Array, plain: Uint8Array): Uint8Array;
  /** Returns the plaintext, or undefined when the tag does not verify (no plaintext is released then). */
  open(nonce: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
  destroy(): void;
}

/** node:crypto engine. The key lives in a KeyObject (native memory, freed by the GC; it cannot be wiped). */
function nodeAead(key: Uint8Array, aad: Uint8Array): Aead {
  let k: KeyObject | undefined = createSecretKey(key);
  const ad = Buffer.from(aad);
  const live = (): KeyObject => k ?? fail('SMIG_ERR_INTERNAL', 'envelope: used after destroy()');
  return {
    seal(nonce, plain) {
      const c = createCipheriv('chacha20-poly1305', live(), nonce, { authTagLength: TAG_BYTES });
      c.setAAD(ad, { plaintextLength: plain.length });
      const out = Buffer.allocUnsafeSlow(plain.length + TAG_BYTES);
      c.update(plain).copy(out, 0);
      c.final(); // a stream cipher: nothing buffered
      c.getAuthTag().copy(out, plain.length);
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    },
    open(nonce, sealed) {
      const n = sealed.length - TAG_BYTES;
      const d = createDecipheriv('chacha20-poly1305', live(), nonce, { authTagLength: TAG_BYTES });
      d.setAAD(ad, { plaintextLength: n });
      d.setAuthTag(sealed.subarray(n));
      const plain = d.update(sealed.subarray(0, n));
      try {
        d.final();
      } catch {
        wipe(plain);
        return undefined;
      }
      return new Uint8Array(plain.buffer, plain.byteOffset, plain.length);
    },
    destroy() {
      k = undefined;
    },
  };
}

/** @noble/ciphers engine (pure JS). Keeps its own copy of the key, wiped by destroy(). */
function nobleAead(key: Uint8Array, aad: Uint8Array): Aead {
  const k = copy(key);
  const ad = copy(aad);
  let dead = false;
  const live = (): Uint8Array => (dead ? fail('SMIG_ERR_INTERNAL', 'envelope: used after destroy()') : k);
  return {
    seal(nonce, plain) {
      const out = new Uint8Array(plain.length + TAG_BYTES);
      chacha20poly1305(live(), nonce, ad).encrypt(plain, out);
      return out;
    },
    open(nonce, sealed) {
      try {
        return chacha20poly1305(live(), nonce, ad).decrypt(sealed);
      } catch (err) {
        if (dead) throw err;
        return undefined;
      }
    },
    destroy() {
      dead = true;
      wipe(k);
    },
  };
}

/**
 * A single-message ChaCha20-Poly1305 on the chosen engine with a fixed AAD (the envelope's is the session
 * id). Nonce uniqueness is the caller's duty; the envelope derives nonces from segment numbers.
 * @throws SmigError SMIG_ERR_INTERNAL for a key that is not 32 bytes or an unknown engine
 */
export function createAead(key: Uint8Array, aad: Uint8Array, engine: CipherEngine = 'node'): Aead {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw smigError('SMIG_ERR_INTERNAL', `envelope: key must be ${KEY_BYTES} bytes`);
  }
  if (engine === 'node') return nodeAead(key, aad);
  if (engine === 'noble') return nobleAead(key, aad);
  throw smigError('SMIG_ERR_INTERNAL', `envelope: unknown cipher engine '${String(engine)}'`);
}

function makeAead(key: Uint8Array, sessionId: Uint8Array, engine?: CipherEngine): Aead {
  if (!(sessionId instanceof Uint8Array) || sessionId.length !== SESSION_ID_LENGTH) {
    throw smigError('SMIG_ERR_INTERNAL', `envelope: session id must be ${SESSION_ID_LENGTH} bytes`);
  }
  return createAead(key, sessionId, engine);
}

/** STREAM nonce: prefix (7) ‖ u32 BE segment counter ‖ u8 last-flag. */
function nonceFor(prefix: Uint8Array, index: number, last: boolean): Uint8Array {
  const n = new Uint8Array(12);
  n.set(prefix);
  new DataView(n.buffer).setUint32(NONCE_PREFIX_BYTES, index);
  n[11] = last ? 1 : 0;
  return n;
}

/** A copy as a plain Uint8Array (Buffer#slice would return a view). */
function copy(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

function fail(code: SmigErrorCode, message: string): never {
  throw smigError(code, message);
}

function authFail(message: string): never {
  throw smigError('SMIG_ERR_AUTH', `envelope: ${message}`);
}

// ---------------------------------------------------------------------------------------------------------
// Sealer
// ---------------------------------------------------------------------------------------------------------

/** Options of {@link EnvelopeSealer}. */
export interface SealerOptions {
  engine?: CipherEngine;
  /** Test-only hook: a fixed nonce prefix (default: 7 random bytes). Never reuse one for other data. */
  noncePrefix?: Uint8Array;
}

const TAG_CHUNK = 4096;

/**
 * Encrypts one session's payload as a stream of sealed segments (layout in the module comment). Memory is
 * bounded by one segment; each returned segment is its own buffer, owned by the caller.
 *
 * Re-sending: {@link resealSegment} re-encrypts a payload segment from re-read plaintext and returns the same
 * bytes as the first time. It refuses (SMIG_ERR_SOURCE_CHANGED) when the plaintext differs, since the same
 * nonce over other data would break ChaCha20-Poly1305; for that it keeps 4 bytes of each tag (64 KiB of
 * memory per GiB of payload at the default segment size) until {@link forget} releases acknowledged segments.
 *
 * @example
 * const s = new EnvelopeSealer(key, header);
 * send(s.prefix()); for await (const c of file) send(...s.push(c)); send(...s.finish());
 */
export class EnvelopeSealer {
  /** The header sealed in segment 0. */
  readonly header: EnvelopeHeader;
  readonly segmentSize: number;
  #aead: Aead;
  #noncePrefix: Uint8Array;
  #prefix: Uint8Array;
  #hash: Hash = createHash('sha256');
  #partial: Uint8Array | undefined;
  #fill = 0;
  #pushed = 0;
  #next = 1;
  #tags: (Uint32Array | undefined)[] = [];
  #forgotten = 1;
  #final: Uint8Array | undefined;
  #digest: Uint8Array | undefined;
  #destroyed = false;

  /**
   * @throws SmigError from {@link encodeHeader} for a bad header; SMIG_ERR_INTERNAL for a bad key or prefix
   */
  constructor(key: Uint8Array, header: EnvelopeHeader, opts: SealerOptions = {}) {
    const plainHeader = encodeHeader(header);
    this.header = { ...header, sessionId: copy(header.sessionId) };
    this.segmentSize = header.segmentSize;
    const p = opts.noncePrefix ?? randomBytes(NONCE_PREFIX_BYTES);
    if (!(p instanceof Uint8Array) || p.length !== NONCE_PREFIX_BYTES) {
      throw smigError('SMIG_ERR_INTERNAL', `envelope: nonce prefix must be ${NONCE_PREFIX_BYTES} bytes`);
    }
    this.#noncePrefix = Uint8Array.from(p);
    this.#aead = makeAead(key, header.sessionId, opts.engine);
    this.#prefix = new Uint8Array(PREFIX_BYTES);
    this.#prefix[0] = ENVELOPE_VERSION;
    this.#prefix.set(this.#noncePrefix, 1);
    this.#prefix.set(this.#aead.seal(nonceFor(this.#noncePrefix, 0, false), plainHeader), STREAM_HEADER_BYTES);
  }

  /** The first {@link PREFIX_BYTES} of the ciphertext: version, nonce prefix and the sealed header segment. */
  prefix(): Uint8Array {
    return copy(this.#prefix);
  }

  /**
   * Adds payload bytes; returns the segments they completed (possibly none). `plain` is not kept.
   * @throws SmigError SMIG_ERR_BAD_SIZE when the payload would exceed the length declared in the header
   */
  push(plain: Uint8Array): Uint8Array[] {
    this.#usable('push');
    const S = this.segmentSize;
    const total = this.#pushed + plain.length;
    if (this.header.length !== null && total > Number(this.header.length)) {
      throw smigError(
        'SMIG_ERR_BAD_SIZE',
        `envelope: payload exceeds the ${this.header.length} bytes its header declared`,
      );
    }
    if (total > MAX_PAYLOAD_BYTES || payloadSegments(total, S) > MAX_PAYLOAD_SEGMENTS) {
      throw smigError('SMIG_ERR_BAD_SIZE', `envelope: payload exceeds the maximum for segments of ${S} bytes`);
    }
    this.#pushed = total;
    this.#hash.update(plain);
    const out: Uint8Array[] = [];
    let off = 0;
    if (this.#fill > 0) {
      off = Math.min(S - this.#fill, plain.length);
      this.#partial!.set(plain.subarray(0, off), this.#fill);
      this.#fill += off;
      if (this.#fill < S) return out;
      out.push(this.#sealPayload(this.#partial!));
      this.#fill = 0;
    }
    for (; plain.length - off >= S; off += S) out.push(this.#sealPayload(plain.subarray(off, off + S)));
    if (off < plain.length) {
      (this.#partial ??= new Uint8Array(S)).set(plain.subarray(off));
      this.#fill = plain.length - off;
    }
    return out;
  }

  /**
   * Ends the payload: returns the last (possibly short) payload segment, if any bytes are pending, and the
   * final segment (last flag, trailer = SHA-256 ‖ length).
   * @throws SmigError SMIG_ERR_BAD_SIZE when fewer bytes were pushed than the header declared
   */
  finish(): Uint8Array[] {
    this.#usable('finish');
    if (this.header.length !== null && BigInt(this.#pushed) !== this.header.length) {
      throw smigError(
        'SMIG_ERR_BAD_SIZE',
        `envelope: payload ended after ${this.#pushed} bytes, its header declared ${this.header.length}`,
      );
    }
    const out: Uint8Array[] = [];
    if (this.#fill > 0) out.push(this.#sealPayload(this.#partial!.subarray(0, this.#fill)));
    wipe(this.#partial);
    this.#partial = undefined;
    this.#fill = 0;
    const trailer = new Uint8Array(TRAILER_PLAIN_BYTES);
    this.#digest = new Uint8Array(this.#hash.digest());
    trailer.set(this.#digest);
    new DataView(trailer.buffer).setBigUint64(32, BigInt(this.#pushed));
    // STREAM: the final segment is the only one sealed with last-flag = 1
    this.#final = this.#aead.seal(nonceFor(this.#noncePrefix, this.#next, true), trailer);
    out.push(copy(this.#final));
    return out;
  }

  /** Whether finish() has run. */
  get finished(): boolean {
    return this.#final !== undefined;
  }

  /** Segments so far, header included; after finish() the final segment is index `segmentCount − 1`. */
  get segmentCount(): number {
    return this.#next + (this.#final ? 1 : 0);
  }

  /** SHA-256 of the whole payload, once finish() has run (what the trailer authenticates). */
  get payloadSha256(): Uint8Array | undefined {
    return this.#digest === undefined ? undefined : copy(this.#digest);
  }

  /** Payload bytes pushed so far. */
  get payloadLength(): number {
    return this.#pushed;
  }

  /** Ciphertext offset of segment `index` (0 = sealed header), the final segment included once finished. */
  segmentCiphertextOffset(index: number): number {
    if (this.#final && index === this.#next) return PREFIX_BYTES + this.#pushed + TAG_BYTES * (this.#next - 1);
    return segmentCiphertextOffset(index, this.segmentSize);
  }

  /** Index of the segment that holds ciphertext byte `offset` (0 for the clear bytes and the header). */
  segmentIndexAt(offset: number): number {
    if (offset < PREFIX_BYTES) return 0;
    if (this.#final && offset >= this.segmentCiphertextOffset(this.#next)) return this.#next;
    return 1 + Math.floor((offset - PREFIX_BYTES) / (this.segmentSize + TAG_BYTES));
  }

  /**
   * Re-encrypts payload segment `index` (1-based; payload bytes [(index−1)·S, index·S)) from re-read plaintext;
   * the result is byte-identical to what push()/finish() returned for it.
   * @throws SmigError SMIG_ERR_SOURCE_CHANGED when `plain` differs from what was sealed (nothing is returned);
   *   SMIG_ERR_INTERNAL for a segment never sealed or released by forget()
   */
  resealSegment(index: number, plain: Uint8Array): Uint8Array {
    this.#alive();
    const sealedPayload = this.#next - 1;
    if (!Number.isInteger(index) || index < 1 || index > sealedPayload) {
      throw smigError(
        'SMIG_ERR_INTERNAL',
        `envelope: payload segment ${index} has not been sealed (1..${sealedPayload})`,
      );
    }
    if (index < this.#forgotten) {
      throw smigError('SMIG_ERR_INTERNAL', `envelope: payload segment ${index} was released by forget()`);
    }
    const want =
      this.#final && index === sealedPayload ? this.#pushed - (index - 1) * this.segmentSize : this.segmentSize;
    if (plain.length !== want) {
      throw smigError(
        'SMIG_ERR_SOURCE_CHANGED',
        `envelope: payload segment ${index} re-read as ${plain.length} bytes, ${want} were sent`,
      );
    }
    const sealed = this.#aead.seal(nonceFor(this.#noncePrefix, index, false), plain);
    if (tagPrint(sealed) !== this.#tags[Math.floor(index / TAG_CHUNK)]![index % TAG_CHUNK]) {
      wipe(sealed);
      throw smigError(
        'SMIG_ERR_SOURCE_CHANGED',
        `envelope: payload segment ${index} re-read differs from what was sent (the source changed during the migration)`,
      );
    }
    return sealed;
  }

  /** A copy of the sealed final segment, for re-sending it. */
  trailerSegment(): Uint8Array {
    this.#alive();
    if (!this.#final) throw smigError('SMIG_ERR_INTERNAL', 'envelope: trailerSegment() before finish()');
    return copy(this.#final);
  }

  /** Releases the re-send bookkeeping of payload segments below `before` (acknowledged by the leader). */
  forget(before: number): void {
    this.#forgotten = Math.max(this.#forgotten, before);
    for (let c = 0; c < Math.floor(this.#forgotten / TAG_CHUNK); c++) this.#tags[c] = undefined;
  }

  /** Wipes the pending plaintext and drops the key; the sealer is unusable afterwards. */
  destroy(): void {
    wipe(this.#partial);
    this.#partial = undefined;
    this.#aead.destroy();
    this.#destroyed = true;
  }

  #sealPayload(plain: Uint8Array): Uint8Array {
    const i = this.#next++;
    const sealed = this.#aead.seal(nonceFor(this.#noncePrefix, i, false), plain);
    const chunk = (this.#tags[Math.floor(i / TAG_CHUNK)] ??= new Uint32Array(TAG_CHUNK));
    chunk[i % TAG_CHUNK] = tagPrint(sealed);
    return sealed;
  }

  #alive(): void {
    if (this.#destroyed) throw smigError('SMIG_ERR_INTERNAL', 'envelope: sealer used after destroy()');
  }

  #usable(what: string): void {
    this.#alive();
    if (this.#final) throw smigError('SMIG_ERR_INTERNAL', `envelope: ${what}() after finish()`);
  }
}

function tagPrint(sealed: Uint8Array): number {
  const t = sealed.length - TAG_BYTES;
  return ((sealed[t]! << 24) | (sealed[t + 1]! << 16) | (sealed[t + 2]! << 8) | sealed[t + 3]!) >>> 0;
}

// ---------------------------------------------------------------------------------------------------------
// Opener
// ---------------------------------------------------------------------------------------------------------

/** Options of {@link EnvelopeOpener}. */
export interface OpenerOptions {
  engine?: CipherEngine;
  /** Largest segment size accepted from a header (default and cap: MAX_SEGMENT_SIZE). */
  maxSegmentSize?: number;
  /**
   * Recompute SHA-256 over the plaintext and compare it with the trailer's (default true). Every segment and the
   * trailer are already authenticated under the session key in their STREAM positions, so the digest can only
   * disagree when the sealer itself lied; a relay-side opener that passes the trailer's digest on to a party that
   * hashes what it writes (the destination) may skip this pass. The trailer's length is checked either way.
   */
  verifyDigest?: boolean;
}

/**
 * Decrypts an envelope fed in chunks of any size, releasing plaintext only after its segment authenticated.
 * Any failure (wrong key or session, corruption, reordering, splicing, truncation, trailing bytes) throws
 * SmigError SMIG_ERR_AUTH and leaves the opener failed. Bytes not yet consumed are kept by reference: do not
 * modify a buffer after pushing it.
 *
 * @example
 * const o = new EnvelopeOpener(key, sessionId);
 * for await (const c of input) for (const p of o.push(c).plaintext) write(p);
 * const { plaintext, sha256, length } = o.finish();
 */
export class EnvelopeOpener {
  #aead: Aead;
  #sessionId: Uint8Array;
  #maxSegment: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #header: EnvelopeHeader | undefined;
  #noncePrefix: Uint8Array | undefined;
  #segSize = 0;
  #length = -1; // payload length when known, else -1
  #segments = -1; // payload segments N when the length is known, else -1
  #next = 1;
  #bytes = 0;
  #hash: Hash | undefined;
  #trailer: EnvelopeTrailer | undefined;
  #failed = false;

  /** @throws SmigError SMIG_ERR_INTERNAL for a key that is not 32 bytes or a session id that is not 16 */
  constructor(key: Uint8Array, sessionId: Uint8Array, opts: OpenerOptions = {}) {
    this.#aead = makeAead(key, sessionId, opts.engine);
    this.#sessionId = copy(sessionId);
    this.#maxSegment = Math.min(opts.maxSegmentSize ?? MAX_SEGMENT_SIZE, MAX_SEGMENT_SIZE);
    this.#hash = opts.verifyDigest === false ? undefined : createHash('sha256');
  }

  /** The authenticated header, once segment 0 has been opened. */
  get header(): EnvelopeHeader | undefined {
    return this.#header;
  }

  /** True once the final segment has authenticated (with a known length this happens inside push()). */
  get done(): boolean {
    return this.#trailer !== undefined && !this.#failed;
  }

  /**
   * Feeds ciphertext; returns the header (once) and the plaintext of every segment that authenticated.
   * @throws SmigError SMIG_ERR_AUTH, or SMIG_ERR_BUFFER_LIMIT for a segment size above maxSegmentSize
   */
  push(cipher: Uint8Array): OpenResult {
    return this.#guarded(() => {
      if (this.#trailer && cipher.length > 0) authFail('bytes after the final segment');
      if (cipher.length > 0) {
        this.#chunks.push(cipher);
        this.#buffered += cipher.length;
      }
      const res: OpenResult = { plaintext: [] };
      if (!this.#header) {
        if (this.#buffered < PREFIX_BYTES) return res;
        res.header = this.#openHeader(this.#consume(PREFIX_BYTES));
      }
      this.#drain(false, res.plaintext);
      return res;
    });
  }

  /**
   * Ends the input: opens what was held back and returns the trailer.
   * @throws SmigError SMIG_ERR_AUTH when the stream ended before its final segment (truncation)
   */
  finish(): OpenFinal {
    return this.#guarded(() => {
      const plaintext: Uint8Array[] = [];
      if (!this.#header) authFail(`stream ended after ${this.#buffered} bytes, before its header (truncated)`);
      if (!this.#trailer) this.#drain(true, plaintext);
      const t = this.#trailer!;
      return { sha256: copy(t.sha256), length: t.length, plaintext };
    });
  }

  /** Drops the key and buffered input; the opener is unusable afterwards. */
  destroy(): void {
    this.#aead.destroy();
    this.#chunks = [];
    this.#buffered = 0;
    this.#failed = true;
  }

  #guarded<T>(f: () => T): T {
    if (this.#failed) authFail('the stream already failed');
    try {
      return f();
    } catch (err) {
      this.#failed = true;
      throw err;
    }
  }

  #openHeader(bytes: Uint8Array): EnvelopeHeader {
    const h = openHeaderBytes(this.#aead, this.#sessionId, bytes);
    if (!h) authFail('header segment did not authenticate (wrong key or session, or not an envelope)');
    if (h.segmentSize > this.#maxSegment) {
      throw smigError(
        'SMIG_ERR_BUFFER_LIMIT',
        `envelope: segment size ${h.segmentSize} exceeds the limit of ${this.#maxSegment} bytes`,
      );
    }
    this.#noncePrefix = copy(bytes.subarray(1, STREAM_HEADER_BYTES));
    this.#segSize = h.segmentSize;
    this.#length = h.length === null ? -1 : Number(h.length);
    this.#segments = h.length === null ? -1 : payloadSegments(this.#length, h.segmentSize);
    this.#header = h;
    return h;
  }

  /** Opens every segment whose extent is known from the bytes at hand (STREAM: position decides last-flag). */
  #drain(atEnd: boolean, out: Uint8Array[]): void {
    const S = this.#segSize;
    while (!this.#trailer) {
      let size: number;
      let last: boolean;
      if (this.#segments >= 0) {
        // known length: payload segments 1..N (N may be short), then the trailer
        last = this.#next > this.#segments;
        const n = this.#next;
        size = last ? TRAILER_BYTES : (n < this.#segments ? S : this.#length - (n - 1) * S) + TAG_BYTES;
        if (this.#buffered < size) {
          if (atEnd) authFail(`stream ended inside segment ${n} of ${this.#segments + 1} (truncated)`);
          return;
        }
      } else if (this.#buffered >= S + TAG_BYTES + TRAILER_BYTES) {
        // unknown length: a full segment followed by at least a trailer's worth of bytes is not the final one
        size = S + TAG_BYTES;
        last = false;
      } else if (!atEnd) {
        return;
      } else if (this.#buffered === TRAILER_BYTES) {
        size = TRAILER_BYTES;
        last = true;
      } else if (this.#buffered > TRAILER_BYTES + TAG_BYTES) {
        size = this.#buffered - TRAILER_BYTES; // the short last payload segment
        last = false;
      } else {
        authFail(`stream ended with ${this.#buffered} stray bytes after segment ${this.#next - 1} (truncated)`);
      }
      if (this.#next > MAX_PAYLOAD_SEGMENTS + (last ? 1 : 0)) authFail('too many segments');
      const sealed = this.#consume(size);
      const plain = this.#aead.open(nonceFor(this.#noncePrefix!, this.#next, last), sealed);
      if (!plain) {
        authFail(
          `segment ${this.#next}${last ? ' (final)' : ''} did not authenticate ` +
            '(wrong key, corrupted, reordered, spliced or truncated data)',
        );
      }
      if (last) {
        this.#trailer = this.#checkTrailer(plain);
      } else {
        this.#bytes += plain.length;
        this.#hash?.update(plain);
        out.push(plain);
        this.#next++;
      }
    }
    if (this.#buffered > 0) authFail('bytes after the final segment');
  }

  #checkTrailer(t: Uint8Array): EnvelopeTrailer {
    const length = new DataView(t.buffer, t.byteOffset, t.byteLength).getBigUint64(32);
    const sha256 = copy(t.subarray(0, 32));
    if (length !== BigInt(this.#bytes))
      authFail(`trailer length ${length} differs from the ${this.#bytes} bytes received`);
    if (this.#hash !== undefined && !Buffer.from(this.#hash.digest()).equals(sha256))
      authFail('trailer SHA-256 differs from the payload received');
    return { sha256, length };
  }

  /** Takes `n` buffered bytes: a view when they lie in one chunk, else one exact-size copy. */
  #consume(n: number): Uint8Array {
    this.#buffered -= n;
    const first = this.#chunks[0]!;
    if (first.length === n) return this.#chunks.shift()!;
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    for (let off = 0; off < n; ) {
      const c = this.#chunks[0]!;
      const take = Math.min(c.length, n - off);
      out.set(c.subarray(0, take), off);
      off += take;
      if (take === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
    }
    return out;
  }
}

/** Opens the first PREFIX_BYTES of an envelope; undefined when segment 0 does not authenticate. */
function openHeaderBytes(aead: Aead, sessionId: Uint8Array, bytes: Uint8Array): EnvelopeHeader | undefined {
  if (bytes[0] !== ENVELOPE_VERSION) authFail(`unsupported format version ${bytes[0]!}`);
  const plain = aead.open(
    nonceFor(bytes.subarray(1, STREAM_HEADER_BYTES), 0, false),
    bytes.subarray(STREAM_HEADER_BYTES, PREFIX_BYTES),
  );
  if (!plain) return undefined;
  try {
    const h = decodeHeader(plain);
    if (!Buffer.from(h.sessionId).equals(sessionId)) authFail('header names another session');
    return h;
  } finally {
    wipe(plain);
  }
}

/**
 * Checks a candidate key (e.g. rebuilt from shares) against segment 0: returns the header when it
 * authenticates under `key` and `sessionId`, undefined when it does not.
 * @throws SmigError SMIG_ERR_INTERNAL when fewer than PREFIX_BYTES are given; SMIG_ERR_AUTH when the bytes are
 *   not a version-1 envelope or the authenticated header is malformed
 */
export function tryOpenHeader(
  key: Uint8Array,
  sessionId: Uint8Array,
  firstBytes: Uint8Array,
  engine?: CipherEngine,
): EnvelopeHeader | undefined {
  if (firstBytes.length < PREFIX_BYTES) {
    throw smigError(
      'SMIG_ERR_INTERNAL',
      `envelope: tryOpenHeader needs ${PREFIX_BYTES} bytes, got ${firstBytes.length}`,
    );
  }
  const aead = makeAead(key, sessionId, engine);
  try {
    return openHeaderBytes(aead, sessionId, firstBytes);
  } finally {
    aead.destroy();
  }
}
