/**
 * The pacing strategies (docs/DESIGN.md §4), each built from a {@link PacingPlan} into a {@link Pacer} for one hop:
 * - `bulk`: no pacing (the paper's "traditional migration");
 * - `constant`: a token bucket at the plan's rate (the paper's chunk-size method, §5.2 calculate_chunk_size:
 *   the right mean, the wrong variance);
 * - `profile`: every bin's bytes and packets are drawn from the profile's Markov chain and sent in bursts at
 *   random times inside the bin ({@link BinSchedule}); write sizes are drawn from its size distribution tilted
 *   to the bin's mean packet size (bytes ÷ packets of the drawn bin), so both the bytes and the packets per bin
 *   follow the profile;
 * - `replay`: the recorded series bin by bin, looping, from a start bin drawn per hop, sent the same way.
 * A hop's randomness comes from the plan's seed and the hop's seed, so hops draw independently.
 *
 * Use: before each write, `size = pacer.nextWriteSize()`, cut at most that many bytes, `await pacer.take(len)`,
 * write (src/roles/pace.ts does that on every hop).
 */
import { smigError } from '../errors.js';
import type { BinTarget, Rng, SizeSampler } from '../profile/sampler.js';
import { createRateSampler, createRng, createSizeSampler, deriveSeed } from '../profile/sampler.js';
import type { BucketStats, RateSchedule } from './bucket.js';
import { TokenBucket } from './bucket.js';
import type { Clock } from './clock.js';
import { RateEnvelope } from './envelope.js';
import type { PacingPlan, Strategy } from './plan.js';
import { constantWriteSize, DEFAULT_SEGMENT, overheadOf, traceRates } from './plan.js';
import { MAX_WRITE } from './records.js';
import { BurstResampler, pressureOf, traceRate } from './resample.js';
import { commonSizes, DEFAULT_MERGE_US, ENVELOPE_CATCHUP_BINS, REBASE_MS, ShapedPacer, WritePlanner } from './shape.js';

export interface PacerStats extends BucketStats {
  strategy: Strategy;
  /** Payload bytes taken (BucketStats.bytes counts wire bytes: payload + overhead per write). */
  payloadBytes: number;
}

/** One hop's pacer. */
export interface Pacer {
  readonly strategy: Strategy;
  /**
   * Waits until a write of `n` payload bytes may go (charged n + the per-write overhead). A write larger than
   * {@link nextWriteSize} is allowed but goes out as one burst: cut writes to that size.
   */
  take(n: number, signal?: AbortSignal): Promise<void>;
  /** Payload bytes for the next write (Infinity for bulk: no limit). */
  nextWriteSize(): number;
  stats(): PacerStats;
}

/**
 * Builds the pacer of one hop. `hopSeed` tells hops apart (e.g. the link's index); with the plan's seed it fixes
 * every draw of this hop.
 */
