/**
 * A framed connection: the thin glue between a (TLS) socket and the pure frame codec of
 * `src/protocol` (docs/DESIGN.md §3 "Frames"). All framing logic lives in the
 * protocol module; this file only moves bytes and honours backpressure both ways:
 *
 * - outbound, `send()` writes header and body under `cork()` and, when the socket buffer is over its
 *   high-water mark, resolves only on `'drain'` (or rejects on close) — so an awaiting producer never
 *   queues more than one frame beyond the socket's buffer;
 * - inbound, a frame handler that returns a promise pauses reading until it settles, so a slow
 *   consumer fills the TCP window and stalls the peer instead of buffering here;
 * - both ways at once: while the replies waiting to be written (frames sent while one of this connection's
 *   handlers runs or is pending: PONG, answers) cost more than `writeQueueMark` (bytes + {@link QUEUED_FRAME_COST}
 *   per frame), reading is paused too; it resumes once the socket has flushed everything. A peer that sends
 *   requests but reads no answers therefore stalls itself; if reading stays paused for `stallTimeoutMs`, or
 *   the socket's queue passes `maxQueuedWriteBytes`, the connection is destroyed.
 *
 * A listener can also give the opening frame a smaller length limit and a deadline
 * (`openingFrameMaxLength`, `openingTimeoutMs`): before a peer has said who it is, it may park only a
 * few KiB and a few seconds here.
 *
 * Errors never escape as events: everything ends up in {@link FramedConnection.closed}.
 */
import type { Socket } from 'node:net';
import type { SmigError } from '../errors.js';
import { smigError } from '../errors.js';
import type { Clock } from '../pacing/clock.js';
import type { FrameBody, Message } from '../protocol/index.js';
import {
  DEFAULT_MAX_FRAME_LENGTH,
  encodeFrame,
  encodeMessage,
  errorMessageFor,
  FrameDecoder,
  FrameType,
  toWireText,
} from '../protocol/index.js';
import { formatHostPort } from './address.js';
import type { CloseInfo, FramedConnectionOptions, FrameHandler, TlsInfo } from './connection-options.js';
import {
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_WRITE_QUEUE_MARK,
  MAX_DISCARD_BYTES,
  QUEUED_FRAME_COST,
} from './connection-options.js';
import { DrainWait } from './drain-wait.js';
import { socketError } from './error-text.js';
import type { CancelTimer } from './timer.js';
import { startTimer } from './timer.js';
import { keyingMaterialOf, tlsInfoOf } from './tls-info.js';

export type { CloseInfo, FramedConnectionOptions, FrameHandler, TlsInfo } from './connection-options.js';
export { DEFAULT_WRITE_QUEUE_MARK, QUEUED_FRAME_COST } from './connection-options.js';

/**
 * Frames over one established socket (in smig always a TLS 1.3 PSK socket made by `listenChannel` or
 * `connectChannel`).
 *
 * Reading starts when {@link onFrame} is first called. Frames are delivered one at a time, in order:
 * while a handler's promise is pending, later frames wait (at most the rest of one socket chunk, and one more chunk) and
 * the socket is paused. A handler that throws or rejects, or a frame the decoder refuses (too large,
 * unknown type, truncated), makes the connection send ERROR (best effort) and close; the error is
 * reported by {@link closed}.
 *
 * The idle timeout counts bytes on the socket, so a handler that holds reading for longer than
 * `idleTimeoutMs` times the connection out on both ends: keep handlers shorter, or raise it.
 *
 * `bytesRead`/`bytesWritten` count frame bytes (headers included) above TLS.
 *
 * @example
 * conn.onFrame(async (type, body) => { await sink.write(body); });
 * await conn.send(FrameType.DATA, [offsetHeader, chunk]);
 * const { error } = await conn.closed;
 */
