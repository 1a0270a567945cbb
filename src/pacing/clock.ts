/**
 * The pacer's only view of time (docs/DESIGN.md §4: "injectable clock"): a monotonic `now()` in milliseconds and an
 * abortable `sleep`. {@link RealClock} runs on performance.now() and the event loop; {@link FakeClock} is
 * driven by tests, which can also inject timer lateness and event-loop stalls.
 *
 * The controller (src/control) needs two things more, {@link TimerClock}: the wall-clock time it journals
 * (`wallNow`) and cancellable callback timers (`timer`, and {@link repeat} built on it). Both clocks provide
 * them; on a {@link FakeClock} a timer is one more sleeper, fired in the same order by `advance`/`next`.
 */

export interface Clock {
  /** Monotonic time in milliseconds (fractional). */
  now(): number;
  /** Resolves after `ms` milliseconds (at once for ms ≤ 0); rejects with `signal.reason` when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A pending {@link TimerClock.timer}. */
export interface TimerHandle {
  /** The callback will not run (no effect once it ran). */
  cancel(): void;
  /** A real timer stops keeping the process alive (as Node's `unref`); nothing on a fake clock. */
  unref(): TimerHandle;
}

/** A {@link Clock} that also tells the wall-clock time and runs callbacks later: what the controller takes. */
export interface TimerClock extends Clock {
  /** Wall-clock time, milliseconds since the epoch (what journals and reports record). */
  wallNow(): number;
  /** Runs `fn` once after `ms` milliseconds (ms ≤ 0: on the next timer turn). */
  timer(ms: number, fn: () => void): TimerHandle;
}

/** Runs `fn` every `ms` milliseconds (the first time after `ms`) until cancelled: setInterval on a {@link TimerClock}. */
export function repeat(clock: TimerClock, ms: number, fn: () => void): TimerHandle {
  let cancelled = false;
  let unref = false;
  let current: TimerHandle;
  const arm = (): void => {
    current = clock.timer(ms, () => {
      if (cancelled) return;
      arm();
      fn();
    });
    if (unref) current.unref();
  };
  arm();
  const h: TimerHandle = {
    cancel: () => {
      cancelled = true;
      current.cancel();
    },
    unref: () => {
      unref = true;
      current.unref();
      return h;
    },
  };
  return h;
}

/** Longest delay a Node timer takes (2^31 − 1 ms); a longer one would fire at once. */
const MAX_NODE_TIMER_MS = 2 ** 31 - 1;

export interface RealClockOptions {
  /**
   * The last `spinMs` milliseconds of a sleep are waited out with setImmediate instead of a timer: Node's timers
   * have millisecond granularity and fire up to about a millisecond late, which alone would break a 1 ms p99
   * lateness aim. The spin yields to I/O between checks. Default 1.5; 0 for timers only.
   */
  spinMs?: number;
}

/** Wall-clock implementation: performance.now(), setTimeout, then a short setImmediate spin. */
export class RealClock implements TimerClock {
  readonly #spinMs: number;

  constructor(opts: RealClockOptions = {}) {
    this.#spinMs = Math.max(0, opts.spinMs ?? 1.5);
  }

  now(): number {
    return performance.now();
  }

  wallNow(): number {
    return Date.now();
  }

