/**
 * What a DONE from a relay means to the source (source.ts): success only when its receipt verifies over this
 * session and the digest and length the source sealed; any other DONE is a failure naming the link it came from.
 */
import type { InnerSealer } from '../crypto/inner.js';
import { smigError } from '../errors.js';
import type { DoneMessage } from '../protocol/index.js';

/** The verdict on a DONE: confirmed (with the kind of proof), or a failure (with the receipt's fault, if any). */
export type DoneVerdict =
  | { ok: true; proof: 'signed' | 'mac' }
  | { ok: false; failure: Error; invalidReceipt?: string };

/**
 * Judges a DONE that came via `via`: `produced` says the whole payload was sealed, `inner` is the session's inner
 * sealer (which verifies the receipt).
 */
export function judgeDone(
  msg: DoneMessage,
  via: string,
  produced: boolean,
  inner: InnerSealer | undefined,
): DoneVerdict {
  if (!msg.ok) {
    const status = msg.exitStatus === null ? '' : ` (exec exit status ${msg.exitStatus})`;
    const proven = produced && inner?.verifyReceipt(msg, msg.receipt ?? null).valid === true;
    return {
      ok: false,
      failure: smigError(
        'SMIG_ERR_MIGRATION',
        `the destination reported a failure${proven ? '' : ` (unverified, via ${via})`}: ${msg.message}${status}`,
      ),
    };
  }
  const verdict =
    produced && inner !== undefined
      ? inner.verifyReceipt(msg, msg.receipt ?? null)
      : { valid: false as const, reason: 'it came before the whole payload was sent' };
  if (!verdict.valid) {
    return {
      ok: false,
      failure: smigError(
        'SMIG_ERR_VERIFY',
        `${via} sent a DONE with a forged or invalid receipt (${verdict.reason}): not confirmed`,
      ),
      invalidReceipt: verdict.reason,
    };
  }
  return { ok: true, proof: verdict.kind };
}

/**
 * The failure once no data link is left: `last` names the last one lost (and why). After END (`acked`: the leader
 * had acknowledged all `bytes`) only the replies were missing, so the destination may have installed the payload.
 */
export function everyRelayLost(last: string, acked: boolean, bytes: number): Error {
  const after = acked
    ? `; the leader had acknowledged all ${bytes} bytes, so the destination may have installed the payload: check it before migrating again`
    : '';
  return smigError('SMIG_ERR_MIGRATION', `every data relay was lost (last: ${last})${after}`);
}

/**
 * The failure when chunks wait for a re-send and every live data link has already sent END (it ended early, having
 * nothing left to carry then: source-links.ts `mayEndEarly`).
 */
export function noLinkForResends(last: string, chunks: number): Error {
  return smigError(
    'SMIG_ERR_MIGRATION',
    `data relay lost (${last}) with ${chunks} chunks to send again, and every other data link had already ended`,
  );
}
