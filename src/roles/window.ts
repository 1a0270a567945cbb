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
import { insertSorted } from '../util/sorted.js';

/** A chunk: ciphertext bytes [offset, offset + length), kept as the envelope's own segment buffers. */
export interface Chunk {
  readonly offset: number;
  /** Its length and bytes shrink when the link that holds it gives back its unsent tail ({@link SendWindow.giveBack}). */
  length: number;
  /** The bytes, in order (sealed segments; never copied into one buffer). */
  parts: Uint8Array[];
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

  /**
   * Queues again what `link` took and did not send: `pieces` are its unsent bytes, for each chunk it holds a tail
   * (the bytes from some offset to the chunk's end; a chunk with none is not touched). A tail that starts inside a
   * chunk becomes a chunk of its own (the same bytes, not copied), queued by offset as if it had never been handed
   * out; so a shaped link whose next write is far off lets a link that writes sooner carry its data (a link that took
   * a 4 KiB chunk for a write of a few hundred bytes held the rest through its silence: 35 s for the envelope's
   * first chunk on a lab session, which the leader needs before anything else). Returns the bytes queued.
   * @throws RangeError when the pieces are not tails of `link`'s chunks
   */
  giveBack(link: number, pieces: readonly { offset: number; length: number }[]): number {
    let bytes = 0;
    for (const c of this.#unacked.filter((x) => x.link === link)) {
      const end = c.offset + c.length;
      let from = end;
      let n = 0;
      for (const p of pieces)
        if (p.offset >= c.offset && p.offset < end) {
          from = Math.min(from, p.offset);
          n += p.length;
        }
      if (n === 0) continue;
      if (n !== end - from)
        throw new RangeError(
          `SendWindow.giveBack: ${n} bytes from ${from} are not the tail of a chunk ending at ${end}`,
        );
      const tail = from === c.offset ? c : this.#split(c, from - c.offset);
      if (tail === c) c.sends--; // handed out and not sent
      tail.link = -1;
      insertSorted(tail.sends > 0 ? this.#resend : this.#fresh, tail, (x) => x.offset);
      bytes += n;
    }
    return bytes;
  }

  /** Cuts `c` at `k` bytes: `c` keeps its head, and the tail, a new unacknowledged chunk after it, is returned. */
  #split(c: Chunk, k: number): Chunk {
    const head: Uint8Array[] = [];
    const rest: Uint8Array[] = [];
    let at = 0;
    for (const p of c.parts) {
      if (at + p.length <= k) head.push(p);
      else if (at >= k) rest.push(p);
      else {
        head.push(p.subarray(0, k - at));
        rest.push(p.subarray(k - at));
      }
      at += p.length;
    }
    const tail: Chunk = { offset: c.offset + k, length: c.length - k, parts: rest, link: -1, sends: c.sends - 1 };
    c.parts = head;
    c.length = k;
    this.#unacked.splice(this.#unacked.indexOf(c) + 1, 0, tail);
    return tail;
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
