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
 * Not modelled: the idle timeout (`setTimeout` on the socket is accepted and ignored), the listener's handshake
 * and opening-frame deadlines, and its per-address caps. `maxConnections` is kept.
 */
import { createHash, hkdfSync } from 'node:crypto';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { smigError } from '../errors.js';
import type { Clock } from '../pacing/clock.js';
import { RealClock } from '../pacing/clock.js';
import type { HostPort } from './address.js';
import { formatHostPort } from './address.js';
import { FramedConnection } from './connection.js';
import { describeErrno } from './error-text.js';
import type { ChannelListener, ConnectOptions, ListenOptions } from './tls.js';
import { DEFAULT_MAX_CONNECTIONS, deriveTlsPsk } from './tls.js';
import type { Transport } from './transport.js';

/** First port handed out for port 0 and for the connecting side of a link. */
const FIRST_PORT = 40_000;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;

/** How one direction between two hosts carries bytes. */
export interface LinkShape {
  /** One-way delay added to every write, ms. Default 0. */
  latencyMs?: number;
  /** Serialization rate, bytes per second: a write of n bytes occupies the link n / rate seconds. Default unlimited. */
  bytesPerSecond?: number;
}

/** Options of {@link MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /** Times latency and bandwidth (default RealClock); unshaped links need no time. */
  clock?: Clock;
  /** Seeds the links' keying material (default 0). */
  seed?: number;
  /** Keep every delivery (time, direction, bytes) in {@link MemoryLink.deliveries}. Default false. */
  record?: boolean;
}

/** One delivery on a link, when `record` is on. */
export interface Delivery {
  /** Clock time the bytes reached the receiver. */
  at: number;
  /** `up`: client → server; `down`: server → client. */
  dir: 'up' | 'down';
  bytes: number;
}

function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/** One end of a link: the socket a FramedConnection reads and writes. */
class MemorySocket extends Duplex {
  readonly #link: MemoryLink;
  readonly #side: 'client' | 'server';
  /** The writer's completion held until this socket's reader takes more (receive buffer full). */
  #held: (() => void) | null = null;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;

  constructor(link: MemoryLink, side: 'client' | 'server', local: HostPort, remote: HostPort) {
    super({ allowHalfOpen: false });
    this.#link = link;
    this.#side = side;
    this.localAddress = local.host;
    this.localPort = local.port;
    this.remoteAddress = remote.host;
    this.remotePort = remote.port;
  }

  /** Bytes written here, arriving at the other end: queued for a later turn, done once the peer took them. */
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#link.carry(this.#side, Buffer.from(chunk), cb);
  }

  /** A corked batch (a frame's header and body) travels as one piece, like one TLS record. */
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.#link.carry(this.#side, Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#link.carry(this.#side, null, cb);
  }

  override _read(): void {
    const h = this.#held;
    this.#held = null;
    h?.();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#link.gone(this.#side);
    const h = this.#held;
    this.#held = null;
    h?.();
    cb(err);
  }

  /** Receives bytes (null: the peer's end); `done` runs once the receive buffer has room again. */
  receive(bytes: Buffer | null, done: () => void): void {
    if (this.destroyed) {
      done();
      return;
    }
    if (this.push(bytes) || bytes === null) done();
    else this.#held = done;
  }

  /** `done` runs at once if the receive buffer has room, else when the reader takes more. */
  room(done: () => void): void {
    if (this.destroyed || this.readableLength < this.readableHighWaterMark) done();
    else this.#held = done;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  /** The idle timeout is not modelled (see the module comment). */
  setTimeout(): this {
    return this;
  }

  /** What `FramedConnection.tls` reports for an in-process link: no TLS, an authenticated pipe. */
  getProtocol(): string {
    return 'memory';
  }

  getCipher(): { standardName: string } {
    return { standardName: 'none (in-process)' };
  }

  /** RFC 5705-shaped exporter over the link's secret (see the module comment). */
  exportKeyingMaterial(length: number, label: string, context: Buffer): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#link.secret, context, label, length));
  }
}

/** A link between two in-process sockets; what a test can watch and break. */
export class MemoryLink {
  /** `HOST:PORT` of the connecting side and of the listener. */
  readonly client: string;
  readonly server: string;
  /** Hosts of either side (the transport's host name and the listener's). */
  readonly clientHost: string;
  readonly serverHost: string;
  /** Bytes delivered client → server and server → client. */
  up = 0;
  down = 0;
  /** Every delivery, when the network records. */
  readonly deliveries: Delivery[] = [];
  /** Keying-material secret of both ends. */
  readonly secret: Buffer;
  readonly #net: MemoryNetwork;
  readonly #sockets: { client: MemorySocket; server: MemorySocket };
  /** Per direction: when the link is free again (bandwidth), in clock ms. */
  readonly #busyUntil = { client: 0, server: 0 };
  #watchers: { dir: 'up' | 'down'; bytes: number; resolve: () => void }[] = [];
  #open = true;

