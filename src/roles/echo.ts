/**
 * The reverse direction of a shaped link, as far as userspace makes it: the receiver's {@link AckEcho} sends PADs
 * (sized like the capture's reverse direction, {@link echoBodySizes}) where the sender's plan has pure ACKs (which
 * only the sender's kernel can send), one or two per ACK ({@link hostEchoPads}), and carries the receiver's PROGRESS
 * on them (pace.ts re-exports all of it). The sender does not wait for them (shaped-link.ts).
 */
import { getMaxListeners, setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Clock } from '../pacing/clock.js';
import { shapedWithCover } from '../pacing/hold.js';
import type { PacingPlan } from '../pacing/plan.js';
import { DEFAULT_SEGMENT } from '../pacing/plan.js';
import type { EchoPads } from '../pacing/shape.js';
import { ackHintPads, decodeAckHint, MAX_ACK_HINT_US, wireLimits } from '../pacing/shape.js';
import { createSizeSampler } from '../profile/sampler.js';
import type { Message } from '../protocol/index.js';
import { encodeMessage, FrameType } from '../protocol/index.js';
import { createRng } from '../util/rng.js';

/** ACKs asked for later than this after the write (ms) are not echoed: no sender asks for later ones. */
export const MAX_ECHO_MS: number = MAX_ACK_HINT_US / 1000;
/**
 * Longest a control frame handed to {@link AckEcho.carry} waits for the next echo, ms: in a lull of the data
 * direction it then goes alone (and its ACK with it).
 */
export const MAX_CARRY_MS = 10_000;
/**
 * Most pokes an {@link AckEcho} keeps scheduled at once: two writes' worth of the longest hints at two PADs per ACK
 * (2 × 255 × 2, rounded up). A hint that would go beyond it is dropped whole.
 */
export const MAX_PENDING_POKES = 1024;

/** How long before an ACK's time its receiver sends the first of the two PADs that make the kernel ACK at once, ms. */
export const ECHO_LEAD_MS = 0.3;
/**
 * Time between two PADs of an echo, ms, at most: two PADs are kept as far apart as they were planned up to this
 * (a late timer must not bring them closer), and never closer than {@link ECHO_MIN_SPACING_MS}. Closer than that,
 * the kernel may send them as one segment (autocorking), and one small segment alone is ACKed late or on the next
 * data.
 */
export const ECHO_SPACING_MS = 0.2;
/**
 * Least time between two PADs, ms, when the plan puts their ACKs closer than {@link ECHO_SPACING_MS}. Until
 * 2026-12-06 every two PADs were kept 0.2 ms apart: ACKs that the trace has closer (Gnutella: 84 of its 126 gaps
 * under 150 µs are between two pure ACKs) came out 0.2 ms apart or more, and the lab's Gnutella links had 14–22 such
 * pairs in about 1400 gaps; at 0.03 (writes 30 µs apart leave as two segments) they had 93, and their gap KS
 * distance to the hold-out fell from 0.42–0.49 to 0.32–0.40. A fixed 0.03 ms floor, though, let a late PAD and an
 * on-time one land closer than planned: Webex's links, whose trace has no gap under 150 µs, got 2–4 % there.
 */
export const ECHO_MIN_SPACING_MS = 0.03;

/** The least time after a PAD for the next, planned `gapMs` after it: the planned gap within [min, max] spacing. */
export function echoSpacing(gapMs: number): number {
  return Math.min(ECHO_SPACING_MS, Math.max(ECHO_MIN_SPACING_MS, gapMs));
}

/**
 * `net.ipv4.tcp_pingpong_thresh` at which a host's kernel never (in practice) enters TCP's interactive mode: the
 * largest the sysctl takes (a u8; the count that reaches it is one reply within the delayed-ACK time after data
 * came in, and one delayed ACK that fired resets it).
 */
export const PINGPONG_OFF_THRESH = 255;

/**
 * Echo PADs per ACK that this host's shaped links ask their receivers for: 1 when its kernel never enters TCP's
 * interactive mode (`net.ipv4.tcp_pingpong_thresh` at {@link PINGPONG_OFF_THRESH}, as `smig lab up` sets it; Linux
 * 6.6 and later), where a lone small segment is ACKed as soon as it is read; else 2 (see {@link AckEcho}). `read`
 * returns the sysctl's text (tests pass their own); unreadable counts as 2.
 */
export function hostEchoPads(
  read: () => string = () => readFileSync('/proc/sys/net/ipv4/tcp_pingpong_thresh', 'utf8'),
): EchoPads {
  try {
    return Number.parseInt(read().trim(), 10) >= PINGPONG_OFF_THRESH ? 1 : 2;
  } catch {
    return 2;
  }
}

/**
 * When an {@link AckEcho} sends its PADs for ACKs wanted at `acksMs` (ms after the write came in, ascending): with
 * `pads` 2, two per ACK, {@link ECHO_LEAD_MS} before and at its time; with 1, one at its time. Each at least
 * {@link echoSpacing} of its planned gap after the one before (ACKs planned closer than {@link ECHO_MIN_SPACING_MS}
 * come out that far apart; a PAD pushed later pushes the next by as much, up to {@link ECHO_SPACING_MS}), the first
 * not before 0. Pure.
 */
