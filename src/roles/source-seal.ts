/**
 * The source's sealing state for one session (source.ts): a fresh 256-bit key, its Shamir shares, the envelope
 * sealer under that key, and the inner end-to-end stream sealed to the destination (crypto/inner.ts). The key is
 * zeroed before this returns; the caller wipes the shares and destroys both sealers when the session ends.
 */
import { EnvelopeSealer } from '../crypto/envelope.js';
import { INNER_SIGNED, InnerSealer, innerStreamLength } from '../crypto/inner.js';
import { generateKey } from '../crypto/keyfile.js';
import { splitKey } from '../crypto/shares.js';
import { wipe } from '../crypto/wipe.js';
import type { SessionLayout } from '../protocol/index.js';
import type { SourceOptions } from './source-options.js';

/** What one session seals with. */
export interface SessionSeal {
  inner: InnerSealer;
  sealer: EnvelopeSealer;
  shares: Uint8Array[];
}

/** Makes the session's key, shares and sealers; `destination` is the formatted address the envelope names. */
export async function sealSession(
  o: SourceOptions,
  sessionId: Uint8Array,
  destination: string,
  layout: SessionLayout,
  segmentSize: number,
): Promise<SessionSeal> {
  const key = generateKey();
  const inner = new InnerSealer({
    sessionId,
    destination,
    name: o.name,
    length: o.length,
    segmentSize,
    ...(o.destKey === undefined ? {} : { dest: o.destKey }),
    ...(o.identity === undefined ? {} : { signer: o.identity }),
  });
  let shares: Uint8Array[] = [];
  try {
    shares = await splitKey(key, layout.keyRelays, layout.threshold);
    const sealer = new EnvelopeSealer(key, {
      version: 1,
      sessionId,
      destination,
      name: o.name,
      length: o.length === null ? null : BigInt(innerStreamLength(o.length, segmentSize, inner.mode === INNER_SIGNED)),
      segmentSize,
    });
    return { inner, sealer, shares };
  } catch (err) {
    wipe(...shares);
    inner.destroy();
    throw err;
  } finally {
    wipe(key);
  }
}