  constructor(net: MemoryNetwork, client: HostPort, server: HostPort, secret: Buffer) {
    this.#net = net;
    this.client = formatHostPort(client);
    this.server = formatHostPort(server);
    this.clientHost = client.host;
    this.serverHost = server.host;
    this.secret = secret;
    this.#sockets = {
      client: new MemorySocket(this, 'client', client, server),
      server: new MemorySocket(this, 'server', server, client),
    };
  }

  /** The socket of one side, as the FramedConnection sees it (the subset of a net.Socket it uses). */
  socket(side: 'client' | 'server'): Socket {
    return this.#sockets[side] as unknown as Socket;
  }

  /** True until either end is destroyed or the link is killed. */
  get open(): boolean {
    return this.#open;
  }

  /** Resolves once `bytes` have been delivered in direction `dir` (at once if they have). */
  carried(dir: 'up' | 'down', bytes: number): Promise<void> {
    if ((dir === 'up' ? this.up : this.down) >= bytes) return Promise.resolve();
    return new Promise((resolve) => this.#watchers.push({ dir, bytes, resolve }));
  }

  /** Resets the link mid-stream: both ends fail with ECONNRESET, bytes in flight are lost. */
  kill(): void {
    this.#open = false;
    for (const s of [this.#sockets.client, this.#sockets.server])
      if (!s.destroyed) s.destroy(errno('ECONNRESET', 'read ECONNRESET'));
  }

  /** One end was destroyed: the other sees the end of the stream after what is already on its way. */
  gone(side: 'client' | 'server'): void {
    if (!this.#open) return;
    this.#open = false;
    const other = this.#sockets[side === 'client' ? 'server' : 'client'];
    setImmediate(() => other.receive(null, () => {}));
  }

  /**
   * Moves `bytes` (null: the end of the stream) from `side` to the other side, after the link's shaping and
   * while neither host is frozen; `cb` completes the write once the receiver took them.
   */
  carry(side: 'client' | 'server', bytes: Buffer | null, cb: (err?: Error | null) => void): void {
    const to = this.#sockets[side === 'client' ? 'server' : 'client'];
    const dir = side === 'client' ? 'up' : 'down';
    const from = side === 'client' ? this.clientHost : this.serverHost;
    const dest = side === 'client' ? this.serverHost : this.clientHost;
    const shape = this.#net.shapeOf(from, dest);
    const n = bytes?.length ?? 0;
    const deliver = (): void => {
      if (!this.#open && bytes !== null) {
        cb();
        return;
      }
      if (bytes !== null) this.#count(dir, n);
      to.receive(bytes, () => cb());
    };
    const afterFreeze = (): void => {
      void this.#net.thawed(from, dest).then(() => (this.#open || bytes === null ? deliver() : cb()));
    };
    if (shape === undefined || ((shape.latencyMs ?? 0) <= 0 && !(shape.bytesPerSecond! > 0))) {
      setImmediate(afterFreeze);
      return;
    }
    // shaped: the write is done once the link has serialized it (and the receiver has room); the bytes arrive
    // a latency later, in order (arrival times only grow)
    const clock = this.#net.clock;
    const now = clock.now();
    const tx = shape.bytesPerSecond! > 0 ? (n / shape.bytesPerSecond!) * 1000 : 0;
    const start = Math.max(now, this.#busyUntil[side]);
    this.#busyUntil[side] = start + tx;
    const arrive = start + tx + Math.max(0, shape.latencyMs ?? 0);
    let arrived = false;
    let sent = false;
    let reported = false;
    const report = (): void => {
      if (reported || !(arrived || bytes !== null) || !sent) return;
      reported = true;
      to.room(() => cb());
    };
    void clock.sleep(start + tx - now).then(() => {
      sent = true;
      report();
    });
    void clock
      .sleep(arrive - now)
      .then(() => this.#net.thawed(from, dest))
      .then(() => {
        arrived = true;
        if (this.#open || bytes === null) {
          if (bytes !== null) this.#count(dir, n);
          to.receive(bytes, () => {});
        }
        report();
      });
  }

  #count(dir: 'up' | 'down', n: number): void {
    if (dir === 'up') this.up += n;
    else this.down += n;
    if (this.#net.recording) this.deliveries.push({ at: this.#net.clock.now(), dir, bytes: n });
    this.#wake();
  }

  #wake(): void {
    const w = this.#watchers;
    this.#watchers = w.filter((x) => (x.dir === 'up' ? this.up : this.down) < x.bytes);
    for (const x of w) if ((x.dir === 'up' ? this.up : this.down) >= x.bytes) x.resolve();
  }
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
export class MemoryNetwork {
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
