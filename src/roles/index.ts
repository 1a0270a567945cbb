/**
 * The migration roles on sockets (DESIGN §2 `src/roles/`): the source (`smig send`), the relay daemon
 * that serves as data relay, key relay and leader (`smig relay`), and the destination (`smig recv`).
 * Protocol logic stays in src/protocol and src/crypto and in the pure window/reorder structures here.
 */
export { runSource, DEFAULT_CHUNK_SIZE, DEFAULT_WINDOW, MAX_CHUNK_SIZE, MAX_SOURCE_SEGMENT_SIZE } from './source.js';
export type { ChannelTimeouts, SourceOptions, SourceResult } from './source.js';
export { RelayDaemon, DEFAULT_KEY_WAIT_MS, DEFAULT_MAX_SESSIONS, DEFAULT_MAX_WINDOW } from './relay.js';
export type { RelayOptions, RelayStats } from './relay.js';
export { DestinationDaemon, DEFAULT_EXEC_TIMEOUT_MS, DEFAULT_RECV_SESSIONS, installNoClobber, sanitizeName, sweepStaleTemps } from './destination.js';
export type { DestinationOptions } from './destination.js';
export { PROGRESS_BYTES, PROGRESS_DELAY_MS } from './leader.js';
export { Link, bulkPacer } from './link.js';
export type { LinkEnd, MessageHandler, Pacer } from './link.js';
export { createLogger, parseLogFormat, silentLogger } from './log.js';
export type { LogFields, LogFormat, LogSink, LogValue, Logger, LoggerOptions } from './log.js';
export { ReorderBuffer } from './reorder.js';
export { ChunkCutter, SendWindow, partsLength } from './window.js';
export type { Chunk } from './window.js';
