/**
 * TLS 1.3 external-PSK channels carrying smig frames (docs/DESIGN.md §3 "Channel", "Frames"): listen and
 * connect, a framed connection with backpressure both ways, handshake and idle timeouts, and the
 * `HOST:PORT` addresses of the command line.
 */
export { formatHostPort, parseHostList, parseHostPort } from './address.js';
export type { HostPort } from './address.js';
export { DEFAULT_WRITE_QUEUE_MARK, FramedConnection } from './connection.js';
export type { CloseInfo, FrameHandler, FramedConnectionOptions, TlsInfo } from './connection.js';
export {
  CLUSTER_KEY_LENGTH,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_PER_ADDRESS,
  DEFAULT_OPENING_FRAME_MAX_LENGTH,
  DEFAULT_REJECT_LOG_INTERVAL_MS,
  TLS_CIPHERS,
  TLS_PSK_IDENTITY,
  TLS_PSK_LABEL,
  connectChannel,
  deriveTlsPsk,
  listenChannel,
} from './tls.js';
export type { ChannelListener, ChannelOptions, ConnectOptions, ListenerLimits, ListenOptions, RejectInfo } from './tls.js';