export class FramedConnection {
  /** The peer, `HOST:PORT`, for messages. */
  readonly remote: string;
  /** Our end, `HOST:PORT` (an outbound connection's ephemeral port: what a capture of the link shows). */
  readonly local: string;
  /** TLS version and suite of the channel; null over a plain socket. */
  readonly tls: TlsInfo | null;
  /** Resolves once the socket has closed, with the first error seen (none after a clean close). Never rejects. */
  readonly closed: Promise<CloseInfo>;

  readonly #socket: Socket;
  readonly #decoder: FrameDecoder;
  readonly #maxFrameLength: number;
  readonly #closeTimeoutMs: number;
  #handler: FrameHandler | null = null;
  /** Frames decoded while a handler was busy: bounded by one socket chunk, since the socket is paused. */
  #queue: [FrameType, Uint8Array][] = [];
  #busy = false;
  #error: Error | undefined;
  #failing = false;
  #isClosed = false;
  #closeTimer: CancelTimer | undefined;
  readonly #drain: DrainWait;
  #bytesRead = 0;
  #bytesWritten = 0;
  readonly #writeQueueMark: number;
  readonly #maxQueued: number;
  readonly #stallMs: number;
  /** Reading is paused because the queued replies are over #writeQueueMark. */
  #writeBlocked = false;
  /** Bytes read and dropped after a failure, while waiting for the peer's close. */
  #discarded = 0;
  /** A reply frame's last part was flushed: its cost leaves the reply queue. */
  readonly #replyFlushed =
    (bytes: number): (() => void) =>
    () => {
      this.#replyFrames--;
      this.#replyBytes -= bytes;
      this.#frameFlushed();
    };
  /**
   * After any frame's flush: reading resumes once the socket has taken everything (the peer reads) — not
   * when a non-reading peer's kernel buffers take a little more, which would let a flood go on for as long
   * as they keep growing.
   */
  readonly #frameFlushed = (): void => {
    if (this.#writeBlocked && !this.#isClosed && this.#socket.writableLength === 0) this.#unblock();
  };
  /** A handler of this connection is running (synchronously) right now. */
  #inDispatch = false;
  /** Replies (frames sent while a handler of this connection ran or was pending) not yet flushed, and their bytes. */
  #replyFrames = 0;
  #replyBytes = 0;
  #stallTimer: CancelTimer | undefined;
  #opening: { cancel: CancelTimer | undefined } | null = null;
  readonly #clock: Clock | undefined;

