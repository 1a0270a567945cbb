/**
 * Pacing on the hops of a migration (docs/DESIGN.md §4: "every hop is paced, not only the first").
 *
 * The source makes one {@link PacingPlan} per session and sends it, as JSON text, in every relay SESSION;
 * relays copy it into their SESSION to the leader (messages.ts). Each paced hop builds its own pacer from it
 * with a hop seed derived from the session id, the hop and its index, so no two hops (and no two sessions)
 * draw the same traffic:
 *
 * | hop                        | who paces          | writes                                       |
 * |----------------------------|--------------------|----------------------------------------------|
 * | source → data relay i      | the source         | DATA frames cut to the pacer's write size    |
 * | data relay i → leader      | relay i            | DATA_SEGMENT frames, re-cut to its own sizes |
 * | leader → destination       | the leader         | plaintext DATA frames cut to its sizes       |
 *
 * Key relay links carry a TLS handshake, SESSION, one share and END: a short connection like countless
 * normal ones. Pacing a 70-byte write would only delay the key by up to a bin, so they are not paced.
 *
 * A write on a paced hop is one frame whose length (header included) is the pacer's next write size, so that
 * with Nagle off it becomes one TLS record in one TCP segment of the drawn wire size; the frame header
 * (13 bytes for DATA, 30 for DATA_SEGMENT) is part of that size. {@link ByteQueue} does the cutting.
 *
 * Downstream hops are fed by an upstream hop drawn independently: they start after a cushion
 * ({@link CUSHION_SECONDS}) and, when short of data, a relay sends a short write after PACED_FLUSH_MS (relay.ts).
 * What they cannot send when their schedule opens a burst without data is lost, so they run somewhat below the
 * profile's rate and the session ends when the slowest hop does.
 */
import { createHash } from 'node:crypto';
import { isSmigError, smigError } from '../errors.js';
import type { Clock } from '../pacing/clock.js';
import { RealClock } from '../pacing/clock.js';
import type { PacingPlan } from '../pacing/plan.js';
import { constantWriteSize, overheadOf, parsePlan, planDuration, traceWrites } from '../pacing/plan.js';
import { isShaped } from '../pacing/shape.js';
import type { Pacer } from '../pacing/strategies.js';
import { createPacer } from '../pacing/strategies.js';
import type { Message } from '../protocol/index.js';
import { startAckEcho } from './echo.js';

export { endHoldMs } from '../pacing/hold.js';
export type { ShapedFeed, ShapedLinkOptions, ShapedWriter } from './shaped-link.js';
export { runShapedLink } from './shaped-link.js';
export { isShaped };

import { FRAME_HEADER_LENGTH, SESSION_ID_LENGTH } from '../protocol/index.js';
import type { LogFields } from '../util/log.js';

/** Frame bytes of a DATA frame besides its payload: header + u64 offset. */
export const DATA_FRAME_OVERHEAD: number = FRAME_HEADER_LENGTH + 8;
/** Frame bytes of a DATA_SEGMENT frame besides its payload: header + session id + u8 index + u64 offset. */
export const DATA_SEGMENT_FRAME_OVERHEAD: number = FRAME_HEADER_LENGTH + SESSION_ID_LENGTH + 1 + 8;

/** The paced hops of a session. */
export type Hop = 'source' | 'relay' | 'leader';

/**
 * The seed of one hop's pacer: the first 32 bits of SHA-256(session id ‖ hop ‖ index). Combined with the
 * plan's seed by `createPacer`, so hops of one session and the same hop of two sessions draw independently.
 */
export function hopSeed(sessionId: Uint8Array, hop: Hop, index: number): number {
  return createHash('sha256').update(sessionId).update(`\u0000${hop}\u0000${index}`).digest().readUInt32BE(0);
}

/**
 * The plan a SESSION carries, validated (absent: undefined, i.e. bulk).
 * @throws SmigError SMIG_ERR_FRAME_MALFORMED `SESSION.plan: …` for a plan that parsePlan refuses
 */
