/** Envelope segment and chunk sizes of a paced session, by the plan's rate. */
import type { PacingPlan } from './plan.js';
import { planDuration } from './plan.js';

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
