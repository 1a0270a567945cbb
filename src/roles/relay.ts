/**
 * The relay daemon (`smig relay`; docs/DESIGN.md §3 "Parties", paper §5.2 algorithms 3 and 4): one listener that
 * serves many sessions at once and, per link, plays the role the SESSION frame names:
 *
 * - data relay: DATA from the source → DATA_SEGMENT to the leader (the paper's marking), END → END;
 * - key relay: KEY → KEY_SEGMENT, END → END;
 * - leader: see leader.ts (the leader connects to nobody but the destination; relays connect to it, the
 *   leader's own host included: a data relay that is also the leader connects to its own address).
 *
 * Replies come back on the same links: PROGRESS and DONE from the leader are forwarded verbatim to the
 * source, an ERROR from the leader is forwarded with its code. A relay keeps nothing: each frame is
 * forwarded as soon as the leader link can take it (backpressure: the source link is not read while the
 * leader link's send is pending), and its payload is zeroed once written; nothing touches the disk.
 *
 * Pacing (pace.ts): a data relay paces its link to the leader with its own pacer (hop `relay`, its index) built
 * from the plan in the source's SESSION, which it copies verbatim into its SESSION to the leader. Paced DATA is
 * queued (at most {@link PACED_QUEUE_BYTES}; beyond, the source link is not read) and re-cut into DATA_SEGMENT
 * frames of the relay's own write sizes, so the sizes on this hop do not echo the source's. A write waits for
 * as many contiguous bytes as it was drawn to carry, unless a gap or the source's END cuts it short.
 *
 * Loss rules (what the source sees): a relay whose source link breaks tells the leader with ERROR (the
 * leader drops that link and goes on); a relay whose leader link breaks before DONE tells the source with
 * ERROR (the leader is gone: fatal for the session). A relay shutting down just drops its links, which
 * the source treats as a lost relay and routes around.
 */

import { wipe } from '../crypto/wipe.js';
import type { SmigError } from '../errors.js';
import { smigError } from '../errors.js';
import type { ChannelListener, FramedConnection, HostPort, ListenerLimits } from '../net/index.js';
import { connectChannel, listenChannel, parseHostPort } from '../net/index.js';
import type { Clock } from '../pacing/clock.js';
import { RealClock } from '../pacing/clock.js';
import type { PacingPlan } from '../pacing/plan.js';
import type { ShapedPacer } from '../pacing/shape.js';
import type { Pacer } from '../pacing/strategies.js';
import type { DataRelaySession, KeyRelaySession, Message, SessionMessage } from '../protocol/index.js';
import { decodeMessage, FrameType, sessionIdHex } from '../protocol/index.js';
import { LeaderRegistry } from './leader.js';
import { Link } from './link.js';
import type { Logger } from './log.js';
import { logRejected, silentLogger } from './log.js';
import {
  ByteQueue,
  cushionBytes,
  cushionSeconds,
  cutsWrites,
  DATA_SEGMENT_FRAME_OVERHEAD,
  hopPacer,
  hopSeed,
  isShaped,
  nextPayload,
  pacingLogFields,
  pacingReport,
  runShapedLink,
  sessionPlan,
  startAckEcho,
} from './pace.js';
import type { ChannelTimeouts } from './source.js';
import { Signal, u64, waitOr } from './util.js';

/** Default cap on sessions served at once (any role). */
export const DEFAULT_MAX_SESSIONS = 16;
/** Default largest window a leader accepts from a source (reorder buffer per session). */
export const DEFAULT_MAX_WINDOW: number = 64 * 1024 * 1024;
/** Default time a leader waits for enough key shares. */
export const DEFAULT_KEY_WAIT_MS = 30_000;
/** Paced data a data relay queues before it stops reading its source link. */
export const PACED_QUEUE_BYTES: number = 256 * 1024;
/**
 * How long a paced write waits for the rest of the bytes it was drawn to carry before it goes short: the source
 * sends END only once the leader has everything, so the last bytes must not wait for END.
 */
