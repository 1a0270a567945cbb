/**
 * smig protocol messages: a typed body for every frame type, its strict codec, and the per-link
 * state machines (docs/DESIGN.md §3 "Frames", "Session flow"; paper §5.2, algorithms 2–5).
 *
 * ## Links and flows
 * `──▶` is the forward stream of a TLS connection (opened by the left party), `◀──` the reply
 * stream on the same connection. One connection carries one session.
 *
 * ```
 * source ──▶ data relay i  SESSION{role:'data-relay', leader, index:i, layout, plan?}  DATA*  END{L}
 *        ◀──               PROGRESS*  DONE or END{n}                (forwarded from the leader)
 * source ──▶ key relay j   SESSION{role:'key-relay', leader, index:j, layout, plan?}   KEY    END{share length}
 *        ◀──               DONE                                     (forwarded from the leader)
 * relay  ──▶ leader        SESSION{role:'leader', via, index, layout, plan?}  DATA_SEGMENT* or KEY_SEGMENT  END
 *        ◀──               PROGRESS* (data links)  DONE (every link), or END{n} (a released data link)
 * leader ──▶ destination   SESSION{role:'destination', name, length|null, plan?}  DATA* (plaintext)  END{length, sha256}
 *        ◀──               DONE
 * controller ──▶ host      INSTRUCT*          host ──▶ controller  STATUS*      (bounded JSON)
 * any link, either way, at any time: PAD (discarded), PING → PONG; ERROR, then the sender closes.
 * ```
 * L is the total ciphertext length of the session (every data link of a session carries the same L).
 *
 * ## Decisions
 * - `SESSION.role` names the role the *receiver* plays on that link.
 * - Relays learn the session layout (data relays, key relays, threshold) from the source and copy it,
 *   with their own index, into their SESSION to the leader. The leader thus needs no instruction:
 *   the first SESSION of a session id creates its state; a link whose layout disagrees gets ERROR.
 * - The pacing plan (docs/DESIGN.md §4 "every hop is paced"; src/pacing/plan.ts) travels the same way: the
 *   source puts it, as JSON text, in every relay SESSION; relays copy it verbatim into their SESSION to
 *   the leader. Absent means `bulk`. The codec only bounds it ({@link MAX_PLAN_BYTES}, UTF-8, no
 *   control characters); the roles validate its content (`parsePlan`) before they use it.
 * - The destination is in no SESSION a relay sees: it travels only inside the encrypted envelope
 *   header (docs/DESIGN.md §3 "Envelope"), which the leader alone can open, and only after it has k shares.
 * - Replies travel back along the relay links: the leader writes PROGRESS (contiguous ciphertext
 *   offset received) on its data-relay links and DONE on every relay link still open; each relay
 *   forwards them verbatim on its link from the source. So the source talks to relays only (the leader
 *   is itself one of the data relays), no SESSION carries the source's address, and the leader never
 *   connects to the source. The source keeps the highest PROGRESS offset over all its links and
 *   finishes on the first DONE (any surviving relay delivers it). A relay stays connected until DONE, but
 *   for a data relay on a shaped plan with cover: once its END is in (the source sends END once the link has nothing
 *   left to carry) the leader answers END{n}, n the ciphertext bytes it received on that link, and closes it; the
 *   relay passes END{n} on and closes the source's (src/roles/release.ts). The source checks n against what it sent
 *   there: its chunks on that link are at the leader, and need no re-send.
 *   The source then asks for the outcome by poll, over a new short connection each time, to a data relay
 *   drawn at random, which passes the poll on to the leader and its one answer back (src/roles/poll.ts):
 *   ```
 *   source ──▶ relay   SESSION{role:'poll', leader}     ◀── PROGRESS (not over yet) or DONE or ERROR
 *   relay  ──▶ leader  SESSION{role:'outcome'}          ◀── the same
 *   ```
 *   The leader keeps each session's outcome for a while (src/roles/outcomes.ts) and holds a poll up to 15 s
 *   for an outcome still to come.
 * - The source never talks to the destination. DONE carries no address: the leader must not put the
 *   destination's address in a DONE or ERROR message, as relays read them.
 * - `END.length` is the length of the stream the link carries a piece of: the ciphertext (data links),
 *   the share (key links), the plaintext with its SHA-256 (towards the destination). On a reply stream, END{n}
 *   releases a data link: n is the ciphertext bytes the leader received on it.
 *
 * Integers on the wire are big-endian; u64 values must not exceed 2^53 − 1 (they become numbers).
 * Strings are UTF-8 with no control characters. Decoded payloads (`bytes`, `share`) are views of the
 * frame body: wipe them in place when done; session ids are copies.
 */
import { isSmigError, type SmigError, type SmigErrorCode, smigError } from '../errors.js';
import { isHostPort } from '../net/address.js';
import { hasControlChar, replaceControlChars } from '../util/text.js';
import {
  checkedLength,
  concatParts,
  DEFAULT_MAX_FRAME_LENGTH,
  encodeFrameHeader,
  FRAME_HEADER_LENGTH,
  FrameType,
  frameTypeName,
} from './frames.js';

// ---------------------------------------------------------------------------------------------
// Constants

/**
 * Version byte at the start of every SESSION body; a peer speaking another version is refused. Version 2: the
 * envelope's payload is the inner end-to-end stream (src/crypto/inner.ts) and DONE carries the receipt. Version 3:
 * on a shaped plan with cover the leader closes a data relay's link once its END is in (src/roles/release.ts), a
 * close that a version 2 relay would pass on as a failure. Version 4: on such a plan the leader releases every data
 * link once its END is in, and the source asks for the outcome by poll (roles 5 and 6, src/roles/poll.ts). Version 5:
 * the source may end a data link before every byte is acknowledged, and the leader answers a released data link's
 * END with END{bytes received on it} (the reply state machine's `released`).
 */
export const PROTOCOL_VERSION = 5;
/** Longest DONE receipt (`u8 kind ‖ Ed25519 signature`). */
export const MAX_RECEIPT_LENGTH = 65;
/** Session ids are 16 random bytes. */
export const SESSION_ID_LENGTH = 16;
/** SHA-256 digest length. */
export const SHA256_LENGTH = 32;
/** Longest short string (address, file name): u8 length prefix. */
export const MAX_STRING_BYTES = 255;
/** Longest ERROR/DONE message, UTF-8 bytes. */
export const MAX_TEXT_BYTES = 1024;
/** Longest INSTRUCT/STATUS JSON text, UTF-8 bytes. */
export const MAX_JSON_BYTES: number = 64 * 1024;
/** Longest key share (a 32-byte key gives 33-byte Shamir shares). */
export const MAX_SHARE_BYTES = 256;
/** Longest pacing plan in a SESSION, UTF-8 bytes of JSON (= PLAN_MAX_JSON_BYTES of src/pacing). */
export const MAX_PLAN_BYTES: number = 32 * 1024;
/** Most relays of one kind in a session (u8 counts). */
export const MAX_RELAYS = 255;
/** Largest DATA_SEGMENT payload in a frame of the default maximum length. */
export const MAX_DATA_SEGMENT_BYTES: number = DEFAULT_MAX_FRAME_LENGTH - 1 - (SESSION_ID_LENGTH + 1 + 8);

