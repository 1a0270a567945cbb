/**
 * The write loop of a shaped link (a `profile` plan with a trace: shape.ts): each planned write goes at its time
 * with the data frames that fill it and a PAD for the rest.
 */
import type { Clock } from '../pacing/clock.js';
import type { EchoPads, ShapedPacer } from '../pacing/shape.js';
import { encodeAckHint, MAX_ACK_HINTS, MIN_FRAME } from '../pacing/shape.js';
import { nowMs } from './util.js';

const NO_HINT = new Uint8Array(0);

/** Data for the writes of a shaped link. */
export interface ShapedFeed {
  /** Bytes that could go now (over one or more frames). */
  available(): number;
  /** Up to n contiguous bytes for one frame (undefined when none). */
  take(n: number): { offset: number; parts: Uint8Array[] } | undefined;
  /** True when waiting brings no more bytes for the current write (a complete chunk, the end of the data). */
  complete(): boolean;
  /** Resolves true when more bytes came within `ms`. */
  more(ms: number): Promise<boolean>;
}

/**
 * How a shaped link writes: its data frames and a PAD of `pad` body bytes (none when negative), as one write; the
 * PAD's body starts with `hint` (pace.ts `AckEcho` reads it), zeros after.
 */
export type ShapedWriter = (
  frames: { offset: number; parts: Uint8Array[] }[],
  pad: number,
  hint: Uint8Array,
) => Promise<void>;

export interface ShapedLinkOptions {
  /** Echo PADs per ACK the receiver is asked for (default 2; 1 where this host's kernel ACKs a lone PAD at once: echo.ts `hostEchoPads`). */
  echoPads?: EchoPads;
  /** Frame bytes besides the data of one data frame (DATA 13, DATA_SEGMENT 30). */
  frameOverhead: number;
  /** Send PAD writes on schedule when there is no data (the plan's `cover`). */
  cover: boolean;
  /** Longest pause of the schedule waiting for the rest of a write's data, ms. */
  graceMs: number;
  /** True once the link is done (the loop ends). */
  done(): boolean;
  signal: AbortSignal;
  /** Called after each write (e.g. to wake a reader waiting for room). */
  onWrite?: () => void;
  /** Times the grace (default the real clock); the same clock as the pacer's. */
  clock?: Clock;
  /**
   * Let the link's queued data steer the order of the trace's bursts (ShapedPacer.steer): for hops downstream, whose
   * data comes when the hop before sends it. Not for the source, whose data is always there. Their feeds' `complete()`
   * is the end of the data, so complete with nothing available is a link past its data, covering: not starved.
   */
  steer?: boolean;
}

/**
 * The writes of a shaped link until `done()`: each planned write goes at its time with as many data frames as
 * fill it and a PAD for the rest, so the wire shows the planned packets whether data is there or not. Short of
 * data, the schedule waits (pauses) up to `graceMs` for it; with none at all, a cover link sends the write as a
 * PAD and goes on covering without pausing until data comes back; a link without cover waits for data. A write does
 * not wait for the receiver's echoes of the ACKs the plan puts before it (docs/ARCHITECTURE.md "No waiting for echoes").
 */
export async function runShapedLink(
  pacer: ShapedPacer,
  feed: ShapedFeed,
  write: ShapedWriter,
  o: ShapedLinkOptions,
): Promise<void> {
  const fo = o.frameOverhead;
  if (o.steer)
    pacer.steer(
      () => feed.available(),
      () => feed.complete() && feed.available() === 0,
    );
  let covering = o.cover; // a cover link starts covering at once (its first bytes may wait for a cushion)
  while (!o.signal.aborted && !o.done()) {
    const want = pacer.nextWriteSize();
    // the ACKs the plan has after this write: the PAD asks the receiver for them (a write too small for all of them
    // asks for the first that fit, one too small for one goes without; one with data keeps room for the hint)
    const acks = hintedAcks(pacer.current().acksUs, want);
    const hint = acks.length > 0 ? encodeAckHint(acks, o.echoPads ?? 2) : NO_HINT;
    const reserve = hint.length > 0 ? MIN_FRAME + hint.length : 0;
    await pacer.ready(o.signal);
    if (o.done()) return;
    if (feed.available() + fo + reserve < want && !feed.complete() && !(covering && feed.available() === 0)) {
      const until = nowMs(o.clock) + o.graceMs;
      while (feed.available() + fo + reserve < want && !feed.complete() && !o.signal.aborted && !o.done()) {
        const left = until - nowMs(o.clock);
        if (left <= 0 || !(await feed.more(left))) break;
      }
    }
    if (o.signal.aborted || o.done()) return;
    if (feed.available() === 0) {
      if (!o.cover) {
        await feed.more(1000);
        continue;
      }
      covering = true;
      await pacer.take(want, o.signal);
      pacer.notePadding(want);
      await write([], want - MIN_FRAME, hint);
      o.onWrite?.();
      continue;
    }
    covering = false;
    const frames: { offset: number; parts: Uint8Array[] }[] = [];
    let room = want;
    let data = 0;
    while (room > fo + reserve) {
      const w = feed.take(room - fo - reserve);
      if (w === undefined) break;
      const n = w.parts.reduce((a, b) => a + b.length, 0);
      frames.push(w);
      room -= fo + n;
      data += n;
    }
    const pad = room >= MIN_FRAME ? room - MIN_FRAME : -1;
    await pacer.take(want - (pad < 0 ? room : 0), o.signal);
    if (pad >= 0) pacer.notePadding(room);
    const withHint = hint.length > 0 && pad >= hint.length;
    await write(frames, pad, withHint ? hint : NO_HINT);
    o.onWrite?.();
    if (data > 0) pacer.noteData();
  }
}

/** The ACK times a write of `want` frame bytes can ask for: as many of `acksUs` as its PAD's body holds. */
export function hintedAcks(acksUs: readonly number[], want: number): readonly number[] {
  const fit = Math.min(acksUs.length, MAX_ACK_HINTS, Math.floor((want - MIN_FRAME - 2) / 2));
  return fit > 0 ? acksUs.slice(0, fit) : [];
}