  timer(ms: number, fn: () => void): TimerHandle {
    const t = setTimeout(fn, Math.min(MAX_NODE_TIMER_MS, Math.max(0, ms)));
    const h: TimerHandle = {
      cancel: () => clearTimeout(t),
      unref: () => {
        t.unref();
        return h;
      },
    };
    return h;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const due = performance.now() + ms;
      let timer: NodeJS.Timeout | undefined;
      let immediate: NodeJS.Immediate | undefined;
      const onAbort = (): void => {
        clearTimeout(timer);
        if (immediate) clearImmediate(immediate);
        reject(signal!.reason);
      };
      const check = (): void => {
        timer = undefined;
        if (performance.now() >= due) {
          signal?.removeEventListener('abort', onAbort);
          resolve();
          return;
        }
        const left = due - performance.now();
        if (left > this.#spinMs + 1) timer = setTimeout(check, Math.floor(left - this.#spinMs));
        else immediate = setImmediate(check);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }
}

interface Sleeper {
  /** When it fires: due time plus injected lateness. */
  at: number;
  seq: number;
  resolve: () => void;
}

export interface FakeClockOptions {
  /** Initial time, ms (default 0). */
  start?: number;
  /** Lateness added to every sleep and timer, ms (≥ 0), e.g. a random draw: models late timers. */
  lateness?: () => number;
  /** What {@link FakeClock.wallNow} says when `now()` is 0 (default 2026-01-01T00:00:00Z); both move together. */
  wallStart?: number;
}

/**
 * Virtual time for tests. Sleepers fire in order of their firing time; {@link advance} and {@link next} set the
 * clock to each one's firing time before resolving it and let its continuations run (a macrotask turn) before
 * the next, so code resuming after a sleep sees the time it woke at. {@link stall} moves time without firing
 * anything, like a blocked event loop: the overdue sleepers then fire together, late.
 */
export class FakeClock implements TimerClock {
  #now: number;
  #seq = 0;
  readonly #sleepers: Sleeper[] = [];
  readonly #lateness: (() => number) | undefined;
  readonly #wallStart: number;

  constructor(opts: FakeClockOptions = {}) {
    this.#now = opts.start ?? 0;
    this.#lateness = opts.lateness;
    this.#wallStart = opts.wallStart ?? Date.UTC(2026, 0, 1);
  }

  now(): number {
    return this.#now;
  }

  wallNow(): number {
    return this.#wallStart + this.#now;
  }

  /** A timer is a sleeper whose firing calls `fn` (in the same order as sleepers, by firing time then creation). */
  timer(ms: number, fn: () => void): TimerHandle {
    const s = this.#add(ms, fn);
    const h: TimerHandle = {
      cancel: () => this.#remove(s),
      unref: () => h,
    };
    return h;
  }

  /** Sleepers and timers not yet fired. */
  get pending(): number {
    return this.#sleepers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const s = this.#add(ms, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      const onAbort = (): void => {
        this.#remove(s);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #add(ms: number, resolve: () => void): Sleeper {
    const late = this.#lateness ? Math.max(0, this.#lateness()) : 0;
    const s: Sleeper = { at: this.#now + Math.max(0, ms) + late, seq: this.#seq++, resolve };
    // keep sorted by (at, seq): binary search for the insertion point
    let lo = 0;
    let hi = this.#sleepers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#sleepers[mid]!.at <= s.at) lo = mid + 1;
      else hi = mid;
    }
    this.#sleepers.splice(lo, 0, s);
    return s;
  }

  #remove(s: Sleeper): void {
    const i = this.#sleepers.indexOf(s);
    if (i >= 0) this.#sleepers.splice(i, 1);
  }

  /**
   * Fires the earliest sleeper (time moves to its firing time, or stays if that is past) and lets its
   * continuations run. Returns false, after one turn, when nobody sleeps.
   */
  async next(): Promise<boolean> {
    const s = this.#sleepers.shift();
    if (s) {
      this.#now = Math.max(this.#now, s.at);
      s.resolve();
    }
    await turn();
    return s !== undefined;
  }

  /** Moves time forward by `ms`, firing every sleeper due on the way, in order, each at its own time. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    while (this.#sleepers.length > 0 && this.#sleepers[0]!.at <= end) await this.next();
    this.#now = Math.max(this.#now, end);
    await turn();
  }

  /** An event-loop stall: time jumps by `ms` and nothing fires until the next {@link next}/{@link advance}. */
  stall(ms: number): void {
    this.#now += ms;
  }
}

/** One macrotask turn: every pending microtask chain runs first. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
