/**
 * The source's relay links and how a data link sends (source.ts): a chunk as DATA frames of the pacer's write
 * sizes, a shaped link's planned writes filled from the send window, and the keepalive PING on quiet links.
 */
import type { Clock } from '../pacing/clock.js';
import { GIVE_BACK_MS } from '../pacing/cut-sizes.js';
import { linkHoldMs, MAX_END_HOLD_MS, MIN_RECHECK_MS } from '../pacing/hold.js';
import type { PacingPlan } from '../pacing/plan.js';
import type { ShapedPacer } from '../pacing/shape.js';
import type { Pacer } from '../pacing/strategies.js';
import { FRAME_HEADER_LENGTH, FrameType } from '../protocol/index.js';
import type { LogFields } from '../util/log.js';
import type { Link } from './link.js';
import { ByteQueue, cutsWrites, DATA_FRAME_OVERHEAD, hostEchoPads, nextPayload, runShapedLink } from './pace.js';
import { KEEPALIVE_MS } from './source-options.js';
import type { Signal, Timer } from './util.js';
import { after, every, nowMs, sendDataParts, waitOr } from './util.js';
import type { Chunk, SendWindow } from './window.js';

/** A data relay link of the source. */
export interface DataLink {
  index: number;
  addr: string;
  link: Link;
  lost: boolean;
  pacer: Pacer;
  /** When the link opened (ms on the session's clock). */
  opened: number;
  /** Data bytes its shaped writes carried (DATA frames' payload, re-sends included). */
  bytes: number;
  /** Frame bytes of its shaped writes, data and cover (what its pacer charges). */
  written: number;
  /** END is posted or held (postEnds): the link takes no more chunks. */
  ending?: boolean;
  /** While END is held: its timer (`reopen` cancels it). */
  endHold?: Timer | undefined;
  /** The leader's END{n} on release: the ciphertext bytes it received on this link. */
  released?: number;
}

/** A key relay link of the source. */
export interface KeyLink {
  index: number;
  addr: string;
  link: Link;
}

/** One chunk on one link: a single DATA frame (bulk), or DATA frames of the pacer's write sizes. */
export async function sendChunk(d: DataLink, chunk: Chunk, signal: AbortSignal, stopped: () => boolean): Promise<void> {
  if (!cutsWrites(d.pacer)) {
    await d.pacer.take(DATA_FRAME_OVERHEAD + chunk.length, signal);
    await sendDataParts(d.link.conn, chunk.offset, chunk.parts);
    return;
  }
  const q = new ByteQueue();
  let at = chunk.offset;
  for (const p of chunk.parts) {
    q.push(at, p);
    at += p.length;
  }
  while (q.bytes > 0 && !stopped() && !d.lost) {
    const n = nextPayload(d.pacer, DATA_FRAME_OVERHEAD, q.bytes);
    await d.pacer.take(DATA_FRAME_OVERHEAD + n, signal);
    const w = q.take(n)!;
    await sendDataParts(d.link.conn, w.offset, w.parts);
  }
}

/** What a shaped data link draws on: the session's send window, its work signal, and when to stop. */
export interface ShapedSource {
  window: SendWindow;
  work: Signal;
  signal: AbortSignal;
  /** True once the session is over. */
  over(): boolean;
  /** The pacers' clock (default the real one). */
  clock?: Clock;
  /** Called when the link has nothing to write: no chunk waits in the window or in the link. */
  idle?: () => void;
}

/**
 * A shaped data link (pace.ts `runShapedLink`): its planned writes from its first to the session's end, filled
 * with the chunks it takes from the window (a write may carry the end of one chunk and the start of the next as
 * two DATA frames), and with cover (PAD) when the window has nothing for it — also after END, until DONE or until
 * the leader releases the link (release.ts).
 * Rejects when a write fails (the link is gone).
 */
