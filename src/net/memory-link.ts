/**
 * The two ends of one in-process link of a MemoryNetwork (memory.ts): duplex streams that stand in for the sockets
 * under a FramedConnection, and the link between them (delivery, shaping, faults, keying material).
 */
import { hkdfSync } from 'node:crypto';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Clock } from '../pacing/clock.js';
import type { HostPort } from './address.js';
import { formatHostPort } from './address.js';

/** How one direction between two hosts carries bytes. */
export interface LinkShape {
  /** One-way delay added to every write, ms. Default 0. */
  latencyMs?: number;
  /** Serialization rate, bytes per second: a write of n bytes occupies the link n / rate seconds. Default unlimited. */
  bytesPerSecond?: number;
}

/** What a link needs of its network. */
export interface LinkNetwork {
  readonly clock: Clock;
  readonly recording: boolean;
  shapeOf(from: string, to: string): LinkShape | undefined;
  thawed(a: string, b: string): Promise<void>;
}

/** One delivery on a link, when `record` is on. */
export interface Delivery {
  /** Clock time the bytes reached the receiver. */
  at: number;
  /** `up`: client → server; `down`: server → client. */
  dir: 'up' | 'down';
  bytes: number;
}

export function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/** One end of a link: the socket a FramedConnection reads and writes. */
class MemorySocket extends Duplex {
  readonly #link: MemoryLink;
  readonly #side: 'client' | 'server';
  /** The writer's completion held until this socket's reader takes more (receive buffer full). */
  #held: (() => void) | null = null;
  /** Idle timeout (`setTimeout`), on the network's clock: its length, callback, last activity and cancel. */
  #idleMs = 0;
  #onIdle: (() => void) | undefined;
  #lastActive = 0;
  #idleStop: AbortController | undefined;
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
    this.#touch();
    this.#link.carry(this.#side, Buffer.from(chunk), cb);
  }

  /** A corked batch (a frame's header and body) travels as one piece, like one TLS record. */
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.#touch();
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
    this.#idleStop?.abort();
    // closed with bytes it never read: a kernel answers with RST, not FIN (the peer's reads and writes fail)
    this.#link.gone(this.#side, this.readableLength > 0);
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
    this.#touch();
    if (this.push(bytes) || bytes === null) done();
    else this.#held = done;
    // the end of a stream nobody reads (no frame handler, nothing buffered): let it end, as a socket's would
    if (bytes === null && this.listenerCount('data') === 0 && this.readableLength === 0) this.resume();
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

  /**
   * Idle timeout as a socket's (0 disables): `onIdle` runs once no byte has been written or received for `ms` of
   * the network's clock.
   */
  setTimeout(ms: number, onIdle?: () => void): this {
    this.#idleStop?.abort();
    this.#idleStop = undefined;
    this.#idleMs = Math.max(ms, 0);
    if (onIdle !== undefined) this.#onIdle = onIdle;
    if (this.#idleMs === 0 || this.destroyed) return this;
    this.#touch();
    const stop = new AbortController();
    this.#idleStop = stop;
    const clock = this.#link.clock;
    const check = (): void => {
      if (stop.signal.aborted || this.destroyed) return;
      const left = this.#lastActive + this.#idleMs - clock.now();
      if (left > 0) {
        clock.sleep(left, stop.signal).then(check, () => {});
        return;
      }
      this.#idleStop = undefined;
      this.#onIdle?.();
    };
    check();
    return this;
  }

  #touch(): void {
    if (this.#idleMs > 0) this.#lastActive = this.#link.clock.now();
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
  /** Clock time the link ended (an end destroyed, or killed); undefined while it is open. */
  closedAt: number | undefined;
  /**
   * Called with every write's bytes as they reach the other end (after its reader has them): a test's hook for what
   * happens right after a given frame arrives (e.g. a reset just then).
   */
  onDelivery: ((dir: 'up' | 'down', bytes: Buffer) => void) | undefined;
  /** Keying-material secret of both ends. */
  readonly secret: Buffer;
  readonly #net: LinkNetwork;
  readonly #sockets: { client: MemorySocket; server: MemorySocket };
  /** Per direction: when the link is free again (bandwidth), in clock ms. */
  readonly #busyUntil = { client: 0, server: 0 };
  #watchers: { dir: 'up' | 'down'; bytes: number; resolve: () => void }[] = [];
  #open = true;

  constructor(net: LinkNetwork, client: HostPort, server: HostPort, secret: Buffer) {
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

  /** The network's clock (latency, bandwidth, idle timeouts). */
  get clock(): Clock {
    return this.#net.clock;
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
    if (this.#open) this.closedAt = this.#net.clock.now();
    this.#open = false;
    for (const s of [this.#sockets.client, this.#sockets.server]) this.#reset(s);
  }

  /**
   * One end was destroyed: the other sees the end of the stream after what is already on its way, or, when the end
   * that closed had bytes it never read (`unread`), a reset (ECONNRESET), as a kernel's RST. (Bytes that reach the
   * closed end later are dropped: the end of the stream reaches the other end at once, which then closes too.)
   */
  gone(side: 'client' | 'server', unread = false): void {
    if (!this.#open) return;
    this.#open = false;
    this.closedAt = this.#net.clock.now();
    const other = this.#sockets[side === 'client' ? 'server' : 'client'];
    setImmediate(() => (unread ? this.#reset(other) : other.receive(null, () => {})));
  }

  /** An end gets an RST: it fails with ECONNRESET (what it had read stays read). */
  #reset(s: MemorySocket): void {
    if (!s.destroyed) s.destroy(errno('ECONNRESET', 'read ECONNRESET'));
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
      if (bytes !== null) this.onDelivery?.(dir, bytes);
    };
    const afterFreeze = (): void => {
      void this.#net.thawed(from, dest).then(() => (this.#open || bytes === null ? deliver() : cb()));
    };
    if (shape === undefined || ((shape.latencyMs ?? 0) <= 0 && !(shape.bytesPerSecond! > 0))) {
      setImmediate(afterFreeze);
      return;
    }
    // shaped: the write is done once the link has serialized it (and the receiver has room); the bytes arrive
    // a latency later, in order (arrival times only grow while the shape stays)
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
    // a frozen host takes nothing: the write stays pending (one write in flight at most), as against a full window
    void clock
      .sleep(start + tx - now)
      .then(() => this.#net.thawed(from, dest))
      .then(() => {
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
          if (bytes !== null) this.onDelivery?.(dir, bytes);
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
