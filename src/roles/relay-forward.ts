/**
 * The data and key relay roles (relay.ts): one forwarded link pair, source ⇄ this relay ⇄ leader. DATA becomes
 * DATA_SEGMENT (bulk, paced or shaped on the hop to the leader), KEY becomes KEY_SEGMENT, END passes on, and the
 * leader's replies go back to the source.
 */

import { wipe } from '../crypto/wipe.js';
import type { SmigError } from '../errors.js';
import { smigError } from '../errors.js';
import type { ChannelTimeouts } from '../net/connection-options.js';
import type { FramedConnection, Transport } from '../net/index.js';
import { parseHostPort, tlsTransport } from '../net/index.js';
import type { Clock } from '../pacing/clock.js';
import { RealClock } from '../pacing/clock.js';
import type { PacingPlan } from '../pacing/plan.js';
import type { ShapedPacer } from '../pacing/shape.js';
import type { Pacer } from '../pacing/strategies.js';
import type { DataRelaySession, KeyRelaySession, Message } from '../protocol/index.js';
import { FrameType } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import { Link } from './link.js';
import type { AckEcho } from './pace.js';
import {
  ByteQueue,
  cushionBytes,
  cushionSeconds,
  cutsWrites,
  DATA_SEGMENT_FRAME_OVERHEAD,
  hopPacer,
  hopSeed,
  hostEchoPads,
  isShaped,
  nextPayload,
  pacedQueueBytes,
  pacingLogFields,
  pacingReport,
  runShapedLink,
  startAckEcho,
} from './pace.js';
import { startKeepalive } from './source-links.js';
import { nowMs, Signal, u64, waitOr } from './util.js';

/** Paced data a data relay queues before it stops reading its source link, at least (pace.ts `pacedQueueBytes`). */
export const PACED_QUEUE_BYTES: number = 256 * 1024;
/**
 * How long a paced write waits for the rest of the bytes it was drawn to carry before it goes short: the source
 * sends END on a link well after its last data (held to the link's bound and mean rate, or until the leader has
 * everything), so the last bytes must not wait for END.
 */
export const PACED_FLUSH_MS = 1000;

/** What a forwarded link pair needs of the relay's options. */
export interface ForwardOptions {
  /** The cluster key (TLS PSK). */
  clusterKey: Uint8Array;
  /** Test hook: the pacers' clock (default RealClock). */
  clock?: Clock;
  /** Opens the channels (default TLS, src/net/tls.ts); tests give an in-process one (src/net/memory.ts). */
  transport?: Transport;
  channel?: ChannelTimeouts;
}

/** One forwarded link pair: source ⇄ this relay ⇄ leader, for one data or key relay role. */
export class Forward {
  readonly #o: ForwardOptions;
  readonly #log: Logger;
  readonly #first: DataRelaySession | KeyRelaySession;
  readonly #up: Link;
  #down: Link | undefined;
  #doneForwarded = false;
  #dropped = false;
  #bytes = 0;
  /** Data relay: the hop's pacer (bulk without a plan). */
  readonly #pacer: Pacer | undefined;
  readonly #plan: PacingPlan | undefined;
  /** Paced data waiting for its writes, the forwarder's wake-up, and the reader's. */
  readonly #queue = new ByteQueue();
  readonly #queued = new Signal();
  readonly #sent = new Signal();
  #endSeen = false;
  /** END went on to the leader: a clean close by the leader after it releases this link (release.ts). */
  #endForwarded = false;
  /** The leader released this link with END{n}, passed on to the source. */
  #released = false;
  /** The echo on the source's link (shaped plans): PROGRESS rides on it. */
  #upEcho: AckEcho | undefined;
  /** The highest PROGRESS offset passed on to the source. */
  #progress = -1;
  readonly #cushion: number;
  readonly #queueMax: number;
  readonly #cushionMs: number;
  readonly #stop = new AbortController();
  /** Resolves when both links are closed. */
  readonly done: Promise<void>;
  #resolveDone!: () => void;