export function sessionPlan(text: string | undefined): PacingPlan | undefined {
  if (text === undefined) return undefined;
  try {
    return parsePlan(text, 'SESSION.plan');
  } catch (err) {
    if (isSmigError(err)) throw smigError('SMIG_ERR_FRAME_MALFORMED', err.message, err);
    throw err;
  }
}

/** The pacer of one hop (a bulk pacer, which only counts, without a plan). */
export function hopPacer(
  plan: PacingPlan | undefined,
  sessionId: Uint8Array,
  hop: Hop,
  index: number,
  clock: Clock = new RealClock(),
): Pacer {
  return createPacer(
    plan ?? { strategy: 'bulk', seed: 0, binNs: '1000000000', overheads: { tls: 0, tcpip: 0, link: 0 } },
    clock,
    hopSeed(sessionId, hop, index),
  );
}

/**
 * Seconds of the plan's mean rate a downstream hop (relay → leader, leader → destination) holds before its first
 * paced write. Its input is an upstream hop drawn independently from the same profile, with the same mean: the
 * bytes on hand are the difference of two random walks, and a hop that has none when its schedule opens a burst
 * loses that burst (the bucket does not carry tokens past its depth), falls behind and sends less than the
 * profile. A cushion makes that rare, at the price of about this much latency per hop. A relay waits for the
 * cushion at most this long after its first byte; the leader until it has the cushion or the whole payload.
 */
export const CUSHION_SECONDS = 4;
/**
 * A shaped hop pauses its schedule while it waits for data and covers while it has none, so it loses nothing by
 * starting early: a second of data is enough to start on.
 */
export const SHAPED_CUSHION_SECONDS = 1;
/** `constant` feeds a downstream hop exactly its own rate: a quarter second absorbs the jitter. */
export const CONSTANT_CUSHION_SECONDS = 0.25;

/** The cushion of a downstream hop in bytes (0 for bulk). */
export function cushionBytes(plan: PacingPlan | undefined): number {
  if (plan === undefined || plan.strategy === 'bulk') return 0;
  return Math.round(cushionSeconds(plan) * (planDuration(plan, 0).payloadRate ?? 0));
}

/** The cushion of a downstream hop in seconds of the plan's mean rate (also a relay's longest wait for it). */
export function cushionSeconds(plan: PacingPlan | undefined): number {
  if (plan === undefined || plan.strategy === 'bulk') return 0;
  if (plan.profile?.trace !== undefined) return SHAPED_CUSHION_SECONDS;
  return plan.strategy === 'constant' ? CONSTANT_CUSHION_SECONDS : CUSHION_SECONDS;
}

/** Most bytes a paced downstream hop queues per session, whatever the plan's rate (a peer sends the plan). */
export const MAX_PACED_QUEUE_BYTES: number = 32 * 1024 * 1024;

/**
 * Bytes a paced downstream hop (data relay → leader, leader → destination) may queue before it stops reading its
 * upstream link: at least `floor`, and room for two cushions, so the cushion it starts on is not also the most it
 * can hold. At kB/s that is the floor; at 25 MB/s a fixed 256 KiB (relay) or 1 MiB (leader) was 10–40 ms of
 * data, so the hop ran dry on every stall upstream and, once its cushion was queued, stopped reading until it had
 * sent nearly all of it (the source then filled its window and sent cover instead of data).
 */
export function pacedQueueBytes(plan: PacingPlan | undefined, floor: number): number {
  return Math.min(MAX_PACED_QUEUE_BYTES, Math.max(floor, 2 * cushionBytes(plan)));
}

/** True when the pacer cuts writes (every strategy but bulk). */
export function cutsWrites(pacer: Pacer): boolean {
  return pacer.strategy !== 'bulk';
}

/**
 * The next write of a paced hop: how many payload bytes one frame with `frameOverhead` header bytes may carry
 * so that the frame is the pacer's next write size (at least 1 byte, at most `max`).
 */
export function nextPayload(pacer: Pacer, frameOverhead: number, max: number): number {
  return Math.max(1, Math.min(max, Math.floor(pacer.nextWriteSize()) - frameOverhead));
}

