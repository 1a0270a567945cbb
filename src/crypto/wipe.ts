/**
 * Zeroing of secrets and plaintext when they die (docs/DESIGN.md §3: relays "zero their buffers"; keys, shares and
 * rejected key candidates are wiped by the code that drops them).
 *
 * JavaScript gives no guarantee that no other copy exists (the GC may have moved a buffer, a string made from
 * it is immutable): wiping limits how long the bytes we own stay readable, it is not a proof of erasure.
 */

/**
 * Overwrites every given buffer with zeros; `undefined` entries are skipped so callers can wipe optional state.
 * @example wipe(key, share, maybeChunk)
 */
export function wipe(...bufs: (Uint8Array | undefined)[]): void {
  for (const b of bufs) b?.fill(0);
}
