/**
 * What a DONE from a relay means to the source (source.ts): success only when its receipt verifies over this
 * session and the digest and length the source sealed; any other DONE is a failure naming the link it came from.
 */
import type { InnerSealer } from '../crypto/inner.js';
import { smigError } from '../errors.js';
import type { DoneMessage } from '../protocol/index.js';
import type { DataLink } from './source-links.js';
import { open, reopen } from './source-links.js';

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

/** What the source does once a data link is lost or released (source.ts `#relayLost`). */
export type LossStep =
  | { kind: 'go-on' }
  | { kind: 'fail'; err: Error }
  | { kind: 'reopened'; link: DataLink }
  /** Ask for the outcome by poll (poll.ts); `unsure`: the failure to report if the leader has not got every byte. */
  | { kind: 'poll'; unsure?: Error };

/**
 * The source's next step after data link `last` (its address and reason) is gone, given the session's data links,
 * its window (chunks waiting to be sent again, `queued`; ciphertext so far, `next`), whether the payload is all cut
 * (`produced`), whether the plan is shaped with cover, whether END went once every byte was acknowledged
 * (`endSent`), and whether it already polls (then nothing changes). Takes back a held END (`reopen`) when it must.
 */
export function afterDataLoss(
  s: {
    data: readonly DataLink[];
    window: { readonly queued: number; readonly next: number };
    produced: boolean;
    shaped: boolean;
    endSent: boolean;
    polling: boolean;
  },
  last: string,
): LossStep {
  const { queued, next } = s.window;
  if (s.polling) return { kind: 'go-on' };
  if (s.data.every((x) => x.lost)) {
    // every data link is through with nothing left to send: the outcome comes by poll (poll.ts)
    if (s.produced && queued === 0 && s.shaped) return { kind: 'poll' };
    return { kind: 'fail', err: everyRelayLost(last, s.endSent, next) };
  }
  if (queued === 0 || s.data.some(open)) return { kind: 'go-on' };
  // chunks to send again and every live link past END: one whose END is still held takes them
  const back = reopen(s.data);
  if (back !== undefined) return { kind: 'reopened', link: back };
  // else the leader may have them all the same (the lost relay passed them on before PROGRESS said so): ask it, and
  // fail if it has not
  return { kind: 'poll', unsure: noLinkForResends(last, queued) };
}

/** The failure of a poll that followed `unsure` (afterDataLoss): `unsure`, then what the poll met. */
export function unsureFailure(unsure: Error, err: unknown): Error {
  const why = err instanceof Error ? err.message : String(err);
  return smigError('SMIG_ERR_MIGRATION', `${unsure.message}; no DONE came by poll: ${why}`);
}
