/**
 * The transport seam: how a role opens and accepts framed connections. The roles (src/roles) never call
 * `listenChannel`/`connectChannel` themselves; they take a {@link Transport} in their options, so that the same
 * session logic runs over TLS sockets in the daemons and over in-process pipes in tests (memory.ts).
 *
 * A transport has two operations, the shape of the TLS ones:
 * - `listen(addr, opts)`: binds `addr` (port 0: any free port) and hands every peer that passed the channel's
 *   authentication to `opts.onConnection` as a {@link FramedConnection} (the stream of accepted connections);
 *   resolves with the listener (bound address, counts, `close()`).
 * - `connect(addr, opts)`: one authenticated {@link FramedConnection} to `addr`, or a SmigError
 *   (SMIG_ERR_CONNECTION: nobody listens, reset, aborted; SMIG_ERR_HANDSHAKE: the peer refused our key).
 */
import type { HostPort } from './address.js';
import type { FramedConnection } from './connection.js';
import type { ChannelListener, ConnectOptions, ListenOptions } from './tls.js';
import { connectChannel, listenChannel } from './tls.js';

/** Opens and accepts smig channels (see the module comment). */
export interface Transport {
  /** What carries the frames, for logs: `tls`, `memory`. */
  readonly kind: string;
  /** Listens on `addr`; each authenticated peer goes to `opts.onConnection`. */
  listen(addr: HostPort, opts: ListenOptions): Promise<ChannelListener>;
  /** Connects to `addr` and completes the channel's authentication. */
  connect(addr: HostPort, opts: ConnectOptions): Promise<FramedConnection>;
}

/** The default transport: TLS 1.3 external-PSK channels over TCP (tls.ts). */
export const tlsTransport: Transport = Object.freeze({
  kind: 'tls',
  listen: listenChannel,
  connect: connectChannel,
});
