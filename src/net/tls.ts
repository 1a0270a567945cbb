/**
 * TLS 1.3 channels with an external pre-shared key (docs/DESIGN.md §3 "Channel"): every smig TCP connection.
 *
 * - No certificates. Both ends derive the TLS PSK from the 32-byte cluster key with HKDF-SHA256
 *   (RFC 5869; empty salt, info `"smig tls psk v1"`, 32 bytes), so the key file's bytes are never
 *   used raw and any later use of the cluster key gets an independent key. The PSK identity sent in
 *   the clear in the ClientHello is the fixed string `"smig-v1"`: it names the derivation, not a host.
 * - RFC 8446 §4.2.11: an external PSK is tied to one hash, here SHA-256, so only the SHA-256 suites
 *   are offered (AES-128-GCM first: AES-NI makes it the fastest; ChaCha20-Poly1305 second).
 * - A peer without the key fails the PSK binder check in the server's first flight (RFC 8446 §4.2.11.2)
 *   and never reaches `onConnection`: it changes no state. Without a PSK the server would need a
 *   certificate, which it does not have, so a non-smig TLS client fails too.
 * - Handshake timeout on both ends, idle timeout on every established connection.
 * - A listener holds a bounded number of peers: at most `maxConnections` sockets in all, `maxHandshakes`
 *   of them still in the TLS handshake, `maxPerAddress` from any one peer address; more are closed at
 *   once. A handshake must finish within the handshake timeout however slowly the peer dribbles bytes,
 *   and the first frame after it must come soon (`openingTimeoutMs`) and fit `openingFrameMaxLength`.
 * - Refused peers are reported through `onRejected` at most once per `rejectLogIntervalMs` each: the
 *   first at once, the others of the interval as one summary with a count (a flood makes one line per
 *   interval, not one per peer).
 */
import { hkdfSync } from 'node:crypto';
import type { Socket } from 'node:net';
import { connect as netConnect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createServer, connect as tlsConnect } from 'node:tls';
import type { SmigError } from '../errors.js';
import { isSmigError, smigError } from '../errors.js';
import type { HostPort } from './address.js';
import { formatHostPort } from './address.js';
import { FramedConnection } from './connection.js';
import { describeErrno, handshakeFailure, rejectReason } from './error-text.js';
import type { ListenerLimits, RejectInfo } from './limits.js';
import {
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_PER_ADDRESS,
  DEFAULT_OPENING_FRAME_MAX_LENGTH,
  DEFAULT_REJECT_LOG_INTERVAL_MS,
  positive,
  RejectLog,
} from './limits.js';

export type { ListenerLimits, RejectInfo } from './limits.js';
export {
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_PER_ADDRESS,
  DEFAULT_OPENING_FRAME_MAX_LENGTH,
  DEFAULT_REJECT_LOG_INTERVAL_MS,
} from './limits.js';

/** PSK identity in every smig ClientHello. */
export const TLS_PSK_IDENTITY = 'smig-v1';
/** HKDF `info` that turns the cluster key into the TLS PSK. */
export const TLS_PSK_LABEL = 'smig tls psk v1';
/** TLS 1.3 suites offered and accepted: the SHA-256 ones (the PSK's hash). */
export const TLS_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256';
/** Length of the cluster key made by `smig keygen`. */
export const CLUSTER_KEY_LENGTH = 32;

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** Options shared by both ends of a channel. */
export interface ChannelOptions {
  /** The 32-byte cluster key (`smig keygen`). */
  key: Uint8Array;
  /** TCP connect + TLS handshake must finish within this; also the grace of a graceful close. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** No bytes either way for this long → the connection is destroyed (SMIG_ERR_TIMEOUT). Default 60 s. */
  idleTimeoutMs?: number;
  /** TCP_NODELAY (default true): one write ≈ one segment, which the pacing relies on. */
  noDelay?: boolean;
  /** Largest frame accepted and sent (length field). Default 16 MiB. */
  maxFrameLength?: number;
  /** Reading pauses while more than this many bytes wait to be written to the peer. Default 1 MiB. */
  writeQueueMark?: number;
}

