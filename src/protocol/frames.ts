/**
 * smig wire frames (docs/DESIGN.md §3 "Frames"): what travels inside every TLS-PSK channel.
 *
 * ```
 * +----------------+---------+------------------------+
 * | u32 length (BE)| u8 type | body (length − 1 bytes)|
 * +----------------+---------+------------------------+
 * ```
 * `length` counts the type byte and the body (so it is ≥ 1), not itself: a frame occupies
 * `4 + length` bytes on the wire. It is checked against a maximum (default 16 MiB, so up to
 * 16 MiB + 4 bytes with the prefix) before anything is allocated.
 *
 * The type numbers below are on the wire: never renumber one, only append.
 * Pure code: nothing here touches a socket or the clock.
 */
import { smigError } from '../errors.js';

/** Bytes before the body: u32 length + u8 type. */
export const FRAME_HEADER_LENGTH = 5;

/** Default maximum of the length field (type byte + body): 16 MiB. */
export const DEFAULT_MAX_FRAME_LENGTH: number = 16 * 1024 * 1024;

/** Largest length the u32 field can carry. */
const U32_MAX = 0xffff_ffff;

/**
 * Frame type numbers (stable: they are on the wire). Bodies are specified in messages.ts.
 */
export const FrameType = {
  /** Opens a link: session id, the role the receiver plays, what to expect. */
  SESSION: 0x01,
  /** u64 offset + bytes (source → data relay: ciphertext; leader → destination: plaintext). */
  DATA: 0x02,
  /** One key share (source → key relay). */
  KEY: 0x03,
  /** Data relay → leader: session id, relay index, u64 offset, bytes (the paper's "data segment" mark). */
  DATA_SEGMENT: 0x04,
  /** Key relay → leader: session id, share index, share (the paper's "key segment" mark). */
  KEY_SEGMENT: 0x05,
  /** Leader → source (back along the relay links): u64 contiguous ciphertext offset received. */
  PROGRESS: 0x06,
  /** Sender's last frame on a link: u64 length (+ SHA-256 towards the destination). */
  END: 0x07,
  /** Result: ok flag, SHA-256, length, exec exit status, message. */
  DONE: 0x08,
  /** u16 code + message (≤ 1 KiB); the sender closes after it. */
  ERROR: 0x09,
  /** Shaping filler: any bytes, discarded. */
  PAD: 0x0a,
  /** Controller → host: bounded JSON (≤ 64 KiB). */
  INSTRUCT: 0x0b,
  /** Host → controller: bounded JSON (≤ 64 KiB). */
  STATUS: 0x0c,
  /** Heartbeat request: u32 sequence number. */
  PING: 0x0d,
  /** Heartbeat answer: the PING's sequence number. */
  PONG: 0x0e,
} as const;

/** One of the numeric frame types. */
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const TYPE_NAMES: readonly (string | undefined)[] = (() => {
  const names: (string | undefined)[] = [];
  for (const [name, value] of Object.entries(FrameType)) names[value] = name;
  return names;
})();

/** True when `type` is a known frame type number. */
export function isFrameType(type: number): type is FrameType {
  return Number.isInteger(type) && TYPE_NAMES[type] !== undefined;
}

/** Name of a frame type for messages (`DATA`), or `type 0x2a` for an unknown number. */
export function frameTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `type 0x${type.toString(16).padStart(2, '0')}`;
}

/** A frame body given as one buffer or as parts written one after the other. */
export type FrameBody = Uint8Array | readonly Uint8Array[];

function bodyLength(body: FrameBody): number {
  if (body instanceof Uint8Array) return body.length;
  let n = 0;
  for (const part of body) n += part.length;
  return n;
}

/**
 * The length field for a body of `bodyLen` bytes, checked against the maximum (call it before
 * allocating anything sized by `bodyLen`).
 * @throws SmigError SMIG_ERR_FRAME_TOO_LARGE; RangeError for an unknown type.
 */
export function checkedLength(
  type: FrameType,
  bodyLen: number,
  maxFrameLength: number = DEFAULT_MAX_FRAME_LENGTH,
): number {
  if (!isFrameType(type)) throw new RangeError(`unknown frame type ${type}`);
  const length = 1 + bodyLen;
  if (length > Math.min(maxFrameLength, U32_MAX)) {
    throw smigError(
      'SMIG_ERR_FRAME_TOO_LARGE',
      `${frameTypeName(type)} frame: length ${length} exceeds the maximum ${Math.min(maxFrameLength, U32_MAX)}`,
    );
  }
  return length;
}

/**
 * Writes the 5-byte header of a frame whose body is `bodyLen` bytes.
 * @param out where to write (a fresh 5-byte buffer by default), at `offset`.
 * @returns the 5 header bytes (a view of `out`).
 * @throws SmigError SMIG_ERR_FRAME_TOO_LARGE when `1 + bodyLen` exceeds `maxFrameLength`.
 * @throws RangeError for an unknown type or an `out` too small.
 */
export function encodeFrameHeader(
  type: FrameType,
  bodyLen: number,
  maxFrameLength: number = DEFAULT_MAX_FRAME_LENGTH,
  out: Uint8Array = new Uint8Array(FRAME_HEADER_LENGTH),
  offset = 0,
): Uint8Array {
  const length = checkedLength(type, bodyLen, maxFrameLength);
  if (offset + FRAME_HEADER_LENGTH > out.length) {
    throw new RangeError(
      `encodeFrameHeader: output has ${out.length - offset} bytes at ${offset}, needs ${FRAME_HEADER_LENGTH}`,
    );
  }
  new DataView(out.buffer, out.byteOffset + offset, FRAME_HEADER_LENGTH).setUint32(0, length);
  out[offset + 4] = type;
  return out.subarray(offset, offset + FRAME_HEADER_LENGTH);
}

/**
 * Encodes a frame without copying its body: returns `[header, ...bodyParts]`, the
 * parts being the caller's own buffers, for the socket layer to write under `cork()`/`uncork()`.
 * Empty parts are left out.
 * @throws SmigError SMIG_ERR_FRAME_TOO_LARGE when the frame exceeds `maxFrameLength`.
 * @example
 * socket.cork(); for (const p of encodeFrame(FrameType.PAD, filler)) socket.write(p); socket.uncork();
 */
export function encodeFrame(
  type: FrameType,
  body: FrameBody,
  maxFrameLength: number = DEFAULT_MAX_FRAME_LENGTH,
): Uint8Array[] {
  const parts = [encodeFrameHeader(type, bodyLength(body), maxFrameLength)];
  if (body instanceof Uint8Array) {
    if (body.length > 0) parts.push(body);
  } else {
    for (const part of body) if (part.length > 0) parts.push(part);
  }
  return parts;
}

/** Concatenates frame parts (e.g. from `encodeFrame`) into one buffer: for tests and small frames. */
export function concatParts(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