export const PACED_FLUSH_MS = 1000;

/** Options of {@link RelayDaemon.start}. */
export interface RelayOptions {
  /** The cluster key (TLS PSK). */
  clusterKey: Uint8Array;
  /** Where to listen (port 0: any free port, see {@link RelayDaemon.address}). */
  listen: HostPort;
  log?: Logger;
  /** Sessions served at once, any role; a SESSION beyond is refused with ERROR. Default 16. */
  maxSessions?: number;
  /** Caps of the listener (connections, handshakes, per address, opening frame); defaults of src/net. */
  limits?: ListenerLimits;
  /** As leader: most ciphertext bytes past the consumed offset a session may hold. Default 64 MiB. */
  maxWindow?: number;
  /** As leader: how long to wait for a key that opens the envelope. Default 30 s. */
  keyWaitMs?: number;
  /** Test hook: the pacers' clock (default RealClock). */
  clock?: Clock;
  channel?: ChannelTimeouts;
  /**
   * Told when a session's first link arrives (`open`) and when its last one closes (`end`), with the session id
   * in hex: the controller's agent (src/control/agent.ts) reports the host available again at `end`.
   */
  onSession?: (event: 'open' | 'end', session: string) => void;
}

/** Counts of what a relay daemon is doing. */
export interface RelayStats {
  sessions: number;
  forwards: number;
  leaderSessions: number;
}

/** Per-session link counts with a cap on distinct sessions. */
class SessionTable {
  readonly #max: number;
  readonly #links = new Map<string, number>();
  readonly #onSession: RelayOptions['onSession'];

  constructor(max: number, onSession?: RelayOptions['onSession']) {
    this.#max = max;
    this.#onSession = onSession;
  }
  get size(): number {
    return this.#links.size;
  }
  /** @throws SmigError SMIG_ERR_BUFFER_LIMIT when a new session would exceed the cap */
  acquire(id: string): void {
    const n = this.#links.get(id);
    if (n === undefined && this.#links.size >= this.#max) {
      throw smigError('SMIG_ERR_BUFFER_LIMIT', `busy: already serving ${this.#max} sessions`);
    }
    this.#links.set(id, (n ?? 0) + 1);
    if (n === undefined) this.#onSession?.('open', id);
  }
  release(id: string): void {
    const n = this.#links.get(id);
    if (n === undefined) return;
    if (n > 1) this.#links.set(id, n - 1);
    else {
      this.#links.delete(id);
      this.#onSession?.('end', id);
    }
  }
}

/**
 * A running relay daemon.
 * @example
 * const relay = await RelayDaemon.start({ clusterKey, listen: { host: '127.0.0.1', port: 0 } });
 * console.error(relay.address); await relay.close();
 */
export class RelayDaemon {
  readonly #o: RelayOptions;
  readonly #log: Logger;
  readonly #table: SessionTable;
  readonly #leader: LeaderRegistry;
  readonly #forwards = new Set<Forward>();
  #listener: ChannelListener | undefined;
  #closing = false;

