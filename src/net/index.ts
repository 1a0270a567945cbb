/**
 * TLS 1.3 external-PSK channels carrying smig frames (DESIGN §3 "Channel", "Frames"): listen and
 * connect, a framed connection with backpressure both ways, handshake and idle timeouts, and the
 * `HOST:PORT` addresses of the command line.
 */
export { formatHostPort, parseHostList, parseHostPort } from './address.js';
export type { HostPort } from './address.js';
export { FramedConnection } from './connection.js';
export type { CloseInfo, FrameHandler, FramedConnectionOptions, TlsInfo } from './connection.js';
export {
  CLUSTER_KEY_LENGTH,
  TLS_CIPHERS,
  TLS_PSK_IDENTITY,
  TLS_PSK_LABEL,
  connectChannel,
  deriveTlsPsk,
  listenChannel,
} from './tls.js';
export type { ChannelListener, ChannelOptions, ConnectOptions, ListenOptions, RejectInfo } from './tls.js';