// ---------------------------------------------------------------------------------------------
// Types

/** How a session is spread: counts of data and key relays, and the key threshold k. */
export interface SessionLayout {
  /** Data relays, 1..255 (the leader is one of them). */
  dataRelays: number;
  /** Key relays = key shares n, 1..255. */
  keyRelays: number;
  /** Shares needed to rebuild the key, 1..keyRelays. */
  threshold: number;
}

/** Role the receiver of a SESSION plays on that link. */
export type SessionRole = 'data-relay' | 'key-relay' | 'leader' | 'destination' | 'poll' | 'outcome';

interface SessionCommon {
  type: typeof FrameType.SESSION;
  /** 16 bytes. */
  sessionId: Uint8Array;
}
/**
 * source → data relay. Body: `u8 version | 16 id | u8 role=1 | str8 leader | u8 index | u8 dataRelays |
 * u8 keyRelays | u8 threshold [| u16 planLength (1..MAX_PLAN_BYTES) | plan]`: the plan is present when at
 * least two bytes follow the threshold (a single trailing byte is an error, as before the field existed).
 */
export interface DataRelaySession extends SessionCommon {
  role: 'data-relay';
  /** The leader's `host:port`, where the relay forwards. */
  leader: string;
  /** This relay's index, < layout.dataRelays. */
  index: number;
  layout: SessionLayout;
  /** The session's pacing plan, JSON text (absent: bulk). */
  plan?: string;
}
/** source → key relay. Body as {@link DataRelaySession} with role=2; index < layout.keyRelays. */
export interface KeyRelaySession extends SessionCommon {
  role: 'key-relay';
  leader: string;
  index: number;
  layout: SessionLayout;
  /** The session's pacing plan, JSON text (absent: bulk). */
  plan?: string;
}
/**
 * relay → leader. Body: `u8 version | 16 id | u8 role=3 | u8 via (1 data-relay, 2 key-relay) | u8 index |
 * u8 dataRelays | u8 keyRelays | u8 threshold [| u16 planLength | plan]` (plan as in {@link DataRelaySession}).
 */
export interface LeaderSession extends SessionCommon {
  role: 'leader';
  /** Which kind of relay opens the link. */
  via: 'data-relay' | 'key-relay';
  /** The relay's index among its kind. */
  index: number;
  layout: SessionLayout;
  /** The plan of the relay's SESSION from the source, verbatim (absent: bulk). */
  plan?: string;
}
/** leader → destination. Body: `u8 version | 16 id | u8 role=4 | str8 name | u8 flags (bit0: length known) | u64 length (0 when unknown)`. */
export interface DestinationSession extends SessionCommon {
  role: 'destination';
  /** Original file name: a plain name (no `/`, `\`, not `.` or `..`). */
  name: string;
  /** Plaintext length when known in advance. */
  length: number | null;
  /** The session's pacing plan, JSON text (absent: bulk): a shaped link's receiver answers its writes with it. */
  plan?: string;
}
/**
 * source → any relay, once its data links are released: asks for the session's outcome (src/roles/poll.ts).
 * Body: `u8 version | 16 id | u8 role=5 | str8 leader`.
 */
export interface PollSession extends SessionCommon {
  role: 'poll';
  /** The leader's `host:port`, where the relay passes the poll on. */
  leader: string;
}
/** relay → leader: a poll passed on. Body: `u8 version | 16 id | u8 role=6`. */
export interface OutcomeSession extends SessionCommon {
  role: 'outcome';
}
/** The SESSION frame that opens a link. */
export type SessionMessage =
  | DataRelaySession
  | KeyRelaySession
  | LeaderSession
  | DestinationSession
  | PollSession
  | OutcomeSession;

/** DATA body: `u64 offset | bytes` (≥ 1 byte). */
export interface DataMessage {
  type: typeof FrameType.DATA;
  offset: number;
  bytes: Uint8Array;
}
/** KEY body: the share (1..256 bytes). */
export interface KeyMessage {
  type: typeof FrameType.KEY;
  share: Uint8Array;
}
/** DATA_SEGMENT body: `16 sessionId | u8 relay index | u64 offset | bytes` (≥ 1 byte). */
export interface DataSegmentMessage {
  type: typeof FrameType.DATA_SEGMENT;
  sessionId: Uint8Array;
  index: number;
  offset: number;
  bytes: Uint8Array;
}
/** KEY_SEGMENT body: `16 sessionId | u8 share index | share` (1..256 bytes). */
export interface KeySegmentMessage {
  type: typeof FrameType.KEY_SEGMENT;
  sessionId: Uint8Array;
  index: number;
  share: Uint8Array;
}
/** PROGRESS body: `u64 offset` — every ciphertext byte below it has reached the leader. */
export interface ProgressMessage {
  type: typeof FrameType.PROGRESS;
  offset: number;
}
/** END body: `u64 length` or `u64 length | 32 sha256` (towards the destination). */
export interface EndMessage {
  type: typeof FrameType.END;
  length: number;
  sha256: Uint8Array | null;
}
/**
 * DONE body: `u8 flags (bit0 ok, bit1 exit status present, bit2 receipt present) | 32 sha256 | u64 length |
 * i32 exit status (0 when absent) [| u8 receiptLength (1..MAX_RECEIPT_LENGTH) | receipt] | message (rest, ≤ 1 KiB)`.
 */
