/**
 * The bin-scale envelope of a shaped hop whose trace is shorter than its bins (a high-rate profile): per-bin
 * targets from the profile's chain, and the warp of the trace's time to them (shape.ts `ShapedPacer`).
 */
import { smigError } from '../errors.js';

/** What a {@link RateEnvelope} needs: the bin width, the next bin's target, and the trace's own rate. */
export interface EnvelopeOptions {
  binMs: number;
  /** Wire bytes of the next bin (e.g. drawn from the profile's chain of rate levels). */
  draw: () => number;
  /** The trace's mean wire rate, bytes per ms (what its gaps give unscaled). */
  traceRate: number;
}

/**
 * The bin-scale rhythm of a shaped hop when its trace is too short to hold it: at hundreds of Mbit/s the plan's
 * trace (≤ 1600 packets) is a tenth of a second, far less than one bin, so the rate swings between bins (a copy
 * that slows, a pause between two transfers) are not in it. The envelope draws a target for every bin (the
 * profile's chain: levels, how long they last, (bytes, packets) pairs of real bins) and warps the trace's time:
 * inside a bin whose target rate is r, trace time runs at r ÷ the trace's rate, so the bin carries about its
 * target and the writes keep their sizes and their relative gaps. A bin with no traffic is skipped whole (silence).
 * Time is piecewise linear, so a gap that crosses a bin edge is spent partly at each bin's speed.
 */
export class RateEnvelope {
  readonly #binMs: number;
  readonly #draw: () => number;
  readonly #traceRate: number;
  #binEnd: number | undefined;
  #rate = 0;
  #bins = 0;

  constructor(o: EnvelopeOptions) {
    if (!(o.binMs > 0) || !(o.traceRate > 0) || !Number.isFinite(o.binMs) || !Number.isFinite(o.traceRate))
      throw smigError('SMIG_ERR_USAGE', `RateEnvelope: bin ${o.binMs} ms and trace rate ${o.traceRate} B/ms`);
    this.#binMs = o.binMs;
    this.#draw = o.draw;
    this.#traceRate = o.traceRate;
  }

  /** Bins drawn so far. */
  get bins(): number {
    return this.#bins;
  }

  /** The target rate of the current bin, bytes per ms (0 before the first {@link advance}). */
  get rate(): number {
    return this.#rate;
  }

  #next(start: number): void {
    this.#binEnd = start + this.#binMs;
    this.#rate = Math.max(0, this.#draw()) / this.#binMs;
    this.#bins++;
  }

  /** The time at which `gapMs` of trace time after time `at` has passed (the first call starts the first bin at `at`). */
  advance(at: number, gapMs: number): number {
    if (this.#binEnd === undefined) this.#next(at);
    let t = at;
    let g = Math.max(0, gapMs);
    for (let guard = 0; guard < 100_000; guard++) {
      const end = this.#binEnd!;
      if (t < end && this.#rate > 0) {
        const room = ((end - t) * this.#rate) / this.#traceRate; // trace time this bin can still hold
        if (g <= room) return t + (g * this.#traceRate) / this.#rate;
        g -= room;
      }
      t = Math.max(t, end);
      this.#next(end);
    }
    return t; // only after 100 000 silent bins in a row: a chain that is almost never busy
  }

  /** Moves the bins by `ms` (the hop's schedule paused). */
  shift(ms: number): void {
    if (this.#binEnd !== undefined) this.#binEnd += ms;
  }
}

/** Mean wire bytes per bin of a plan's chain: the level frequencies (row sums) times each level's mean bin. */
export function chainMeanBytes(chain: {
  transitions: readonly (readonly number[])[];
  levels: readonly { pairs: readonly (readonly [number, number, number])[] }[];
}): number {
  const rows = chain.transitions.map((r) => r.reduce((a, b) => a + b, 0));
  const total = rows.reduce((a, b) => a + b, 0);
  let mean = 0;
  chain.levels.forEach((l, i) => {
    const n = l.pairs.reduce((a, q) => a + q[2], 0);
    if (n > 0 && total > 0) mean += (rows[i]! / total) * (l.pairs.reduce((a, q) => a + q[0] * q[2], 0) / n);
  });
  return mean;
}