  constructor(socket: Socket, opts: FramedConnectionOptions = {}) {
    this.#socket = socket;
    this.#clock = opts.clock;
    this.remote = opts.remote ?? formatHostPort({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 });
    this.local = formatHostPort({ host: socket.localAddress ?? '?', port: socket.localPort ?? 0 });
    this.tls = tlsInfoOf(socket);
    this.#drain = new DrainWait(socket, () => this.#notOpen());
    this.#maxFrameLength = opts.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH;
    this.#closeTimeoutMs = opts.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    const openingMax = opts.openingFrameMaxLength;
    this.#decoder = new FrameDecoder({
      maxFrameLength: openingMax === undefined ? this.#maxFrameLength : Math.min(openingMax, this.#maxFrameLength),
      onFrame: (type, body) => this.#deliver(type, body),
    });
    this.#writeQueueMark = opts.writeQueueMark ?? DEFAULT_WRITE_QUEUE_MARK;
    this.#maxQueued = opts.maxQueuedWriteBytes ?? this.#maxFrameLength + 4 * this.#writeQueueMark;
    const idleMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.#stallMs = opts.stallTimeoutMs ?? (idleMs > 0 ? idleMs : DEFAULT_IDLE_TIMEOUT_MS);
    if (openingMax !== undefined || (opts.openingTimeoutMs ?? 0) > 0) {
      const openingMs = opts.openingTimeoutMs ?? 0;
      const late = (): void =>
        this.destroy(
          smigError('SMIG_ERR_TIMEOUT', `connection from ${this.remote}: no opening frame within ${openingMs} ms`),
        );
      this.#opening = { cancel: openingMs > 0 ? startTimer(this.#clock, openingMs, late, true) : undefined };
    }

    if (idleMs > 0) {
      // node resets the socket timer on every read and every completed write
      socket.setTimeout(idleMs, () =>
        this.destroy(
          smigError('SMIG_ERR_TIMEOUT', `connection to ${this.remote}: no bytes either way for ${idleMs} ms`),
        ),
      );
    }
    socket.on('error', (err) => this.#setError(socketError(err, this.remote)));
    socket.on('end', () => {
      if (this.#failing) return;
      try {
        this.#decoder.end(); // a partial frame at EOF is a truncated frame
      } catch (err) {
        this.#fail(err);
      }
    });
    this.closed = new Promise<CloseInfo>((resolve) => {
      const done = (): void => {
        this.#isClosed = true;
        this.#queue = [];
        this.#closeTimer?.();
        this.#stallTimer?.();
        this.#opening?.cancel?.();
        socket.setTimeout(0);
        resolve(this.#error === undefined ? {} : { error: this.#error });
      };
      if (socket.closed) done();
      else socket.once('close', done);
    });
  }

  /** Frame bytes received so far. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Frame bytes handed to the socket so far. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** Bytes queued in the socket's user-space buffer, not yet given to TLS/TCP. */
  get writableLength(): number {
    return this.#socket.writableLength;
  }

  /**
   * The reply queue as the mark sees it: bytes + {@link QUEUED_FRAME_COST} per frame of the replies not yet
   * flushed. A reply is a frame sent while one of this connection's handlers runs or is pending (PONG, an
   * answer to a request): what a peer can make us queue by sending. Other sends come from producers that
   * await them, or from timers.
   */
  get queuedCost(): number {
    return this.#replyBytes + QUEUED_FRAME_COST * this.#replyFrames;
  }

  /**
   * TLS keying material exported for `label` (RFC 5705 / RFC 8446 §7.5): the same bytes on both ends of one
   * TLS session and different on any other, so a signature over it cannot be relayed to another connection.
   * Null over a plain socket.
   */
  keyingMaterial(label: string, length: number = 32): Uint8Array | null {
    return this.tls === null ? null : keyingMaterialOf(this.#socket, label, length);
  }

  /**
   * Sets the inbound frame handler (replacing any earlier one) and starts reading.
   * A returned promise pauses reading until it settles.
   */
  onFrame(handler: FrameHandler): void {
    const first = this.#handler === null;
    this.#handler = handler;
    if (first) {
      this.#socket.on('data', (chunk: Buffer) => {
        this.#bytesRead += chunk.length;
        if (this.#failing) {
          // closing after an error: keep reading to see the peer's FIN, discard — but not for a peer that floods on.
          // That one is no longer read (its window closes) until the close timer destroys the socket: destroying
          // now, with its bytes unread, would reset the connection and could discard our ERROR before it read it
          this.#discarded += chunk.length;
          if (this.#discarded > MAX_DISCARD_BYTES) this.#socket.pause();
          return;
        }
        try {
          this.#decoder.push(chunk);
        } catch (err) {
          this.#fail(err);
          return;
        }
        // a handler still pending (or replies backed up) after a whole chunk: now stop reading. Pausing at
        // every promise instead costs a pause/resume pair per frame, though most settle before the next chunk
        if (this.#busy || this.#writeBlocked) this.#socket.pause();
      });
    }
  }

  /**
   * Sends one frame: header and body parts written under `cork()`, never concatenated.
   * Resolves at once if the socket buffer is under its high-water mark, else on `'drain'`.
   * @throws (rejects) SmigError SMIG_ERR_CONNECTION when the connection is closed or closes while
   *   waiting; SMIG_ERR_FRAME_TOO_LARGE before writing anything; RangeError for an unknown type.
   */
  send(type: FrameType, body: FrameBody): Promise<void> {
    let parts: Uint8Array[];
    try {
      parts = encodeFrame(type, body, this.#maxFrameLength);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#write(parts);
  }

  /**
   * Runs `fn` with the socket corked: the frames it sends are written together, as one TLS record when they fit in
   * one (a paced write made of several frames, e.g. data and a PAD that fills it to its planned size).
   */
  batch<T>(fn: () => T): T {
    this.#socket.cork();
    try {
      return fn();
    } finally {
      this.#socket.uncork();
    }
  }

  /** Encodes a protocol message (`encodeMessage`) and sends it like {@link send}. */
  sendMessage(msg: Message): Promise<void> {
    let parts: Uint8Array[];
    try {
      parts = encodeMessage(msg, this.#maxFrameLength);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#write(parts);
  }

  /**
   * Sends ERROR (`code` from `WIRE_ERROR_CODES`, `message` made wire-safe) and closes, as the protocol
   * wants of the sender of an ERROR. Best effort: resolves once closed, never rejects.
   */
  async sendError(code: number, message: string): Promise<void> {
    this.#writeBestEffort({ type: FrameType.ERROR, code, message: toWireText(message) });
    await this.close();
  }

  /**
   * Fails the connection with `err`: sends the matching ERROR frame (best effort), closes, and
   * reports `err` through {@link closed}. Resolves once closed, never rejects.
   */
  async abort(err: unknown): Promise<void> {
    this.#fail(err);
    await this.closed;
  }

  /**
   * Graceful close: ends our side (TLS close_notify + FIN) and resolves on `'close'`. If the peer does
   * not close within `closeTimeoutMs`, the socket is destroyed.
   */
  async close(): Promise<void> {
    if (!this.#isClosed) {
      this.#socket.end();
      this.#armCloseTimer();
    }
    await this.closed;
  }

  /** Closes at once (no close_notify); `err`, if given and first, is reported by {@link closed}. */
  destroy(err?: Error): void {
    if (err !== undefined) this.#setError(err);
    this.#socket.destroy();
  }

  #deliver(type: FrameType, body: Uint8Array): void {
    if (this.#opening !== null) {
      // the peer has said what it wants: from the next header on, any frame up to the maximum
      this.#opening.cancel?.();
      this.#opening = null;
      this.#decoder.setMaxFrameLength(this.#maxFrameLength);
    }
    // while a handler is busy or our replies back up, later frames of the chunk wait here (views, not copies)
    if (this.#busy || this.#writeBlocked || this.#queue.length > 0) this.#queue.push([type, body]);
    else this.#dispatch(type, body);
  }

  #dispatch(type: FrameType, body: Uint8Array): void {
    let result: void | Promise<void>;
    this.#inDispatch = true;
    try {
      result = this.#handler!(type, body);
    } finally {
      this.#inDispatch = false;
    }
    if (result !== undefined && typeof result.then === 'function') {
      this.#busy = true; // later frames wait; the socket pauses if a chunk comes before it settles
      result.then(
        () => this.#settled(),
        (err: unknown) => this.#fail(err),
      );
    }
  }

  #settled(): void {
    this.#busy = false;
    this.#pump();
  }

  /** Dispatches waiting frames while nothing holds them back, then lets reading run if nothing does. */
  #pump(): void {
    if (this.#failing || this.#isClosed) return;
    try {
      while (!this.#busy && !this.#writeBlocked && this.#queue.length > 0) {
        const [type, body] = this.#queue.shift()!;
        this.#dispatch(type, body);
      }
    } catch (err) {
      this.#fail(err);
      return;
    }
    this.#updateReading();
  }

  /** Reading runs unless a handler is busy or the write queue is over its mark. */
  #updateReading(): void {
    if (this.#failing || this.#isClosed || this.#handler === null) return;
    if (this.#busy || this.#writeBlocked) this.#socket.pause();
    else this.#socket.resume();
  }

  /** After a write: over the mark → stop reading until the queue drains, and watch that the peer takes bytes. */
  #checkWriteQueue(): void {
    const bytes = this.#socket.writableLength;
    if (bytes > this.#maxQueued) {
      this.destroy(
        smigError(
          'SMIG_ERR_BUFFER_LIMIT',
          `connection to ${this.remote}: ${bytes} bytes wait to be written (at most ${this.#maxQueued}): the peer does not read`,
        ),
      );
      return;
    }
    const queued = this.queuedCost;
    if (this.#writeBlocked || queued <= this.#writeQueueMark) return;
    this.#writeBlocked = true;
    this.#socket.pause();
    this.#armStall();
  }

  /** Everything was flushed: read again (and dispatch what waits). */
  #unblock(): void {
    this.#writeBlocked = false;
    this.#stallTimer?.();
    this.#stallTimer = undefined;
    this.#pump();
  }

  /**
   * Reading stays paused for at most one stall period: a peer that does not take all of our queued bytes within
   * it (a reader of its replies takes 256 small frames in no time) is destroyed. Trickling a few bytes does not
   * buy another period.
   */
  #armStall(): void {
    this.#stallTimer = startTimer(this.#clock, this.#stallMs, () => {
      if (!this.#writeBlocked || this.#isClosed) return;
      this.destroy(
        smigError(
          'SMIG_ERR_TIMEOUT',
          `connection to ${this.remote}: the peer did not read its replies (${this.queuedCost} bytes' worth queued) for ${this.#stallMs} ms`,
        ),
      );
    });
  }

  /** docs/DESIGN.md §3: a refused frame or a failed handler → ERROR and close, never a crash. */
  #fail(err: unknown): void {
    if (this.#failing || this.#isClosed) return;
    this.#failing = true;
    this.#setError(
      err instanceof Error ? err : smigError('SMIG_ERR_INTERNAL', `connection to ${this.remote}: ${String(err)}`),
    );
    this.#queue = [];
    this.#writeBestEffort(errorMessageFor(err));
    this.#socket.end();
    this.#socket.resume(); // drain the peer's bytes so that its FIN (and our close) can come
    this.#armCloseTimer();
  }

  #writeBestEffort(msg: Message): void {
    if (this.#isClosed || !this.#socket.writable) return;
    try {
      this.#write(encodeMessage(msg, this.#maxFrameLength)).catch(() => {});
    } catch {
      // an unencodable message: closing is all that is left
    }
  }

  #armCloseTimer(): void {
    if (this.#closeTimer !== undefined || this.#isClosed) return;
    this.#closeTimer = startTimer(this.#clock, this.#closeTimeoutMs, () => this.#socket.destroy());
  }

  #setError(err: Error): void {
    this.#error ??= err;
  }

  #write(parts: readonly Uint8Array[]): Promise<void> {
    const s = this.#socket;
    if (this.#isClosed || s.destroyed || !s.writable) return Promise.reject(this.#notOpen());
    // header and body as separate writes, flushed together
    const reply = this.#inDispatch || this.#busy;
    let size = 0;
    for (const p of parts) size += p.length;
    s.cork();
    const last = parts.length - 1;
    for (let i = 0; i <= last; i++) {
      const p = parts[i]!;
      if (i === last) s.write(p, reply ? this.#replyFlushed(size) : this.#frameFlushed);
      else s.write(p);
    }
    this.#bytesWritten += size;
    if (reply) {
      this.#replyFrames++;
      this.#replyBytes += size;
    }
    s.uncork();
    this.#checkWriteQueue();
    if (this.#isClosed || s.destroyed) return Promise.reject(this.#notOpen());
    return s.writableNeedDrain ? this.#drain.wait() : Promise.resolve();
  }

  #notOpen(): SmigError {
    const why = this.#error === undefined ? '' : `: ${this.#error.message}`;
    return smigError('SMIG_ERR_CONNECTION', `send to ${this.remote}: connection closed${why}`, this.#error);
  }
}