export interface DoneMessage {
  type: typeof FrameType.DONE;
  ok: boolean;
  /** SHA-256 of what the destination wrote (zeros if nothing). */
  sha256: Uint8Array;
  /** Bytes the destination wrote. */
  length: number;
  /** Exit status of the operator's `--exec` command (128 + n for a signal), null when none ran. */
  exitStatus: number | null;
  /**
   * The destination's receipt over the session, digest, length and result (`u8 kind ‖ tag`, src/crypto/inner.ts):
   * what the source verifies; relays and the leader forward it untouched. Absent: nothing proves the DONE.
   */
  receipt?: Uint8Array;
  message: string;
}
/** ERROR body: `u16 code | message (rest, ≤ 1 KiB)`. See {@link WIRE_ERROR_CODES}. */
export interface ErrorMessage {
  type: typeof FrameType.ERROR;
  /** Wire error code (0: unspecified). */
  code: number;
  message: string;
}
/** PAD: `length` filler bytes (zeros when we send, after `head` if given; anything when received). */
export interface PadMessage {
  type: typeof FrameType.PAD;
  length: number;
  /** The body's first bytes (at most `length`), e.g. a shaped link's ACK hint; the rest are zeros. */
  head?: Uint8Array;
}
/** A JSON object (INSTRUCT/STATUS payloads; the controller validates their schema). */
export type JsonObject = { [key: string]: unknown };
/** INSTRUCT body: UTF-8 JSON object text, ≤ 64 KiB. */
export interface InstructMessage {
  type: typeof FrameType.INSTRUCT;
  payload: JsonObject;
}
/** STATUS body: UTF-8 JSON object text, ≤ 64 KiB. */
export interface StatusMessage {
  type: typeof FrameType.STATUS;
  payload: JsonObject;
}
/** PING body: `u32 seq`. */
export interface PingMessage {
  type: typeof FrameType.PING;
  seq: number;
}
/** PONG body: `u32 seq` (the PING's). */
export interface PongMessage {
  type: typeof FrameType.PONG;
  seq: number;
}

/** Every message, discriminated by its frame `type`. */
export type Message =
  | SessionMessage
  | DataMessage
  | KeyMessage
  | DataSegmentMessage
  | KeySegmentMessage
  | ProgressMessage
  | EndMessage
  | DoneMessage
  | ErrorMessage
  | PadMessage
  | InstructMessage
  | StatusMessage
  | PingMessage
  | PongMessage;

/** The message type of a frame type: `MessageOf<typeof FrameType.DATA>` is {@link DataMessage}. */
export type MessageOf<T extends FrameType> = Extract<Message, { type: T }>;

// ---------------------------------------------------------------------------------------------
// Error codes on the wire (ERROR frames). Stable numbers: only append.

/** Wire numbers of the error codes an ERROR frame may carry; 0 means unspecified. */
export const WIRE_ERROR_CODES: Readonly<Partial<Record<SmigErrorCode, number>>> = {
  SMIG_ERR_INTERNAL: 1,
  SMIG_ERR_FRAME_TOO_LARGE: 2,
  SMIG_ERR_FRAME_TYPE: 3,
  SMIG_ERR_FRAME_MALFORMED: 4,
  SMIG_ERR_PROTOCOL_STATE: 5,
  SMIG_ERR_BUFFER_LIMIT: 6,
  SMIG_ERR_AUTH: 7,
  SMIG_ERR_SHARES: 8,
  SMIG_ERR_TIMEOUT: 9,
  SMIG_ERR_CONNECTION: 10,
  SMIG_ERR_VERIFY: 11,
  SMIG_ERR_MIGRATION: 12,
  SMIG_ERR_PEER: 13,
  SMIG_ERR_FILE: 14,
  SMIG_ERR_CONFIG: 15,
};

const WIRE_TO_CODE: ReadonlyMap<number, SmigErrorCode> = new Map(
  Object.entries(WIRE_ERROR_CODES).map(([code, n]) => [n, code as SmigErrorCode]),
);

/** Name of a wire error code (`SMIG_ERR_AUTH`), `unspecified` for 0, `code N` when unknown. */
export function wireErrorName(code: number): string {
  return WIRE_TO_CODE.get(code) ?? (code === 0 ? 'unspecified' : `code ${code}`);
}

/**
 * Builds the ERROR message to send for any caught error: the SmigError's code (0 if none or not
 * on the wire) and its message made wire-safe ({@link toWireText}).
 */
export function errorMessageFor(err: unknown): ErrorMessage {
  const code = isSmigError(err) ? (WIRE_ERROR_CODES[err.code] ?? 0) : 0;
  const text = err instanceof Error ? err.message : String(err);
  return { type: FrameType.ERROR, code, message: toWireText(text) };
}

/**
 * The local error for an ERROR frame received from a peer: SMIG_ERR_PEER naming the peer's code.
 * @param where who sent it, e.g. `data relay 10.0.0.2:7000`.
 */
export function peerError(msg: ErrorMessage, where: string): SmigError {
  return smigError('SMIG_ERR_PEER', `${where} reported ${wireErrorName(msg.code)}: ${msg.message}`);
}

// ---------------------------------------------------------------------------------------------
// Validation shared by the encoder and the decoder (same checks, same messages)

function malformed(where: string, detail: string): SmigError {
  return smigError('SMIG_ERR_FRAME_MALFORMED', `${where}: ${detail}`);
}

// with the u flag a surrogate pair is one code point, so this only matches lone surrogates
const LONE_SURROGATE = /\p{Cs}/u;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function checkText(text: string, where: string): void {
  // wire strings end up in one-line logs
  if (hasControlChar(text)) throw malformed(where, 'contains a control character');
}

function encodeText(text: string, max: number, where: string): Uint8Array {
  if (typeof text !== 'string') throw malformed(where, 'not a string');
  if (LONE_SURROGATE.test(text)) throw malformed(where, 'not valid Unicode (lone surrogate)');
  checkText(text, where);
  const bytes = utf8Encoder.encode(text);
  if (bytes.length > max) throw malformed(where, `${bytes.length} bytes, at most ${max} allowed`);
  return bytes;
}

function decodeText(bytes: Uint8Array, max: number, where: string): string {
  if (bytes.length > max) throw malformed(where, `${bytes.length} bytes, at most ${max} allowed`);
  let text: string;
  try {
    text = utf8Decoder.decode(bytes);
  } catch {
    throw malformed(where, 'not valid UTF-8');
  }
  checkText(text, where);
  return text;
}

/**
 * Makes any text fit an ERROR/DONE message: control characters become spaces, lone surrogates
 * U+FFFD, and it is cut to `maxBytes` of UTF-8 on a character boundary.
 */
export function toWireText(text: string, maxBytes: number = MAX_TEXT_BYTES): string {
  const clean = replaceControlChars(text).replace(/\p{Cs}/gu, '\ufffd');
  const bytes = utf8Encoder.encode(clean);
  if (bytes.length <= maxBytes) return clean;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back off to the start of a character
  return utf8Decoder.decode(bytes.subarray(0, end));
}

function checkInt(value: number, min: number, max: number, where: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw malformed(where, `${value} is out of range ${min}..${max}`);
  }
}

function checkBytes(b: Uint8Array, min: number, max: number, where: string): void {
  if (!(b instanceof Uint8Array)) throw malformed(where, 'not a Uint8Array');
  if (b.length >= min && b.length <= max) return;
  if (min === max) throw malformed(where, `${b.length} bytes, expected ${min}`);
  if (b.length > max) throw malformed(where, `${b.length} bytes, at most ${max} allowed`);
  throw malformed(where, b.length === 0 ? 'empty' : `${b.length} bytes, at least ${min} needed`);
}