export async function pumpShaped(d: DataLink, pacer: ShapedPacer, plan: PacingPlan, s: ShapedSource): Promise<void> {
  const q = new ByteQueue();
  const conn = d.link.conn;
  const fill = (): void => {
    if (d.ending) {
      // past END: cover only. END goes out once every byte is acknowledged, or on a link that holds nothing, so what
      // the link still holds is data the leader has: chunks it took again after another link was lost, which the
      // leader had received before that link went. Sent after END, they were a protocol error to the relay, and the
      // session failed (the lab's 5-relay WhatsApp session, 2026-12-07)
      if (q.bytes > 0) q.clear();
      return;
    }
    // enough for the current write (a write of a high-rate plan is up to MAX_WRITE: several records), and no more:
    // until 2026-12-07 a link took chunks until it held a record's worth (16 KiB), so right after its first write
    // from a 16 KiB chunk it took the next one too, and a session of a few chunks went over the link that wrote
    // first while the others carried cover (a 30 kB WhatsApp session on the lab: one link, 4.84 × its bound)
    const want = pacer.nextWriteSize();
    while (q.bytes < want) {
      const c = s.window.take(d.index);
      if (c === undefined) return;
      let at = c.offset;
      for (const p of c.parts) {
        q.push(at, p);
        at += p.length;
      }
    }
  };
  await runShapedLink(
    pacer,
    {
      available: () => {
        fill();
        if (q.bytes === 0) s.idle?.();
        return q.bytes;
      },
      take: (n) => q.take(Math.min(n, q.contiguous(n))),
      complete: () => true,
      more: (ms) => waitOr(s.work, ms, s.clock),
    },
    (taken, shortPad, hint) => {
      // the link's next write is far off (a silence of its trace): what it holds beyond this write goes back to the
      // window, for a link that writes sooner (this one takes it again at its next write if none did)
      if (q.bytes > 0 && d.ending !== true && pacer.dueIn() > GIVE_BACK_MS) {
        s.window.giveBack(d.index, q.ranges());
        q.clear();
        s.work.notify();
      }
      // END may have gone out while this write waited for its time: its data is acknowledged (above), and the write
      // goes as a PAD of the same size
      const late = d.ending === true && taken.length > 0;
      const frames = late ? [] : taken;
      const pad = late ? writeBytes(taken, shortPad) - FRAME_HEADER_LENGTH : shortPad;
      return conn.batch(() => {
        const before = d.bytes;
        for (const f of frames) for (const p of f.parts) d.bytes += p.length;
        const padFrame = pad >= 0 ? FRAME_HEADER_LENGTH + pad : 0;
        d.written = d.written + d.bytes - before + frames.length * DATA_FRAME_OVERHEAD + padFrame;
        const sent = frames.map((f) => sendDataParts(conn, f.offset, f.parts));
        if (pad >= 0) sent.push(conn.sendMessage({ type: FrameType.PAD, length: pad, head: hint }));
        return Promise.all(sent).then(() => undefined);
      });
    },
    {
      frameOverhead: DATA_FRAME_OVERHEAD,
      echoPads: hostEchoPads(),
      cover: plan.cover !== false,
      graceMs: 0,
      ...(s.clock === undefined ? {} : { clock: s.clock }),
      done: () => s.over() || d.lost,
      signal: s.signal,
    },
  );
}

/** Frame bytes of a shaped write: its DATA frames and its PAD (none when `pad` is negative). */
function writeBytes(frames: readonly { parts: readonly Uint8Array[] }[], pad: number): number {
  let n = pad >= 0 ? FRAME_HEADER_LENGTH + pad : 0;
  for (const f of frames) {
    n += DATA_FRAME_OVERHEAD;
    for (const p of f.parts) n += p.length;
  }
  return n;
}

/**
 * Whether data link `d` may end before every byte is acknowledged (on a shaped plan with cover, where its END
 * releases it and it stops covering): the payload is all cut (`produced`), no chunk waits for a link (`queued`), and
 * another live link stays without END for re-sends: a lost link's chunks, or those of a link whose release count
 * (END{n}) falls short. The caller knows `d` holds no chunk of its own. Pure.
 */
export function mayEndEarly(d: DataLink, data: readonly DataLink[], produced: boolean, queued: number): boolean {
  return produced && queued === 0 && open(d) && data.some((x) => x !== d && open(x));
}