/** Options of {@link listenChannel}. */
export interface ListenOptions extends ChannelOptions, ListenerLimits {
  /** Called for each peer that completed the handshake. If it throws, that connection is destroyed. */
  onConnection(conn: FramedConnection): void;
  /** Called for each peer refused before or during the handshake (wrong key, not TLS, timeout, reset). Must not throw. */
  onRejected?(info: RejectInfo): void;
}

/** Options of {@link connectChannel}. */
export interface ConnectOptions extends ChannelOptions {
  /** Aborts connecting (not the established connection). */
  signal?: AbortSignal;
  /** Further attempts after a TCP-level failure (refused, reset, unreachable), with backoff 100 ms·2ⁿ up to 2 s. Default 0. TLS failures are not retried. */
  retries?: number;
}

/** A listening channel endpoint. */
export interface ChannelListener {
  /** The bound address (the real port when 0 was asked). */
  readonly address: HostPort;
  /** Established connections currently open. */
  readonly connections: number;
  /** Sockets accepted and still in the TLS handshake. */
  readonly handshakes: number;
  /** Stops accepting, drops handshakes in progress, closes open connections gracefully; resolves when all are closed. */
  close(): Promise<void>;
}

/**
 * The TLS PSK for a cluster key: HKDF-SHA256(ikm = key, salt = empty, info = {@link TLS_PSK_LABEL}, L = 32).
 * @throws RangeError unless `clusterKey` is 32 bytes.
 */
export function deriveTlsPsk(clusterKey: Uint8Array): Buffer {
  if (!(clusterKey instanceof Uint8Array) || clusterKey.length !== CLUSTER_KEY_LENGTH) {
    throw new RangeError(
      `cluster key: expected ${CLUSTER_KEY_LENGTH} bytes, got ${clusterKey instanceof Uint8Array ? clusterKey.length : typeof clusterKey}`,
    );
  }
  return Buffer.from(hkdfSync('sha256', clusterKey, new Uint8Array(0), TLS_PSK_LABEL, 32));
}

/**
 * Listens for smig channels on `addr` (port 0: any free port).
 * @throws (rejects) SmigError SMIG_ERR_CONNECTION when the address cannot be bound.
 * @example
 * const l = await listenChannel({ host: '127.0.0.1', port: 0 }, { key, onConnection: (c) => serve(c) });
 */
