/**
 * A framed connection's own deadlines (opening frame, graceful close, stalled replies) on an injected clock, so
 * that a connection over the in-process transport (memory.ts) keeps them on the test's fake clock; without a
 * clock, the event loop's timers as always.
 */
import type { Clock } from '../pacing/clock.js';

/** Cancels a pending {@link startTimer} (idempotent). */
export type CancelTimer = () => void;

/**
 * Runs `fn` once, `ms` from now on `clock`; without one on an event-loop timer, unref'd unless `ref` (a pending
 * timer then does not keep the process alive).
 */
export function startTimer(clock: Clock | undefined, ms: number, fn: () => void, ref = false): CancelTimer {
  if (clock === undefined) {
    const t = setTimeout(fn, ms);
    if (!ref) t.unref();
    return () => clearTimeout(t);
  }
  const stop = new AbortController();
  clock.sleep(ms, stop.signal).then(
    () => {
      if (!stop.signal.aborted) fn();
    },
    () => {},
  );
  return () => stop.abort();
}