  private constructor(o: RelayOptions) {
    this.#o = o;
    this.#log = o.log ?? silentLogger;
    this.#table = new SessionTable(o.maxSessions ?? DEFAULT_MAX_SESSIONS, o.onSession);
    this.#leader = new LeaderRegistry({
      clusterKey: o.clusterKey,
      log: this.#log,
      maxWindow: o.maxWindow ?? DEFAULT_MAX_WINDOW,
      keyWaitMs: o.keyWaitMs ?? DEFAULT_KEY_WAIT_MS,
      ...(o.clock === undefined ? {} : { clock: o.clock }),
      channel: o.channel ?? {},
    });
  }

  /**
   * Starts listening.
   * @throws SmigError SMIG_ERR_CONNECTION when the address cannot be bound
   */
  static async start(o: RelayOptions): Promise<RelayDaemon> {
    const d = new RelayDaemon(o);
    d.#listener = await listenChannel(o.listen, {
      key: o.clusterKey,
      ...o.channel,
      onConnection: (conn) => d.#accept(conn),
      ...o.limits,
      onRejected: logRejected(d.#log),
    });
    return d;
  }

  /** The bound address. */
  get address(): HostPort {
    return this.#listener!.address;
  }

  /** What it serves right now. */
  get stats(): RelayStats {
    return { sessions: this.#table.size, forwards: this.#forwards.size, leaderSessions: this.#leader.size };
  }

  /**
   * Graceful shutdown: leader sessions fail (their relays and destinations are told), forwarded links
   * are dropped (their sources route around this relay), the listener closes.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#leader.abortAll(smigError('SMIG_ERR_CONNECTION', 'the leader is shutting down'));
    for (const f of this.#forwards) f.drop();
    await this.#listener?.close();
    await this.#leader.idle();
  }

  #accept(conn: FramedConnection): void {
    if (this.#closing) {
      conn.destroy();
      return;
    }
    void conn.closed.then((info) => {
      if (info.error !== undefined) this.#log.event('link-failed', { remote: conn.remote, reason: info.error.message });
    });
    // the first frame decides the role; until it is handled, nothing else is read (a promise pauses the link)
    conn.onFrame((type, body) => {
      if (type !== FrameType.SESSION) {
        throw smigError(
          'SMIG_ERR_PROTOCOL_STATE',
          `relay: ${type === FrameType.ERROR ? 'ERROR' : `frame type ${type}`} before SESSION (expected SESSION)`,
        );
      }
      const first = decodeMessage(type, body) as SessionMessage;
      const id = sessionIdHex(first.sessionId);
      switch (first.role) {
        case 'data-relay':
        case 'key-relay': {
          const plan = sessionPlan(first.plan); // refused before anything is held
          this.#table.acquire(id);
          const f = new Forward(this.#o, this.#log.with({ session: id.slice(0, 16) }), conn, first, plan);
          this.#forwards.add(f);
          void f.done.then(() => {
            this.#forwards.delete(f);
            this.#table.release(id);
          });
          return f.open();
        }
        case 'leader':
          this.#table.acquire(id);
          try {
            this.#leader.join(conn, first, () => this.#table.release(id));
          } catch (err) {
            this.#table.release(id);
            throw err;
          }
          return undefined;
        default:
          throw smigError(
            'SMIG_ERR_PROTOCOL_STATE',
            `relay: SESSION for role '${first.role}' (this host is a relay: data-relay, key-relay or leader)`,
          );
      }
    });
  }
}

/** One forwarded link pair: source ⇄ this relay ⇄ leader, for one data or key relay role. */
class Forward {
  readonly #o: RelayOptions;
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
  readonly #cushion: number;
  readonly #cushionMs: number;
  readonly #stop = new AbortController();
  /** Resolves when both links are closed. */
  readonly done: Promise<void>;
  #resolveDone!: () => void;

  constructor(
    o: RelayOptions,
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
    this.#cushion = Math.min(cushionBytes(plan), PACED_QUEUE_BYTES / 2); // the queue must be able to hold it
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
      conn = await connectChannel(addr, { key: this.#o.clusterKey, retries: 1, ...this.#o.channel });
    } catch (err) {
      this.#log.event('relay-failed', { reason: (err as Error).message });
      void this.#up.ended.then(() => this.#resolveDone());
      throw smigError('SMIG_ERR_CONNECTION', `cannot reach the leader ${f.leader}: ${(err as Error).message}`, err);
    }
    this.#log.event('relay-linked', { leader: f.leader, local: conn.local });
    const down = new Link(conn, 'reply', `leader ${f.leader}`);
    this.#down = down;
    if (this.#dropped || this.#up.isClosed) conn.destroy();
    void Promise.all([
      this.#up.ended,
      down.ended.then((end) => this.#downEnded(end.early === true ? undefined : end.error)),
    ]).then(() => this.#resolveDone());
    down.start((msg) => this.#fromLeader(msg));
    this.#up.start((msg) => this.#fromSource(msg));
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
      startAckEcho(
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
   * back, its planned writes carry queued data once the cushion is in (a write may hold several DATA_SEGMENT frames
   * across a gap in the offsets) and cover before, between and after.
   */
  async #forwardShaped(down: Link, pacer: ShapedPacer, p: PacingPlan | undefined): Promise<void> {
    const f = this.#first;
    const signal = this.#stop.signal;
    const conn = down.conn;
    let firstAt: number | undefined;
    let ready = false;
    const cushioned = (): boolean => {
      if (ready) return true;
      if (this.#queue.bytes > 0) firstAt ??= performance.now();
      ready =
        this.#endSeen ||
        this.#queue.bytes >= this.#cushion ||
        (firstAt !== undefined && performance.now() - firstAt >= this.#cushionMs);
      return ready;
    };
    await runShapedLink(
      pacer,
      {
        available: () => (cushioned() ? this.#queue.bytes : 0),
        take: (n) => this.#queue.take(this.#queue.contiguous(n)),
        complete: () => this.#endSeen,
        more: (ms) => waitOr(this.#queued, ms),
      },
      (frames, pad) =>
        conn.batch(() => {
          const sent = frames.map((w) =>
            down.sendPartsWiping(
              FrameType.DATA_SEGMENT,
              [f.sessionId, Uint8Array.of(f.index), u64(w.offset), ...w.parts],
              w.parts,
            ),
          );
          if (pad >= 0) sent.push(conn.sendMessage({ type: FrameType.PAD, length: pad }));
          return Promise.all(sent).then(() => undefined);
        }),
      {
        frameOverhead: DATA_SEGMENT_FRAME_OVERHEAD,
        cover: p?.cover !== false,
        graceMs: PACED_FLUSH_MS,
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
          while (this.#queue.bytes >= PACED_QUEUE_BYTES && !this.#stop.signal.aborted) await this.#sent.wait();
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
        // the source's keepalive: the link to the leader is as idle as this one. Only onto an empty queue
        // (queued bytes keep the link alive as well): a PING flood must not become a flood on the next hop,
        // whose PONGs would fill this link's queue both ways
        if (down.conn.writableLength === 0) down.post(msg);
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
        return down.send(msg);
      default:
        return undefined; // ERROR: the source gives up; its close follows
    }
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
    // the cushion (pace.ts): its bytes, or as many seconds after the first byte (a payload may be smaller), or END
    while (this.#queue.bytes === 0 && !this.#endSeen && !signal.aborted) await this.#queued.wait();
    const until = performance.now() + this.#cushionMs;
    while (
      this.#queue.bytes < this.#cushion &&
      !this.#endSeen &&
      !signal.aborted &&
      (await waitOr(this.#queued, until - performance.now()))
    );
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
        if (await waitOr(this.#queued, PACED_FLUSH_MS)) continue; // more came: look again
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
        return up.send(msg);
      case FrameType.DONE:
        this.#doneForwarded = true;
        this.#log.event('relay-done', { ok: msg.ok, bytes: this.#bytes });
        await up.send(msg).catch(() => {});
        void up.close();
        void this.#down!.close();
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

  #downEnded(error: Error | undefined): void {
    if (this.#doneForwarded || this.#dropped || this.#up.isClosed) return;
    const why: SmigError = smigError(
      'SMIG_ERR_CONNECTION',
      `leader ${this.#first.leader}: connection lost before DONE${error === undefined ? '' : ` (${error.message})`}`,
    );
    this.#log.event('relay-failed', { reason: why.message });
    void this.#up.fail(why);
  }
}