function checkLayout(l: SessionLayout, where: string): void {
  checkInt(l.dataRelays, 1, MAX_RELAYS, `${where}.dataRelays`);
  checkInt(l.keyRelays, 1, MAX_RELAYS, `${where}.keyRelays`);
  checkInt(l.threshold, 1, l.keyRelays, `${where}.threshold`);
}

function checkHostPort(addr: string, where: string): void {
  if (!isHostPort(addr)) throw malformed(where, `'${addr}' is not host:port`);
}

function checkFileName(name: string, where: string): void {
  if (name === '' || name === '.' || name === '..' || /[/\\]/.test(name)) {
    throw malformed(where, `'${name}' is not a plain file name`);
  }
}

function checkEnd(offset: number, length: number, where: string): void {
  if (offset + length > Number.MAX_SAFE_INTEGER) throw malformed(where, 'offset + length exceeds 2^53-1');
}

// ---------------------------------------------------------------------------------------------
// Reader: a cursor over a body; every read names its field

class Reader {
  #at = 0;
  readonly #body: Uint8Array;
  readonly #view: DataView;
  readonly #what: string;

  constructor(body: Uint8Array, what: string) {
    this.#body = body;
    this.#view = new DataView(body.buffer, body.byteOffset, body.length);
    this.#what = what;
  }

