/**
 * The pacer's only view of time (docs/DESIGN.md §4: "injectable clock"): a monotonic `now()` in milliseconds and an
 * abortable `sleep`. {@link RealClock} runs on performance.now() and the event loop; {@link FakeClock} is
 * driven by tests, which can also inject timer lateness and event-loop stalls.
 */

export interface Clock {
  /** Monotonic time in milliseconds (fractional). */
  now(): number;
  /** Resolves after `ms` milliseconds (at once for ms ≤ 0); rejects with `signal.reason` when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface RealClockOptions {
  /**
   * The last `spinMs` milliseconds of a sleep are waited out with setImmediate instead of a timer: Node's timers
   * have millisecond granularity and fire up to about a millisecond late, which alone would break a 1 ms p99
   * lateness aim. The spin yields to I/O between checks. Default 1.5; 0 for timers only.
   */
  spinMs?: number;
}

/** Wall-clock implementation: performance.now(), setTimeout, then a short setImmediate spin. */
export class RealClock implements Clock {
  readonly #spinMs: number;

  constructor(opts: RealClockOptions = {}) {
    this.#spinMs = Math.max(0, opts.spinMs ?? 1.5);
  }

  now(): number {
    return performance.now();
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
  /** Lateness added to every sleep, ms (≥ 0), e.g. a random draw: models late timers. */
  lateness?: () => number;
}

/**
 * Virtual time for tests. Sleepers fire in order of their firing time; {@link advance} and {@link next} set the
 * clock to each one's firing time before resolving it and let its continuations run (a macrotask turn) before
 * the next, so code resuming after a sleep sees the time it woke at. {@link stall} moves time without firing
 * anything, like a blocked event loop: the overdue sleepers then fire together, late.
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #sleepers: Sleeper[] = [];
  readonly #lateness: (() => number) | undefined;

  constructor(opts: FakeClockOptions = {}) {
    this.#now = opts.start ?? 0;
    this.#lateness = opts.lateness;
  }

  now(): number {
    return this.#now;
  }

  /** Sleepers not yet fired. */
  get pending(): number {
    return this.#sleepers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const late = this.#lateness ? Math.max(0, this.#lateness()) : 0;
      const s: Sleeper = { at: this.#now + Math.max(0, ms) + late, seq: this.#seq++, resolve: () => {} };
      const onAbort = (): void => {
        const i = this.#sleepers.indexOf(s);
        if (i >= 0) this.#sleepers.splice(i, 1);
        reject(signal!.reason);
      };
      s.resolve = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      // keep sorted by (at, seq): binary search for the insertion point
      let lo = 0;
      let hi = this.#sleepers.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.#sleepers[mid]!.at <= s.at) lo = mid + 1;
        else hi = mid;
      }
      this.#sleepers.splice(lo, 0, s);
    });
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
