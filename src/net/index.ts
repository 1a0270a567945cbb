/**
 * TLS 1.3 external-PSK channels carrying smig frames (docs/DESIGN.md §3 "Channel", "Frames"): listen and
 * connect, a framed connection with backpressure both ways, handshake and idle timeouts, and the
 * `HOST:PORT` addresses of the command line.
 */

export type { HostPort } from './address.js';
export { formatHostPort, parseHostList, parseHostPort } from './address.js';
export type { CloseInfo, FramedConnectionOptions, FrameHandler, TlsInfo } from './connection.js';
export { DEFAULT_WRITE_QUEUE_MARK, FramedConnection } from './connection.js';
export type {
  ChannelListener,
  ChannelOptions,
  ConnectOptions,
  ListenerLimits,
  ListenOptions,
  RejectInfo,
} from './tls.js';
export {
  CLUSTER_KEY_LENGTH,
  connectChannel,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_PER_ADDRESS,
  DEFAULT_OPENING_FRAME_MAX_LENGTH,
  DEFAULT_REJECT_LOG_INTERVAL_MS,
  deriveTlsPsk,
  listenChannel,
  TLS_CIPHERS,
  TLS_PSK_IDENTITY,
  TLS_PSK_LABEL,
} from './tls.js';
export type { Transport } from './transport.js';
export { tlsTransport } from './transport.js';