export function createPacer(plan: PacingPlan, clock: Clock, hopSeed = 0): Pacer {
  const o = overheadOf(plan);
  const seed = deriveSeed(plan.seed, hopSeed);
  switch (plan.strategy) {
    case 'bulk':
      return new BulkPacer(clock);
    case 'constant': {
      const rate = plan.rate!;
      const w = constantWriteSize(rate);
      const bucket = new TokenBucket({ clock, rate, depth: plan.depth ?? Math.max(2 * (w + o), rate * 0.02) });
      return new BucketPacer('constant', bucket, o, () => w);
    }
    case 'profile':
    case 'replay': {
      const pp = plan.profile!;
      if (plan.strategy === 'profile' && pp.trace !== undefined) {
        const packets = new BurstResampler(pp.trace, pp.burstGapUs ?? 1000, createRng(deriveSeed(seed, 4)));
        let envelope: RateEnvelope | undefined;
        const binMs = Number(BigInt(plan.binNs)) / 1e6;
        if (pp.chain !== undefined) {
          const rates = createRateSampler({ chain: pp.chain }, createRng(deriveSeed(seed, 5)));
          envelope = new RateEnvelope({
            binMs,
            draw: () => rates.next().bytes,
            traceRate: traceRates(pp.trace, plan).wire / 1000,
          });
        }
        const pacer = new ShapedPacer(
          clock,
          new WritePlanner(
            () => packets.next(),
            plan.overheads,
            plan.segment ?? DEFAULT_SEGMENT,
            DEFAULT_MERGE_US,
            MAX_WRITE,
            createRng(deriveSeed(seed, 6)),
            commonSizes(pp.trace.sizes),
          ),
          plan.overheads,
          envelope,
          envelope === undefined ? REBASE_MS : binMs * ENVELOPE_CATCHUP_BINS,
        );
        const rate = traceRate(pp.trace);
        pacer.steer = (queued, ended) => packets.steer(() => pressureOf(queued(), rate, ended?.() ?? false));
        return pacer;
      }
      const binMs = Number(BigInt(plan.binNs)) / 1e6;
      let draw: () => BinTarget;
      if (plan.strategy === 'profile') {
        const rates = createRateSampler({ chain: pp.chain! }, createRng(deriveSeed(seed, 1)));
        draw = () => rates.next();
      } else {
        const s = pp.series!;
        let i = Math.floor(createRng(deriveSeed(seed, 1))() * s.bytes.length);
        draw = () => {
          const t = { level: 0, bytes: s.bytes[i]!, packets: s.packets[i]! };
          i = (i + 1) % s.bytes.length;
          return t;
        };
      }
      const schedule = new BinSchedule(binMs, draw, {
        peak: plan.peak!,
        burstPackets: pp.burstPackets!,
        rng: createRng(deriveSeed(seed, 3)),
      });
      const sizes = createSizeSampler({ sizes: pp.sizes! }, createRng(deriveSeed(seed, 2)), o);
      const maxWire = Math.max(o + 1, pp.sizes!.values[pp.sizes!.values.length - 1]!);
      const bucket = new TokenBucket({ clock, schedule, depth: plan.depth ?? 2 * maxWire });
      return new BucketPacer(plan.strategy, bucket, o, () => binnedWriteSize(bucket, schedule, sizes));
    }
    default:
      throw smigError('SMIG_ERR_USAGE', `createPacer: unknown strategy '${String(plan.strategy)}'`);
  }
}

/**
 * The next write of a binned strategy: a size from the distribution tilted to the mean packet size of the bin its
 * tokens come from, cut so that it does not run past that bin's budget (the bin's last write fills it exactly;
 * a write never waits for the next burst or bin while the current one still has room).
 */
function binnedWriteSize(bucket: TokenBucket, schedule: BinSchedule, sizes: SizeSampler): number {
  const i = schedule.binAt(bucket.nextTokenTime());
  const t = schedule.target(i);
  sizes.setMean(t.packets > 0 ? t.bytes / t.packets : undefined);
  const size = sizes.next();
  const room = Math.floor(bucket.room(schedule.binEnd(i)) + 1e-6) - sizes.overhead;
  return room >= 1 && size > room ? room : size;
}

/** One bin of a {@link BinSchedule}: its target and its burst windows (ms from the bin start) at `rate`. */
interface BinPlan {
  target: BinTarget;
  /** Ascending, disjoint [start, end) pairs inside the bin. */
  windows: Float64Array;
  rate: number;
}

export interface BinScheduleOptions {
  /** Rate inside a burst, bytes/s (> 0); raised for a bin whose bytes would not fit in 90 % of it. */
  peak: number;
  /** Mean packets per burst (≥ 1): a bin of P packets is sent as round(P ÷ this) bursts. */
  burstPackets: number;
  /** Places the bursts. */
  rng: Rng;
}

