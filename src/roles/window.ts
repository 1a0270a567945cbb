/**
 * The source's side of flow control and recovery (docs/DESIGN.md §3 "Faults"): ciphertext is cut into
 * chunks (byte ranges of the envelope), and every chunk stays in memory until the leader's PROGRESS says
 * that every byte below its end has been consumed. The source sends only while
 * `next − acked < window`, so the unacknowledged bytes, and with them the leader's reorder buffer, stay
 * below `window + one chunk`. When a data relay is lost, the chunks it carried and that are not
 * acknowledged are queued again (lowest offset first) for the relays that remain — from memory, so this
 * works for stdin as well as for files.
 *
 * Pure code: no sockets, no clock. The source drives it (see source.ts).
 */
import { smigError } from '../errors.js';

/** A chunk: ciphertext bytes [offset, offset + length), kept as the envelope's own segment buffers. */
export interface Chunk {
  readonly offset: number;
  readonly length: number;
  /** The bytes, in order (sealed segments; never copied into one buffer). */
  readonly parts: Uint8Array[];
  /** Index of the link that carries it now; −1 while it waits in the queue. */
  link: number;
  /** How many times it has been handed out (1 = sent once). */
  sends: number;
}

/**
 * Groups the envelope's pieces (prefix, sealed segments, trailer) into chunks of at least `target`
 * bytes, without copying them. A chunk is at most `target + largest piece − 1` bytes.
 */
export class ChunkCutter {
  readonly target: number;
  #parts: Uint8Array[] = [];
  #bytes = 0;

  constructor(target: number) {
    if (!Number.isSafeInteger(target) || target < 1)
      throw new RangeError(`ChunkCutter: target must be a positive integer, got ${target}`);
    this.target = target;
  }

  /** Adds a piece; returns the parts of a completed chunk, if the piece completed one. */
  push(piece: Uint8Array): Uint8Array[] | undefined {
    if (piece.length === 0) return undefined;
    this.#parts.push(piece);
    this.#bytes += piece.length;
    return this.#bytes >= this.target ? this.flush() : undefined;
  }

  /** The parts gathered so far as a (short) chunk, or undefined when there are none. */
  flush(): Uint8Array[] | undefined {
    if (this.#bytes === 0) return undefined;
    const parts = this.#parts;
    this.#parts = [];
    this.#bytes = 0;
    return parts;
  }
}

/** Total length of some parts. */
export function partsLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/**
 * Unacknowledged chunks of one session, the queue of chunks to (re)send, and the window.
 * @example
 * const w = new SendWindow(32 << 20);
 * if (w.hasRoom()) w.add(parts);           // producer
 * const c = w.take(link);                  // a relay link with room
 * w.ack(progress.offset);                  // PROGRESS from any relay
 * w.requeue(link);                         // that relay was lost
 */
export class SendWindow {
  /** Most bytes sent and not yet acknowledged before the producer must wait. */
  readonly window: number;
  #acked = 0;
  #next = 0;
  /** Every chunk not fully acknowledged, by offset. */
  #unacked: Chunk[] = [];
  /** Chunks to re-send (from lost links), by offset: served before fresh ones. */
  #resend: Chunk[] = [];
  /** Chunks never sent yet, by offset. */
  #fresh: Chunk[] = [];
  #resent = 0;

  constructor(window: number) {
    if (!Number.isSafeInteger(window) || window < 1)
      throw new RangeError(`SendWindow: window must be a positive integer, got ${window}`);
    this.window = window;
  }

  /** Highest acknowledged offset: every ciphertext byte below it reached the leader. */
  get acked(): number {
    return this.#acked;
  }
  /** Offset of the next new chunk (= ciphertext bytes produced so far). */
  get next(): number {
    return this.#next;
  }
  /** Bytes held: produced and not acknowledged. */
  get held(): number {
    return this.#next - this.#acked;
  }
  /** Chunks waiting to be (re)sent. */
  get queued(): number {
    return this.#resend.length + this.#fresh.length;
  }
  /** Chunks re-queued after a link loss, in all. */
  get resent(): number {
    return this.#resent;
  }

  /** The producer may add a chunk: `next − acked < window`. */
  hasRoom(): boolean {
    return this.#next - this.#acked < this.window;
  }

  /** Appends a chunk at `next` and queues it. */
  add(parts: Uint8Array[]): Chunk {
    const length = partsLength(parts);
    if (length === 0) throw new RangeError('SendWindow.add: empty chunk');
    const chunk: Chunk = { offset: this.#next, length, parts, link: -1, sends: 0 };
    this.#next += length;
    this.#unacked.push(chunk);
    this.#fresh.push(chunk);
    return chunk;
  }

  /** The next chunk to send on `link` (re-sends first, lowest offset first), or undefined when none waits. */
  take(link: number): Chunk | undefined {
    for (;;) {
      const chunk = this.#resend.shift() ?? this.#fresh.shift();
      if (chunk === undefined) return undefined;
      if (chunk.offset + chunk.length <= this.#acked) continue; // acknowledged while it waited
      chunk.link = link;
      chunk.sends++;
      return chunk;
    }
  }

  /**
   * Records PROGRESS `offset`; returns the chunks it released (fully below it), which the caller may wipe.
   * A PROGRESS below the current one (another relay's older copy) changes nothing.
   * @throws SmigError SMIG_ERR_PROTOCOL_STATE for an offset beyond what was sent
   */
  ack(offset: number): Chunk[] {
    if (offset > this.#next) {
      throw smigError('SMIG_ERR_PROTOCOL_STATE', `PROGRESS offset ${offset} is beyond the ${this.#next} bytes sent`);
    }
    if (offset <= this.#acked) return [];
    this.#acked = offset;
    let n = 0;
    while (n < this.#unacked.length && this.#unacked[n]!.offset + this.#unacked[n]!.length <= offset) n++;
    const released = this.#unacked.splice(0, n);
    if (n > 0 && this.#resend.length > 0) this.#resend = this.#resend.filter((c) => c.offset + c.length > offset);
    return released;
  }

  /** Queues again every unacknowledged chunk that `link` carried (it was lost); returns how many. */
  requeue(link: number): number {
    const lost = this.#unacked.filter((c) => c.link === link);
    for (const c of lost) c.link = -1;
    if (lost.length > 0) {
      this.#resend = [...this.#resend, ...lost].sort((a, b) => a.offset - b.offset);
      this.#resent += lost.length;
    }
    return lost.length;
  }

  /** Every unacknowledged chunk (to wipe on teardown). */
  drain(): Chunk[] {
    const all = this.#unacked;
    this.#unacked = [];
    this.#resend = [];
    this.#fresh = [];
    return all;
  }
}