export function echoTimes(acksMs: readonly number[], pads: EchoPads = 2): number[] {
  const out: number[] = [];
  let last = -Infinity;
  let planned = -Infinity;
  for (const a of acksMs) {
    for (const t of pads === 1 ? [a] : [a - ECHO_LEAD_MS, a]) {
      last = Math.max(t, 0, last + echoSpacing(t - planned));
      planned = t;
      out.push(last);
    }
  }
  return out;
}

/**
 * The receiver's side of a shaped link (the reverse direction, as far as userspace makes it). The profiled
 * direction holds packets too small to be a TLS record — pure ACKs, which a TCP sender emits for data coming the
 * other way — and the sender leaves them out of its writes (shape.ts); instead each write lists, in its PAD, the
 * times after it at which the plan has them (`encodeAckHint`), and the receiver makes the sender's kernel send
 * them: it sends two PADs with empty bodies (the smallest record), {@link ECHO_LEAD_MS} apart, the second at the
 * ACK's time. Why two: a sender that keeps sending data (a shaped link always does) is in the kernel's
 * interactive ("pingpong") mode, where one small segment gets a delayed ACK — 40 ms later, or none when the next
 * data segment carries it; the second small segment in a row makes the kernel ACK as soon as the sender reads it.
 * Measured on the lab: after one PAD the ACK came within 1 ms in ~40 % of cases, after a second one in 83–91 %.
 * Where the sender's kernel never enters that mode ({@link hostEchoPads}), the sender's hint asks for one PAD per
 * ACK: two would make two ACKs there. Each PAD's size is drawn from the reverse direction the profile learned
 * ({@link echoBodySizes}); without it, every PAD is the smallest record.
 * So the ACKs sit where the capture had them relative to the data around them (an ACK 0.5 ms before the next
 * burst stays there), and as many of them: with one PAD each, half were missing, two gaps merged into one longer
 * gap for each, and the gap tests saw the link's gaps as too long.
 */
export class AckEcho {
  readonly #clock: Clock;
  readonly #post: (carried?: Message) => void;
  readonly #signal: AbortSignal;
  readonly #postMessage: ((msg: Message) => void) | undefined;
  #pending = 0;
  /** The control frame waiting for the next echo (the latest replaces an earlier one), and its deadline. */
  #carried: Message | undefined;
  #carryTimer: AbortController | undefined;

  /**
   * `post` sends one poke, with the control frame waiting to be carried if there is one (in the same segment, so that
   * the two make one ACK); `postMessage` sends a control frame alone (its deadline passed, or {@link sendNow}).
   */
  constructor(
    clock: Clock,
    post: (carried?: Message) => void,
    signal: AbortSignal,
    postMessage?: (msg: Message) => void,
  ) {
    this.#clock = clock;
    this.#post = post;
    this.#signal = signal;
    this.#postMessage = postMessage;
    // every scheduled echo listens on the signal while it sleeps: up to a few at once
    setMaxListeners(Math.max(getMaxListeners(signal), 32), signal);
  }

