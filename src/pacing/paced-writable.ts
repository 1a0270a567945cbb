/**
 * A paced byte stream (STYLE.md §3 item 7): a node Writable that cuts each chunk into writes of the pacer's
 * next write size, waits for each write's tokens, hands it to an async sink, and calls the `_write` callback
 * only when the whole chunk is sent. Until then Writable buffers further chunks and `write()` returns false past
 * the highWaterMark, so the pacing reaches the producer as ordinary backpressure.
 */
import { Writable } from 'node:stream';

/** What a PacedWritable needs of a pacer (a {@link Pacer} or a bare TokenBucket). */
export interface WritePacer {
  take(n: number, signal?: AbortSignal): Promise<void>;
  /** Bytes for the next write (defaults to no limit). */
  nextWriteSize?(): number;
}

/** Sends one write; the stream waits for it before the next. */
export type PacedSink = (chunk: Uint8Array) => Promise<void> | void;

export interface PacedWritableOptions {
  pacer: WritePacer;
  sink: PacedSink;
  /** Writable's highWaterMark, bytes (default 16 KiB). */
  highWaterMark?: number;
  /** Most bytes per write, on top of the pacer's limit. */
  maxWrite?: number;
}

/**
 * @example
 * const out = new PacedWritable({ pacer: createPacer(plan, new RealClock(), 3), sink: (b) => conn.sendData(b) });
 * await pipeline(source, out);
 */
export class PacedWritable extends Writable {
  readonly #pacer: WritePacer;
  readonly #sink: PacedSink;
  readonly #maxWrite: number;
  readonly #abort = new AbortController();
  #written = 0;

  constructor(opts: PacedWritableOptions) {
    super({ highWaterMark: opts.highWaterMark, decodeStrings: true, objectMode: false });
    this.#pacer = opts.pacer;
    this.#sink = opts.sink;
    this.#maxWrite = opts.maxWrite ?? Infinity;
  }

  /** Bytes handed to the sink so far. */
  get bytesSent(): number {
    return this.#written;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send(chunk).then(
      () => callback(),
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#abort.abort(error ?? undefined);
    callback(error);
  }

  async #send(chunk: Uint8Array): Promise<void> {
    const signal = this.#abort.signal;
    for (let off = 0; off < chunk.length; ) {
      const limit = Math.min(chunk.length - off, this.#pacer.nextWriteSize?.() ?? Infinity, this.#maxWrite);
      const size = Math.max(1, Math.floor(limit));
      await this.#pacer.take(size, signal);
      await this.#sink(chunk.subarray(off, off + size));
      off += size;
      this.#written += size;
    }
  }
}