/**
 * Fraction of a bin that the bursts of one bin occupy: they start at uniformly random times inside a span of
 * this length, itself at a uniformly random place in the bin. Spread over the whole bin, a bin's bursts land on
 * both sides of any boundary of an observer whose bins are offset from the pacer's, so it sees one drawn bin as
 * two half-full ones: its share of empty bins fell from 0.62 to 0.49 (netflix even blocks, 500 ms bins) and
 * per-bin KS against the hold-out passed 34 % of 30 s windows at a random offset (23 % of 80 s ones) against
 * 81–92 % at the pacer's own bins. The source's link passed because its pacer starts with the connection, as the
 * analyzer's bins do; the relay and leader hops start after their cushion, at an arbitrary offset. A quarter of
 * the bin: 90 % (85 %) at a random offset, as aligned. A real capture's share of empty bins barely depends on the
 * offset (netflix 0.64–0.66): its activity comes in episodes that span whole runs of bins.
 */
export const BURST_SPREAD = 0.25;

/**
 * Per-bin traffic as bursts (docs/DESIGN.md §4 "profile"): bin i = [t0 + i·bin, t0 + (i+1)·bin) from the first take;
 * its target (bytes B, packets P) is drawn lazily in bin order and sent as k = round(P ÷ burstPackets) bursts
 * (1 ≤ k ≤ P) of B/k bytes each, at the peak rate, starting at uniformly random times inside a span of
 * {@link BURST_SPREAD} of the bin at a random place in it, never overlapping and never crossing its end. Tokens
 * accrue only inside the bursts, so:
 * - an observer whose bins line up with the pacer's sees each bin's bytes whole (no write lands on a boundary);
 * - one whose bins are offset mostly sees a drawn bin whole too (its bursts straddle the observer's boundary
 *   only when the span does), and otherwise whole bursts from two neighbouring bins, as with real traffic,
 *   instead of the smeared average a rate spread evenly over each bin would give;
 * - nothing repeats with the bin period.
 */
export class BinSchedule implements RateSchedule {
  readonly #binMs: number;
  readonly #draw: () => BinTarget;
  readonly #o: BinScheduleOptions;
  #t0: number | undefined;
  /** Bins #first, #first + 1, …. */
  readonly #bins: BinPlan[] = [];
  #first = 0;

  constructor(binMs: number, draw: () => BinTarget, opts: BinScheduleOptions) {
    if (!(binMs > 0)) throw smigError('SMIG_ERR_USAGE', `BinSchedule: bin ${binMs} ms is not positive`);
    if (!(opts.peak > 0) || !(opts.burstPackets >= 1)) {
      throw smigError(
        'SMIG_ERR_USAGE',
        `BinSchedule: peak ${opts.peak} B/s and ${opts.burstPackets} packets per burst are not positive`,
      );
    }
    this.#binMs = binMs;
    this.#draw = draw;
    this.#o = opts;
  }

  start(t0: number): void {
    this.#t0 = t0;
  }

