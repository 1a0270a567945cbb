/**
 * The ACK hint of a shaped link (shape.ts plans the ACKs, roles/echo.ts makes them): the times after a write at which
 * the plan has pure ACKs in the profiled direction, carried at the start of the write's PAD so that the link's
 * receiver sends something then and the sender's kernel ACKs it. Pure: bytes in, numbers out, every bound checked.
 */
/**
 * Most ACK times one write asks its receiver for (the hint's count byte; a hint of up to 2 + 2 × 255 bytes, and a
 * write asks for no more than its PAD holds). A host that downloads ACKs in runs of hundreds between two of its own
 * writes: at 8 (until 2026-12-05) a Gnutella trace lost 76 of the 362 ACKs that follow its writes to this cap (and
 * 110 to {@link MAX_ACK_HINT_US}), and at 32 (until 2026-12-07) 153 of its 320–462, all from one run of 185.
 */
export const MAX_ACK_HINTS = 255;
/**
 * ACKs planned later than this after their write (µs) are not asked for. A trace whose data direction is mostly the
 * ACKs of the other side's uploads (Webex: 60 % of its packets) has them long after its last data packet: at 500 ms
 * (until 2026-12-06) a Webex trace lost 23 % of its ACKs, and its links carried 54 % ACKs where it had 60 %.
 */
export const MAX_ACK_HINT_US = 30_000_000;
/** An ACK time in a hint: below this, in units of 10 µs; from it on, in whole ms ({@link encodeAckHint}). */
const HINT_FINE_LIMIT = 0x8000;
/** The ms that the first coarse value (HINT_FINE_LIMIT) stands for: the first whole ms past the fine range. */
const HINT_COARSE_MS = Math.ceil((HINT_FINE_LIMIT * 10) / 1000);
/** First byte of a PAD body that carries an ACK hint (a zero-filled PAD carries none): two echo PADs per ACK. */
export const ACK_HINT_TAG = 0x61;
/** The same hint from a sender whose kernel ACKs one small segment at once: one echo PAD per ACK. */
export const ACK_HINT_TAG_ONE = 0x62;
/**
 * Echo PADs per ACK a shaped link's receiver sends: 2 where the sender's kernel may be in TCP's interactive
 * ("pingpong") mode, which delays the ACK of a lone small segment; 1 where it never is (roles/echo.ts).
 */
export type EchoPads = 1 | 2;

/**
 * The PAD body prefix that asks a shaped link's receiver to send something at each of `acksUs` (µs after it
 * received the write), so that the sender's kernel ACKs it then: tag (which also says how many echo PADs per ACK,
 * `pads`), count, then per ACK a u16: below 0x8000 in units of 10 µs (up to 327.67 ms), from 0x8000 on in whole ms
 * from 328 ms (up to 33.095 s). Empty for no ACKs.
 */
export function encodeAckHint(acksUs: readonly number[], pads: EchoPads = 2): Uint8Array {
  const n = Math.min(acksUs.length, MAX_ACK_HINTS);
  if (n === 0) return new Uint8Array(0);
  const out = new Uint8Array(2 + 2 * n);
  out[0] = pads === 1 ? ACK_HINT_TAG_ONE : ACK_HINT_TAG;
  out[1] = n;
  for (let i = 0; i < n; i++) {
    const v = hintUnits(acksUs[i]!);
    out[2 + 2 * i] = v >>> 8;
    out[3 + 2 * i] = v & 0xff;
  }
  return out;
}

/**
 * The ACK times (µs) a PAD body asks for ({@link encodeAckHint}); empty for any other body (zeros, too short, a
 * count above {@link MAX_ACK_HINTS}): a PAD's content is the peer's, never trusted beyond these bounds.
 */
export function decodeAckHint(body: Uint8Array): number[] {
  if (body.length < 2 || (body[0] !== ACK_HINT_TAG && body[0] !== ACK_HINT_TAG_ONE)) return [];
  const n = body[1]!;
  if (n === 0 || n > MAX_ACK_HINTS || body.length < 2 + 2 * n) return [];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = (body[2 + 2 * i]! << 8) | body[3 + 2 * i]!;
    out.push(v < HINT_FINE_LIMIT ? v * 10 : (v - HINT_FINE_LIMIT + HINT_COARSE_MS) * 1000);
  }
  return out;
}

/** One ACK time of a hint as its u16 ({@link encodeAckHint}): 10 µs units, then ms; clamped to the largest. */
function hintUnits(us: number): number {
  const fine = Math.round(Math.max(0, us) / 10);
  if (fine < HINT_FINE_LIMIT) return fine;
  return Math.min(0xffff, HINT_FINE_LIMIT + Math.max(0, Math.round(us / 1000) - HINT_COARSE_MS));
}

/** Echo PADs per ACK that a PAD body's hint asks for: 1 after {@link ACK_HINT_TAG_ONE}, else 2. */
export function ackHintPads(body: Uint8Array): EchoPads {
  return body.length > 0 && body[0] === ACK_HINT_TAG_ONE ? 1 : 2;
}
