/**
 * One protocol link of a role: a {@link FramedConnection} (src/net) plus the per-link state machine and
 * the typed codec of src/protocol. This is the only place where roles meet sockets, and it stays small:
 *
 * - every inbound frame is checked against the link's {@link ProtocolState} and decoded strictly; a
 *   refused frame makes the connection send ERROR and close (FramedConnection does that for a throwing
 *   handler), never a crash;
 * - PING is answered with PONG; PONG and PAD are dropped (docs/DESIGN.md §3 "Frames"); ERROR is recorded as
 *   {@link Link.peerError} and passed to the role;
 * - `send()` resolves when the socket can take more (backpressure); `sendWiping()` also zeroes the given
 *   buffers once the socket has consumed them (docs/DESIGN.md §3: relays "zero their buffers").
 *
 * Pacing is not done here: each role cuts and paces its payload writes itself (pace.ts).
 */

import { wipe } from '../crypto/wipe.js';
import type { SmigError } from '../errors.js';
import { smigError } from '../errors.js';
import type { CloseInfo, FramedConnection } from '../net/index.js';
import type { LinkRole, Message } from '../protocol/index.js';
import { decodeMessage, FrameType, ProtocolState, peerError } from '../protocol/index.js';

/** Handles a decoded inbound message; a returned promise pauses reading from this link until it settles. */
export type MessageHandler = (msg: Message) => void | Promise<void>;

/** How a link ended, from the role's point of view. */
export interface LinkEnd {
  /** The peer sent its final frame (END, or DONE on a reply stream) before the close. */
  complete: boolean;
  /** Why it ended early: the peer's ERROR, a local/protocol error, or "closed before …". Absent when complete. */
  error?: Error;
  /** The peer just closed (or vanished) before its final frame, without an error on the socket. */
  early?: boolean;
}

/**
 * A role's view of one connection.
 * @example
 * const link = new Link(conn, 'reply', 'data relay 10.0.0.2:7000');
 * link.start((msg) => { if (msg.type === FrameType.PROGRESS) window.ack(msg.offset); });
 * await link.send({ type: FrameType.SESSION, ... });
 */
export class Link {
  readonly conn: FramedConnection;
  /** Inbound state machine (what the peer may send us). */
  readonly state: ProtocolState;
  /** Who the peer is, for messages: `data relay 127.0.0.1:7001`. */
  readonly name: string;
  /** Resolves when the connection has closed (never rejects). */
  readonly ended: Promise<LinkEnd>;
  /**
   * Called with the type and body of every inbound frame before it is handled (PAD included): a shaped link's
   * receiver. The body is only valid during the call.
   */
  onInbound: ((type: number, body: Uint8Array) => void) | undefined;
  #peerError: SmigError | undefined;
  #wipes: { mark: number; bufs: Uint8Array[] }[] = [];
  #closed = false;

  constructor(conn: FramedConnection, role: LinkRole, name: string) {
    this.conn = conn;
    this.state = new ProtocolState(role);
    this.name = name;
    this.ended = conn.closed.then((info: CloseInfo) => {
      this.#closed = true;
      for (const w of this.#wipes) wipe(...w.bufs);
      this.#wipes = [];
      return this.#endOf(info);
    });
  }

  /** The ERROR the peer sent, as SMIG_ERR_PEER naming the peer; undefined if none. */
  get peerError(): SmigError | undefined {
    return this.#peerError;
  }

  /** True once the connection has closed. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Starts reading: `handler` gets every message except PING/PONG/PAD (PING also reaches it, after the PONG). */
  start(handler: MessageHandler): void {
    this.conn.onFrame((type, body) => {
      this.state.accept(type);
      this.onInbound?.(type, body);
      const msg = decodeMessage(type, body);
      switch (msg.type) {
        case FrameType.PONG:
        case FrameType.PAD:
          return undefined;
        case FrameType.PING:
          this.post({ type: FrameType.PONG, seq: msg.seq });
          return handler(msg);
        case FrameType.ERROR:
          this.#peerError = peerError(msg, this.name);
          return handler(msg);
        default:
          return handler(msg);
      }
    });
  }

  /** Sends a message; resolves when the socket can take more, rejects (SMIG_ERR_CONNECTION) once closed. */
  send(msg: Message): Promise<void> {
    return this.conn.sendMessage(msg);
  }

  /** Sends without waiting; a failure is ignored (the link's end reports it). For small control frames. */
  post(msg: Message): void {
    if (this.#closed) return;
    this.conn.sendMessage(msg).catch(() => {});
  }

  /** Runs `fn` with the socket corked: what it sends leaves in one write (FramedConnection.batch). */
  batch(fn: () => void): void {
    this.conn.batch(fn);
  }

  /**
   * Sends a message, then zeroes `bufs` as soon as the socket has handed their bytes to TLS (tracked by
   * byte count: `bytesWritten − writableLength` passes the mark of this write), or when the link closes.
   * Only buffers that `encodeMessage` does not copy (DATA and DATA_SEGMENT payloads) are worth passing.
   */
  sendWiping(msg: Message, bufs: Uint8Array[]): Promise<void> {
    return this.#tracked(this.conn.sendMessage(msg), bufs);
  }

  /**
   * Sends a frame given as body parts (not copied: `encodeFrame`), then zeroes `bufs` like
   * {@link sendWiping}. For bodies assembled from views, e.g. `[sessionId, index, share]`.
   */
  sendPartsWiping(type: FrameType, parts: readonly Uint8Array[], bufs: Uint8Array[]): Promise<void> {
    return this.#tracked(this.conn.send(type, parts), bufs);
  }

  async #tracked(sent: Promise<void>, bufs: Uint8Array[]): Promise<void> {
    this.#wipes.push({ mark: this.conn.bytesWritten, bufs });
    this.#sweep();
    try {
      await sent;
    } finally {
      this.#sweep();
    }
  }

  /** Sends ERROR for `err` (its wire code and message) and closes; resolves once closed. */
  async fail(err: unknown): Promise<void> {
    await this.conn.abort(err);
  }

  /** Graceful close (after our final frame); resolves once closed. */
  async close(): Promise<void> {
    await this.conn.close();
  }

  #sweep(): void {
    if (this.#closed) return;
    const consumed = this.conn.bytesWritten - this.conn.writableLength;
    while (this.#wipes.length > 0 && this.#wipes[0]!.mark <= consumed) wipe(...this.#wipes.shift()!.bufs);
  }

  #endOf(info: CloseInfo): LinkEnd {
    // a link that may end where it started (a key relay's replies, control) ended so only if it closed cleanly
    if (this.state.complete && (info.error === undefined || this.state.state !== 'start')) return { complete: true };
    if (this.#peerError !== undefined) return { complete: false, error: this.#peerError };
    if (info.error !== undefined) return { complete: false, error: info.error };
    try {
      this.state.checkClose();
      return { complete: true };
    } catch (err) {
      return {
        complete: false,
        early: true,
        error: smigError('SMIG_ERR_CONNECTION', `${this.name}: ${(err as Error).message}`),
      };
    }
  }
}
