/**
 * The leader's plaintext link to the destination (leader-session.ts): DATA frames of up to MAX_PLAIN_FRAME (bulk),
 * of the pacer's write sizes after a cushion (paced), or the planned writes of a shaped link with cover.
 */
import type { Clock } from '../pacing/clock.js';
import { RealClock } from '../pacing/clock.js';
import { endHoldMs } from '../pacing/hold.js';
import type { PacingPlan } from '../pacing/plan.js';
import type { ShapedPacer } from '../pacing/shape.js';
import type { Pacer } from '../pacing/strategies.js';
import { FRAME_HEADER_LENGTH, FrameType } from '../protocol/index.js';
import { MAX_PLAIN_FRAME, SHAPED_GRACE_MS, SHAPED_QUEUE_BYTES } from './leader-options.js';
import type { Link } from './link.js';
import {
  ByteQueue,
  cushionBytes,
  cushionSeconds,
  cutsWrites,
  DATA_FRAME_OVERHEAD,
  hostEchoPads,
  isShaped,
  nextPayload,
  pacedQueueBytes,
  runShapedLink,
} from './pace.js';
import { startKeepalive } from './source-links.js';
import { nowMs, Signal, u64, waitOr } from './util.js';

/** Forwards a session's plaintext to the destination with the leader hop's pacer. */
export class PlainForwarder {
  readonly #pacer: Pacer;
  readonly #plan: PacingPlan | undefined;
  readonly #signal: AbortSignal;
  readonly #cushion: number;
  readonly #queueMax: number;
  /** Paced: plaintext not yet written, and the size drawn for the next write. */
  readonly #queue = new ByteQueue();
  #want: number | undefined;
  /** Shaped: the forwarder's wake-up, the reader's, and whether the last plaintext is queued. */
  readonly #queued = new Signal();
  readonly #sent = new Signal();
  #last = false;
  #offset = 0;
  #dest: Link | undefined;
  /** When the destination's link started (ms on the clock), and its shaped writes' frame bytes, data and cover. */
  #startedAt: number | undefined;
  #written = 0;
  readonly #clock: Clock | undefined;

  constructor(pacer: Pacer, plan: PacingPlan | undefined, signal: AbortSignal, clock?: Clock) {
    this.#pacer = pacer;
    this.#clock = clock;
    this.#plan = plan;
    this.#signal = signal;
    this.#cushion = cushionBytes(plan);
    this.#queueMax = pacedQueueBytes(plan, SHAPED_QUEUE_BYTES);
  }

