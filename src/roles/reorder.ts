/**
 * The leader's reorder buffer (docs/DESIGN.md §3 "Session flow" step 5): ciphertext chunks arrive from several
 * relays in any order, some twice (re-sends after a relay was lost); the leader needs them in order.
 *
 * Bytes are kept as non-overlapping ranges sorted by offset, each a view of a received frame body (no
 * copies). A byte that is already held, or already consumed, is never stored twice: the first copy to
 * arrive wins (authentication later catches a conflicting one). Everything held lies in
 * `[base, base + limit)`, where `base` is the offset the leader has consumed up to: a chunk reaching
 * beyond is refused, since an honest source never sends more than its window past the last PROGRESS.
 *
 * Pure code: no sockets, no clock.
 */
import { smigError } from '../errors.js';

interface Range {
  offset: number;
  bytes: Uint8Array;
}

/**
 * In-order delivery of byte ranges received out of order, bounded by `limit` bytes past `base`.
 * @example
 * const r = new ReorderBuffer(64 << 20);
 * r.insert(65536, b2); r.insert(0, b1);
 * for (const piece of r.take()) opener.push(piece);   // b1 then b2
 */
export class ReorderBuffer {
  /** Most bytes held past `base`. */
  readonly limit: number;
  #base = 0;
  #held = 0;
  #ranges: Range[] = [];

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new RangeError(`ReorderBuffer: limit must be a positive integer, got ${limit}`);
    this.limit = limit;
  }

  /** Every byte below it has been taken. */
  get base(): number {
    return this.#base;
  }
  /** Bytes held (received, not yet taken). */
  get held(): number {
    return this.#held;
  }
  /** End of the bytes that are contiguous from `base` (= `base` when the next byte is missing). */
  get contiguousEnd(): number {
    let end = this.#base;
    for (const r of this.#ranges) {
      if (r.offset !== end) break;
      end += r.bytes.length;
    }
    return end;
  }

  /**
   * Stores bytes [offset, offset + bytes.length); returns how many of them were new (0 for a duplicate).
   * The bytes are kept by reference: do not modify them afterwards.
   * @throws SmigError SMIG_ERR_BUFFER_LIMIT when they reach beyond `base + limit` (nothing is stored)
   */
  insert(offset: number, bytes: Uint8Array): number {
    const end = offset + bytes.length;
    let cur = Math.max(offset, this.#base);
    if (end <= cur) return 0;
    if (end - this.#base > this.limit) {
      throw smigError(
        'SMIG_ERR_BUFFER_LIMIT',
        `chunk [${offset}, ${end}) reaches ${end - this.#base} bytes past the consumed offset ${this.#base}, the window limit is ${this.limit}`,
      );
    }
    // first range that ends after cur
    let i = this.#firstEndingAfter(cur);
    let added = 0;
    while (cur < end) {
      const r = this.#ranges[i];
      if (r === undefined || r.offset >= end) {
        this.#ranges.splice(i, 0, { offset: cur, bytes: bytes.subarray(cur - offset) });
        added += end - cur;
        break;
      }
      if (r.offset > cur) {
        this.#ranges.splice(i, 0, { offset: cur, bytes: bytes.subarray(cur - offset, r.offset - offset) });
        added += r.offset - cur;
        i++;
      }
      cur = Math.max(cur, r.offset + r.bytes.length);
      i++;
    }
    this.#held += added;
    return added;
  }

  /** Takes the bytes contiguous from `base` (as the held views, in order) and advances `base` past them. */
  take(): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (this.#ranges.length > 0 && this.#ranges[0]!.offset === this.#base) {
      const r = this.#ranges.shift()!;
      out.push(r.bytes);
      this.#base += r.bytes.length;
      this.#held -= r.bytes.length;
    }
    return out;
  }

  /** A copy of the first `n` bytes from `base` when that many are contiguous, else undefined. Takes nothing. */
  peek(n: number): Uint8Array | undefined {
    if (this.contiguousEnd - this.#base < n) return undefined;
    const out = new Uint8Array(n);
    let at = 0;
    for (const r of this.#ranges) {
      if (at === n) break;
      const take = Math.min(r.bytes.length, n - at);
      out.set(r.bytes.subarray(0, take), at);
      at += take;
    }
    return out;
  }

  /** Removes every held range (returned, e.g. to wipe them). */
  clear(): Uint8Array[] {
    const all = this.#ranges.map((r) => r.bytes);
    this.#ranges = [];
    this.#held = 0;
    return all;
  }

  #firstEndingAfter(at: number): number {
    let lo = 0;
    let hi = this.#ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.#ranges[mid]!;
      if (r.offset + r.bytes.length <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