/**
 * Takes back the END of a live link of `data` that still holds it (postEnds), so that the link carries chunks again;
 * returns it, or undefined when every live link has sent its END.
 */
export function reopen(data: readonly DataLink[]): DataLink | undefined {
  const d = data.find((x) => !x.lost && x.ending === true && x.endHold !== undefined);
  if (d === undefined) return undefined;
  d.endHold!.cancel();
  d.endHold = undefined;
  d.ending = false;
  return d;
}

/** A live data link that may still carry chunks. */
export function open(d: DataLink): boolean {
  return !d.lost && d.ending !== true;
}

/**
 * END{length} on every live data link of `data` that has none yet: at once, or, on a shaped plan with cover, once
 * the link has lasted the lower bound for the data it carried, and at least for `share` bytes (a link's even share of
 * the ciphertext), and its writes, data and cover, are no more than the plan's mean write rate over its life
 * (pacing/hold.ts `linkHoldMs`, re-checked as the cover adds to them), for at most MAX_END_HOLD_MS. The leader
 * releases a data link when its END comes: a link that ended where its data ran out would end as a stretch of the
 * trace denser than the trace (the lab's 5-relay layout: a link of 18 s at twice the mean rate failed per bin, p
 * 1.8e-5), and a link that drew no data (30 kB over 5 relays) as a stub of one or two bins, so it covers until then.
 * The link takes no chunk from here on. `posted` hears of each END as it goes (fields for a log event). Returns the
 * longest first hold, ms.
 */
export function postEnds(
  data: readonly DataLink[],
  length: number,
  share: number,
  plan: PacingPlan | undefined,
  clock?: Clock,
  posted?: (fields: LogFields) => void,
): number {
  let longest = 0;
  for (const d of data) {
    if (!open(d)) continue;
    d.ending = true;
    const from = nowMs(clock);
    const holdMs = (): number => linkHoldMs(plan, Math.max(d.bytes, share), d.written, nowMs(clock) - d.opened);
    const tryEnd = (): void => {
      d.endHold = undefined;
      if (d.lost || d.link.isClosed || d.ending !== true) return;
      const left = Math.min(holdMs(), from + MAX_END_HOLD_MS - nowMs(clock));
      if (left > 0) return void (d.endHold = after(clock, Math.max(left, MIN_RECHECK_MS), tryEnd));
      d.link.post({ type: FrameType.END, length, sha256: null });
      const [bytes, written, lastedMs] = [d.bytes, d.written, Math.round(nowMs(clock) - d.opened)];
      posted?.({ link: d.addr, bytes, written, heldMs: Math.round(nowMs(clock) - from), lastedMs });
    };
    longest = Math.max(longest, holdMs());
    tryEnd();
  }
  return Math.round(longest);
}

/**
 * PING on every link of `links()` once it has been quiet for a random time, drawn per link and per ping, uniform
 * between one and two keepalive periods (a third of the idle timeout, capped). At a fixed period the idle key links
 * carried a 97 B ping each way every 30 s on the lab, a rhythm no normal flow has. Checked four times a period, a
 * link is quiet at most 2.25 periods (3/4 of the idle timeout) before its ping.
 */
export function startKeepalive(
  links: () => Link[],
  idleTimeoutMs: number | undefined,
  clock?: Clock,
  rng: () => number = Math.random,
): Timer {
  const ms = Math.max(100, Math.min(KEEPALIVE_MS, (idleTimeoutMs ?? 60_000) / 3));
  const quiet = new Map<Link, { bytes: number; since: number; after: number }>();
  return every(clock, ms / 4, () => {
    const now = nowMs(clock);
    for (const link of links()) {
      const bytes = link.conn.bytesRead + link.conn.bytesWritten;
      const q = quiet.get(link);
      if (q === undefined || q.bytes !== bytes) quiet.set(link, { bytes, since: now, after: ms * (1 + rng()) });
      else if (now - q.since >= q.after) {
        link.post({ type: FrameType.PING, seq: 0 });
        q.since = now;
        q.after = ms * (1 + rng());
      }
    }
  });
}
