/**
 * A bounded line splitter for the controller's text inputs (Suricata EVE files, the session journal):
 * bytes in, complete lines out, never more than `maxLineBytes` held for one line. A line longer than the cap is dropped whole — the bytes up to
 * its newline are skipped as they arrive — and reported once; a piece without its newline is held until
 * the newline comes, or reported as cut short when the input ends or is replaced (rotation, truncation).
 */

/** Default cap on one line: Suricata alert lines with payload and metadata stay far below it. */
export const DEFAULT_MAX_LINE_BYTES: number = 1024 * 1024;

/** What the splitter hands out or reports. */
export interface LineSink {
  /** A complete line (without `\n` or a trailing `\r`), with its 1-based number. Empty lines are skipped. */
  line(text: string, lineNo: number): void;
  /** A line longer than the cap was dropped. */
  oversized(lineNo: number, bytes: number): void;
}

const NL = 0x0a;

/** Splits a byte stream into lines, holding at most `maxLineBytes` of a pending line. */
export class LineSplitter {
  readonly #max: number;
  readonly #sink: LineSink;
  readonly #decoder = new TextDecoder('utf-8');
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  /** Bytes of the current line seen while dropping it (it passed the cap). */
  #dropping = -1;
  #lineNo = 0;

  constructor(sink: LineSink, maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1)
      throw new RangeError(`maxLineBytes: expected a positive integer, got ${maxLineBytes}`);
    this.#max = maxLineBytes;
    this.#sink = sink;
  }

  /** Lines completed so far (including dropped ones). */
  get lineNo(): number {
    return this.#lineNo;
  }

  /** Bytes of a line begun but not finished (0 when the input ended on a newline). */
  get pendingBytes(): number {
    return this.#dropping >= 0 ? this.#dropping : this.#heldBytes;
  }

  /** Feeds bytes. The chunk is not kept beyond the call unless it holds the start of an unfinished line (then a copy is). */
  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      const nl = chunk.indexOf(NL, at);
      const end = nl < 0 ? chunk.length : nl;
      const piece = chunk.subarray(at, end);
      if (this.#dropping >= 0) this.#dropping += piece.length;
      else if (this.#heldBytes + piece.length > this.#max) {
        this.#dropping = this.#heldBytes + piece.length;
        this.#held = [];
        this.#heldBytes = 0;
      } else if (nl < 0) {
        // A copy, never a view: callers reuse their read buffer, and on a Buffer `slice()` is a view (Node's
        // Buffer overrides it), so the held start of a line would be overwritten by the next read.
        this.#held.push(new Uint8Array(piece));
        this.#heldBytes += piece.length;
      }
      if (nl < 0) return;
      this.#finishLine(piece);
      at = nl + 1;
    }
  }

  /**
   * Ends the current input: returns the byte count of an unfinished last line (which is discarded, 0 if
   * none). Line numbers go on counting (the next input is a continuation for the reader's messages).
   */
  cut(): number {
    const pending = this.pendingBytes;
    this.#held = [];
    this.#heldBytes = 0;
    this.#dropping = -1;
    return pending;
  }

  #finishLine(last: Uint8Array): void {
    this.#lineNo++;
    if (this.#dropping >= 0) {
      const bytes = this.#dropping;
      this.#dropping = -1;
      this.#sink.oversized(this.#lineNo, bytes);
      return;
    }
    let text: string;
    if (this.#held.length === 0) text = this.#decoder.decode(last);
    else {
      const all = new Uint8Array(this.#heldBytes + last.length);
      let o = 0;
      for (const h of this.#held) {
        all.set(h, o);
        o += h.length;
      }
      all.set(last, o);
      text = this.#decoder.decode(all);
      this.#held = [];
      this.#heldBytes = 0;
    }
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') return;
    this.#sink.line(text, this.#lineNo);
  }
}
