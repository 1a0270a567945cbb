/**
 * The token bucket every paced hop writes through (docs/DESIGN.md §4; STYLE.md §3 item 7).
 *
 * Tokens accrue at the rate in force (bytes/s, piecewise constant: a {@link RateSchedule}) from the first
 * `take`; the bucket holds at most `depth` of them. Scheduling is by deadline against the monotonic clock
 * (a GCRA, "virtual scheduling"): with A(t) the tokens accrued since the start and Q the bytes charged so far,
 * a write of n bytes is due at the first t with A(t) ≥ Q + n. At a constant rate r the k-th byte is due at
 * t0 + k/r, so timer lateness does not accumulate into the long-run rate. Properties:
 * - starts empty: the first write of n bytes goes at t0 + n/r, never at t0 (no first-interval burst);
 * - bounded catch-up: when a write comes up while more than `depth` tokens are unspent (after an idle spell or
 *   an event-loop stall), Q is raised to A(now) − depth, so the writes of any interval [s, t] never exceed
 *   depth + ∫ₛᵗ r — a stall never turns into a burst above the depth;
 * - writes are granted one at a time in call order; each one's deadline is computed when it reaches the head
 *   of the queue, so concurrent callers cannot stack deadlines computed before a stall;
 * - `setRate` takes effect from the next write: the current rate stays in force until the bytes already
 *   scheduled are paid, and the schedule (t0, A, Q) is kept;
 * - lateness (grant time − deadline, for writes that had to wait) is recorded for the benchmark.
 */
import { quantileSorted, Reservoir } from '../analysis/stats.js';
import { smigError } from '../errors.js';
import type { Clock } from './clock.js';

/** A piecewise-constant rate over time (ms), starting when the bucket starts. */
export interface RateSchedule {
  /** Called once, with the time of the first `take`. */
  start(t0: number): void;
  /** The rate (bytes/s, ≥ 0) in force at time t ≥ t0 and the end of its constant piece (> t; may be Infinity). */
  piece(t: number): { rate: number; end: number };
  /** Optional: the bucket has integrated up to t; earlier pieces are no longer needed. */
  prune?(t: number): void;
}

/** A constant rate that can be changed: a list of steps. */
export class StepSchedule implements RateSchedule {
  /** Steps [from, rate], ascending by time; the first is in force from the start. */
  readonly #steps: [number, number][];

  constructor(rate: number) {
    checkRate(rate);
    this.#steps = [[-Infinity, rate]];
  }

  start(): void {}