  constructor(
    o: ForwardOptions,
    log: Logger,
    conn: FramedConnection,
    first: DataRelaySession | KeyRelaySession,
    plan: PacingPlan | undefined,
  ) {
    this.#o = o;
    this.#log = log.with({ role: first.role, index: first.index });
    this.#first = { ...first, sessionId: new Uint8Array(first.sessionId) }; // decoded ids may be views of a frame buffer
    this.#up = new Link(conn, first.role, `source ${conn.remote}`);
    this.#up.state.accept(FrameType.SESSION);
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    this.#plan = plan;
    if (first.role === 'data-relay') this.#pacer = hopPacer(plan, this.#first.sessionId, 'relay', first.index, o.clock);
    this.#queueMax = pacedQueueBytes(plan, PACED_QUEUE_BYTES);
    this.#cushion = Math.min(cushionBytes(plan), this.#queueMax / 2); // the queue must be able to hold it
    this.#cushionMs = cushionSeconds(plan) * 1000;
    void this.done.then(() => this.#stopForwarding());
  }

  /** Connects to the leader and opens the session there; the source link is read only after that. */
  async open(): Promise<void> {
    const f = this.#first;
    this.#log.event('relay-open', { leader: f.leader, source: this.#up.conn.remote });
    void this.#up.ended
      .then((end) => this.#upEnded(end.complete, end.early === true ? undefined : end.error))
      .catch(() => {});
    let conn: FramedConnection;
    try {
      const addr = parseHostPort(f.leader, 'SESSION.leader');
      conn = await (this.#o.transport ?? tlsTransport).connect(addr, {
        key: this.#o.clusterKey,
        retries: 1,
        ...this.#o.channel,
      });
    } catch (err) {
      this.#log.event('relay-failed', { reason: (err as Error).message });
      void this.#up.ended.then(() => this.#resolveDone());
      throw smigError('SMIG_ERR_CONNECTION', `cannot reach the leader ${f.leader}: ${(err as Error).message}`, err);
    }
    this.#log.event('relay-linked', { leader: f.leader, local: conn.local });
    const down = new Link(conn, f.role === 'key-relay' ? 'key-reply' : 'reply', `leader ${f.leader}`);
    this.#down = down;
    if (this.#dropped || this.#up.isClosed) conn.destroy();
    void Promise.all([
      this.#up.ended,
      down.ended.then((end) => this.#downEnded(end.complete, end.early === true ? undefined : end.error)),
    ]).then(() => this.#resolveDone());
    down.start((msg) => this.#fromLeader(msg));
    this.#up.start((msg) => this.#fromSource(msg));
    // the link to the leader pings when quiet, as the source's links do: paced, it may be quiet longer than the link
    // from the source (a 1448 B write every 61 s at 25 B/s), so the source's pings, passed on, did not keep it alive
    const keepalive = startKeepalive(
      () => (down.isClosed ? [] : [down]),
      this.#o.channel?.idleTimeoutMs,
      this.#o.clock,
    );
    if (this.#stop.signal.aborted) keepalive.cancel();
    else this.#stop.signal.addEventListener('abort', () => keepalive.cancel(), { once: true });
    down.post({
      type: FrameType.SESSION,
      sessionId: f.sessionId,
      role: 'leader',
      via: f.role,
      index: f.index,
      layout: f.layout,
      ...(f.plan === undefined ? {} : { plan: f.plan }),
    });
    if (this.#pacer !== undefined && isShaped(this.#pacer))
      this.#upEcho = startAckEcho(
        this.#plan,
        this.#up,
        hopSeed(f.sessionId, 'relay', 1000 + f.index),
        this.#o.clock ?? new RealClock(),
        this.#stop.signal,
      );
    if (this.#pacer !== undefined && isShaped(this.#pacer))
      this.#forwardShaped(down, this.#pacer, this.#plan).catch(() => this.#stopForwarding());
    else if (this.#pacer !== undefined && cutsWrites(this.#pacer))
      this.#forwardPaced(down, this.#pacer).catch(() => this.#stopForwarding());
  }

  /**
   * The shaped forwarder of a data relay (pace.ts `runShapedLink`): from the SESSION to the leader until DONE passes
   * back or the leader releases the link (release.ts), once the cushion is in: its planned writes carry queued data
   * (a write may hold several DATA_SEGMENT frames across a gap in the offsets) and cover between and after.
   */
  async #forwardShaped(down: Link, pacer: ShapedPacer, p: PacingPlan | undefined): Promise<void> {
    const f = this.#first;
    const signal = this.#stop.signal;
    const conn = down.conn;
    // the link's stretch of the trace starts once the cushion is in, so its first burst carries data: started at the
    // SESSION, its first burst went as cover and the data, the envelope's first bytes (the leader's key) among it,
    // waited out the silence after it (a lab run: 9 s, the leader's link to the destination opened 10.6 s in). Until
    // then the link is quiet after its SESSION, as a connection is before its first answer; a source link that
    // brings no byte within the cushion's time carries none yet (other links took the data), and this link covers
    // from then on rather than stay silent (a lab run: 16 packets in 60 s, rejected per bin)
    const from = nowMs(this.#o.clock);
    await this.#cushioned(signal, this.#cushionMs);
    if (signal.aborted) return;
    this.#log.event('relay-stretch', { queued: this.#queue.bytes, waitedMs: Math.round(nowMs(this.#o.clock) - from) });
    await runShapedLink(
      pacer,
      {
        available: () => this.#queue.bytes,
        take: (n) => this.#queue.take(this.#queue.contiguous(n)),
        complete: () => this.#endSeen,
        more: (ms) => waitOr(this.#queued, ms, this.#o.clock),
      },
      (frames, pad, hint) =>
        conn.batch(() => {
          const sent = frames.map((w) =>
            down.sendPartsWiping(
              FrameType.DATA_SEGMENT,
              [f.sessionId, Uint8Array.of(f.index), u64(w.offset), ...w.parts],
              w.parts,
            ),
          );
          if (pad >= 0) sent.push(conn.sendMessage({ type: FrameType.PAD, length: pad, head: hint }));
          return Promise.all(sent).then(() => undefined);
        }),
      {
        steer: true,
        frameOverhead: DATA_SEGMENT_FRAME_OVERHEAD,
        echoPads: hostEchoPads(),
        cover: p?.cover !== false,
        graceMs: PACED_FLUSH_MS,
        ...(this.#o.clock === undefined ? {} : { clock: this.#o.clock }),
        done: () => this.#doneForwarded || this.#dropped,
        signal,
        onWrite: () => this.#sent.notify(),
      },
    );
  }

  /** Shutdown: drop both links without ERROR (the source routes around a lost relay). */
  drop(): void {
    this.#dropped = true;
    this.#stopForwarding();
    this.#up.conn.destroy();
    this.#down?.conn.destroy();
  }

  async #fromSource(msg: Message): Promise<void> {
    const down = this.#down!;
    const f = this.#first;
    switch (msg.type) {
      case FrameType.DATA: {
        const pacer = this.#pacer!;
        this.#bytes += msg.bytes.length;
        if (cutsWrites(pacer)) {
          // a copy: the body may be a view of a large socket read, and the queue keeps it for a while
          this.#queue.push(msg.offset, new Uint8Array(msg.bytes));
          wipe(msg.bytes);
          this.#queued.notify();
          while (this.#queue.bytes >= this.#queueMax && !this.#stop.signal.aborted) await this.#sent.wait();
          return undefined;
        }
        await pacer.take(DATA_SEGMENT_FRAME_OVERHEAD + msg.bytes.length, this.#stop.signal);
        // paper §5.2: the relay marks the chunk as a data segment of this session
        return down.sendWiping(
          {
            type: FrameType.DATA_SEGMENT,
            sessionId: f.sessionId,
            index: f.index,
            offset: msg.offset,
            bytes: msg.bytes,
          },
          [msg.bytes],
        );
      }
      case FrameType.KEY: {
        // KEY_SEGMENT body = session id | u8 index | share, as parts: the share is never copied, and zeroed once sent
        return down.sendPartsWiping(
          FrameType.KEY_SEGMENT,
          [f.sessionId, Uint8Array.of(f.index), msg.share],
          [msg.share],
        );
      }
      case FrameType.PING:
        // the source's keepalive, answered by the link: the link to the leader has its own (not passed on, so a
        // PING flood never becomes a flood on the next hop)
        return undefined;
      case FrameType.END:
        this.#endSeen = true;
        this.#queued.notify();
        while (this.#queue.bytes > 0 && !this.#stop.signal.aborted) await this.#sent.wait(); // END after the data
        this.#log.event('relay-end', { bytes: this.#bytes });
        if (this.#pacer !== undefined)
          this.#log.event(
            'pacing',
            pacingLogFields(pacingReport(`relay ${f.index} → leader ${f.leader}`, this.#pacer)),
          );
        this.#endForwarded = true;
        return down.send(msg);
      default:
        return undefined; // ERROR: the source gives up; its close follows
    }
  }

  /**
   * Waits for the cushion (pace.ts): its bytes, or as many seconds after the first byte (a payload may be smaller), or
   * END; for the first byte at most `firstByteMs`.
   */
  async #cushioned(signal: AbortSignal, firstByteMs = Number.POSITIVE_INFINITY): Promise<void> {
    const by = nowMs(this.#o.clock) + firstByteMs;
    while (this.#queue.bytes === 0 && !this.#endSeen && !signal.aborted) {
      if (firstByteMs === Number.POSITIVE_INFINITY) await this.#queued.wait();
      else if (!(await waitOr(this.#queued, by - nowMs(this.#o.clock), this.#o.clock))) return; // no byte yet
    }
    const until = nowMs(this.#o.clock) + this.#cushionMs;
    while (
      this.#queue.bytes < this.#cushion &&
      !this.#endSeen &&
      !signal.aborted &&
      (await waitOr(this.#queued, until - nowMs(this.#o.clock), this.#o.clock))
    );
  }

  /**
   * The paced forwarder of a data relay: one DATA_SEGMENT per write of the pacer's size, from the queue. A write
   * drawn to carry n bytes waits until n contiguous bytes are queued, unless a gap in the offsets (the next
   * chunk of this link) or the source's END makes the run shorter.
   */
  async #forwardPaced(down: Link, pacer: Pacer): Promise<void> {
    const f = this.#first;
    const signal = this.#stop.signal;
    let want: number | undefined;
    await this.#cushioned(signal);
    while (!signal.aborted) {
      const q = this.#queue;
      if (q.bytes === 0) {
        if (this.#endSeen) return;
        await this.#queued.wait();
        continue;
      }
      want ??= nextPayload(pacer, DATA_SEGMENT_FRAME_OVERHEAD, Infinity);
      const run = q.contiguous(want);
      if (run < want && run === q.bytes && !this.#endSeen) {
        if (await waitOr(this.#queued, PACED_FLUSH_MS, this.#o.clock)) continue; // more came: look again
        if (q.bytes !== run || signal.aborted) continue;
      }
      await pacer.take(DATA_SEGMENT_FRAME_OVERHEAD + run, signal);
      want = undefined;
      if (signal.aborted) return;
      const w = q.take(run)!;
      this.#sent.notify(); // its waiters run after the write below has reached the socket (END stays behind the data)
      await down.sendPartsWiping(
        FrameType.DATA_SEGMENT,
        [f.sessionId, Uint8Array.of(f.index), u64(w.offset), ...w.parts],
        w.parts,
      );
    }
  }

  /** Ends the paced forwarder and wipes what it still holds. */
  #stopForwarding(): void {
    this.#stop.abort();
    wipe(...this.#queue.clear());
    this.#sent.notify();
    this.#queued.notify();
  }

  async #fromLeader(msg: Message): Promise<void> {
    const up = this.#up;
    switch (msg.type) {
      case FrameType.PROGRESS:
        // cumulative: one that is not past the last passed on says nothing new (and must not replace a newer one)
        if (msg.offset <= this.#progress) return undefined;
        this.#progress = msg.offset;
        // on a shaped link, with the next echo: the source's kernel ACKs it where its plan has an ACK anyway
        if (this.#upEcho !== undefined) return this.#upEcho.carry(msg);
        return up.send(msg);
      case FrameType.DONE:
        this.#doneForwarded = true;
        this.#log.event('relay-done', { ok: msg.ok, bytes: this.#bytes });
        await up.send(msg).catch(() => {});
        void up.close();
        void this.#down!.close();
        return undefined;
      case FrameType.END:
        // the leader has this data relay's part and released its link (release.ts), counting the bytes it received:
        // the count goes on to the source (before the close, which follows), so it knows none needs a re-send
        this.#released = true;
        this.#log.event('relay-data-released', { bytes: this.#bytes, received: msg.length });
        this.#stopForwarding();
        await up.send(msg).catch(() => {});
        void up.close().catch(() => {});
        return undefined;
      case FrameType.PING:
        if (up.conn.writableLength === 0) up.post(msg); // the leader is alive: keep the source's link alive too (as above)
        return undefined;
      case FrameType.ERROR:
        this.#doneForwarded = true; // the leader's verdict goes to the source as it is
        this.#log.event('relay-failed', { reason: `leader: ${msg.message}` });
        void up.conn.sendError(msg.code, `leader ${this.#first.leader}: ${msg.message}`);
        return undefined;
      default:
        return undefined;
    }
  }

  #upEnded(complete: boolean, error: Error | undefined): void {
    const down = this.#down;
    if (this.#doneForwarded || down === undefined || this.#dropped) return;
    if (complete)
      void down.close(); // the source has everything it needs (it saw DONE through another relay)
    else {
      this.#log.event('relay-lost-source', { reason: error?.message });
      void down.fail(
        smigError('SMIG_ERR_CONNECTION', `relay: source link lost${error === undefined ? '' : ` (${error.message})`}`),
      );
    }
  }

  #downEnded(complete: boolean, error: Error | undefined): void {
    if (this.#doneForwarded || this.#released || this.#dropped || this.#up.isClosed) return;
    if (complete && this.#first.role === 'key-relay') {
      // the leader has this key relay's share and released it: the source's link ends as well, cleanly
      this.#log.event('relay-key-released', {});
      void this.#up.close().catch(() => {});
      return;
    }
    if (!complete && error === undefined && this.#endForwarded) {
      // the leader closed after END with no answer: the source's link ends as well, and the source re-sends what
      // this link carried and is not acknowledged (its END{n} did not come)
      this.#log.event('relay-leader-closed', { bytes: this.#bytes });
      this.#stopForwarding();
      void this.#up.close().catch(() => {});
      return;
    }
    const why: SmigError = smigError(
      'SMIG_ERR_CONNECTION',
      `leader ${this.#first.leader}: connection lost before DONE${error === undefined ? '' : ` (${error.message})`}`,
    );
    this.#log.event('relay-failed', { reason: why.message });
    void this.#up.fail(why);
  }
}