  /** Starts forwarding on the destination's link; a shaped link writes on its own until `over()`. */
  start(dest: Link, over: () => boolean): void {
    this.#dest = dest;
    this.#startedAt = nowMs(this.#clock);
    // a paced link may wait long for plaintext (a whole envelope segment at the plan's rate, 46 s at 100 B/s): it
    // pings when quiet, as the source does, or the destination's idle timeout ends it
    const keepalive = startKeepalive(() => (dest.isClosed ? [] : [dest]), undefined, this.#clock);
    if (this.#signal.aborted) keepalive.cancel();
    else this.#signal.addEventListener('abort', () => keepalive.cancel(), { once: true });
    if (isShaped(this.#pacer)) this.#runShaped(dest, this.#pacer, over).catch(() => {});
  }

  /** Empties the queue (returned, to wipe it). */
  clear(): Uint8Array[] {
    return this.#queue.clear();
  }

  /**
   * The shaped link to the destination (pace.ts `runShapedLink`), from its SESSION until the session is over: its
   * planned writes carry plaintext once the cushion is in, several DATA frames when a write spans pieces, and
   * cover before, between (while the relays' data is late) and after, until DONE. It runs apart from the relay
   * links' reader, so the reader keeps filling the queue (up to SHAPED_QUEUE_BYTES) while a write waits its time.
   */
  async #runShaped(dest: Link, pacer: ShapedPacer, over: () => boolean): Promise<void> {
    const q = this.#queue;
    const conn = dest.conn;
    let ready = false;
    let firstAt: number | undefined;
    const cushioned = (): boolean => {
      if (ready) return true;
      if (q.bytes > 0) firstAt ??= nowMs(this.#clock);
      ready =
        this.#last ||
        q.bytes >= this.#cushion ||
        (firstAt !== undefined && nowMs(this.#clock) - firstAt >= cushionSeconds(this.#plan) * 1000);
      return ready;
    };
    await runShapedLink(
      pacer,
      {
        available: () => (cushioned() ? q.bytes : 0),
        take: (n) => {
          const w = q.take(q.contiguous(n));
          if (w !== undefined) this.#offset += w.parts.reduce((a, b) => a + b.length, 0);
          return w;
        },
        complete: () => this.#last,
        more: (ms) => waitOr(this.#queued, ms, this.#clock),
      },
      (frames, pad, hint) =>
        conn.batch(() => {
          for (const w of frames) this.#written += DATA_FRAME_OVERHEAD + w.parts.reduce((a, b) => a + b.length, 0);
          if (pad >= 0) this.#written += FRAME_HEADER_LENGTH + pad;
          const sent = frames.map((w) => dest.sendPartsWiping(FrameType.DATA, [u64(w.offset), ...w.parts], w.parts));
          if (pad >= 0) sent.push(conn.sendMessage({ type: FrameType.PAD, length: pad, head: hint }));
          return Promise.all(sent).then(() => undefined);
        }),
      {
        frameOverhead: DATA_FRAME_OVERHEAD,
        steer: true,
        echoPads: hostEchoPads(),
        cover: this.#plan?.cover !== false,
        graceMs: SHAPED_GRACE_MS,
        ...(this.#clock === undefined ? {} : { clock: this.#clock }),
        done: over,
        signal: this.#signal,
        onWrite: () => this.#sent.notify(),
      },
    );
  }

  /**
   * Shaped, once all `bytes` of plaintext are written: holds END (hold.ts `endHoldMs`) while the link covers, until
   * it has lasted the plan's lower bound for them. Not also to the mean write rate, as the source's data links are
   * (`linkHoldMs`): END goes before DONE, so that hold would delay the outcome (on the lab, 15 s of a 105 s session).
   * Resolves, early on abort, with the hold's length (0: none) and, for the log, the link's frame bytes and life, ms.
   */
  async holdEnd(bytes: number): Promise<{ heldMs: number; written: number; lastedMs: number }> {
    if (!isShaped(this.#pacer) || this.#startedAt === undefined) return { heldMs: 0, written: 0, lastedMs: 0 };
    const clock = this.#clock ?? new RealClock();
    const from = clock.now();
    const ms = endHoldMs(this.#plan, bytes, from - this.#startedAt);
    if (ms > 0) await clock.sleep(ms, this.#signal).catch(() => {});
    const [heldMs, lastedMs] = [clock.now() - from, clock.now() - this.#startedAt].map(Math.round) as [number, number];
    return { heldMs, written: this.#written, lastedMs };
  }

  /**
   * Plaintext to the destination. Bulk: DATA frames of up to MAX_PLAIN_FRAME. Paced: DATA frames of the pacer's
   * sizes; a remainder shorter than the next drawn size waits for more plaintext unless `last`.
   */
  async send(plain: Uint8Array[], last = false): Promise<void> {
    const dest = this.#dest!;
    const pacer = this.#pacer;
    const signal = this.#signal;
    if (isShaped(pacer)) {
      // the shaped forwarder sends it (#runShaped); here the reader waits while the queue is full, and the last
      // plaintext waits until it is all written (END follows the data)
      const q = this.#queue;
      for (const p of plain) q.push(this.#offset + q.bytes, p);
      if (last) this.#last = true;
      this.#queued.notify();
      while ((last ? q.bytes > 0 : q.bytes >= this.#queueMax) && !signal.aborted) await this.#sent.wait();
      return;
    }
    if (cutsWrites(pacer)) {
      const q = this.#queue;
      for (const p of plain) q.push(this.#offset + q.bytes, p);
      if (this.#offset === 0 && q.bytes < this.#cushion && !last) return; // before the first write: a cushion
      while (q.bytes > 0) {
        this.#want ??= nextPayload(pacer, DATA_FRAME_OVERHEAD, Infinity);
        if (q.bytes < this.#want && !last) return;
        const n = Math.min(this.#want, q.bytes);
        await pacer.take(DATA_FRAME_OVERHEAD + n, signal);
        this.#want = undefined;
        if (signal.aborted) return; // the session ended meanwhile (the queue is wiped)
        const w = q.take(n)!;
        this.#offset += n;
        await dest.sendPartsWiping(FrameType.DATA, [u64(w.offset), ...w.parts], w.parts);
      }
      return;
    }
    let group: Uint8Array[] = [];
    let bytes = 0;
    const flush = async (): Promise<void> => {
      await pacer.take(DATA_FRAME_OVERHEAD + bytes, signal);
      const offset = this.#offset;
      this.#offset += bytes;
      const parts = group;
      group = [];
      bytes = 0;
      await dest.sendPartsWiping(FrameType.DATA, [u64(offset), ...parts], parts);
    };
    for (const p of plain) {
      if (bytes > 0 && bytes + p.length > MAX_PLAIN_FRAME) await flush();
      group.push(p);
      bytes += p.length;
    }
    if (bytes > 0) await flush();
  }
}