/**
 * Frame bytes (what the pacer charges as payload) that carry `dataBytes` on a hop whose frames have
 * `frameOverhead` header bytes, at the plan's mean write size: `constant` writes {@link constantWriteSize}
 * bytes, `profile` and `replay` the profile's sizes less the per-write overheads (the mean over writes).
 * Bulk: `dataBytes` (one frame per chunk; its header is noise).
 */
export function frameBytes(plan: PacingPlan, dataBytes: number, frameOverhead: number): number {
  if (plan.strategy === 'bulk') return dataBytes;
  let frames = 0;
  let data = 0;
  if (plan.strategy === 'constant') {
    frames = constantWriteSize(plan.rate!);
    data = frames - frameOverhead;
  } else if (plan.profile?.trace !== undefined) {
    // shaped: one data frame per planned write (a write too small for a frame carries only a PAD)
    for (const w of traceWrites(plan.profile.trace, plan)) {
      frames += w.frameBytes;
      data += Math.max(0, w.frameBytes - frameOverhead);
    }
  } else {
    const o = overheadOf(plan);
    const { values, counts } = plan.profile!.sizes!;
    for (let i = 0; i < values.length; i++) {
      const frame = Math.max(1, values[i]! - o);
      frames += counts[i]! * Math.max(frame, frameOverhead + 1);
      data += counts[i]! * Math.max(1, frame - frameOverhead);
    }
  }
  return (dataBytes * frames) / data;
}

/** What a hop's pacer did, for logs and `smig send --json` (rates in wire bytes/s, lateness in ms). */
export interface HopPacingReport {
  hop: string;
  strategy: string;
  writes: number;
  /** Frame bytes written (TLS record payloads). */
  payloadBytes: number;
  /** Bytes charged: payload + the plan's per-write overheads (what the wire carries). */
  wireBytes: number;
  /** From the first write's request (the bucket starts then, empty) to the last grant. */
  seconds: number;
  /** wireBytes ÷ seconds; null when under two writes. */
  rate: number | null;
  /** Tokens the schedule allowed over the same time ÷ seconds (the target); null for bulk. */
  targetRate: number | null;
  /** Writes that waited for their deadline, and how late they were granted. */
  lateness: { n: number; p50: number; p99: number; max: number };
  /** Shaped hops: frame bytes sent as PAD (cover and fill), and seconds the schedule paused for lack of data. */
  padBytes?: number;
  pausedSeconds?: number;
  /** Shaped hops: seconds from the first write's request to the last write that carried data (cover after it). */
  dataSeconds?: number;
}

/** The report of one hop's pacer. */
export function pacingReport(hop: string, pacer: Pacer): HopPacingReport {
  const s = pacer.stats();
  const seconds = s.start === undefined || s.last === undefined ? 0 : (s.last - s.start) / 1000;
  const paced = pacer.strategy !== 'bulk';
  return {
    hop,
    strategy: pacer.strategy,
    writes: s.writes,
    payloadBytes: s.payloadBytes,
    wireBytes: s.bytes,
    seconds,
    rate: seconds > 0 ? s.bytes / seconds : null,
    targetRate: paced && seconds > 0 ? s.accrued / seconds : null,
    lateness: { n: s.lateness.n, p50: s.lateness.p50, p99: s.lateness.p99, max: s.lateness.max },
    ...(isShaped(pacer)
      ? {
          padBytes: pacer.padBytes,
          pausedSeconds: pacer.paused / 1000,
          ...(pacer.dataSeconds === undefined ? {} : { dataSeconds: pacer.dataSeconds }),
        }
      : {}),
  };
}

