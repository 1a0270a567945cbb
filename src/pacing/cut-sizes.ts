/** Envelope segment and chunk sizes of a paced session, by the plan's rate. */
import type { PacingPlan } from './plan.js';
import { DEFAULT_SEGMENT, planDuration } from './plan.js';
import { wireLimits } from './shape.js';

/**
 * Smallest envelope segment and chunk of a paced session. At kB/s a larger one is seconds of lag per hop, and a
 * session of a few large chunks goes over a few paths one after another: the leader forwards the envelope in order,
 * so while it forwards one chunk the path of the next is idle or ahead of it. With 4 KiB chunks (16 KiB until
 * 2026-12-07) a 30 kB session is eight chunks instead of two, spread over every data link.
 */
export const PACED_MIN_SEGMENT: number = 1024;
export const PACED_MIN_CHUNK: number = 4 * 1024;
/**
 * A shaped source link whose next write is due later than this (ms) gives back the data it holds beyond the write
 * it just made (roles/source-links.ts `pumpShaped`, `SendWindow.giveBack`): a link takes whole chunks for a write of
 * a few hundred bytes. Gaps inside a trace's bursts are ms; its silences are seconds (WhatsApp's up to tens of
 * seconds), and the data waited on the silent link through them.
 */
export const GIVE_BACK_MS = 1000;

/**
 * Envelope segment and chunk sizes of a paced session: the leader forwards whole segments and every hop lags the
 * one before by about one, so they follow the plan's rate — a segment is at most ~10 ms of its payload rate (a
 * power of two from 1 KiB to 64 KiB), a chunk four segments (4 KiB to 256 KiB). At a few kB/s that is 1 KiB and
 * 4 KiB; at tens of MB/s, 64 KiB and 256 KiB, the sizes bulk uses, so no hop spends its CPU on tiny segments and
 * chunks. A segment's 16 B tag is 1.6 % of a 1 KiB segment (0.4 % of 4 KiB).
 */
export function pacedCutSizes(plan: PacingPlan): { segment: number; chunk: number } {
  const rate = planDuration(plan, 0).payloadRate ?? 0;
  let segment = PACED_MIN_SEGMENT;
  while (segment < 64 * 1024 && segment * 2 <= rate * 0.01) segment *= 2;
  return { segment, chunk: Math.max(PACED_MIN_CHUNK, 4 * segment) };
}

/**
 * Bytes a hop may send before its first data leaves it, at least: a whole envelope segment, or one write of its
 * pacer if that is larger (a `constant` hop writes at least 1448 B: at 35 B/s one write every 41 s). 4 KiB covers
 * both at kB/s, where the segment is 1 KiB.
 */
export const FIRST_DATA_BYTES = 4096;

/** The most {@link firstDataMs} adds to a leader's wait for its key (a plan's rate comes from its source). */
export const MAX_FIRST_DATA_MS = 600_000;

/**
 * How long `hops` envelope segments (of at least {@link FIRST_DATA_BYTES}) take one after another at the plan's
 * payload rate, ms, and per hop the trace's quiet stretches ({@link quietMs}): each paced hop forwards whole
 * segments in whole writes, so a session's first bytes reach the k-th hop after about k segments' time (at most
 * {@link MAX_FIRST_DATA_MS}; 0 for `bulk`). At 482 B/s (Gnutella) that is ~8.5 s a hop, of which a 1 KiB segment
 * takes ~2 s.
 */
export function segmentsMs(plan: PacingPlan | undefined, hops: number): number {
  if (plan === undefined) return 0;
  const rate = planDuration(plan, 0).payloadRate;
  if (rate === null || !(rate > 0)) return plan.strategy === 'bulk' ? 0 : MAX_FIRST_DATA_MS;
  const segments = (hops * Math.max(pacedCutSizes(plan).segment, FIRST_DATA_BYTES) * 1000) / rate;
  return Math.min(MAX_FIRST_DATA_MS, Math.ceil(segments + hops * quietMs(plan)));
}

/**
 * How long one shaped hop may go without a data packet when its draw crosses the trace's quiet stretches, ms: the
 * two longest stretches of the plan's trace between packets with data (pure ACKs do not end one), summed; 0 without
 * a trace. The stretch after the trace's last data packet goes on into the next burst the draw jumps to: it counts
 * joined to the stretch before the trace's first data packet, as if the trace looped. A hop's first data waits for its draw's next write, and a hop with nothing to send draws the sparse
 * bursts first: the Webex trace has stretches of 15.8 and 13.7 s, and a session with 5 data relays lost its key
 * (the leader waited 31.8 s for the envelope's first bytes) before this was added.
 */
export function quietMs(plan: PacingPlan): number {
  const t = plan.profile?.trace;
  if (t === undefined || plan.strategy !== 'profile') return 0;
  const ackMax = wireLimits(plan.overheads, plan.segment ?? DEFAULT_SEGMENT).ackMax;
  let first = 0;
  let second = 0;
  const add = (stretch: number): void => {
    if (stretch > first) [first, second] = [stretch, first];
    else if (stretch > second) second = stretch;
  };
  let head: number | undefined; // the stretch before the first data packet, joined to the tail's
  let run = 0;
  for (let i = 0; i < t.sizes.length; i++) {
    run += t.gapsUs[i]!;
    if (t.sizes[i]! <= ackMax) continue;
    if (head === undefined) head = run;
    else add(run);
    run = 0;
  }
  add(run + (head ?? 0));
  return (first + second) / 1000;
}

/**
 * How long a paced session's first envelope segment may take to reach the leader, ms: two hops (source → data
 * relay → leader) of {@link segmentsMs}. The leader rebuilds the key only with the envelope's first bytes, so its
 * wait for the key adds this.
 */
export function firstDataMs(plan: PacingPlan | undefined): number {
  return segmentsMs(plan, 2);
}
