/**
 * An in-process transport (transport.ts) for tests of the session logic without sockets: a {@link MemoryNetwork}
 * holds the listening addresses in a Map and joins each connect to its listener with a pair of in-process duplex
 * streams, under the same {@link FramedConnection} the TLS channels use (framing, backpressure, close and error
 * handling are the real ones).
 *
 * - Authentication as in tls.ts: a connect with another cluster key is refused (SMIG_ERR_HANDSHAKE on the connecting
 *   side, `onRejected` on the listener's); nobody listening is `connection refused` (SMIG_ERR_CONNECTION).
 * - Bytes are copied on write (a sender may zero its buffer once the write is done, as the roles do) and delivered
 *   in a later macrotask, never inside the writer's call. A write completes once the peer's receive buffer took it:
 *   a peer that stops reading stops the writer, as a full TCP window does.
 * - `exportKeyingMaterial` is deterministic: HKDF-SHA256 of a per-link secret derived from the network's seed,
 *   the cluster key and the link's number, with the label as info; both ends of a link agree, links differ.
 * - Optional per-host-pair latency and bandwidth ({@link MemoryNetwork.shape}) are timed by the network's
 *   {@link Clock}: with a FakeClock, delivery happens as the test advances it.
 * - Faults: {@link MemoryLink.kill} resets one link mid-stream, {@link MemoryNetwork.freeze} stops every byte to
 *   and from a host (like a stopped process: its peers' writes back up), {@link MemoryNetwork.crash} resets all
 *   of a host's links and unbinds its listeners.
 *
 * - The idle timeout of each connection runs on the network's clock too, and so do the FramedConnection's close
 *   and stall deadlines.
 *
 * Not modelled: the listener's handshake and opening-frame deadlines and its per-address caps; `maxConnections`
 * is kept.
 */
import { createHash } from 'node:crypto';
import { smigError } from '../errors.js';
import type { Clock } from '../pacing/clock.js';
import { RealClock } from '../pacing/clock.js';
import type { HostPort } from './address.js';
import { formatHostPort } from './address.js';
import { FramedConnection } from './connection.js';
import { describeErrno } from './error-text.js';
import type { LinkNetwork, LinkShape } from './memory-link.js';
import { errno, MemoryLink } from './memory-link.js';
import type { ChannelListener, ConnectOptions, ListenOptions } from './tls.js';
import { DEFAULT_MAX_CONNECTIONS, deriveTlsPsk } from './tls.js';
import type { Transport } from './transport.js';

/** First port handed out for port 0 and for the connecting side of a link. */
const FIRST_PORT = 40_000;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;

export type { Delivery, LinkShape } from './memory-link.js';
export { MemoryLink } from './memory-link.js';

/** Options of {@link MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /** Times latency and bandwidth (default RealClock); unshaped links need no time. */
  clock?: Clock;
  /** Seeds the links' keying material (default 0). */
  seed?: number;
  /** Keep every delivery (time, direction, bytes) in {@link MemoryLink.deliveries}. Default false. */
  record?: boolean;
}

interface Bound {
  host: string;
  psk: Buffer;
  opts: ListenOptions;
  live: Set<FramedConnection>;
}

/**
 * A network of in-process hosts. Each {@link host} is a {@link Transport} whose connections come from that host
 * name; listeners bind `HOST:PORT` (port 0: the next free port).
 * @example
 * const net = new MemoryNetwork({ clock });
 * const relay = await RelayDaemon.start({ clusterKey, listen: { host: 'r1', port: 0 }, transport: net.host('r1') });
 */
export class MemoryNetwork implements LinkNetwork {
  readonly clock: Clock;
  readonly recording: boolean;
  readonly #seed: number;
  readonly #bound = new Map<string, Bound>();
  readonly #links: MemoryLink[] = [];
  readonly #shapes = new Map<string, LinkShape>();
  readonly #frozen = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  readonly #crashed = new Set<string>();
  #nextPort = FIRST_PORT;
  #linkCount = 0;

  constructor(opts: MemoryNetworkOptions = {}) {
    this.clock = opts.clock ?? new RealClock();
    this.recording = opts.record ?? false;
    this.#seed = opts.seed ?? 0;
  }

  /** The transport of host `name`: what a role on that host is given. */
  host(name: string): Transport {
    return {
      kind: 'memory',
      listen: (addr, opts) => this.#listen(name, addr, opts),
      connect: (addr, opts) => this.#connect(name, addr, opts),
    };
  }

  /** Every link made so far (open or not), in order. */
  get links(): readonly MemoryLink[] {
    return this.#links;
  }

