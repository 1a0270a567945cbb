/**
 * Packet-shaped pacing (the `profile` strategy with a version 2 profile): every write of a hop is planned as the
 * packets it becomes on the wire, drawn from the profile's learned packet trace, and goes out at its own time.
 *
 * The model is the learned trace itself, resampled: bursts (runs of packets closer than the profile's burst gap)
 * are replayed in runs of consecutive bursts of geometric length (mean {@link MEAN_RUN_SECONDS} of the trace); a run
 * ends by jumping to a random burst whose predecessor ended like the current burst (same size class of its last packet,
 * same class of burst length), and the gap before that burst is the one the capture had after its predecessor.
 * So packet sizes, gaps inside bursts (after small and large packets), gaps between bursts conditioned on the
 * burst before, burst lengths, runs of full segments, the share of small packets and the burst-to-burst rhythm of
 * the capture are all kept, and no two hops (seeds) repeat the same sequence of bursts. Within a run the sizes would
 * still be the trace's, packet for packet, so a data packet that is neither a pure ACK nor a full segment is moved by up
 * to {@link SIZE_JITTER_BYTES} bytes either way: an observer who keeps the site's traffic (or sees two links) would
 * otherwise find a link's size sequences verbatim in it. (A stationary block bootstrap in the
 * sense of Politis and Romano, applied to bursts; traffic morphing and WTF-PAD reach for the same distributions
 * with explicit histograms.)
 *
 * From packets to writes ({@link WritePlanner}): with Nagle off, one write goes out at once; the kernel cuts it into
 * full segments and a remainder. A run of full-size packets closer than `mergeUs` followed by at most one shorter
 * packet is therefore one write (at most {@link MAX_WRITE} bytes of TCP payload: TLS cuts it into records of 16 KiB,
 * each adding `tls` bytes), and every other packet is a write of its own, at its gap but at least
 * {@link MIN_WRITE_GAP_US} after the previous write (closer, the kernel may send the two writes as one segment: a
 * capture whose full packets are smaller than the link's, e.g. 1260 B behind a tunnel, would show the link's 1514 B
 * instead). A merged write still spends the time
 * its packets took in the capture: the gaps inside it are added to the gap before the next write, so a hop's
 * schedule runs at the trace's rate however large its writes are (at hundreds of Mbit/s nearly every packet is in
 * such a run, and one timer per write instead of per packet is what makes those rates possible). Packets too small
 * to be a record (pure ACKs: at most headers + {@link ACK_SLACK} bytes) are left to the kernel, which sends them
 * for the reverse traffic; their time passes all the same, and the write before them lists their times
 * (`acksUs`) so that the link's receiver can send something just then, which the kernel ACKs at once. Sizes between that and the smallest record are raised
 * to the smallest record.
 */