  #need(n: number, field: string): number {
    const at = this.#at;
    if (at + n > this.#body.length) {
      throw malformed(
        `${this.#what}.${field}`,
        `truncated: needs ${n} bytes at offset ${at}, body has ${this.#body.length}`,
      );
    }
    this.#at += n;
    return at;
  }
  u8(field: string): number {
    return this.#body[this.#need(1, field)]!;
  }
  u16(field: string): number {
    return this.#view.getUint16(this.#need(2, field));
  }
  u32(field: string): number {
    return this.#view.getUint32(this.#need(4, field));
  }
  i32(field: string): number {
    return this.#view.getInt32(this.#need(4, field));
  }
  u64(field: string): number {
    const at = this.#need(8, field);
    const hi = this.#view.getUint32(at);
    if (hi > 0x1f_ffff) throw malformed(`${this.#what}.${field}`, 'exceeds 2^53-1');
    return hi * 0x1_0000_0000 + this.#view.getUint32(at + 4);
  }
  /** A view of the next `n` bytes. */
  /** A copy that owns its memory (Buffer#slice would return a view of a Buffer-backed body). */
  copy(n: number, field: string): Uint8Array {
    return new Uint8Array(this.view(n, field));
  }

  view(n: number, field: string): Uint8Array {
    const at = this.#need(n, field);
    return this.#body.subarray(at, at + n);
  }
  str8(field: string, max: number = MAX_STRING_BYTES): string {
    const n = this.u8(`${field}.length`);
    return decodeText(this.view(n, field), max, `${this.#what}.${field}`);
  }
  rest(): Uint8Array {
    const at = this.#at;
    this.#at = this.#body.length;
    return this.#body.subarray(at);
  }
  /** Bytes not read yet. */
  get left(): number {
    return this.#body.length - this.#at;
  }
  /** No trailing bytes. */
  done(): void {
    const extra = this.#body.length - this.#at;
    if (extra !== 0)
      throw malformed(this.#what, `${extra} trailing byte${extra === 1 ? '' : 's'} after offset ${this.#at}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Writer: header + fixed fields in one exact-size buffer; payloads stay separate

class Writer {
  readonly buf: Uint8Array;
  readonly #view: DataView;
  #at = FRAME_HEADER_LENGTH;

  /** `fixed` bytes of fields follow the header; `payload` bytes are written by the caller separately. */
  constructor(type: FrameType, fixed: number, payload: number, maxFrameLength: number) {
    checkedLength(type, fixed + payload, maxFrameLength); // before allocating
    this.buf = new Uint8Array(FRAME_HEADER_LENGTH + fixed);
    this.#view = new DataView(this.buf.buffer);
    encodeFrameHeader(type, fixed + payload, maxFrameLength, this.buf, 0);
  }
  u8(v: number): this {
    this.buf[this.#at++] = v;
    return this;
  }
  u16(v: number): this {
    this.#view.setUint16(this.#at, v);
    this.#at += 2;
    return this;
  }
  u32(v: number): this {
    this.#view.setUint32(this.#at, v);
    this.#at += 4;
    return this;
  }
  i32(v: number): this {
    this.#view.setInt32(this.#at, v);
    this.#at += 4;
    return this;
  }
  u64(v: number): this {
    this.#view.setUint32(this.#at, Math.floor(v / 0x1_0000_0000));
    this.#view.setUint32(this.#at + 4, v >>> 0);
    this.#at += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.buf.set(b, this.#at);
    this.#at += b.length;
    return this;
  }
  str8(b: Uint8Array): this {
    return this.u8(b.length).bytes(b);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

const ROLE_CODE = { 'data-relay': 1, 'key-relay': 2, leader: 3, destination: 4, poll: 5, outcome: 6 } as const;
const ROLE_OF: readonly (SessionRole | undefined)[] = [
  undefined,
  'data-relay',
  'key-relay',
  'leader',
  'destination',
  'poll',
  'outcome',
];
const VIA_CODE = { 'data-relay': 1, 'key-relay': 2 } as const;
const VIA_OF: readonly (LeaderSession['via'] | undefined)[] = [undefined, 'data-relay', 'key-relay'];

const DONE_OK = 0x01;
const DONE_EXIT = 0x02;
const DONE_RECEIPT = 0x04;
const DEST_LENGTH_KNOWN = 0x01;

/** Shared zeros for PAD bodies (never written to). */
const ZEROS = new Uint8Array(64 * 1024);

/** The optional plan field: `u16 length | UTF-8 JSON text`, or nothing. */
function encodePlan(plan: string | undefined): Uint8Array {
  if (plan === undefined) return new Uint8Array(0);
  const text = encodeText(plan, MAX_PLAN_BYTES, 'SESSION.plan');
  if (text.length === 0) throw malformed('SESSION.plan', 'empty (leave it out for bulk)');
  const out = new Uint8Array(2 + text.length);
  new DataView(out.buffer).setUint16(0, text.length);
  out.set(text, 2);
  return out;
}

function encodeSessionParts(msg: SessionMessage, max: number): Uint8Array[] {
  checkBytes(msg.sessionId, SESSION_ID_LENGTH, SESSION_ID_LENGTH, 'SESSION.sessionId');
  const head = 1 + SESSION_ID_LENGTH + 1;
  switch (msg.role) {
    case 'data-relay':
    case 'key-relay': {
      const leader = encodeText(msg.leader, MAX_STRING_BYTES, 'SESSION.leader');
      checkHostPort(msg.leader, 'SESSION.leader');
      checkLayout(msg.layout, 'SESSION.layout');
      const count = msg.role === 'data-relay' ? msg.layout.dataRelays : msg.layout.keyRelays;
      checkInt(msg.index, 0, count - 1, 'SESSION.index');
      const plan = encodePlan(msg.plan);
      const w = new Writer(FrameType.SESSION, head + 1 + leader.length + 4 + plan.length, 0, max);
      w.u8(PROTOCOL_VERSION).bytes(msg.sessionId).u8(ROLE_CODE[msg.role]).str8(leader);
      w.u8(msg.index).u8(msg.layout.dataRelays).u8(msg.layout.keyRelays).u8(msg.layout.threshold).bytes(plan);
      return [w.buf];
    }
    case 'leader': {
      const via = VIA_CODE[msg.via];
      if (via === undefined) throw malformed('SESSION.via', `'${String(msg.via)}' is not data-relay or key-relay`);
      checkLayout(msg.layout, 'SESSION.layout');
      checkInt(
        msg.index,
        0,
        (msg.via === 'data-relay' ? msg.layout.dataRelays : msg.layout.keyRelays) - 1,
        'SESSION.index',
      );
      const plan = encodePlan(msg.plan);
      const w = new Writer(FrameType.SESSION, head + 5 + plan.length, 0, max);
      w.u8(PROTOCOL_VERSION).bytes(msg.sessionId).u8(ROLE_CODE.leader).u8(via);
      w.u8(msg.index).u8(msg.layout.dataRelays).u8(msg.layout.keyRelays).u8(msg.layout.threshold).bytes(plan);
      return [w.buf];
    }
    case 'destination': {
      const name = encodeText(msg.name, MAX_STRING_BYTES, 'SESSION.name');
      checkFileName(msg.name, 'SESSION.name');
      if (msg.length !== null) checkInt(msg.length, 0, Number.MAX_SAFE_INTEGER, 'SESSION.length');
      const plan = encodePlan(msg.plan);
      const w = new Writer(FrameType.SESSION, head + 1 + name.length + 1 + 8 + plan.length, 0, max);
      w.u8(PROTOCOL_VERSION).bytes(msg.sessionId).u8(ROLE_CODE.destination).str8(name);
      w.u8(msg.length === null ? 0 : DEST_LENGTH_KNOWN)
        .u64(msg.length ?? 0)
        .bytes(plan);
      return [w.buf];
    }
    case 'poll': {
      const leader = encodeText(msg.leader, MAX_STRING_BYTES, 'SESSION.leader');
      checkHostPort(msg.leader, 'SESSION.leader');
      const w = new Writer(FrameType.SESSION, head + 1 + leader.length, 0, max);
      w.u8(PROTOCOL_VERSION).bytes(msg.sessionId).u8(ROLE_CODE.poll).str8(leader);
      return [w.buf];
    }
    case 'outcome': {
      const w = new Writer(FrameType.SESSION, head, 0, max);
      w.u8(PROTOCOL_VERSION).bytes(msg.sessionId).u8(ROLE_CODE.outcome);
      return [w.buf];
    }
    default:
      throw malformed('SESSION.role', `'${String((msg as { role: unknown }).role)}' is not a role`);
  }
}

function encodeJson(
  type: typeof FrameType.INSTRUCT | typeof FrameType.STATUS,
  payload: JsonObject,
  max: number,
): Uint8Array[] {
  const where = `${frameTypeName(type)}.payload`;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw malformed(where, 'not a JSON object');
  let text: string;
  try {
    text = JSON.stringify(payload);
  } catch (err) {
    throw malformed(where, `not serializable (${err instanceof Error ? err.message : String(err)})`);
  }
  const bytes = utf8Encoder.encode(text);
  if (bytes.length > MAX_JSON_BYTES) throw malformed(where, `${bytes.length} bytes, at most ${MAX_JSON_BYTES} allowed`);
  const w = new Writer(type, bytes.length, 0, max);
  return [w.bytes(bytes).buf];
}

/**
 * Encodes a message as a frame, ready for the socket: `[header + fixed fields, payload]`
 * for DATA, DATA_SEGMENT and PAD (the payload is the caller's buffer, not copied; PAD shares a
 * read-only zero buffer), a single buffer for every other type. Write the parts in order, under
 * `cork()`. Fields are validated exactly as the decoder validates them.
 * @throws SmigError SMIG_ERR_FRAME_MALFORMED naming the field; SMIG_ERR_FRAME_TOO_LARGE.
 * @example
 * for (const part of encodeMessage({ type: FrameType.DATA, offset: 0, bytes })) socket.write(part);
 */
export function encodeMessage(msg: Message, maxFrameLength: number = DEFAULT_MAX_FRAME_LENGTH): Uint8Array[] {
  const max = maxFrameLength;
  switch (msg.type) {
    case FrameType.SESSION:
      return encodeSessionParts(msg, max);
    case FrameType.DATA: {
      checkInt(msg.offset, 0, Number.MAX_SAFE_INTEGER, 'DATA.offset');
      checkBytes(msg.bytes, 1, Infinity, 'DATA.bytes');
      checkEnd(msg.offset, msg.bytes.length, 'DATA');
      return [new Writer(msg.type, 8, msg.bytes.length, max).u64(msg.offset).buf, msg.bytes];
    }
    case FrameType.KEY:
      checkBytes(msg.share, 1, MAX_SHARE_BYTES, 'KEY.share');
      return [new Writer(msg.type, msg.share.length, 0, max).bytes(msg.share).buf];
    case FrameType.DATA_SEGMENT: {
      checkBytes(msg.sessionId, SESSION_ID_LENGTH, SESSION_ID_LENGTH, 'DATA_SEGMENT.sessionId');
      checkInt(msg.index, 0, MAX_RELAYS - 1, 'DATA_SEGMENT.index');
      checkInt(msg.offset, 0, Number.MAX_SAFE_INTEGER, 'DATA_SEGMENT.offset');
      checkBytes(msg.bytes, 1, Infinity, 'DATA_SEGMENT.bytes');
      checkEnd(msg.offset, msg.bytes.length, 'DATA_SEGMENT');
      const w = new Writer(msg.type, SESSION_ID_LENGTH + 1 + 8, msg.bytes.length, max);
      return [w.bytes(msg.sessionId).u8(msg.index).u64(msg.offset).buf, msg.bytes];
    }
    case FrameType.KEY_SEGMENT: {
      checkBytes(msg.sessionId, SESSION_ID_LENGTH, SESSION_ID_LENGTH, 'KEY_SEGMENT.sessionId');
      checkInt(msg.index, 0, MAX_RELAYS - 1, 'KEY_SEGMENT.index');
      checkBytes(msg.share, 1, MAX_SHARE_BYTES, 'KEY_SEGMENT.share');
      const w = new Writer(msg.type, SESSION_ID_LENGTH + 1 + msg.share.length, 0, max);
      return [w.bytes(msg.sessionId).u8(msg.index).bytes(msg.share).buf];
    }
    case FrameType.PROGRESS:
      checkInt(msg.offset, 0, Number.MAX_SAFE_INTEGER, 'PROGRESS.offset');
      return [new Writer(msg.type, 8, 0, max).u64(msg.offset).buf];
    case FrameType.END: {
      checkInt(msg.length, 0, Number.MAX_SAFE_INTEGER, 'END.length');
      if (msg.sha256 !== null) checkBytes(msg.sha256, SHA256_LENGTH, SHA256_LENGTH, 'END.sha256');
      const w = new Writer(msg.type, msg.sha256 === null ? 8 : 8 + SHA256_LENGTH, 0, max).u64(msg.length);
      return [msg.sha256 === null ? w.buf : w.bytes(msg.sha256).buf];
    }
    case FrameType.DONE: {
      checkBytes(msg.sha256, SHA256_LENGTH, SHA256_LENGTH, 'DONE.sha256');
      checkInt(msg.length, 0, Number.MAX_SAFE_INTEGER, 'DONE.length');
      if (msg.exitStatus !== null) checkInt(msg.exitStatus, -0x8000_0000, 0x7fff_ffff, 'DONE.exitStatus');
      const text = encodeText(msg.message, MAX_TEXT_BYTES, 'DONE.message');
      const receipt = msg.receipt;
      if (receipt !== undefined) checkBytes(receipt, 1, MAX_RECEIPT_LENGTH, 'DONE.receipt');
      const flags =
        (msg.ok ? DONE_OK : 0) | (msg.exitStatus === null ? 0 : DONE_EXIT) | (receipt === undefined ? 0 : DONE_RECEIPT);
      const w = new Writer(
        msg.type,
        1 + SHA256_LENGTH + 8 + 4 + (receipt === undefined ? 0 : 1 + receipt.length) + text.length,
        0,
        max,
      );
      w.u8(flags)
        .bytes(msg.sha256)
        .u64(msg.length)
        .i32(msg.exitStatus ?? 0);
      if (receipt !== undefined) w.u8(receipt.length).bytes(receipt);
      return [w.bytes(text).buf];
    }
    case FrameType.ERROR: {
      checkInt(msg.code, 0, 0xffff, 'ERROR.code');
      const text = encodeText(msg.message, MAX_TEXT_BYTES, 'ERROR.message');
      return [new Writer(msg.type, 2 + text.length, 0, max).u16(msg.code).bytes(text).buf];
    }
    case FrameType.PAD: {
      checkInt(msg.length, 0, Number.MAX_SAFE_INTEGER, 'PAD.length');
      const head = msg.head ?? ZEROS.subarray(0, 0);
      if (head.length > msg.length)
        throw smigError('SMIG_ERR_USAGE', `PAD.head: ${head.length} bytes, more than PAD.length ${msg.length}`);
      const parts = [new Writer(msg.type, 0, msg.length, max).buf];
      if (head.length > 0) parts.push(head);
      for (let left = msg.length - head.length; left > 0; left -= ZEROS.length)
        parts.push(ZEROS.subarray(0, Math.min(left, ZEROS.length)));
      return parts;
    }
    case FrameType.INSTRUCT:
    case FrameType.STATUS:
      return encodeJson(msg.type, msg.payload, max);
    case FrameType.PING:
    case FrameType.PONG:
      checkInt(msg.seq, 0, 0xffff_ffff, `${frameTypeName(msg.type)}.seq`);
      return [new Writer(msg.type, 4, 0, max).u32(msg.seq).buf];
    default:
      throw new RangeError(`encodeMessage: unknown message type ${String((msg as { type: unknown }).type)}`);
  }
}

/**
 * Encodes a message into one contiguous frame buffer (copies the payload): for small control frames
 * and tests. Same checks as {@link encodeMessage}.
 */
export function encodeMessageBytes(msg: Message, maxFrameLength: number = DEFAULT_MAX_FRAME_LENGTH): Uint8Array {
  const parts = encodeMessage(msg, maxFrameLength);
  return parts.length === 1 ? parts[0]! : concatParts(parts);
}

// ---------------------------------------------------------------------------------------------
// Decoding

function decodeSession(body: Uint8Array): SessionMessage {
  const r = new Reader(body, 'SESSION');
  const version = r.u8('version');
  if (version !== PROTOCOL_VERSION)
    throw malformed('SESSION.version', `${version} is not supported (this is ${PROTOCOL_VERSION})`);
  const sessionId = r.copy(SESSION_ID_LENGTH, 'sessionId');
  const roleCode = r.u8('role');
  const role = ROLE_OF[roleCode];
  const layoutAfter = (): SessionLayout => {
    const layout = { dataRelays: 0, keyRelays: 0, threshold: 0 };
    layout.dataRelays = r.u8('layout.dataRelays');
    layout.keyRelays = r.u8('layout.keyRelays');
    layout.threshold = r.u8('layout.threshold');
    checkLayout(layout, 'SESSION.layout');
    return layout;
  };
  // the optional trailing plan: present when at least its u16 length follows (bounded before it is read)
  const planAfter = (): { plan?: string } => {
    if (r.left < 2) return {};
    const n = r.u16('plan.length');
    if (n === 0 || n > MAX_PLAN_BYTES)
      throw malformed('SESSION.plan.length', `${n} is out of range 1..${MAX_PLAN_BYTES}`);
    return { plan: decodeText(r.view(n, 'plan'), MAX_PLAN_BYTES, 'SESSION.plan') };
  };
  let msg: SessionMessage;
  switch (role) {
    case 'data-relay':
    case 'key-relay': {
      const leader = r.str8('leader');
      checkHostPort(leader, 'SESSION.leader');
      const index = r.u8('index');
      const layout = layoutAfter();
      checkInt(index, 0, (role === 'data-relay' ? layout.dataRelays : layout.keyRelays) - 1, 'SESSION.index');
      msg = { type: FrameType.SESSION, sessionId, role, leader, index, layout, ...planAfter() };
      break;
    }
    case 'leader': {
      const viaCode = r.u8('via');
      const via = VIA_OF[viaCode];
      if (via === undefined) throw malformed('SESSION.via', `${viaCode} is not 1 (data-relay) or 2 (key-relay)`);
      const index = r.u8('index');
      const layout = layoutAfter();
      checkInt(index, 0, (via === 'data-relay' ? layout.dataRelays : layout.keyRelays) - 1, 'SESSION.index');
      msg = { type: FrameType.SESSION, sessionId, role, via, index, layout, ...planAfter() };
      break;
    }
    case 'destination': {
      const name = r.str8('name');
      checkFileName(name, 'SESSION.name');
      const flags = r.u8('flags');
      if ((flags & ~DEST_LENGTH_KNOWN) !== 0) throw malformed('SESSION.flags', `unknown bits 0x${flags.toString(16)}`);
      const length = r.u64('length');
      if (!(flags & DEST_LENGTH_KNOWN) && length !== 0) throw malformed('SESSION.length', 'must be 0 when not known');
      msg = {
        type: FrameType.SESSION,
        sessionId,
        role,
        name,
        length: flags & DEST_LENGTH_KNOWN ? length : null,
        ...planAfter(),
      };
      break;
    }
    case 'poll': {
      const leader = r.str8('leader');
      checkHostPort(leader, 'SESSION.leader');
      msg = { type: FrameType.SESSION, sessionId, role, leader };
      break;
    }
    case 'outcome':
      msg = { type: FrameType.SESSION, sessionId, role };
      break;
    default:
      throw malformed('SESSION.role', `${roleCode} is not a role (1..6)`);
  }
  r.done();
  return msg;
}

function decodeJson(type: typeof FrameType.INSTRUCT | typeof FrameType.STATUS, body: Uint8Array): JsonObject {
  const where = `${frameTypeName(type)}.payload`;
  if (body.length > MAX_JSON_BYTES) throw malformed(where, `${body.length} bytes, at most ${MAX_JSON_BYTES} allowed`);
  let text: string;
  try {
    text = utf8Decoder.decode(body);
  } catch {
    throw malformed(where, 'not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed(where, 'not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(where, 'not a JSON object');
  return value as JsonObject;
}

/**
 * Decodes and validates a frame body (strictly: every field in range, no trailing bytes).
 * Payloads (`bytes`, `share`) are views of `body`; session ids and digests are copies.
 * @throws SmigError SMIG_ERR_FRAME_MALFORMED naming the field (`SESSION.leader: ...`);
 *   SMIG_ERR_FRAME_TYPE for an unknown type.
 * @example
 * new FrameDecoder({ onFrame: (type, body) => handle(decodeMessage(type, body)) });
 */
export function decodeMessage(type: number, body: Uint8Array): Message {
  switch (type) {
    case FrameType.SESSION:
      return decodeSession(body);
    case FrameType.DATA: {
      const r = new Reader(body, 'DATA');
      const offset = r.u64('offset');
      const bytes = r.rest();
      checkBytes(bytes, 1, Infinity, 'DATA.bytes');
      checkEnd(offset, bytes.length, 'DATA');
      return { type, offset, bytes };
    }
    case FrameType.KEY:
      checkBytes(body, 1, MAX_SHARE_BYTES, 'KEY.share');
      return { type, share: body };
    case FrameType.DATA_SEGMENT: {
      const r = new Reader(body, 'DATA_SEGMENT');
      const sessionId = r.copy(SESSION_ID_LENGTH, 'sessionId');
      const index = r.u8('index');
      checkInt(index, 0, MAX_RELAYS - 1, 'DATA_SEGMENT.index');
      const offset = r.u64('offset');
      const bytes = r.rest();
      checkBytes(bytes, 1, Infinity, 'DATA_SEGMENT.bytes');
      checkEnd(offset, bytes.length, 'DATA_SEGMENT');
      return { type, sessionId, index, offset, bytes };
    }
    case FrameType.KEY_SEGMENT: {
      const r = new Reader(body, 'KEY_SEGMENT');
      const sessionId = r.copy(SESSION_ID_LENGTH, 'sessionId');
      const index = r.u8('index');
      checkInt(index, 0, MAX_RELAYS - 1, 'KEY_SEGMENT.index');
      const share = r.rest();
      checkBytes(share, 1, MAX_SHARE_BYTES, 'KEY_SEGMENT.share');
      return { type, sessionId, index, share };
    }
    case FrameType.PROGRESS: {
      const r = new Reader(body, 'PROGRESS');
      const offset = r.u64('offset');
      r.done();
      return { type, offset };
    }
    case FrameType.END: {
      if (body.length !== 8 && body.length !== 8 + SHA256_LENGTH) {
        throw malformed('END', `body of ${body.length} bytes, expected 8 or ${8 + SHA256_LENGTH}`);
      }
      const r = new Reader(body, 'END');
      const length = r.u64('length');
      return { type, length, sha256: body.length === 8 ? null : r.copy(SHA256_LENGTH, 'sha256') };
    }
    case FrameType.DONE: {
      const r = new Reader(body, 'DONE');
      const flags = r.u8('flags');
      if ((flags & ~(DONE_OK | DONE_EXIT | DONE_RECEIPT)) !== 0)
        throw malformed('DONE.flags', `unknown bits 0x${flags.toString(16)}`);
      const sha256 = r.copy(SHA256_LENGTH, 'sha256');
      const length = r.u64('length');
      const status = r.i32('exitStatus');
      if (!(flags & DONE_EXIT) && status !== 0) throw malformed('DONE.exitStatus', 'must be 0 when absent');
      let receipt: { receipt?: Uint8Array } = {};
      if (flags & DONE_RECEIPT) {
        const n = r.u8('receipt.length');
        if (n === 0 || n > MAX_RECEIPT_LENGTH)
          throw malformed('DONE.receipt.length', `${n} is out of range 1..${MAX_RECEIPT_LENGTH}`);
        receipt = { receipt: r.copy(n, 'receipt') };
      }
      const message = decodeText(r.rest(), MAX_TEXT_BYTES, 'DONE.message');
      return {
        type,
        ok: (flags & DONE_OK) !== 0,
        sha256,
        length,
        exitStatus: flags & DONE_EXIT ? status : null,
        ...receipt,
        message,
      };
    }
    case FrameType.ERROR: {
      const r = new Reader(body, 'ERROR');
      const code = r.u16('code');
      return { type, code, message: decodeText(r.rest(), MAX_TEXT_BYTES, 'ERROR.message') };
    }
    case FrameType.PAD:
      return { type, length: body.length };
    case FrameType.INSTRUCT:
    case FrameType.STATUS:
      return { type, payload: decodeJson(type, body) };
    case FrameType.PING:
    case FrameType.PONG: {
      const r = new Reader(body, frameTypeName(type));
      const seq = r.u32('seq');
      r.done();
      return { type, seq };
    }
    default:
      throw smigError('SMIG_ERR_FRAME_TYPE', `unknown frame type 0x${type.toString(16).padStart(2, '0')}`);
  }
}

/** Constant-shape comparison of two session ids (not secret; just exact). */
export function sameSessionId(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Session id as 32 lowercase hex digits, for logs. */
export function sessionIdHex(id: Uint8Array): string {
  return Array.from(id, (b) => b.toString(16).padStart(2, '0')).join('');
}

// ---------------------------------------------------------------------------------------------
// Per-link state machines (docs/DESIGN.md §3 "Frames": out-of-order state → ERROR and close)

/**
 * What the receiving end of a link is: the four forward roles of {@link SessionRole}, `reply` for
 * the reply stream (PROGRESS* then DONE, or END{n} for a released data link; the source reading from a relay, a
 * relay from the leader, the leader from the destination), `key-reply` for the reply stream of a key relay's link (the same frames, but the
 * peer may also close it before DONE: the leader releases a key relay's link once the key is rebuilt),
 * `poll-reply` for the one answer to a poll (PROGRESS: not over yet, or DONE), and `control` (INSTRUCT/STATUS in
 * any order).
 */
export type LinkRole = SessionRole | 'reply' | 'key-reply' | 'poll-reply' | 'control';

type Transitions = Partial<Record<FrameType, string>>;
interface RoleTable {
  readonly start: string;
  readonly final: readonly string[];
  readonly states: Readonly<Record<string, Transitions>>;
}

const S = FrameType;
// Each table lists, per state, the frames that may come next and the state they lead to.
// PAD, PING and PONG are accepted in every state, ERROR leads from every state to 'failed'.
const ROLE_TABLES: Readonly<Record<LinkRole, RoleTable>> = {
  // paper §5.2 algorithm 3 (a relay receives chunks from the anomalous VM)
  'data-relay': {
    start: 'start',
    final: ['ended'],
    states: { start: { [S.SESSION]: 'open' }, open: { [S.DATA]: 'open', [S.END]: 'ended' }, ended: {} },
  },
  'key-relay': {
    start: 'start',
    final: ['ended'],
    states: { start: { [S.SESSION]: 'open' }, open: { [S.KEY]: 'keyed' }, keyed: { [S.END]: 'ended' }, ended: {} },
  },
  // algorithm 4: the leader receives marked data and key segments. A key link that ends with no share
  // is accepted here (k-of-n tolerates it); the role checks that segments match SESSION.via.
  leader: {
    start: 'start',
    final: ['ended'],
    states: {
      start: { [S.SESSION]: 'open' },
      open: { [S.DATA_SEGMENT]: 'data', [S.KEY_SEGMENT]: 'keyed', [S.END]: 'ended' },
      data: { [S.DATA_SEGMENT]: 'data', [S.END]: 'ended' },
      keyed: { [S.END]: 'ended' },
      ended: {},
    },
  },
  // algorithm 5
  destination: {
    start: 'start',
    final: ['ended'],
    states: { start: { [S.SESSION]: 'open' }, open: { [S.DATA]: 'open', [S.END]: 'ended' }, ended: {} },
  },
  reply: {
    start: 'start',
    final: ['done', 'released'],
    states: { start: { [S.PROGRESS]: 'start', [S.DONE]: 'done', [S.END]: 'released' }, done: {}, released: {} },
  },
  'key-reply': {
    start: 'start',
    final: ['start', 'done'],
    states: { start: { [S.PROGRESS]: 'start', [S.DONE]: 'done' }, done: {} },
  },
  // a poll's receiver (the relay, then the leader): the SESSION is all the asker sends
  poll: { start: 'start', final: ['open'], states: { start: { [S.SESSION]: 'open' }, open: {} } },
  outcome: { start: 'start', final: ['open'], states: { start: { [S.SESSION]: 'open' }, open: {} } },
  'poll-reply': {
    start: 'start',
    final: ['answered'],
    states: { start: { [S.PROGRESS]: 'answered', [S.DONE]: 'answered' }, answered: {} },
  },
  control: {
    start: 'start',
    final: ['start'],
    states: { start: { [S.INSTRUCT]: 'start', [S.STATUS]: 'start' } },
  },
};

const ALWAYS: ReadonlySet<number> = new Set([FrameType.PAD, FrameType.PING, FrameType.PONG]);

/**
 * Table-driven checker of the frame order on one link, seen from its receiving end. Call
 * `accept(type)` on every frame before acting on it, and `checkClose()` when the peer closes.
 * @example
 * const state = new ProtocolState('data-relay');
 * new FrameDecoder({ onFrame(type, body) { state.accept(type); handle(decodeMessage(type, body)); } });
 */
export class ProtocolState {
  readonly role: LinkRole;
  readonly #table: RoleTable;
  #state: string;
  #last: FrameType | null = null;

  constructor(role: LinkRole) {
    if (!Object.hasOwn(ROLE_TABLES, role)) throw new RangeError(`ProtocolState: unknown role '${String(role)}'`);
    this.role = role;
    this.#table = ROLE_TABLES[role];
    this.#state = this.#table.start;
  }

  /** Current state name (`start`, `open`, `ended`, `failed`, ...). */
  get state(): string {
    return this.#state;
  }
  /** The link reached its normal end (END, or DONE on a reply link). */
  get complete(): boolean {
    return this.#table.final.includes(this.#state);
  }
  /** The peer sent ERROR. */
  get failed(): boolean {
    return this.#state === 'failed';
  }

  /**
   * Checks that a frame of `type` may come now, and advances.
   * @throws SmigError SMIG_ERR_PROTOCOL_STATE, e.g. `data-relay link: DATA before SESSION (expected SESSION)`.
   */
  accept(type: number): void {
    if (this.#state !== 'failed') {
      if (ALWAYS.has(type)) return;
      if (type === FrameType.ERROR) {
        this.#state = 'failed';
        this.#last = FrameType.ERROR;
        return;
      }
      const next = this.#table.states[this.#state]![type as FrameType];
      if (next !== undefined) {
        this.#state = next;
        this.#last = type as FrameType;
        return;
      }
    }
    throw smigError(
      'SMIG_ERR_PROTOCOL_STATE',
      `${this.role} link: ${frameTypeName(type)} ${this.#where()} (expected ${this.#expected()})`,
    );
  }

  /**
   * Checks that the peer may close the link now: after its final frame, or after ERROR.
   * @throws SmigError SMIG_ERR_PROTOCOL_STATE, e.g. `data-relay link: closed before END`.
   */
  checkClose(): void {
    if (this.complete || this.failed) return;
    const missing = this.#expected();
    throw smigError('SMIG_ERR_PROTOCOL_STATE', `${this.role} link: closed ${this.#where()} (expected ${missing})`);
  }

  #where(): string {
    if (this.#last !== null) return `after ${frameTypeName(this.#last)}`;
    return FrameType.SESSION in this.#table.states[this.#table.start]! ? 'before SESSION' : 'at the start';
  }

  #expected(): string {
    if (this.#state === 'failed') return 'nothing after ERROR';
    const names = Object.keys(this.#table.states[this.#state]!).map((t) => frameTypeName(Number(t)));
    return names.length === 0 ? 'nothing more' : names.join(' or ');
  }
}
