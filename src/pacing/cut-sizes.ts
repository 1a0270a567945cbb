/** Envelope segment and chunk sizes of a paced session, by the plan's rate. */
import type { PacingPlan } from './plan.js';
import { DEFAULT_SEGMENT, planDuration } from './plan.js';
import { wireLimits } from './shape.js';

/** Smallest envelope segment and chunk of a paced session (at kB/s a larger one would be seconds of lag per hop). */
export const PACED_MIN_SEGMENT: number = 4 * 1024;
export const PACED_MIN_CHUNK: number = 16 * 1024;

/**
 * Envelope segment and chunk sizes of a paced session: the leader forwards whole segments and every hop lags the
 * one before by about one, so they follow the plan's rate — a segment is at most ~10 ms of its payload rate (a
 * power of two from 4 KiB to 64 KiB), a chunk four segments (16 KiB to 256 KiB). At a few kB/s that is the old
 * 4 KiB and 16 KiB; at tens of MB/s, 64 KiB and 256 KiB, the sizes bulk uses, so no hop spends its CPU on tiny
 * segments and chunks.
 */
export function pacedCutSizes(plan: PacingPlan): { segment: number; chunk: number } {
  const rate = planDuration(plan, 0).payloadRate ?? 0;
  let segment = PACED_MIN_SEGMENT;
  while (segment < 64 * 1024 && segment * 2 <= rate * 0.01) segment *= 2;
  return { segment, chunk: Math.max(PACED_MIN_CHUNK, 4 * segment) };
}

/** The most {@link firstDataMs} adds to a leader's wait for its key (a plan's rate comes from its source). */
export const MAX_FIRST_DATA_MS = 600_000;

/**
 * How long `hops` envelope segments take one after another at the plan's payload rate, ms, and per hop the trace's
 * quiet stretches ({@link quietMs}): each paced hop forwards whole segments, so a session's first bytes reach the
 * k-th hop after about k segments' time (at most {@link MAX_FIRST_DATA_MS}; 0 for `bulk`). At 482 B/s (Gnutella) a
 * 4 KiB segment takes ~17 s a hop.
 */
export function segmentsMs(plan: PacingPlan | undefined, hops: number): number {
  if (plan === undefined) return 0;
  const rate = planDuration(plan, 0).payloadRate;
  if (rate === null || !(rate > 0)) return plan.strategy === 'bulk' ? 0 : MAX_FIRST_DATA_MS;
  const segments = (hops * pacedCutSizes(plan).segment * 1000) / rate;
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