  /** PADs scheduled and not yet sent. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Sends `msg` (a cumulative control frame such as PROGRESS: a later one replaces one still waiting) with the next
   * echo, in its segment, so that the sender's kernel ACKs it where the plan has an ACK anyway, instead of alone in
   * a lull of the data direction (a lone ACK every few seconds where the capture has silence); at the latest after
   * `maxMs`, alone.
   */
  carry(msg: Message, maxMs: number = MAX_CARRY_MS): void {
    if (this.#signal.aborted) return;
    this.#carried = msg;
    if (this.#carryTimer !== undefined) return;
    const timer = new AbortController();
    this.#carryTimer = timer;
    const onAbort = (): void => timer.abort();
    this.#signal.addEventListener('abort', onAbort, { once: true });
    this.#clock
      .sleep(maxMs, timer.signal)
      .then(
        () => this.#flushCarried(),
        () => {},
      )
      .finally(() => this.#signal.removeEventListener('abort', onAbort));
  }

  /**
   * Sends `msg` at once, and drops a frame still waiting to be carried: a cumulative frame sent now supersedes it (an
   * older PROGRESS sent after a newer one would take the newer one's place at the receiver).
   */
  sendNow(msg: Message): void {
    this.#carried = msg;
    this.#flushCarried();
  }

  #flushCarried(): void {
    const msg = this.#takeCarried();
    if (msg !== undefined && !this.#signal.aborted) this.#postMessage?.(msg);
  }

  /** The frame waiting to be carried (now no longer waiting), if any. */
  #takeCarried(): Message | undefined {
    const msg = this.#carried;
    this.#carried = undefined;
    this.#carryTimer?.abort();
    this.#carryTimer = undefined;
    return msg;
  }

  /** A write came in asking for ACKs at `acksUs` (µs after now, ascending): their PADs ({@link echoTimes}). */
  onHint(acksUs: readonly number[], pads: EchoPads = 2): void {
    if (this.#signal.aborted || acksUs.length === 0) return;
    const acks: number[] = [];
    for (const us of acksUs) {
      if (us / 1000 > MAX_ECHO_MS) break;
      acks.push(us / 1000);
    }
    const times = echoTimes(acks, pads);
    if (times.length === 0 || this.#pending + times.length > MAX_PENDING_POKES) return;
    this.#pending += times.length;
    void this.#run(times);
  }

  /** Sends at each time after now, never two closer than planned (up to ECHO_SPACING_MS) even when late. */
  async #run(times: number[]): Promise<void> {
    const base = this.#clock.now();
    let last = -Infinity;
    let i = 0;
    try {
      for (; i < times.length; i++) {
        const now = this.#clock.now();
        const wait = Math.max(
          base + times[i]! - now,
          last + echoSpacing(times[i]! - (times[i - 1] ?? -Infinity)) - now,
        );
        if (wait > 0) await this.#clock.sleep(wait, this.#signal);
        this.#post(this.#takeCarried());
        last = this.#clock.now();
        this.#pending--;
      }
    } catch {
      // aborted: the link is over
    } finally {
      this.#pending -= times.length - i;
    }
  }
}

/** First body byte of an echo PAD that is not empty (the rest zeros): marks it an echo, not cover, for whoever reads it. */
export const ECHO_TAG = 0x65;
const ECHO_HEAD = Uint8Array.of(ECHO_TAG);

/** An echo PAD with a body of `length` bytes: tagged ({@link ECHO_TAG}) unless empty. */
function echoPad(length: number): Message {
  return length === 0 ? { type: FrameType.PAD, length } : { type: FrameType.PAD, length, head: ECHO_HEAD };
}

/**
 * The PAD body lengths of a receiver's echoes: with the plan's `echoSizes` (the reverse direction's packets with
 * data, pacing/echo-sizes.ts), a wire size drawn for each and less the smallest record's bytes, so that the record
 * goes out at that size (at most a full segment); without them, 0 (the smallest record, as before).
 */
export function echoBodySizes(plan: PacingPlan, seed: number): () => number {
  const h = plan.profile?.echoSizes;
  if (h === undefined) return () => 0;
  const lim = wireLimits(plan.overheads, plan.segment ?? DEFAULT_SEGMENT);
  const draw = createSizeSampler({ sizes: h }, createRng(seed));
  return () => Math.max(0, Math.min(draw.nextWire(), lim.segment) - lim.minRecord);
}

/**
 * Starts the {@link AckEcho} of a shaped link's receiver on `link` (nothing when the plan is not shaped or has no
 * cover): every PAD that carries an ACK hint schedules its pokes, each PAD sized by {@link echoBodySizes} with
 * this receiver's `seed`.
 */
export function startAckEcho(
  plan: PacingPlan | undefined,
  link: {
    post(msg: Message): void;
    readonly isClosed: boolean;
    onInbound: ((type: number, body: Uint8Array) => void) | undefined;
    /** Runs `fn` with the socket corked, so that what it sends leaves as one record (absent: sent as it comes). */
    batch?(fn: () => void): void;
  },
  seed: number,
  clock: Clock,
  signal: AbortSignal,
): AckEcho | undefined {
  if (!shapedWithCover(plan)) return undefined;
  const post = (msg: Message): void => {
    if (!link.isClosed) link.post(msg);
  };
  const body = echoBodySizes(plan, seed);
  const echo = new AckEcho(
    clock,
    (carried) => {
      const length = body();
      if (carried === undefined) return post(echoPad(length));
      carryWithPad(carried, length, post, link.batch?.bind(link));
    },
    signal,
    post,
  );
  link.onInbound = (type, body) => {
    if (type === FrameType.PAD) echo.onHint(decodeAckHint(body), ackHintPads(body));
  };
  return echo;
}

/**
 * An echo that carries a control frame: the frame and a PAD `length` bytes shorter by the frame's own bytes, corked
 * into one record, which then has the size drawn for the echo alone (the smallest record + `length`); with less
 * room than the frame takes, the frame alone (it is a record too, and the sender's kernel ACKs it alike). Without
 * `batch`, the two are posted one after the other. Until 2026-12-07 the frame went just before its echo as a
 * record of its own: two segments, two ACKs 0.2 ms apart, where the plan had one (on a Gnutella link, 7 of its
 * 16 lone pairs of ACKs under 10 ms).
 */
export function carryWithPad(
  carried: Message,
  length: number,
  post: (msg: Message) => void,
  batch?: (fn: () => void) => void,
): void {
  const frame = encodeMessage(carried).reduce((n, part) => n + part.length, 0);
  const send = (): void => {
    post(carried);
    if (length >= frame) post(echoPad(length - frame));
  };
  if (batch === undefined) send();
  else batch(send);
}
