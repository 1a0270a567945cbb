/** The session-time estimate `smig send --dry-run` and `smig profile plan` print: a simulated range, not one number. */
import type { PacingPlan } from '../pacing/plan.js';
import type { DurationRange } from '../pacing/simulate.js';

/**
 * Simulated session times of moving `payloadBytes` with `plan` through `dataRelays` data relays, a leader and a
 * destination (pacing/simulate.ts simulateDuration, with the frame headers and cushions the roles use). Null for bulk.
 */
export async function sessionEstimate(
  plan: PacingPlan,
  payloadBytes: number,
  dataRelays: number,
): Promise<DurationRange | null> {
  if (plan.strategy === 'bulk') return null;
  const { simulateDuration } = await import('../pacing/simulate.js');
  const { DATA_FRAME_OVERHEAD, DATA_SEGMENT_FRAME_OVERHEAD, cushionBytes, cushionSeconds } = await import(
    '../roles/pace.js'
  );
  const { PREFIX_BYTES, TAG_BYTES, TRAILER_BYTES } = await import('../crypto/envelope.js');
  const { PACED_FLUSH_MS } = await import('../roles/relay-forward.js');
  const { SHAPED_GRACE_MS } = await import('../roles/leader-options.js');
  const { pacedCutSizes } = await import('../pacing/cut-sizes.js');
  const { segment, chunk } = pacedCutSizes(plan);
  return simulateDuration(plan, {
    payloadBytes,
    envelopeBytes: PREFIX_BYTES + payloadBytes + TAG_BYTES * Math.ceil(payloadBytes / segment) + TRAILER_BYTES,
    dataRelays,
    dataFrameOverhead: DATA_FRAME_OVERHEAD,
    segmentFrameOverhead: DATA_SEGMENT_FRAME_OVERHEAD,
    cushionBytes: cushionBytes(plan),
    cushionSeconds: cushionSeconds(plan),
    chunkBytes: chunk,
    sealSegmentBytes: segment,
    tagBytes: TAG_BYTES,
    prefixBytes: PREFIX_BYTES,
    relayGraceMs: PACED_FLUSH_MS,
    leaderGraceMs: SHAPED_GRACE_MS,
  });
}

/**
 * `44.2 s (median of 200 simulated sessions; 90 % between 32.1 s and 59.7 s, 98 % between 28.0 s and 71.3 s)`; a plan that draws nothing random
 * (constant) has no spread: `26.4 s (simulated session: every hop at the constant rate, after its cushion)`.
 */
export function rangeText(r: DurationRange, secs: (s: number) => string): string {
  if (r.p95 - r.p05 < 1e-9 * Math.max(1, r.p50))
    return `${secs(r.p50)} (simulated session: every hop at the constant rate, after its cushion)`;
  const of =
    r.simulatedBytes === undefined ? '' : ` of ${(r.simulatedBytes / 1e6).toFixed(1)} MB, extrapolated to the size`;
  return `${secs(r.p50)} (median of ${r.runs} simulated sessions${of}; 90 % between ${secs(r.p05)} and ${secs(r.p95)}, 98 % between ${secs(r.p01)} and ${secs(r.p99)})`;
}
