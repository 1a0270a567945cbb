/**
 * The sizes of the records a shaped link's receiver sends back (roles/echo.ts): drawn from the reverse direction
 * the profile learned (`shape.reverse`), so that an observer of the reverse direction sees the capture's sizes of
 * packets with data (a client's requests) instead of one record size. Pure.
 */
import type { FieldChecker, Histogram } from '../profile/model.js';
import { compactHistogram } from './compact.js';
import { ACK_SLACK } from './shape.js';

/** Most distinct sizes a plan carries for its echoes (quantiles of the reverse direction beyond). */
export const PLAN_MAX_ECHO_SIZES = 64;
/** Largest echo size a plan may name (a receiver clamps to its link's segment anyway). */
export const MAX_ECHO_SIZE = 65_535;

/**
 * The sizes a plan carries for its echoes: the reverse direction's wire sizes above a pure ACK (at most the TCP/IP
 * and link headers plus {@link ACK_SLACK}; those the receiver's kernel sends itself), cut to
 * {@link PLAN_MAX_ECHO_SIZES} (none above {@link MAX_ECHO_SIZE}); undefined when there are none.
 */
export function planEchoSizes(
  reverse: Histogram | undefined,
  o: { link: number; tcpip: number },
): Histogram | undefined {
  if (reverse === undefined) return undefined;
  const ackMax = o.link + o.tcpip + ACK_SLACK;
  const values: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < reverse.values.length; i++) {
    const v = reverse.values[i]!;
    if (v > ackMax && v <= MAX_ECHO_SIZE && reverse.counts[i]! > 0) {
      values.push(v);
      counts.push(reverse.counts[i]!);
    }
  }
  return values.length === 0 ? undefined : compactHistogram({ values, counts }, PLAN_MAX_ECHO_SIZES);
}

/** Validates a plan's `profile.echoSizes`. @throws SmigError SMIG_ERR_PROFILE naming the field. */
export function validateEchoSizes(c: FieldChecker, v: unknown, path: string): void {
  c.histogram(v, path, { minValue: 1, intValues: true, maxLength: PLAN_MAX_ECHO_SIZES });
  for (const x of (v as Histogram).values) if (x > MAX_ECHO_SIZE) c.fail(path, `${x} is above ${MAX_ECHO_SIZE}`);
}
