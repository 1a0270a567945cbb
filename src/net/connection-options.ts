/**
 * What a framed connection is configured with and reports: its options, their defaults and limits, the TLS
 * parameters and the close report (the implementation is connection.ts).
 */
import type { Clock } from '../pacing/clock.js';
import type { FrameType } from '../protocol/index.js';

/** Handles one inbound frame. Returning a promise pauses reading until it settles. */
export type FrameHandler = (type: FrameType, body: Uint8Array) => void | Promise<void>;

/** Options of {@link FramedConnection}. */
export interface FramedConnectionOptions {
  /** Name of the peer in messages; default the socket's remote `HOST:PORT`. */
  remote?: string;
  /** No bytes either way for this long → destroyed with SMIG_ERR_TIMEOUT. Default 60 s; 0 disables. */
  idleTimeoutMs?: number;
  /** How long `close()` (and the close after an ERROR) waits for the peer's close before destroying. Default 10 s. */
  closeTimeoutMs?: number;
  /** Largest frame length accepted and sent (type byte + body). Default 16 MiB. */
  maxFrameLength?: number;
  /** Reading pauses while the queued replies (bytes + 4 KiB per frame) are over this; resumes once all is flushed. Default 1 MiB. */
  writeQueueMark?: number;
  /** Hard cap on bytes waiting to be written: beyond it the connection is destroyed (SMIG_ERR_BUFFER_LIMIT). Default `maxFrameLength + 4 × writeQueueMark`. */
  maxQueuedWriteBytes?: number;
  /** Reading paused for queued replies this long (the socket did not flush them all) → destroyed (SMIG_ERR_TIMEOUT). Default: the idle timeout, or 60 s. */
  stallTimeoutMs?: number;
  /** Largest length field of the first inbound frame (later frames: `maxFrameLength`). Default `maxFrameLength`. */
  openingFrameMaxLength?: number;
  /** The first inbound frame must be complete within this long of the connection's creation, else SMIG_ERR_TIMEOUT. Default 0: no limit. */
  openingTimeoutMs?: number;
  /** Runs the opening, close and stall deadlines (the idle timeout is the socket's); default the event loop's timers. */
  clock?: Clock;
}

/** The negotiated TLS version and suite (IANA names), e.g. `TLSv1.3`, `TLS_AES_128_GCM_SHA256`. */
export interface TlsInfo {
  protocol: string;
  cipher: string;
}

/** How a connection ended: `error` is absent after a clean close by either side. */
export interface CloseInfo {
  error?: Error;
}

/** Default {@link FramedConnectionOptions.idleTimeoutMs}: 60 s. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** Default {@link FramedConnectionOptions.closeTimeoutMs}: 10 s. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;
/** Default {@link FramedConnectionOptions.writeQueueMark}: 1 MiB. */
export const DEFAULT_WRITE_QUEUE_MARK: number = 1024 * 1024;
/**
 * What a queued frame is counted as beyond its bytes. A queued small frame costs far more than its bytes
 * (its part buffers, the write request, the corked writev entry, the TLS record it becomes): a PING flood
 * measured ≈ 30 MiB of RSS for a 1 MiB queue of 9-byte PONGs. Counted at 4 KiB each, at most 256 small
 * frames wait, and a queue of large frames is still bounded by its bytes.
 */
export const QUEUED_FRAME_COST = 4096;
/** After a failure, what the peer may still send (read and dropped) before reading stops until the close timer. */
export const MAX_DISCARD_BYTES: number = 1024 * 1024;

/** Timeouts of every channel a role, the controller or an agent opens. */
export interface ChannelTimeouts {
  handshakeTimeoutMs?: number;
  idleTimeoutMs?: number;
}