/** A report as flat log fields (event `pacing`). */
export function pacingLogFields(r: HopPacingReport): LogFields {
  const round = (x: number | null, d: number): number | null => (x === null ? null : Number(x.toFixed(d)));
  return {
    hop: r.hop,
    strategy: r.strategy,
    writes: r.writes,
    payloadBytes: r.payloadBytes,
    wireBytes: r.wireBytes,
    seconds: round(r.seconds, 3),
    rate: round(r.rate, 1),
    targetRate: round(r.targetRate, 1),
    lateN: r.lateness.n,
    lateP50: round(r.lateness.p50, 4),
    lateP99: round(r.lateness.p99, 4),
    lateMax: round(r.lateness.max, 4),
    ...(r.padBytes === undefined ? {} : { padBytes: r.padBytes, pausedSeconds: round(r.pausedSeconds ?? 0, 3) }),
    ...(r.dataSeconds === undefined ? {} : { dataSeconds: round(r.dataSeconds, 3) }),
  };
}

/**
 * Byte ranges queued for paced writes: pieces `[offset, offset + length)` in arrival order, taken as the parts
 * of one write that spans contiguous pieces (no copy). A write never spans a gap between pieces (a frame has one
 * offset), so it may be shorter than asked.
 */
export class ByteQueue {
  #pieces: { offset: number; bytes: Uint8Array }[] = [];
  #bytes = 0;

  /** Bytes queued. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Appends a piece (kept by reference). */
  push(offset: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#pieces.push({ offset, bytes });
    this.#bytes += bytes.length;
  }

  /** Bytes contiguous from the head, up to `max` (0 when empty). */
  contiguous(max: number = Infinity): number {
    let n = 0;
    let end: number | undefined;
    for (const p of this.#pieces) {
      if (n >= max || (end !== undefined && p.offset !== end)) break;
      n += p.bytes.length;
      end = p.offset + p.bytes.length;
    }
    return Math.min(n, max);
  }

  /**
   * Takes up to `n` contiguous bytes from the head: their offset and the parts (views of the queued pieces; wipe
   * them once sent to wipe every byte that passed through). Undefined when empty.
   */
  take(n: number): { offset: number; parts: Uint8Array[] } | undefined {
    const first = this.#pieces[0];
    if (first === undefined) return undefined;
    const offset = first.offset;
    const parts: Uint8Array[] = [];
    let left = n;
    let end = offset;
    while (left > 0 && this.#pieces.length > 0 && this.#pieces[0]!.offset === end) {
      const p = this.#pieces[0]!;
      if (p.bytes.length <= left) {
        parts.push(p.bytes);
        this.#pieces.shift();
        left -= p.bytes.length;
        end += p.bytes.length;
      } else {
        parts.push(p.bytes.subarray(0, left));
        p.bytes = p.bytes.subarray(left);
        p.offset += left;
        end += left;
        left = 0;
      }
    }
    this.#bytes -= end - offset;
    return { offset, parts };
  }

  /** The queued pieces' offsets and lengths, head first. */
  ranges(): { offset: number; length: number }[] {
    return this.#pieces.map((p) => ({ offset: p.offset, length: p.bytes.length }));
  }

  /** Removes everything (returned, e.g. to wipe it). */
  clear(): Uint8Array[] {
    const all = this.#pieces.map((p) => p.bytes);
    this.#pieces = [];
    this.#bytes = 0;
    return all;
  }
}

export {
  AckEcho,
  ECHO_LEAD_MS,
  ECHO_MIN_SPACING_MS,
  ECHO_SPACING_MS,
  echoSpacing,
  echoTimes,
  hostEchoPads,
  MAX_CARRY_MS,
  MAX_ECHO_MS,
  MAX_PENDING_POKES,
  PINGPONG_OFF_THRESH,
  startAckEcho,
} from './echo.js';

/** The destination's {@link AckEcho} on its link from the leader (plan from its SESSION), until the link ends. */
export function destinationAckEcho(
  first: { sessionId: Uint8Array; plan?: string },
  link: {
    post(msg: Message): void;
    readonly isClosed: boolean;
    onInbound: ((type: number, body: Uint8Array) => void) | undefined;
    readonly ended: Promise<unknown>;
    batch?(fn: () => void): void;
  },
  clock: Clock = new RealClock(),
): void {
  const stop = new AbortController();
  void link.ended.then(() => stop.abort());
  startAckEcho(sessionPlan(first.plan), link, hopSeed(first.sessionId, 'leader', 2000), clock, stop.signal);
}
