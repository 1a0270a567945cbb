/** TLS records on the wire: how a write of plaintext becomes TCP payload (shape.ts plans writes with it). */
/** Largest TLS record plaintext (a write longer than this is several records). */
export const MAX_RECORD = 16384;
/**
 * Most TCP payload bytes of one planned write (several TLS records): a run of full segments up to this long is one
 * write that the kernel cuts into segments, so at 25 MB/s a hop wakes ~100 times a second, not ~17 000.
 */
export const MAX_WRITE: number = 256 * 1024;

/** TCP payload bytes of `plaintext` bytes written to a TLS socket: one record per 16 KiB, `tls` bytes each. */
export function tlsPayload(plaintext: number, tls: number): number {
  return plaintext + tls * Math.max(1, Math.ceil(plaintext / MAX_RECORD));
}

/** The plaintext that becomes `payload` bytes of TCP payload ({@link tlsPayload}'s inverse; at least 0). */
export function tlsPlaintext(payload: number, tls: number): number {
  const records = Math.max(1, Math.ceil(payload / (MAX_RECORD + tls)));
  return Math.max(0, payload - tls * records);
}
