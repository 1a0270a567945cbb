/** Small helpers shared by the roles: a wake-up signal, the DATA frame header, option checks. */
import { smigError } from '../errors.js';
import type { FramedConnection } from '../net/index.js';
import type { Clock } from '../pacing/clock.js';
import { RealClock } from '../pacing/clock.js';
import { FrameType } from '../protocol/index.js';

/**
 * A level-free wake-up: `wait()` resolves at the next `notify()` (or at once if one came since the last
 * wait). Loops use it as "something changed, look again".
 */
export class Signal {
  #waiters: (() => void)[] = [];
  #pending = false;

  /** Resolves at the next notify(), or at once when one is pending. */
  wait(): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Wakes every waiter (or the next one to wait). */
  notify(): void {
    const w = this.#waiters;
    if (w.length === 0) {
      this.#pending = true;
      return;
    }
    this.#waiters = [];
    for (const resolve of w) resolve();
  }
}

/** A pending {@link after} or {@link every}: `cancel()` stops it (idempotent). */
export interface Timer {
  cancel(): void;
}

/**
 * Runs `fn` once, `ms` from now on `clock`. Without a clock: the event loop's timer, unref'd (a pending timer does
 * not keep a process alive; the roles' sockets do).
 */
export function after(clock: Clock | undefined, ms: number, fn: () => void): Timer {
  if (clock === undefined) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  }
  const stop = new AbortController();
  clock.sleep(ms, stop.signal).then(
    () => {
      if (!stop.signal.aborted) fn();
    },
    () => {},
  );
  return { cancel: () => stop.abort() };
}

/** Runs `fn` every `ms` on `clock` until cancelled; without a clock, an unref'd interval (see {@link after}). */
export function every(clock: Clock | undefined, ms: number, fn: () => void): Timer {
  if (clock === undefined) {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  }
  const stop = new AbortController();
  void (async () => {
    try {
      for (;;) {
        await clock.sleep(ms, stop.signal);
        if (stop.signal.aborted) return;
        fn();
      }
    } catch {
      // aborted
    }
  })();
  return { cancel: () => stop.abort() };
}

const realClock = new RealClock();

/** Monotonic milliseconds of `clock` (default the real one: performance.now()). */
export function nowMs(clock: Clock | undefined): number {
  return (clock ?? realClock).now();
}

/** Waits for `signal` at most `ms` (on `clock`, default the event loop's timers): true when notified, false on the timeout. */
export async function waitOr(signal: Signal, ms: number, clock?: Clock): Promise<boolean> {
  if (!(ms > 0)) return false;
  let timer: Timer | undefined;
  const timeout = new Promise<false>((resolve) => (timer = after(clock, ms, () => resolve(false))));
  try {
    return await Promise.race([signal.wait().then(() => true as const), timeout]);
  } finally {
    timer?.cancel();
  }
}

/** The 8-byte DATA body prefix (u64 big-endian offset). */
export function u64(offset: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, Math.floor(offset / 0x1_0000_0000));
  v.setUint32(4, offset >>> 0);
  return b;
}

/**
 * Sends DATA{offset, bytes} with the bytes given as parts (no concatenation). Same wire
 * format as `encodeMessage({ type: DATA, offset, bytes })`.
 */
export function sendDataParts(conn: FramedConnection, offset: number, parts: readonly Uint8Array[]): Promise<void> {
  return conn.send(FrameType.DATA, [u64(offset), ...parts]);
}

/**
 * Checks a whole-number option.
 * @throws SmigError SMIG_ERR_USAGE naming the option and the range
 */
export function checkCount(value: number, min: number, max: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw smigError('SMIG_ERR_USAGE', `${what}: ${value} is outside ${min}..${max}`);
  }
  return value;
}

/** Elapsed seconds since a {@link nowMs} mark of the same clock. */
export function secondsSince(start: number, clock: Clock | undefined): number {
  return (nowMs(clock) - start) / 1000;
}

/** `text` without any of `secrets` (each replaced by `<destination>`): a destination's address, from what relays read. */
export function scrubbed(secrets: readonly string[], text: string): string {
  let out = text;
  for (const d of secrets) if (d !== '') out = out.split(d).join('<destination>');
  return out;
}