  /** Links between hosts `a` and `b` (either direction), in order. */
  linksBetween(a: string, b: string): MemoryLink[] {
    return this.#links.filter(
      (l) => (l.clientHost === a && l.serverHost === b) || (l.clientHost === b && l.serverHost === a),
    );
  }

  /** Sets how bytes travel from host `from` to host `to` (and, unless `oneWay`, back). */
  shape(from: string, to: string, shape: LinkShape, oneWay = false): void {
    this.#shapes.set(`${from}\u0000${to}`, shape);
    if (!oneWay) this.#shapes.set(`${to}\u0000${from}`, shape);
  }

  shapeOf(from: string, to: string): LinkShape | undefined {
    return this.#shapes.get(`${from}\u0000${to}`);
  }

  /** Holds every byte to and from `host` until {@link thaw} (its peers' writes back up). */
  freeze(host: string): void {
    if (this.#frozen.has(host)) return;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.#frozen.set(host, { promise, resolve });
  }

  thaw(host: string): void {
    this.#frozen.get(host)?.resolve();
    this.#frozen.delete(host);
  }

  /** Resolves once neither host is frozen. */
  async thawed(a: string, b: string): Promise<void> {
    for (;;) {
      const f = this.#frozen.get(a) ?? this.#frozen.get(b);
      if (f === undefined) return;
      await f.promise;
    }
  }

  /**
   * The host dies: its listeners are unbound, every link to or from it is reset (bytes held by a freeze are lost),
   * and it can neither connect nor be reached until {@link revive}.
   */
  crash(host: string): void {
    this.#crashed.add(host);
    for (const [k, b] of this.#bound) if (b.host === host) this.#bound.delete(k);
    for (const l of this.#links) if (l.clientHost === host || l.serverHost === host) l.kill();
    this.thaw(host);
  }

  revive(host: string): void {
    this.#crashed.delete(host);
  }

  async #listen(host: string, addr: HostPort, opts: ListenOptions): Promise<ChannelListener> {
    const psk = deriveTlsPsk(opts.key);
    const at: HostPort = { host: addr.host === '0.0.0.0' || addr.host === '::' ? host : addr.host, port: addr.port };
    if (at.port === 0) at.port = this.#port();
    const where = formatHostPort(at);
    if (this.#crashed.has(host))
      throw smigError('SMIG_ERR_CONNECTION', `listen on ${where}: ${describeErrno(errno('EADDRNOTAVAIL', 'down'))}`);
    if (this.#bound.has(where))
      throw smigError('SMIG_ERR_CONNECTION', `listen on ${where}: ${describeErrno(errno('EADDRINUSE', 'in use'))}`);
    const b: Bound = { host, psk, opts, live: new Set() };
    this.#bound.set(where, b);
    return {
      address: at,
      get connections(): number {
        return b.live.size;
      },
      handshakes: 0,
      close: async (): Promise<void> => {
        if (this.#bound.get(where) === b) this.#bound.delete(where);
        await Promise.all([...b.live].map((c) => c.close()));
      },
    };
  }

  async #connect(host: string, addr: HostPort, opts: ConnectOptions): Promise<FramedConnection> {
    const remote = formatHostPort(addr);
    const psk = deriveTlsPsk(opts.key);
    const retries = opts.retries ?? 0;
    for (let attempt = 0; ; attempt++) {
      await new Promise<void>((r) => setImmediate(r)); // connecting is never synchronous
      if (opts.signal?.aborted)
        throw smigError('SMIG_ERR_CONNECTION', `connect to ${remote}: aborted`, opts.signal.reason);
      const b = this.#crashed.has(host) ? undefined : this.#bound.get(remote);
      if (b === undefined) {
        if (attempt < retries) continue;
        const code = this.#crashed.has(host) ? 'ENETUNREACH' : 'ECONNREFUSED';
        throw smigError('SMIG_ERR_CONNECTION', `connect to ${remote}: ${describeErrno(errno(code, code))}`);
      }
      const local: HostPort = { host, port: this.#port() };
      if (!psk.equals(b.psk)) {
        report(b, { remote: formatHostPort(local), reason: 'wrong key: the PSK binder does not verify' });
        throw smigError(
          'SMIG_ERR_HANDSHAKE',
          `TLS handshake with ${remote} failed: the peer rejected our key; check that both hosts use the same cluster key`,
        );
      }
      const max = b.opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
      if (b.live.size >= max) {
        report(b, { remote: formatHostPort(local), reason: `too many connections (at most ${max})` });
        throw smigError(
          'SMIG_ERR_HANDSHAKE',
          `TLS handshake with ${remote} failed: the peer closed the connection (ECONNRESET)`,
        );
      }
      return this.#join(b, local, addr, psk, opts);
    }
  }

  #join(b: Bound, local: HostPort, addr: HostPort, psk: Buffer, opts: ConnectOptions): FramedConnection {
    const n = this.#linkCount++;
    const secret = createHash('sha256').update(`smig memory link ${this.#seed} ${n}\u0000`).update(psk).digest();
    const link = new MemoryLink(this, local, addr, secret);
    this.#links.push(link);
    const lo = b.opts;
    const server = new FramedConnection(link.socket('server'), {
      remote: link.client,
      clock: this.clock,
      idleTimeoutMs: lo.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      closeTimeoutMs: lo.handshakeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS,
      ...(lo.openingFrameMaxLength === undefined ? {} : { openingFrameMaxLength: lo.openingFrameMaxLength }),
      ...(lo.maxFrameLength === undefined ? {} : { maxFrameLength: lo.maxFrameLength }),
      ...(lo.writeQueueMark === undefined ? {} : { writeQueueMark: lo.writeQueueMark }),
    });
    b.live.add(server);
    void server.closed.then(() => b.live.delete(server));
    const client = new FramedConnection(link.socket('client'), {
      remote: link.server,
      clock: this.clock,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      closeTimeoutMs: opts.handshakeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS,
      ...(opts.maxFrameLength === undefined ? {} : { maxFrameLength: opts.maxFrameLength }),
      ...(opts.writeQueueMark === undefined ? {} : { writeQueueMark: opts.writeQueueMark }),
    });
    try {
      lo.onConnection(server);
    } catch (err) {
      server.destroy(
        err instanceof Error ? err : smigError('SMIG_ERR_INTERNAL', `onConnection for ${link.client}: ${String(err)}`),
      );
    }
    return client;
  }

  #port(): number {
    return this.#nextPort++;
  }
}

function report(b: Bound, info: { remote: string; reason: string }): void {
  try {
    b.opts.onRejected?.(info);
  } catch {
    // must not throw; the listener outlives a faulty callback
  }
}
