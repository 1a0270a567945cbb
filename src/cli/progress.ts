/**
 * Progress of a long operation on stderr, as iperf3 shows it: one line per interval with the bytes done, the
 * rate over the interval, the share done and the time left —
 *
 *     smig send: [  4.0-5.0 s]  48.2 kB of 252.1 kB  19.1 %  9.64 kB/s  ETA 21 s
 *
 * On a terminal the line is rewritten in place (a live line); with `--log-format json` each interval is a
 * `progress` event line (numbers, for scripts). Never on stdout, so `--json` output stays clean.
 */
import type { Logger } from '../util/log.js';
import { formatRate } from '../util/units.js';
import type { TextSink } from './io.js';

/** Options of {@link Progress}. */
export interface ProgressOptions {
  /** Line prefix, e.g. `smig send`. */
  label: string;
  /** Units expected in all (bytes), or null when unknown (stdin). */
  total: number | null;
  /** Milliseconds between lines; 0: no progress at all. */
  intervalMs: number;
  sink: TextSink;
  /** A terminal: one live line, rewritten. */
  live: boolean;
  /** When set, each interval is logged as a `progress` event instead of a text line (json log format). */
  log?: Logger;
  /** Monotonic milliseconds (test hook). */
  now?: () => number;
}

/** A byte count for people, decimal like formatRate: `48.2 kB`. */
export function formatAmount(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  for (; Math.abs(v) >= 1000 && i < units.length - 1; i++) v /= 1000;
  return `${i === 0 ? String(Math.round(v)) : Number(v.toPrecision(4)).toString()} ${units[i]}`;
}

/** `21 s`, `3m 05s`, `2h 03m`. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One interval's numbers. */
export interface ProgressSample {
  fromSeconds: number;
  toSeconds: number;
  done: number;
  total: number | null;
  /** Units per second over the interval. */
  rate: number;
  percent: number | null;
  /** Seconds left at the mean rate since the start; null when unknown. */
  etaSeconds: number | null;
}

/** The text of one sample (without the label). */
export function formatSample(p: ProgressSample): string {
  const span = `[${p.fromSeconds.toFixed(1).padStart(6)}-${p.toSeconds.toFixed(1)} s]`;
  const amount = p.total === null ? formatAmount(p.done) : `${formatAmount(p.done)} of ${formatAmount(p.total)}`;
  const pct = p.percent === null ? '' : `  ${p.percent.toFixed(1)} %`;
  const eta = p.etaSeconds === null ? '' : `  ETA ${formatEta(p.etaSeconds)}`;
  return `${span}  ${amount}${pct}  ${formatRate(p.rate)}${eta}`;
}

/** Reports the progress of one operation until {@link Progress.stop}. */
export class Progress {
  #o: ProgressOptions;
  readonly #now: () => number;
  readonly #start: number;
  #lastAt: number;
  #lastDone = 0;
  #done = 0;
  #timer: NodeJS.Timeout | undefined;
  #shown = false;

  constructor(o: ProgressOptions) {
    this.#o = o;
    this.#now = o.now ?? ((): number => performance.now());
    this.#start = this.#now();
    this.#lastAt = this.#start;
  }

  /** The total, once known (a file's length is known only after it is opened). */
  setTotal(total: number | null): void {
    this.#o = { ...this.#o, total };
  }

  /** From now on each interval is a `progress` event of LOG (the json log format). */
  setLog(log: Logger): void {
    this.#o = { ...this.#o, log, live: false };
  }

  /** Starts the interval timer (not with intervalMs 0). */
  start(): this {
    if (this.#o.intervalMs > 0) {
      this.#timer = setInterval(() => this.tick(), this.#o.intervalMs);
      this.#timer.unref();
    }
    return this;
  }

  /** The amount done so far (monotonic). */
  update(done: number): void {
    if (done > this.#done) this.#done = done;
  }

  /** The sample of the interval since the last tick. */
  sample(): ProgressSample {
    const t = this.#now();
    const from = (this.#lastAt - this.#start) / 1000;
    const to = (t - this.#start) / 1000;
    const dt = (t - this.#lastAt) / 1000;
    const total = this.#o.total;
    const meanRate = to > 0 ? this.#done / to : 0;
    return {
      fromSeconds: from,
      toSeconds: to,
      done: this.#done,
      total,
      rate: dt > 0 ? (this.#done - this.#lastDone) / dt : 0,
      percent: total === null || total <= 0 ? null : Math.min(100, (100 * this.#done) / total),
      etaSeconds: total === null || meanRate <= 0 ? null : Math.max(0, total - this.#done) / meanRate,
    };
  }

  /** Writes one interval's line (the timer calls this). */
  tick(): void {
    if (this.#o.intervalMs <= 0) return;
    const p = this.sample();
    this.#lastAt = this.#now();
    this.#lastDone = this.#done;
    if (this.#o.log !== undefined) {
      this.#o.log.event('progress', {
        from: Number(p.fromSeconds.toFixed(3)),
        to: Number(p.toSeconds.toFixed(3)),
        bytes: p.done,
        total: p.total,
        bytesPerSecond: Math.round(p.rate),
        percent: p.percent === null ? null : Number(p.percent.toFixed(2)),
        etaSeconds: p.etaSeconds === null ? null : Math.round(p.etaSeconds),
      });
      return;
    }
    const text = `${this.#o.label}: ${formatSample(p)}`;
    if (this.#o.live) {
      this.#o.sink.write(`\r\x1b[K${text}`);
      this.#shown = true;
    } else {
      this.#o.sink.write(`${text}\n`);
    }
  }

  /**
   * A sink for other stderr lines (the session log) while the live line shows: each write first clears it,
   * the next tick draws it again.
   */
  wrap(sink: TextSink): TextSink {
    return {
      write: (s: string): boolean => {
        if (this.#shown) {
          sink.write('\r\x1b[K');
          this.#shown = false;
        }
        return sink.write(s);
      },
      ...(sink.isTTY === undefined ? {} : { isTTY: sink.isTTY }),
    };
  }

  /** Stops the timer and clears a live line. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#shown) {
      this.#o.sink.write('\r\x1b[K');
      this.#shown = false;
    }
  }
}