export async function listenChannel(addr: HostPort, opts: ListenOptions): Promise<ChannelListener> {
  const psk = deriveTlsPsk(opts.key);
  const handshakeMs = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const where = formatHostPort(addr);
  const live = new Set<FramedConnection>();
  const pending = new Map<string, Socket>(); // TCP accepted, handshake not done, by remote HOST:PORT
  const perAddress = new Map<string, number>(); // sockets open per peer address
  const refused = new WeakSet<Socket>(); // closed by a cap or deadline here, or reported: a later TLS error is not news
  const maxConnections = positive(opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS, 'maxConnections');
  const maxHandshakes = positive(opts.maxHandshakes ?? DEFAULT_MAX_HANDSHAKES, 'maxHandshakes');
  const maxPerAddress = positive(opts.maxPerAddress ?? DEFAULT_MAX_PER_ADDRESS, 'maxPerAddress');
  const rejects = new RejectLog((info) => {
    try {
      opts.onRejected?.(info);
    } catch {
      // documented as must-not-throw; the listener outlives a faulty callback
    }
  }, opts.rejectLogIntervalMs ?? DEFAULT_REJECT_LOG_INTERVAL_MS);
  const reject = (info: RejectInfo): void => rejects.add(info);

  const server = createServer({
    // unknown identity → null → OpenSSL falls back to certificates, of which there are none → refused
    pskCallback: (_socket, identity) => (identity === TLS_PSK_IDENTITY ? psk : null),
    ciphers: TLS_CIPHERS,
    minVersion: 'TLSv1.3',
    handshakeTimeout: handshakeMs,
  });
  // beyond maxConnections node closes a new socket before any TLS state exists ('drop')
  server.maxConnections = maxConnections;
  server.on('drop', (d?: { remoteAddress?: string; remotePort?: number }) =>
    reject({
      remote: formatHostPort({ host: d?.remoteAddress ?? '?', port: d?.remotePort ?? 0 }),
      reason: `too many connections (at most ${maxConnections})`,
    }),
  );
  server.on('connection', (raw: Socket) => {
    const remote = remoteOf(raw);
    const from = addressOf(raw);
    raw.on('error', () => {}); // reported through tlsClientError or the TLS socket
    const n = (perAddress.get(from) ?? 0) + 1;
    perAddress.set(from, n);
    raw.once('close', () => {
      pending.delete(remote);
      const left = (perAddress.get(from) ?? 1) - 1;
      if (left > 0) perAddress.set(from, left);
      else perAddress.delete(from);
    });
    const over =
      n > maxPerAddress
        ? `too many connections from ${from} (at most ${maxPerAddress})`
        : pending.size >= maxHandshakes
          ? `too many handshakes in progress (at most ${maxHandshakes})`
          : null;
    if (over !== null) {
      refused.add(raw);
      raw.destroy();
      reject({ remote, reason: over });
      return;
    }
    pending.set(remote, raw);
    // node's own handshake timeout restarts on every byte: this one does not
    const deadline = setTimeout(() => {
      if (pending.get(remote) !== raw || refused.has(raw)) return;
      refused.add(raw);
      raw.destroy();
      reject({ remote, reason: `no handshake within ${handshakeMs} ms (ERR_TLS_HANDSHAKE_TIMEOUT)` });
    }, handshakeMs);
    deadline.unref();
    raw.once('close', () => clearTimeout(deadline));
    if (opts.noDelay ?? true) raw.setNoDelay(true);
  });
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    socket.destroy(); // node leaves it open after a handshake timeout
    const remote = remoteOf(socket);
    const raw = rawOf(socket);
    if (refused.has(raw)) return;
    refused.add(raw);
    reject({ remote, reason: rejectReason(err, handshakeMs) });
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const remote = remoteOf(socket);
    pending.delete(remote);
    const conn = new FramedConnection(socket, {
      remote,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      closeTimeoutMs: handshakeMs,
      openingFrameMaxLength: opts.openingFrameMaxLength ?? DEFAULT_OPENING_FRAME_MAX_LENGTH,
      openingTimeoutMs: opts.openingTimeoutMs ?? 3 * handshakeMs,
      ...(opts.maxFrameLength === undefined ? {} : { maxFrameLength: opts.maxFrameLength }),
      ...(opts.writeQueueMark === undefined ? {} : { writeQueueMark: opts.writeQueueMark }),
    });
    live.add(conn);
    void conn.closed.then(() => live.delete(conn));
    try {
      opts.onConnection(conn);
    } catch (err) {
      conn.destroy(
        err instanceof Error ? err : smigError('SMIG_ERR_INTERNAL', `onConnection for ${remote}: ${String(err)}`),
      );
    }
  });

  await new Promise<void>((resolve, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      fail(smigError('SMIG_ERR_CONNECTION', `listen on ${where}: ${describeErrno(err)}`, err)),
    );
    server.listen(addr.port, addr.host, () => resolve());
  });
  // after listening, accept errors (EMFILE...) are transient: report, keep serving
  server.removeAllListeners('error');
  server.on('error', (err: NodeJS.ErrnoException) =>
    reject({ remote: '?', reason: `accept failed: ${describeErrno(err)}` }),
  );

  const bound = server.address();
  const address: HostPort =
    bound !== null && typeof bound === 'object' ? { host: bound.address, port: bound.port } : { ...addr };
  return {
    address,
    get connections(): number {
      return live.size;
    },
    get handshakes(): number {
      return pending.size;
    },
    async close(): Promise<void> {
      rejects.close();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const raw of pending.values()) raw.destroy();
      await Promise.all([...live].map((c) => c.close()));
      await stopped;
    },
  };
}

/**
 * Connects to a smig channel listener and completes the TLS-PSK handshake.
 * @throws (rejects) SmigError SMIG_ERR_CONNECTION (TCP: refused, reset, unreachable, aborted),
 *   SMIG_ERR_HANDSHAKE (the peer refused our key, is not a smig peer, or timed out).
 */