  /** Index of the bin holding time t (0 before the start). */
  binAt(t: number): number {
    if (this.#t0 === undefined || t <= this.#t0) return 0;
    let i = Math.floor((t - this.#t0) / this.#binMs);
    if (this.#t0 + (i + 1) * this.#binMs <= t) i++; // float rounding: the bin must end after t
    return i;
  }

  /** The target of bin i. */
  target(i: number): BinTarget {
    return this.#bin(i).target;
  }

  /** End time of bin i (ms). */
  binEnd(i: number): number {
    return (this.#t0 ?? 0) + (i + 1) * this.#binMs;
  }

  piece(t: number): { rate: number; end: number } {
    const i = this.binAt(t);
    const b = this.#bin(i);
    const start = (this.#t0 ?? 0) + i * this.#binMs;
    const rel = t - start;
    const after = (x: number): number => (start + x > t ? start + x : t + 1e-9);
    const w = b.windows;
    for (let j = 0; j < w.length; j += 2) {
      if (rel < w[j + 1]!)
        return rel < w[j]! ? { rate: 0, end: after(w[j]!) } : { rate: b.rate, end: after(w[j + 1]!) };
    }
    return { rate: 0, end: after(this.#binMs) };
  }

  prune(t: number): void {
    const keep = this.binAt(t);
    while (this.#first < keep && this.#bins.length > 0) {
      this.#bins.shift();
      this.#first++;
    }
  }

  #bin(i: number): BinPlan {
    while (this.#first + this.#bins.length <= i) this.#bins.push(this.#plan(this.#draw()));
    return this.#bins[i - this.#first]!;
  }

  #plan(target: BinTarget): BinPlan {
    const { bytes, packets } = target;
    if (bytes <= 0) return { target, windows: new Float64Array(0), rate: 0 };
    const k = Math.max(1, Math.min(Math.max(1, packets), Math.round(packets / this.#o.burstPackets)));
    const rate = Math.max(this.#o.peak, (bytes * 1000) / (0.9 * this.#binMs));
    const d = ((bytes / k) * 1000) / rate; // ms per burst
    // the bursts' span: BURST_SPREAD of the bin (or what k bursts need), at a uniform start inside the bin
    const span = Math.max(k * d, BURST_SPREAD * this.#binMs);
    const from = this.#o.rng() * (this.#binMs - span);
    // k sorted uniform starts in [0, span − k·d), each shifted by the bursts before it: disjoint, inside the span
    const u = Array.from({ length: k }, () => this.#o.rng() * (span - k * d)).sort((a, b) => a - b);
    const windows = new Float64Array(2 * k);
    for (let j = 0; j < k; j++) {
      windows[2 * j] = from + u[j]! + j * d;
      windows[2 * j + 1] = from + u[j]! + (j + 1) * d;
    }
    return { target, windows, rate };
  }
}

class BulkPacer implements Pacer {
  readonly strategy: Strategy = 'bulk';
  readonly #clock: Clock;
  #writes = 0;
  #bytes = 0;
  #start: number | undefined;
  #last: number | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  take(n: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const now = this.#clock.now();
    this.#start ??= now;
    this.#last = now;
    this.#writes++;
    this.#bytes += n;
    return Promise.resolve();
  }

  nextWriteSize(): number {
    return Infinity;
  }

  stats(): PacerStats {
    return {
      strategy: 'bulk',
      writes: this.#writes,
      bytes: this.#bytes,
      payloadBytes: this.#bytes,
      start: this.#start,
      last: this.#last,
      accrued: this.#bytes,
      lateness: { n: 0, p50: 0, p99: 0, max: 0 },
    };
  }
}

class BucketPacer implements Pacer {
  readonly strategy: Strategy;
  readonly #bucket: TokenBucket;
  readonly #overhead: number;
  readonly #size: () => number;
  #payload = 0;

  constructor(strategy: Strategy, bucket: TokenBucket, overhead: number, size: () => number) {
    this.strategy = strategy;
    this.#bucket = bucket;
    this.#overhead = overhead;
    this.#size = size;
  }

  async take(n: number, signal?: AbortSignal): Promise<void> {
    if (!(n > 0) || !Number.isFinite(n))
      throw smigError('SMIG_ERR_USAGE', `Pacer.take: ${n} is not a positive number of bytes`);
    // the wire cost; a write above the depth is charged in depth-sized parts (and then bursts, see `take`)
    let cost = n + this.#overhead;
    while (cost > 0) {
      const part = Math.min(cost, this.#bucket.depth);
      await this.#bucket.take(part, signal);
      cost -= part;
    }
    this.#payload += n;
  }

  nextWriteSize(): number {
    return Math.max(1, Math.min(this.#size(), this.#bucket.depth - this.#overhead));
  }

  stats(): PacerStats {
    return { ...this.#bucket.stats(), strategy: this.strategy, payloadBytes: this.#payload };
  }
}
