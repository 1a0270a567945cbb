/**
 * The leader's hold of END on a shaped link to the destination (docs/ARCHITECTURE.md "No link ends before its lower
 * bound"). A link whose data is through sooner than its lower bound replayed a stretch of the trace denser than the
 * trace's mean, and per bin it is rejected far more often than the capture's own stretches of its length; held
 * until the bound, covering, it is one more stretch of the trace of about the bound's length. Pure.
 */
import type { PacingPlan } from './plan.js';
import { planDuration } from './plan.js';

/** A `profile` plan with a trace whose links cover (the plans the hold and the early release of data links serve). */
export function shapedWithCover(plan: PacingPlan | undefined): plan is PacingPlan {
  return plan?.strategy === 'profile' && plan.profile?.trace !== undefined && plan.cover !== false;
}

/** Longest hold, ms: well inside the destination's no-data limit (120 s by default). */
export const MAX_END_HOLD_MS = 60_000;

/**
 * How long the leader holds END, covering meanwhile, once it has written all `bytes` of plaintext `elapsedMs` after
 * its link to the destination opened: until the link has lasted the plan's lower bound for them (`bytes` at the
 * profile's mean rate), at most {@link MAX_END_HOLD_MS}; 0 for a plan that is not shaped with cover.
 */
export function endHoldMs(plan: PacingPlan | undefined, bytes: number, elapsedMs: number): number {
  if (!shapedWithCover(plan)) return 0;
  const lower = planDuration(plan, bytes).lowerBoundSeconds;
  return lower === null ? 0 : holdUntil(lower, elapsedMs);
}

/** Shortest wait between two checks of a held END (the cover written meanwhile moves the goal). */
export const MIN_RECHECK_MS = 250;

/** What is left, ms, of a link's first `seconds` once it has lasted `elapsedMs`: at least 0, at most the longest hold. */
function holdUntil(seconds: number, elapsedMs: number): number {
  return Math.min(MAX_END_HOLD_MS, Math.max(0, seconds * 1000 - elapsedMs));
}

/**
 * The rate of a link's shaped writes over a long run, frame bytes per second (`planDuration`'s payload rate: the
 * trace's, or the envelope's); null for a plan that is not shaped with cover.
 */
export function meanWriteRate(plan: PacingPlan | undefined): number | null {
  return shapedWithCover(plan) ? planDuration(plan, 1).payloadRate : null;
}

/**
 * How long a link that has written `written` frame bytes, data and cover, `elapsedMs` after it opened still covers
 * before it may end: until its mean write rate is down to `rate` ({@link meanWriteRate}), at most
 * {@link MAX_END_HOLD_MS}. A link that ended where its data ran out would end as a stretch of the trace denser than
 * the trace.
 */
export function meanHoldMs(rate: number | null, written: number, elapsedMs: number): number {
  if (rate === null || !(rate > 0)) return 0;
  return holdUntil(written / rate, elapsedMs);
}

/**
 * How long a shaped link that has carried `bytes` of data in `written` frame bytes (data and cover), `lastedMs` after
 * it opened, still covers before its END: the longer of {@link endHoldMs} (the lower bound for `bytes`) and
 * {@link meanHoldMs} (its mean write rate down to the plan's); 0 for a plan that is not shaped with cover. Callers
 * re-check at least every {@link MIN_RECHECK_MS} and stop at {@link MAX_END_HOLD_MS} from their first check.
 */
export function linkHoldMs(plan: PacingPlan | undefined, bytes: number, written: number, lastedMs: number): number {
  return Math.max(endHoldMs(plan, bytes, lastedMs), meanHoldMs(meanWriteRate(plan), written, lastedMs));
}
