/**
 * The packet sequence of a shaped hop: the learned trace resampled by bursts (docs/ARCHITECTURE.md "Packet-shaped
 * pacing"). Runs of consecutive bursts (round the trace as a circle) are replayed as recorded; a run ends by chance
 * (after {@link MEAN_RUN_SECONDS} of the trace on average) by jumping to a burst whose predecessor ended like the
 * current one (and, on a hop with nothing to send, before a burst that would come sooner than such a one), or where
 * its stretch meets a burst already used, at the start of another unused stretch; bursts are drawn without
 * replacement, cycle after cycle. Pure: the randomness is an injected rng.
 */
import { smigError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import type { Trace } from './shape.js';

/**
 * Mean trace time replayed in a row before a jump, s. A window of traffic that holds a jump is a mix of two parts of
 * the trace that no window of the capture is, and a trained observer learns that: offline, draws of 150 s against
 * the learned trace's own 5 s windows (smig's observer, 6–10 seeds; before the circle below) scored AUC 0.66–0.78
 * with runs of 16 bursts (1.6–6 s of the shipped traces), 0.55–0.60 with 20 s and 0.53–0.56 with 40 s, on the
 * netflix, Webex, WhatsApp and OpenVPN traces (a replay of the whole trace: 0.52–0.56). Fewer jumps leave less for a
 * hop's data to steer: with this and the circle, the simulator's median (2 data relays) went from 1.54 to 1.61 × the
 * lower bound at 250 kB on netflix and from 1.35 to 1.58 × on Webex; at 840 kB from 1.14 to 1.16 and 1.13 to 1.24.
 */
export const MEAN_RUN_SECONDS = 20;
/** Fewest mean bursts in a run (a sparse trace's 20 s may hold only a few). */
export const MEAN_RUN_BURSTS = 16;

/** Mean bursts in a run for a trace of `bursts` bursts over `traceSeconds` ({@link MEAN_RUN_SECONDS}). */
export function meanRunBursts(bursts: number, traceSeconds: number): number {
  return Math.max(MEAN_RUN_BURSTS, (bursts * MEAN_RUN_SECONDS) / Math.max(traceSeconds, 1e-3));
}

/**
 * What the hop's data asks of the next jump: `backlog` (data is waiting: of two least-used candidates, the one after
 * the shorter gap), `starved` (nothing to send: the one after the longer gap), `none` (either, at random).
 */
export type Pressure = 'backlog' | 'starved' | 'none';

/** Data waiting for this long at the trace's rate counts as a backlog. */
export const BACKLOG_SECONDS = 0.25;
/**
 * How far a steered draw may run ahead of the trace's own pace (its bytes at the trace's rate, against the time it
 * has drawn): this many seconds, or this share of the time drawn if more. Beyond, a backlog no longer picks the
 * shorter gap. Unbounded, a hop with data waiting all along drew the dense bursts of a cycle first: a 250 kB demo
 * session ran at 1.3 × the profile's rate, which the per-bin tests see.
 */
export const MAX_AHEAD_SECONDS = 2;
export const MAX_AHEAD_SHARE = 0.05;

/** A trace's rate, wire bytes/s (all its packets over its span). */
export function traceRate(t: Trace): number {
  let bytes = 0;
  let us = 0;
  for (const s of t.sizes) bytes += s;
  for (const g of t.gapsUs) us += g;
  return bytes / Math.max(us / 1e6, 1e-3);
}

/**
 * The pressure of `queued` bytes on a hop whose trace runs at `rate` wire bytes/s (see {@link BACKLOG_SECONDS}).
 * `ended`: no more data will come (a relay past its share, covering until the session ends): nothing queued is then
 * no reason to draw the trace's sparse bursts first.
 */
export function pressureOf(queued: number, rate: number, ended = false): Pressure {
  if (queued <= 0) return ended ? 'none' : 'starved';
  return queued >= Math.max(1024, rate * BACKLOG_SECONDS) ? 'backlog' : 'none';
}

/** Burst class: size class of its last packet (small ≤ 126 B) × length class (1, 2–3, 4+ packets). */
function burstClass(sizes: readonly number[], start: number, end: number): number {
  const len = end - start;
  const last = sizes[end - 1]! <= 126 ? 0 : 1;
  return last * 3 + (len === 1 ? 0 : len <= 3 ? 1 : 2);
}

/**
 * Draws the packet sequence (size, gap) by resampling the trace's bursts (see the module comment). Pure: the
 * randomness is the injected rng.
 */
export class BurstResampler {
  readonly #sizes: readonly number[];
  readonly #gaps: readonly number[];
  /** Burst starts, and one past the last packet. */
  readonly #starts: number[] = [];
  /** Per class: the bursts whose predecessor has that class. */
  readonly #after: number[][] = Array.from({ length: 6 }, () => []);
  readonly #class: number[] = [];
  /** Times each burst was started: a jump goes to a least-used candidate, so a long draw covers the trace evenly. */
  readonly #uses: Uint32Array;
  /** 0 … bursts − 1. */
  readonly #allBursts: number[];
  /** The least use count over all bursts, and how many bursts have it (the current cycle's unused ones). */
  #minUse = 0;
  #atMin: number;
  readonly #rng: Rng;
  readonly #jump: number;
  #pressure: () => Pressure = () => 'none';
  /** The trace's rate (wire bytes per µs), and what the draw has given so far: bytes, and time (µs). */
  readonly #ratePerUs: number;
  #drawnBytes = 0;
  #drawnUs = 0;
  #burst: number;
  #pos: number;
  #first = true;

  /** `runBursts`: mean bursts in a run (default: {@link MEAN_RUN_SECONDS} of the trace, {@link meanRunBursts}). */
  constructor(trace: Trace, burstGapUs: number, rng: Rng, runBursts?: number) {
    const n = trace.sizes.length;
    if (n === 0 || trace.gapsUs.length !== n)
      throw smigError('SMIG_ERR_USAGE', `BurstResampler: ${n} sizes and ${trace.gapsUs.length} gaps`);
    this.#sizes = trace.sizes;
    this.#gaps = trace.gapsUs;
    this.#rng = rng;
    for (let i = 0; i < n; i++) if (i === 0 || trace.gapsUs[i]! >= burstGapUs) this.#starts.push(i);
    this.#starts.push(n);
    const bursts = this.#starts.length - 1;
    let traceUs = 0;
    for (const g of trace.gapsUs) traceUs += g;
    this.#jump = 1 / Math.max(1, runBursts ?? meanRunBursts(bursts, traceUs / 1e6));
    for (let b = 0; b < bursts; b++) this.#class.push(burstClass(trace.sizes, this.#starts[b]!, this.#starts[b + 1]!));
    // the trace is a circle: its first burst follows its last (without it, no cycle ever ended: after one pass every
    // burst was least used by none, and each one's end a jump)
    for (let b = 0; b < bursts; b++) this.#after[this.#class[(b + bursts - 1) % bursts]!]!.push(b);
    this.#uses = new Uint32Array(bursts);
    this.#allBursts = Array.from({ length: bursts }, (_, b) => b);
    this.#atMin = bursts;
    this.#ratePerUs = traceRate(trace) / 1e6;
    this.#burst = Math.floor(rng() * bursts); // a random burst start
    this.#use(this.#burst);
    this.#pos = this.#starts[this.#burst]!;
  }

  /** How far the draw is ahead of the trace's pace, µs (its bytes at the trace's rate against the time drawn). */
  #ahead(): number {
    return this.#drawnBytes / this.#ratePerUs - this.#drawnUs;
  }

  /** How far steering may take the draw ahead of the trace's pace (or behind it), µs. */
  #maxAhead(): number {
    return Math.max(MAX_AHEAD_SECONDS * 1e6, MAX_AHEAD_SHARE * this.#drawnUs);
  }

  /** Counts a start of burst `b`; a cycle ends when every burst has been started as often as the least used. */
  #use(b: number): void {
    if (this.#uses[b]!++ !== this.#minUse) return;
    if (--this.#atMin > 0) return;
    this.#minUse++;
    for (const u of this.#uses) if (u === this.#minUse) this.#atMin++;
  }

  /**
   * A random one of `candidates` among those started least often. Drawing with replacement, a 1–2 minute draw from
   * a bursty trace of a minute ran at ±50 % of the trace's rate (the same bursts again and again, others never);
   * preferring the least used is sampling without replacement, cycle after cycle: the long-run mix of bursts, hence
   * the rate and the size mix, is the trace's, while which burst follows which stays random.
   */
  #leastUsed(from: readonly number[], regionStart = false, not = -1): number {
    const others = regionStart || not < 0 ? from : from.filter((b) => b !== not);
    const candidates = regionStart ? this.#regionStarts(from) : others.length > 0 ? others : from;
    let min = Number.POSITIVE_INFINITY;
    let count = 0;
    for (const c of candidates) {
      const u = this.#uses[c]!;
      if (u < min) {
        min = u;
        count = 1;
      } else if (u === min) count++;
    }
    const pick = (): number => {
      let k = Math.floor(this.#rng() * count);
      for (const c of candidates) if (this.#uses[c] === min && k-- === 0) return c;
      return candidates[0]!;
    };
    const a = pick();
    let pressure = count < 2 ? 'none' : this.#pressure();
    if (pressure === 'backlog') {
      // no further ahead of the trace's pace than the bound: over less than a cycle the draw would be denser
      if (this.#ahead() > this.#maxAhead()) pressure = 'none';
    }
    if (pressure === 'none') return a;
    // the cycle still uses every burst once: the hop's data only decides which comes sooner
    const b = pick();
    const ga = this.#gaps[this.#starts[a]!]!;
    const gb = this.#gaps[this.#starts[b]!]!;
    const aFirst = ga <= gb; // a comes after the shorter gap
    return pressure === 'backlog' ? (aFirst ? a : b) : aFirst ? b : a;
  }

  /**
   * Of `candidates`, those that start what is left of the trace in this cycle: unused, after a used burst. When a
   * run's stretch ends, a jump that lands inside an unused stretch leaves that stretch's beginning for later, as one
   * more piece: landing anywhere, a draw with runs of 200 bursts on average jumped 13–45 times per 1000 bursts, not
   * 5, and its windows were a mix of pieces. Of any class if none of `candidates` qualifies; `candidates` if none at
   * all does (a fresh cycle).
   */
  #regionStarts(candidates: readonly number[]): readonly number[] {
    const n = this.bursts;
    const starts = (list: readonly number[]): number[] =>
      list.filter((b) => this.#uses[b] === this.#minUse && this.#uses[(b + n - 1) % n]! > this.#minUse);
    const mine = starts(candidates);
    if (mine.length > 0) return mine;
    const any = starts(this.#allBursts);
    return any.length > 0 ? any : candidates;
  }

  /**
   * Lets the hop's data steer the order of the cycle (see {@link Pressure}). A hop downstream runs at about its
   * input's rate, and each lull of its schedule while data waited was time the session lost for good (a hop never
   * catches up: that would put writes µs apart that the trace never has). Choosing, at a jump, the shorter of two
   * least-used gaps when data waits and the longer when there is none changes which bursts come when, not which
   * bursts come: over a cycle the sizes, gaps and bursts are the trace's as before. Never further ahead of the
   * trace's pace than {@link MAX_AHEAD_SECONDS} or {@link MAX_AHEAD_SHARE}. In the simulator (median, 840 kB, 2 data
   * relays) a browsing session went from 1.48 to 1.30 × its lower bound and netflix from 1.25 to 1.17 (unbounded:
   * 1.08 and 1.14, but a short session then ran faster than the profile's rate). A starved hop also leaves a run
   * rather than go on into a burst that comes sooner than a least-used one would, while no further behind the
   * trace's pace than that bound (see {@link next}): a run carried its dense stretch of the trace as cover while the
   * hop waited for data (simulator, 250 kB, 2 data relays: Webex 1.54 → 1.35 ×, netflix 1.68 → 1.54 ×).
   */
  steer(pressure: () => Pressure): void {
    this.#pressure = pressure;
  }

  /** Bursts in the trace. */
  get bursts(): number {
    return this.#starts.length - 1;
  }

  /** The next packet: its wire size and the gap before it (µs). */
  next(): { size: number; gapUs: number } {
    const end = this.#starts[this.#burst + 1]!;
    if (this.#pos >= end) {
      // the burst is over: the next one in the trace (round the circle), or at a run's end a jump
      const b = (this.#burst + 1) % this.bursts;
      // a run goes on while its next burst is unused in this cycle
      const candidates = this.#after[this.#class[this.#burst]!]!;
      if (this.#uses[b] === this.#minUse && this.#rng() >= this.#jump) {
        this.#burst = b;
        // with nothing to send, a run does not go on into a burst that comes sooner than a least-used one would, while
        // the draw is no further behind the trace's pace than a backlog may run ahead of it
        if (candidates.length > 1 && -this.#ahead() <= this.#maxAhead() && this.#pressure() === 'starved') {
          const alt = this.#leastUsed(candidates);
          if (this.#gaps[this.#starts[alt]!]! > this.#gaps[this.#starts[b]!]!) this.#burst = alt;
        }
      } else {
        // the stretch ended (its next burst is used in this cycle): go on at the start of another; a chance end: jump
        // anywhere unused but the next burst
        const ended = this.#uses[b] !== this.#minUse;
        this.#burst =
          candidates.length > 0
            ? this.#leastUsed(candidates, ended, ended ? -1 : b)
            : Math.floor(this.#rng() * this.bursts);
      }
      this.#use(this.#burst);
      this.#pos = this.#starts[this.#burst]!;
    }
    const i = this.#pos++;
    let gapUs = this.#gaps[i]!;
    // trace index 0 has no gap recorded before it: a gap from a random burst start instead; the very first packet
    // starts anywhere inside such a gap
    if (i === 0 && this.bursts > 1) gapUs = this.#gaps[this.#starts[1 + Math.floor(this.#rng() * (this.bursts - 1))]!]!;
    if (this.#first) {
      gapUs = 0; // a link's first packet opens it: no silence before it
      this.#first = false;
    }
    this.#drawnUs += gapUs;
    this.#drawnBytes += this.#sizes[i]!;
    return { size: this.#sizes[i]!, gapUs };
  }
}
