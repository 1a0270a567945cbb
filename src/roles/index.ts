/**
 * The migration roles on sockets (docs/DESIGN.md §2 `src/roles/`): the source (`smig send`), the relay daemon
 * that serves as data relay, key relay and leader (`smig relay`), and the destination (`smig recv`).
 * Protocol logic stays in src/protocol and src/crypto and in the pure window/reorder structures here.
 */

export type { DestinationOptions } from './destination.js';
export {
  DEFAULT_EXEC_TIMEOUT_MS,
  DEFAULT_RECV_SESSIONS,
  DestinationDaemon,
  installNoClobber,
  sanitizeName,
  sweepStaleTemps,
} from './destination.js';
export { PACED_PROGRESS_DELAY_MS, PROGRESS_BYTES, PROGRESS_DELAY_MS } from './leader.js';
export type { LinkEnd, MessageHandler } from './link.js';
export { Link } from './link.js';
export type { LogFields, LogFormat, Logger, LoggerOptions, LogSink, LogValue } from './log.js';
export { createLogger, parseLogFormat, silentLogger } from './log.js';
export type { Hop, HopPacingReport } from './pace.js';
export {
  ByteQueue,
  CONSTANT_CUSHION_SECONDS,
  CUSHION_SECONDS,
  cushionBytes,
  cushionSeconds,
  cutsWrites,
  DATA_FRAME_OVERHEAD,
  DATA_SEGMENT_FRAME_OVERHEAD,
  frameBytes,
  hopPacer,
  hopSeed,
  nextPayload,
  pacingLogFields,
  pacingReport,
  sessionPlan,
} from './pace.js';
export type { RelayOptions, RelayStats } from './relay.js';
export {
  DEFAULT_KEY_WAIT_MS,
  DEFAULT_MAX_SESSIONS,
  DEFAULT_MAX_WINDOW,
  PACED_FLUSH_MS,
  PACED_QUEUE_BYTES,
  RelayDaemon,
} from './relay.js';
export { ReorderBuffer } from './reorder.js';
export type { ChannelTimeouts, SourceOptions, SourceResult } from './source.js';
export {
  DEFAULT_CHUNK_SIZE,
  DEFAULT_WINDOW,
  KEEPALIVE_MS,
  MAX_CHUNK_SIZE,
  MAX_SOURCE_SEGMENT_SIZE,
  PACED_CHUNK_SIZE,
  PACED_SEGMENT_SIZE,
  runSource,
} from './source.js';
export type { Chunk } from './window.js';
export { ChunkCutter, partsLength, SendWindow } from './window.js';