export async function connectChannel(addr: HostPort, opts: ConnectOptions): Promise<FramedConnection> {
  const psk = deriveTlsPsk(opts.key);
  const retries = opts.retries ?? 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await connectOnce(addr, psk, opts);
    } catch (err) {
      const transient = isSmigError(err) && err.code === 'SMIG_ERR_CONNECTION' && !(opts.signal?.aborted ?? false);
      if (!transient || attempt >= retries) throw err;
      await sleep(Math.min(100 * 2 ** attempt, 2000), opts.signal);
    }
  }
}

function connectOnce(addr: HostPort, psk: Buffer, opts: ConnectOptions): Promise<FramedConnection> {
  const remote = formatHostPort(addr);
  const handshakeMs = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  return new Promise<FramedConnection>((resolve, reject) => {
    let tlsSocket: TLSSocket | undefined;
    let settled = false;
    const raw = netConnect({ host: addr.host, port: addr.port, noDelay: opts.noDelay ?? true });
    const fail = (err: SmigError): void => {
      if (settled) return;
      settled = true;
      cleanup();
      tlsSocket?.destroy();
      raw.destroy();
      reject(err);
    };
    const timer = setTimeout(
      () => fail(smigError('SMIG_ERR_HANDSHAKE', `TLS handshake with ${remote}: not done within ${handshakeMs} ms`)),
      handshakeMs,
    );
    const onAbort = (): void =>
      fail(smigError('SMIG_ERR_CONNECTION', `connect to ${remote}: aborted`, opts.signal?.reason));
    const onRawError = (err: NodeJS.ErrnoException): void =>
      fail(smigError('SMIG_ERR_CONNECTION', `connect to ${remote}: ${describeErrno(err)}`, err));
    const onTlsError = (err: NodeJS.ErrnoException): void =>
      fail(smigError('SMIG_ERR_HANDSHAKE', `TLS handshake with ${remote} failed: ${handshakeFailure(err)}`, err));
    const onTlsClose = (): void =>
      fail(smigError('SMIG_ERR_HANDSHAKE', `TLS handshake with ${remote} failed: the peer closed the connection`));
    const cleanup = (): void => {
      clearTimeout(timer);
      tlsSocket?.off('close', onTlsClose);
      opts.signal?.removeEventListener('abort', onAbort);
      raw.off('error', onRawError);
      tlsSocket?.off('error', onTlsError);
    };
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    raw.on('error', onRawError);

    raw.once('connect', () => {
      if (settled) return;
      raw.off('error', onRawError);
      raw.on('error', () => {}); // from here the TLS socket reports
      const s = tlsConnect({
        socket: raw,
        pskCallback: () => ({ psk, identity: TLS_PSK_IDENTITY }),
        ciphers: TLS_CIPHERS,
        minVersion: 'TLSv1.3',
        checkServerIdentity: () => undefined, // no certificates: the PSK binder authenticates the server
      });
      tlsSocket = s;
      s.on('error', onTlsError);
      s.once('secureConnect', () => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve(
          new FramedConnection(s, {
            remote,
            idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
            closeTimeoutMs: handshakeMs,
            ...(opts.maxFrameLength === undefined ? {} : { maxFrameLength: opts.maxFrameLength }),
            ...(opts.writeQueueMark === undefined ? {} : { writeQueueMark: opts.writeQueueMark }),
          }),
        );
      });
      // the server may close without an alert (e.g. its handshake timeout): no 'error' then
      s.once('close', onTlsClose);
    });
  });
}

function remoteOf(s: Socket): string {
  return formatHostPort({ host: s.remoteAddress ?? '?', port: s.remotePort ?? 0 });
}

/** The TCP socket under a server-side TLS socket (node keeps it as `_parent`), for the refusal bookkeeping. */
function rawOf(s: TLSSocket): Socket {
  return (s as TLSSocket & { _parent?: Socket })._parent ?? s;
}

/** The peer's address without port; an IPv4-mapped IPv6 address as plain IPv4 (one host, one count). */
function addressOf(s: Socket): string {
  const a = s.remoteAddress ?? '?';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
