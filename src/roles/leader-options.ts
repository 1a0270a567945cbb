/**
 * What a leader (leader.ts, leader-session.ts) is configured with: the registry's options and the session's
 * PROGRESS cadence, shaping queue and frame bounds.
 */

import { ciphertextLength } from '../crypto/envelope.js';
import { smigError } from '../errors.js';
import type { ChannelTimeouts } from '../net/connection-options.js';
import type { Transport } from '../net/index.js';
import type { Clock } from '../pacing/clock.js';
import type { LeaderSession, SessionLayout } from '../protocol/index.js';
import type { Logger } from '../util/log.js';

/** PROGRESS is sent when the consumed offset has advanced this much… */
export const PROGRESS_BYTES: number = 1024 * 1024;
/** …or this long after an advance. */
export const PROGRESS_DELAY_MS = 50;
/** …or, in a paced session, this long after an advance (each PROGRESS is a packet on paced links). */
export const PACED_PROGRESS_DELAY_MS = 5000;
/** Shaped: plaintext the leader queues for the destination before it stops reading the relay links. */
export const SHAPED_QUEUE_BYTES: number = 1024 * 1024;
/** Shaped: longest pause of the destination link's schedule waiting for the rest of a write's plaintext, ms. */
export const SHAPED_GRACE_MS = 1000;
/** Plaintext bytes per DATA frame to the destination, at most. */
export const MAX_PLAIN_FRAME: number = 4 * 1024 * 1024;
/** Slack over the window for the chunk that straddles it (a chunk is ≤ 8 MiB + one segment). */
export const CHUNK_SLACK: number = 9 * 1024 * 1024 + 64;

/** Options of {@link LeaderRegistry}. */
export interface LeaderOptions {
  clusterKey: Uint8Array;
  log: Logger;
  /** Most ciphertext bytes past the consumed offset a session may hold (the source's window must not exceed it). */
  maxWindow: number;
  /** How long to wait for a key that opens the envelope, from the session's first link. */
  keyWaitMs: number;
  /** Test hook: the pacers' clock (default RealClock). */
  clock?: Clock;
  /** Opens the channels (default TLS, src/net/tls.ts); tests give an in-process one (src/net/memory.ts). */
  transport?: Transport;
  channel: ChannelTimeouts;
}

/**
 * The leader's error when its key did not come within `waitMs` (SMIG_ERR_SHARES), saying what was missing: shares,
 * shares that did not open the envelope (`tried`), or the envelope's first bytes (`prefix` false).
 */
export function noKeyError(waitMs: number, shares: number, threshold: number, tried: boolean, prefix: boolean): Error {
  const why = tried
    ? ', and they did not open the envelope'
    : prefix
      ? ''
      : ", and the envelope's first bytes had not come";
  return smigError('SMIG_ERR_SHARES', `leader: no key after ${waitMs} ms (${shares} of ${threshold} shares${why})`);
}

/** The leader's error when no `threshold` of its `shares` opened the envelope and no other share can come. */
export function badSharesError(threshold: number, shares: number): Error {
  return smigError(
    'SMIG_ERR_SHARES',
    `leader: no ${threshold} of the ${shares} key shares rebuilt a key that opens the envelope (bad shares or corrupted data)`,
  );
}

/**
 * Checks that a link joining a session brings its layout and plan text.
 * @throws SmigError SMIG_ERR_PROTOCOL_STATE naming what differs
 */
export function checkJoin(first: LeaderSession, layout: SessionLayout, planText: string | undefined): void {
  const l = first.layout;
  if (l.dataRelays !== layout.dataRelays || l.keyRelays !== layout.keyRelays || l.threshold !== layout.threshold)
    throw smigError(
      'SMIG_ERR_PROTOCOL_STATE',
      `leader: SESSION layout ${l.dataRelays}/${l.keyRelays}/${l.threshold} differs from the session's`,
    );
  if (first.plan !== planText)
    throw smigError(
      'SMIG_ERR_PROTOCOL_STATE',
      `leader: SESSION plan of ${first.via} ${first.index} differs from the session's`,
    );
}

/**
 * The session's ciphertext length once the leader has the envelope's header (`headerLength`: its payload length, null
 * for a stream of unknown length; `segmentSize`): the length an END named (`total`), which must agree, else the
 * header's; null while neither is known. A session whose data links all hold their END (one data link, held to its
 * mean write rate) then finishes once its data is in, not when an END comes. `maxEnd`: the highest byte received.
 * @throws SmigError SMIG_ERR_FRAME_MALFORMED when the END or the data received disagree with the header
 */
export function knownTotal(
  total: number | null,
  headerLength: bigint | null,
  segmentSize: number,
  maxEnd: number,
): number | null {
  if (headerLength === null) return total;
  const fromHeader = ciphertextLength(Number(headerLength), segmentSize);
  if ((total !== null && total !== fromHeader) || maxEnd > fromHeader) {
    const what = total !== null && total !== fromHeader ? `END length ${total}` : `data up to ${maxEnd}`;
    throw smigError('SMIG_ERR_FRAME_MALFORMED', `leader: ${what} disagrees with the envelope's ${fromHeader} bytes`);
  }
  return fromHeader;
}