import { smigError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { MAX_ACK_HINT_US, MAX_ACK_HINTS } from './ack-hint.js';
import type { Clock } from './clock.js';
import type { RateEnvelope } from './envelope.js';
import { MAX_RECORD, MAX_WRITE, tlsPayload, tlsPlaintext } from './records.js';

/**
 * Largest change, either way, of a planned data packet's size that is neither a pure ACK nor a full segment. Measured
 * on a netflix link of 840 kB (lab, Linux cooked capture): 17 % of its packets lay in sequences of 8 sizes (3 or more
 * distinct) found verbatim in the learned half, against 2.6 % of the hold-out's; the same sizes moved by up to 4 B,
 * none. A size KS test hardly sees it: the largest odd size of that trace holds 2.5 % of its packets.
 */
export const SIZE_JITTER_BYTES = 4;

/**
 * A size that holds at least this share of the trace's packets is not moved: a mode is no fingerprint (runs of it
 * fill the whole capture), and spread over 9 sizes it is what a size test sees. Measured on the lab (OpenVPN over
 * UDP, 100 kB, 2026-12-06): 42 % of the learned half's packets toward the server were 146 B, the links spread them
 * over 142–150 B, and size KS against the learned half failed on 5 of 5 links (D 0.19–0.24; 5 of 5 passed before
 * sizes moved).
 */
export const EXACT_SIZE_SHARE = 0.02;

/** The sizes that hold at least {@link EXACT_SIZE_SHARE} of `sizes` (the trace's packets): never moved. */
export function commonSizes(sizes: readonly number[]): Set<number> {
  const n = new Map<number, number>();
  for (const s of sizes) n.set(s, (n.get(s) ?? 0) + 1);
  const out = new Set<number>();
  for (const [s, k] of n) if (k >= EXACT_SIZE_SHARE * sizes.length) out.add(s);
  return out;
}

/** The per-packet overheads (plan.ts `Overheads`; repeated here so that this module depends on no other pacing module). */
export interface WireOverheads {
  tls: number;
  tcpip: number;
  link: number;
}

/** What {@link ShapedPacer.stats} reports (the shape of strategies.ts `PacerStats`). */
export interface ShapedPacerStats {
  strategy: 'profile';
  writes: number;
  bytes: number;
  payloadBytes: number;
  start: number | undefined;
  last: number | undefined;
  accrued: number;
  lateness: { n: number; p50: number; p99: number; max: number };
}

/** Packets closer than this (µs) after a full segment go in the same write (the kernel sends them back to back). */
export const DEFAULT_MERGE_US = 150;
/**
 * Least gap a write is planned at after the previous one, µs. Until 2026-12-06 it was {@link DEFAULT_MERGE_US}: every
 * gap of the trace under 150 µs between packets that are not one write became 150 µs and, with the timer's
 * lateness, 0.2–0.7 ms on the lab, where an aggregate of many flows (Gnutella's 68 peers) has a fifth to two fifths
 * of its gaps under 150 µs. Two writes 30 µs apart left the lab's hosts as two segments, with autocorking on or off.
 * (Most of Gnutella's close gaps are between pure ACKs, which the receiver's echoes make: roles/echo.ts
 * `ECHO_SPACING_MS`; between two data packets there are few, and this changed its links' gaps little.)
 */
export const MIN_WRITE_GAP_US = 30;
/** Least time between two writes granted, ms, when the plan does not space them closer (a late timer's guard). */
export const MIN_SPACING_MS: number = DEFAULT_MERGE_US / 1000;
export { MAX_RECORD, MAX_WRITE, tlsPayload, tlsPlaintext } from './records.js';

/** A packet at most this many bytes above the TCP/IP headers is taken for a pure ACK (options, SACK blocks). */
export const ACK_SLACK = 12;
/** Bytes of the smallest frame (a PAD with an empty body): the least a record can carry. */
export const MIN_FRAME = 5;
/**
 * A write granted more than this late (ms) shifts the rest of the schedule instead of catching up: a hop that
 * waited for data, or an event loop that stalled, must not send the writes it owes back to back (gaps of µs that
 * the profile does not have). Writes keep their gaps; the session gets longer by the stalls. Below it the schedule
 * stays absolute, so the timer's steady lateness (tens of µs) cancels out between a gap and the next. At 5 ms
 * (until 2026-12-05), a write 0.05–0.35 ms late on a loaded lab shortened the gap after it by as much: 14 % of the
 * browsing links' full-segment gaps fell at 400–700 µs, where the capture's sit at 750 µs (1 % there).
 */
export const REBASE_MS = 0.2;
/** A write granted more than this late (ms) always shifts the schedule (a stall, or a wait for data). */
export const STALL_MS = 5;
/**
 * Between {@link REBASE_MS} and {@link STALL_MS}, late writes shift the schedule only while all such shifts stay
 * within this share of the time since the first write (plus 1 ms): past it, the schedule catches up as before. On
 * a quiet machine the shifts come to well under it; on a loaded one, whose timers wake late all the time, they
 * would otherwise slow every link.
 */
export const LATE_SHIFT_SHARE = 0.02;
export type { EchoPads } from './ack-hint.js';
export {
  ACK_HINT_TAG,
  ACK_HINT_TAG_ONE,
  ackHintPads,
  decodeAckHint,
  encodeAckHint,
  MAX_ACK_HINT_US,
  MAX_ACK_HINTS,
} from './ack-hint.js';

/**
 * With a {@link RateEnvelope} (a trace denser than its bins: a bulk transfer, whose full segments follow each other
 * at the link's rate) a hop catches up on a stall of up to this share of a bin instead of pausing: the owed writes
 * go back to back, which such a trace does itself, and the bin still carries its target. Pausing on every stall
 * of a loaded machine (the 5 ms of {@link REBASE_MS}) lost a quarter of the rate at 25 MB/s.
 */
export const ENVELOPE_CATCHUP_BINS = 0.25;

export interface Trace {
  sizes: readonly number[];
  gapsUs: readonly number[];
}

/** One planned write: when (after the previous one), the packets it should become, and its TLS plaintext size. */
export interface ShapedWrite {
  /** Gap after the previous write's start, ms (from the schedule's start for the first). */
  gapMs: number;
  /** Wire sizes of the packets this write is cut into. */
  packets: number[];
  /** Frame bytes to write (the TLS record's plaintext) so that the wire shows `packets`. */
  frameBytes: number;
  /**
   * The pure ACKs the plan has in this direction after this write, before the next one: their times after this
   * write's start, µs, ascending (at most {@link MAX_ACK_HINTS}, none later than {@link MAX_ACK_HINT_US}). Only
   * the kernel can send them; it does when the link's receiver sends it something, so the writer asks the receiver
   * for that ({@link encodeAckHint}).
   */
  acksUs: number[];
}

export interface ShaperOptions {
  overheads: WireOverheads;
  rng: Rng;
  /** Gap that ends a burst, µs (the profile's). */
  burstGapUs: number;
  /** Wire size of a full segment on the paced link (default 1514: Ethernet, MTU 1500, TCP timestamps). */
  segment?: number;
  mergeUs?: number;
  meanRunBursts?: number;
}

/** Sizes that follow from the overheads: headers of a packet without payload, the smallest record, … */
export function wireLimits(
  o: WireOverheads,
  segment: number,
): { headers: number; ackMax: number; minRecord: number; segment: number } {
  const headers = o.link + o.tcpip;
  return { headers, ackMax: headers + ACK_SLACK, minRecord: headers + o.tls + MIN_FRAME, segment };
}

/**
 * Plans writes from a packet source (see the module comment). `next` is called for packets until a write is
 * complete; one packet drawn ahead is kept for the following write.
 */
export class WritePlanner {
  readonly #src: () => { size: number; gapUs: number };
  readonly #o: WireOverheads;
  readonly #lim: ReturnType<typeof wireLimits>;
  readonly #mergeUs: number;
  readonly #maxWrite: number;
  readonly #jitter: Rng | undefined;
  readonly #exact: ReadonlySet<number>;
  #ahead: { size: number; gapUs: number } | undefined;
  #first = true;
  /** Trace time of the packets merged into the previous write, µs: it passes before the next write. */
  #carryUs = 0;

  constructor(
    next: () => { size: number; gapUs: number },
    o: WireOverheads,
    segment: number,
    mergeUs: number = DEFAULT_MERGE_US,
    maxWrite: number = MAX_WRITE,
    jitter?: Rng,
    exact: ReadonlySet<number> = new Set(),
  ) {
    this.#src = next;
    this.#jitter = jitter;
    this.#exact = exact;
    this.#o = o;
    this.#lim = wireLimits(o, segment);
    this.#mergeUs = mergeUs;
    this.#maxWrite = Math.max(MAX_RECORD + o.tls, maxWrite);
  }

  next(): ShapedWrite {
    const lim = this.#lim;
    let gapUs = this.#carryUs;
    this.#carryUs = 0;
    // skip the kernel's packets (pure ACKs); their time passes
    let p = this.#take();
    for (let guard = 0; p.size <= lim.ackMax && guard < 1_000_000; guard++) {
      gapUs += p.gapUs;
      p = this.#take();
    }
    gapUs += p.gapUs;
    // a packet the kernel cannot cut from its predecessor's record (not a full segment of this link) must leave
    // after it: closer than MIN_WRITE_GAP_US, the kernel may coalesce the two writes into one segment (autocorking)
    if (!this.#first && gapUs < MIN_WRITE_GAP_US) gapUs = MIN_WRITE_GAP_US;
    this.#first = false;
    const packets = [this.#size(p.size)];
    // a full segment may be followed, back to back, by more of the same record
    let record = packets[0]! - lim.headers;
    while (packets[packets.length - 1] === lim.segment) {
      const q = this.#take();
      const size = q.gapUs >= this.#mergeUs || q.size <= lim.ackMax ? 0 : this.#size(q.size);
      if (size === 0 || record + size - lim.headers > this.#maxWrite) {
        this.#ahead = q;
        break;
      }
      // merged: the kernel sends it back to back with the rest of the write; its time passes before the next write
      this.#carryUs += q.gapUs;
      packets.push(size);
      record += size - lim.headers;
    }
    // the pure ACKs that follow: their times after this write (the kernel's; the receiver is asked to cause them),
    // and the next write's gap counts from this write again
    const acksUs: number[] = [];
    let at = 0;
    let q = this.#take();
    for (let guard = 0; q.size <= lim.ackMax && guard < 1_000_000; guard++) {
      at += q.gapUs;
      if (acksUs.length < MAX_ACK_HINTS && at <= MAX_ACK_HINT_US) acksUs.push(at);
      q = this.#take();
    }
    this.#ahead = at === 0 ? q : { size: q.size, gapUs: q.gapUs + at };
    // TCP payload = the records (plaintext + tls per 16 KiB); the kernel cuts them into segments
    return { gapMs: gapUs / 1000, packets, frameBytes: Math.max(MIN_FRAME, tlsPlaintext(record, this.#o.tls)), acksUs };
  }

  /** A data packet's planned size: at least the smallest record; moved by the jitter unless a full segment or common. */
  #size(size: number): number {
    const lim = this.#lim;
    const s = Math.max(size, lim.minRecord);
    if (this.#jitter === undefined || s >= lim.segment || this.#exact.has(size)) return s;
    const moved = s + Math.floor(this.#jitter() * (2 * SIZE_JITTER_BYTES + 1)) - SIZE_JITTER_BYTES;
    return Math.min(lim.segment - 1, Math.max(lim.minRecord, moved));
  }

  #take(): { size: number; gapUs: number } {
    const a = this.#ahead;
    if (a !== undefined) {
      this.#ahead = undefined;
      return a;
    }
    return this.#src();
  }
}

/**
 * The pacer of a shaped hop: {@link nextWriteSize} is the frame bytes of the current planned write, {@link ready}
 * resolves at its time, {@link take} waits for it (if not yet due) and moves to the next write. The schedule is
 * absolute (write k is due at t0 + the sum of the gaps before it), so the timer's small lateness does not add up;
 * a write granted more than {@link REBASE_MS} after its time (the hop had no data, the event loop stalled, or a
 * late wake-up that would shorten the next gap) shifts the rest of the schedule instead: the schedule pauses, and
 * no burst is lost or crammed in afterwards.
 * With a {@link RateEnvelope}, the gaps are warped to the envelope's per-bin targets (and its bins pause too), and
 * the pause threshold is a quarter bin ({@link ENVELOPE_CATCHUP_BINS}).
 */
export class ShapedPacer {
  readonly strategy = 'profile' as const;
  readonly shaped = true;
  readonly #clock: Clock;
  readonly #planner: WritePlanner;
  readonly #o: WireOverheads;
  readonly #envelope: RateEnvelope | undefined;
  #current: ShapedWrite | undefined;
  #due: number | undefined;
  #start: number | undefined;
  #last: number | undefined;
  #writes = 0;
  #wire = 0;
  #payload = 0;
  #paused = 0;
  #padBytes = 0;
  #lastData: number | undefined;
  #lateN = 0;
  #lateMax = 0;
  /** Schedule shifts for lateness between REBASE_MS and STALL_MS, ms (bounded by LATE_SHIFT_SHARE). */
  #lateShift = 0;
  /** How late the timer woke the current write (set by {@link ready} when it slept). */
  #timerLate: number | undefined;
  readonly #late: number[] = [];

  readonly #rebaseMs: number;

  /** `rebaseMs`: lateness beyond which the schedule pauses (default {@link REBASE_MS}). */
  /**
   * Lets the hop's queued data (bytes, asked at each burst of the resampler) steer the order of its trace's bursts
   * (resample.ts `BurstResampler.steer`); `ended` says no more data will come. Set by strategies.ts createPacer,
   * called by the downstream hops' links.
   */
  steer: (queued: () => number, ended?: () => boolean) => void = () => {};

  constructor(
    clock: Clock,
    planner: WritePlanner,
    o: WireOverheads,
    envelope?: RateEnvelope,
    rebaseMs: number = REBASE_MS,
  ) {
    this.#clock = clock;
    this.#planner = planner;
    this.#o = o;
    this.#envelope = envelope;
    this.#rebaseMs = rebaseMs;
  }

  /** The current write (planned on first use). */
  current(): ShapedWrite {
    if (this.#current === undefined) {
      this.#current = this.#planner.next();
      const now = this.#clock.now();
      this.#start ??= now;
      const at = this.#due ?? now;
      this.#due =
        this.#envelope === undefined ? at + this.#current.gapMs : this.#envelope.advance(at, this.#current.gapMs);
    }
    return this.#current;
  }

  nextWriteSize(): number {
    return this.current().frameBytes;
  }

  /** Milliseconds until the current write is due (≤ 0: due). */
  dueIn(): number {
    this.current();
    return this.#due! - this.#clock.now();
  }

  /** Resolves when the current write is due (and notes how late the wake-up was, for {@link stats}). */
  async ready(signal?: AbortSignal): Promise<void> {
    const ms = this.dueIn();
    if (ms <= 0) return;
    await this.#clock.sleep(ms, signal);
    this.#timerLate = Math.max(0, this.#clock.now() - this.#due!);
  }

  async take(n: number, signal?: AbortSignal): Promise<void> {
    if (!(n > 0) || !Number.isFinite(n))
      throw smigError('SMIG_ERR_USAGE', `Pacer.take: ${n} is not a positive number of bytes`);
    await this.ready(signal);
    // never two writes closer than the planner spaced them, up to MIN_SPACING_MS (a late timer must not put them
    // back to back: the kernel would send them as one segment)
    const w = this.current();
    const spacing = Math.min(MIN_SPACING_MS, Math.max(MIN_WRITE_GAP_US / 1000, w.gapMs));
    if (this.#last !== undefined && this.#clock.now() < this.#last + spacing)
      await this.#clock.sleep(this.#last + spacing - this.#clock.now(), signal);
    const now = this.#clock.now();
    const late = now - this.#due!;
    const stall = late > Math.max(this.#rebaseMs, STALL_MS);
    const shift =
      stall || (late > this.#rebaseMs && this.#lateShift + late <= 1 + LATE_SHIFT_SHARE * (now - this.#start!));
    if (shift) {
      if (!stall) this.#lateShift += late;
      this.#paused += late;
      this.#due = now; // the schedule pauses: the rest keeps its gaps
      this.#envelope?.shift(late);
    }
    // lateness: how late the timer woke a write that waited for its time — of any size, so a stalled event loop
    // shows in it (a write asked for after its time, e.g. after waiting for data, did not wait and is not counted)
    const tl = this.#timerLate;
    this.#timerLate = undefined;
    if (tl !== undefined) {
      this.#lateN++;
      this.#lateMax = Math.max(this.#lateMax, tl);
      if (this.#late.length < 100_000) this.#late.push(tl);
    }
    this.#current = undefined;
    this.#writes++;
    this.#payload += n;
    // wire bytes: the packets the write becomes (its own size when it is not the planned one)
    this.#wire +=
      n === w.frameBytes
        ? w.packets.reduce((a, b) => a + b, 0)
        : tlsPayload(n, this.#o.tls) + Math.ceil(tlsPayload(n, this.#o.tls) / 1448) * (this.#o.link + this.#o.tcpip);
    this.#last = now;
  }

  /** The pacer's clock, ms. */
  now(): number {
    return this.#clock.now();
  }

  /** Counts bytes of a write that were padding (cover), for the report. */
  notePadding(bytes: number): void {
    this.#padBytes += bytes;
  }

  /** Notes that the write just taken carried data (not only PAD), for the report. */
  noteData(): void {
    this.#lastData = this.#clock.now();
  }

  /** Seconds from the schedule's start (the first write asked for) to the last write that carried data; undefined before any did. */
  get dataSeconds(): number | undefined {
    return this.#lastData === undefined || this.#start === undefined
      ? undefined
      : (this.#lastData - this.#start) / 1000;
  }

  /** Milliseconds the schedule paused for lack of data, and frame bytes sent as padding. */
  get paused(): number {
    return this.#paused;
  }

  get padBytes(): number {
    return this.#padBytes;
  }

  stats(): ShapedPacerStats {
    const late = Float64Array.from(this.#late).sort();
    const q = (p: number): number =>
      late.length === 0 ? 0 : late[Math.min(late.length - 1, Math.floor(p * (late.length - 1)))]!;
    return {
      strategy: 'profile',
      writes: this.#writes,
      bytes: this.#wire,
      payloadBytes: this.#payload,
      start: this.#start,
      last: this.#last,
      accrued: this.#wire,
      lateness: { n: this.#lateN, p50: q(0.5), p99: q(0.99), max: this.#lateMax },
    };
  }
}

/** True for a pacer that plans its writes as packets ({@link ShapedPacer}). */
export function isShaped(p: { readonly strategy: string }): p is ShapedPacer {
  return (p as { shaped?: boolean }).shaped === true;
}