  piece(t: number): { rate: number; end: number } {
    let i = 0;
    while (i + 1 < this.#steps.length && this.#steps[i + 1]![0] <= t) i++;
    return { rate: this.#steps[i]![1], end: i + 1 < this.#steps.length ? this.#steps[i + 1]![0] : Infinity };
  }

  /** Drops the steps that ended before t (the bucket has integrated past them). */
  prune(t: number): void {
    while (this.#steps.length > 1 && this.#steps[1]![0] <= t) this.#steps.shift();
  }

  /** The rate from time `from` on (replacing any later steps). */
  set(rate: number, from: number): void {
    checkRate(rate);
    while (this.#steps.length > 1 && this.#steps[this.#steps.length - 1]![0] >= from) this.#steps.pop();
    if (this.#steps.length === 1 && this.#steps[0]![0] >= from) this.#steps[0] = [-Infinity, rate];
    else this.#steps.push([from, rate]);
  }

  /** The rate of the last step. */
  get latest(): number {
    return this.#steps[this.#steps.length - 1]![1];
  }
}

/** Lateness of writes against their deadlines, ms. */
export interface LatenessStats {
  /**
   * Writes that waited for their deadline. A write whose deadline had already passed when it came up (after an
   * idle producer, or right behind a late write) goes at once and is not counted; the long-run rate shows the rest.
   */
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export interface BucketStats {
  writes: number;
  /** Tokens charged (bytes). */
  bytes: number;
  /** Time of the first take (t0) and of the last grant, ms; undefined before. */
  start: number | undefined;
  last: number | undefined;
  /**
   * Tokens accrued from the start to the last grant: the bytes the rate (or schedule) allowed, i.e. the target
   * the writes are measured against (achieved ÷ target ≈ 1 for a producer that always has data).
   */
  accrued: number;
  lateness: LatenessStats;
}

export interface TokenBucketOptions {
  clock: Clock;
  /** Constant rate, bytes/s (≥ 0; 0 pauses). Ignored when `schedule` is given. */
  rate?: number;
  /** A rate that changes over time (e.g. per bin). */
  schedule?: RateSchedule;
  /** Most tokens the bucket holds, bytes (> 0): the largest burst, and the largest single write. */
  depth: number;
  /** Lateness values kept for p50/p99 (a uniform sample beyond; default 100 000). */
  latenessSamples?: number;
}

interface Waiter {
  n: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** The deadline slept towards, once known. */
  deadline?: number;
}

/** Deadlines within this of now count as due (float rounding of A(t)); ms. */
const EPS_MS = 1e-6;
/** Tokens short by less than this count as there (float rounding of A(t)); bytes. */
const EPS_TOKENS = 1e-6;

/**
 * A token bucket with deadline scheduling (see the module comment).
 * @example
 * const bucket = new TokenBucket({ clock: new RealClock(), rate: 6e6, depth: 64 * 1024 });
 * for (const chunk of chunks) { await bucket.take(chunk.length); socket.write(chunk); }
 */
export class TokenBucket {
  readonly #clock: Clock;
  readonly #schedule: RateSchedule;
  readonly #steps: StepSchedule | undefined;
  #depth: number;
  #started = false;
  #t0: number | undefined;
  /** A(#accT): tokens accrued from t0 to #accT. */
  #acc = 0;
  #accT = 0;
  /** Q: bytes charged (including tokens dropped by the depth cap). */
  #paid = 0;
  readonly #queue: Waiter[] = [];
  #pumping = false;
  #wake: AbortController | undefined;
  #writes = 0;
  #bytes = 0;
  #last: number | undefined;
  #accruedAtLast = 0;
  readonly #late: Reservoir;
  #lateN = 0;
  #lateMax = 0;

  /** @throws SmigError SMIG_ERR_USAGE for a missing/negative rate or a depth that is not positive. */
  constructor(opts: TokenBucketOptions) {
    if (!(opts.depth > 0) || !Number.isFinite(opts.depth))
      throw smigError('SMIG_ERR_USAGE', `TokenBucket: depth must be a positive number of bytes (got ${opts.depth})`);
    this.#clock = opts.clock;
    this.#depth = opts.depth;
    if (opts.schedule) {
      this.#schedule = opts.schedule;
    } else {
      if (opts.rate === undefined) throw smigError('SMIG_ERR_USAGE', 'TokenBucket: a rate or a schedule is required');
      this.#steps = new StepSchedule(opts.rate);
      this.#schedule = this.#steps;
    }
    this.#late = new Reservoir(opts.latenessSamples ?? 100_000, 0x1a7e);
  }

  /** Most bytes one write may take: the depth. */
  get depth(): number {
    return this.#depth;
  }

  /** The largest write this bucket allows (its depth): a hop cuts its chunks to it. */
  nextWriteSize(): number {
    return this.#depth;
  }

  /** The rate in force now (bytes/s). */
  get rate(): number {
    return this.#schedule.piece(Math.max(this.#accT, this.#clock.now())).rate;
  }

  /**
   * Waits until `n` bytes may go (n tokens have accrued for them), in call order.
   * @throws SmigError SMIG_ERR_USAGE when n is not a positive number or exceeds the depth (that write would be a
   *   burst above the depth: split it). Rejects with `signal.reason` when aborted; an aborted write is not charged.
   */
  take(n: number, signal?: AbortSignal): Promise<void> {
    if (!(n > 0) || !Number.isFinite(n))
      return Promise.reject(smigError('SMIG_ERR_USAGE', `TokenBucket.take: ${n} is not a positive number of bytes`));
    if (n > this.#depth)
      return Promise.reject(
        smigError('SMIG_ERR_USAGE', `TokenBucket.take: ${n} bytes exceed the depth (${this.#depth}): split the write`),
      );
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const w: Waiter = { n, resolve, reject, signal, onAbort: undefined };
      if (signal) {
        w.onAbort = () => {
          const i = this.#queue.indexOf(w);
          if (i < 0) return;
          this.#queue.splice(i, 1);
          if (i === 0) this.#wake?.abort();
          reject(signal.reason);
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.#queue.push(w);
      if (!this.#pumping) void this.#pump();
    });
  }

  /**
   * Changes a constant-rate bucket's rate (bytes/s; 0 pauses) from the next write on: the current rate stays
   * in force until the bytes already scheduled are paid. The schedule is kept (no reset of t0 or credit).
   * @throws SmigError SMIG_ERR_USAGE on a negative rate, or for a bucket driven by a schedule.
   */
  setRate(rate: number): void {
    if (!this.#steps) throw smigError('SMIG_ERR_USAGE', 'TokenBucket.setRate: this bucket follows a schedule');
    checkRate(rate);
    const now = this.#clock.now();
    if (!this.#started) {
      this.#steps.set(rate, -Infinity);
      return;
    }
    this.#advance(now);
    // bytes already scheduled: the head's charge when it has a deadline, plus everything granted
    const head = this.#queue[0];
    const scheduled = this.#paid + (head?.deadline !== undefined ? head.n : 0);
    const paidAt = this.#deadlineOf(scheduled);
    this.#steps.set(rate, Number.isFinite(paidAt) ? Math.max(now, paidAt) : now);
    this.#wake?.abort();
  }

  /** Changes the depth (> 0) from the next write on. */
  setDepth(depth: number): void {
    if (!(depth > 0) || !Number.isFinite(depth))
      throw smigError('SMIG_ERR_USAGE', `TokenBucket: depth must be a positive number of bytes (got ${depth})`);
    this.#depth = depth;
  }

  /**
   * When the next write's first byte is paid for: the time A reaches Q + 1 (now if it already has). Infinity
   * while the rate stays 0.
   */
  nextTokenTime(): number {
    const now = this.#clock.now();
    if (!this.#started) return now;
    this.#advance(now);
    return Math.max(now, this.#deadlineOf(this.#paid + 1));
  }

  /** Tokens that will be unspent at time t ≥ now if nothing more is taken: A(t) − Q (at most the depth). */
  room(t: number): number {
    if (!this.#started) return 0;
    this.#advance(Math.min(t, this.#clock.now()));
    let x = this.#accT;
    let a = this.#acc;
    for (let pieces = 0; x < t && pieces < 1_000_000; pieces++) {
      const { rate, end } = this.#schedule.piece(x);
      const to = Math.min(t, end);
      a += (rate * (to - x)) / 1000;
      x = to;
    }
    return Math.min(this.#depth, a - this.#paid);
  }

  stats(): BucketStats {
    const late = this.#late.values().sort();
    return {
      writes: this.#writes,
      bytes: this.#bytes,
      start: this.#t0,
      last: this.#last,
      accrued: this.#accruedAtLast,
      lateness: {
        n: this.#lateN,
        p50: late.length > 0 ? quantileSorted(late, 0.5) : 0,
        p99: late.length > 0 ? quantileSorted(late, 0.99) : 0,
        max: this.#lateMax,
      },
    };
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#queue.length > 0) {
        const w = this.#queue[0]!;
        const now = this.#clock.now();
        if (!this.#started) {
          this.#started = true;
          this.#t0 = now;
          this.#accT = now;
          this.#schedule.start(now);
        }
        this.#advance(now);
        // bounded catch-up: never more than `depth` unspent tokens
        if (this.#acc - this.#paid > this.#depth) this.#paid = this.#acc - this.#depth;
        const deadline = this.#deadlineOf(this.#paid + w.n);
        if (deadline > now + EPS_MS) {
          w.deadline = deadline;
          this.#wake = new AbortController();
          const ms = Number.isFinite(deadline) ? deadline - now : 2 ** 31 - 1;
          try {
            await this.#clock.sleep(ms, this.#wake.signal);
          } catch {
            // woken (rate change, or the head was aborted): look again
          }
          this.#wake = undefined;
          continue;
        }
        // grant
        this.#paid += w.n;
        this.#queue.shift();
        if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
        this.#writes++;
        this.#bytes += w.n;
        this.#last = now;
        this.#accruedAtLast = this.#acc;
        if (w.deadline !== undefined) {
          const late = Math.max(0, now - w.deadline);
          this.#late.add(late);
          this.#lateN++;
          this.#lateMax = Math.max(this.#lateMax, late);
        }
        w.resolve();
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Integrates the accrual up to time t. */
  #advance(t: number): void {
    while (this.#accT < t) {
      const { rate, end } = this.#schedule.piece(this.#accT);
      const to = Math.min(t, end);
      this.#acc += (rate * (to - this.#accT)) / 1000;
      this.#accT = to;
    }
    this.#schedule.prune?.(this.#accT);
  }

  /** The first time ≥ #accT at which A reaches q (Infinity if it never does within a bounded look-ahead). */
  #deadlineOf(q: number): number {
    let x = this.#accT;
    let a = this.#acc;
    if (a >= q - EPS_TOKENS) return x;
    for (let pieces = 0; pieces < 1_000_000; pieces++) {
      const { rate, end } = this.#schedule.piece(x);
      if (rate > 0) {
        const t = x + ((q - a) * 1000) / rate;
        if (t <= end) return t;
      }
      if (end === Infinity) return Infinity;
      a += (rate * (end - x)) / 1000;
      // a piece that pays q but for float rounding (a burst of exactly q bytes) ends at the deadline
      if (a >= q - EPS_TOKENS) return end;
      x = end;
    }
    return Infinity;
  }
}

function checkRate(rate: number): void {
  if (!(rate >= 0) || !Number.isFinite(rate))
    throw smigError('SMIG_ERR_USAGE', `TokenBucket: rate must be a non-negative number of bytes/s (got ${rate})`);
}
