import { smigError } from '../errors.js';
import type { ChannelTimeouts } from '../net/connection-options.js';
import type { ChannelListener, FramedConnection, HostPort, ListenerLimits, Transport } from '../net/index.js';
import { tlsTransport } from '../net/index.js';
import type { Clock } from '../pacing/clock.js';
import type { SessionMessage } from '../protocol/index.js';
import { decodeMessage, FrameType, sessionIdHex } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import { logRejected, silentLogger } from '../util/log.js';
import { LeaderRegistry } from './leader.js';
import { sessionPlan } from './pace.js';
import { passPoll } from './poll.js';
import { Forward } from './relay-forward.js';

export { PACED_FLUSH_MS, PACED_QUEUE_BYTES } from './relay-forward.js';

/** Default cap on sessions served at once (any role). */
export const DEFAULT_MAX_SESSIONS = 16;
/** Default largest window a leader accepts from a source (reorder buffer per session). */
export const DEFAULT_MAX_WINDOW: number = 64 * 1024 * 1024;
/** Polls a relay passes on at once (a poll beyond is closed unanswered: its source draws another relay). */
export const MAX_POLLS = 64;
/** Default time a leader waits for enough key shares. */
export const DEFAULT_KEY_WAIT_MS = 30_000;

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
  /** Opens the channels (default TLS, src/net/tls.ts); tests give an in-process one (src/net/memory.ts). */
  transport?: Transport;
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
  #polls = 0;
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
      ...(o.transport === undefined ? {} : { transport: o.transport }),
      channel: o.channel ?? {},
    });
  }

  /**
   * Starts listening.
   * @throws SmigError SMIG_ERR_CONNECTION when the address cannot be bound
   */
  static async start(o: RelayOptions): Promise<RelayDaemon> {
    const d = new RelayDaemon(o);
    d.#listener = await (o.transport ?? tlsTransport).listen(o.listen, {
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
        case 'poll': {
          if (this.#polls >= MAX_POLLS) return void conn.destroy();
          this.#polls++;
          const log = this.#log.with({ session: id.slice(0, 16), role: 'poll' });
          void passPoll(this.#o, log, conn, first).finally(() => this.#polls--);
          return undefined;
        }
        case 'outcome':
          return void this.#leader.answer(conn, first);
        default:
          throw smigError(
            'SMIG_ERR_PROTOCOL_STATE',
            `relay: SESSION for role '${first.role}' (this host is a relay: data-relay, key-relay, leader, poll or outcome)`,
          );
      }
    });
  }
}
