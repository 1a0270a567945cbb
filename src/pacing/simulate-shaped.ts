/**
 * Session time of a packet-shaped migration (a `profile` plan with a trace), write by write: every hop draws its
 * planned writes from the trace exactly as its pacer does (resample.ts `BurstResampler`, shape.ts `WritePlanner`) and
 * follows the shaped link's rules (roles/shaped-link.ts `runShapedLink`), so the simulation has what the
 * bin-based one lacks: a write that waits for its data pauses the schedule and shifts every later write (it
 * loses nothing, it comes later), a write sent short of data is filled with PAD (its room is lost), a hop without
 * data covers, and the last bytes of a relay wait for the grace period (a relay never sees the end of the data
 * before the leader has it all). Pure arithmetic over the plan; the randomness is an injected rng.
 */
import type { Rng } from '../util/rng.js';
import { createRng } from '../util/rng.js';
import { insertSorted } from '../util/sorted.js';
import { MAX_WRITE } from './records.js';
import { BurstResampler, pressureOf, traceRate } from './resample.js';
import type { Trace, WireOverheads } from './shape.js';
import { commonSizes, DEFAULT_MERGE_US, MIN_SPACING_MS, MIN_WRITE_GAP_US, REBASE_MS, WritePlanner } from './shape.js';

/** The paced path of one session: source → N data relays → leader → destination (simulate.ts's SessionPath). */
export interface PathBase {
  /** Plaintext bytes the leader forwards to the destination. */
  payloadBytes: number;
  /** Envelope (ciphertext) bytes the source sends over its data links (the data relays carry about 1/N each). */
  envelopeBytes: number;
  dataRelays: number;
  /** Frame bytes besides the data: DATA (source → relay, leader → destination), DATA_SEGMENT (relay → leader). */
  dataFrameOverhead: number;
  segmentFrameOverhead: number;
  /** A downstream hop carries data once it holds this many bytes, or this long after its first byte (s). */
  cushionBytes: number;
  cushionSeconds: number;
}

/** What a shaped session is made of, besides the plan (the roles' constants; sessionEstimate passes them). */
export interface ShapedSession extends PathBase {
  /** Envelope bytes per chunk the source hands a data link (a link takes more when what it holds cannot fill its next write). */
  chunkBytes: number;
  /** A source link whose next write is due later than this (ms) gives back what it holds (default: never). */
  giveBackMs?: number;
  /** Envelope framing: plaintext per sealed segment, tag per segment, bytes before the first segment. */
  sealSegmentBytes: number;
  tagBytes: number;
  prefixBytes: number;
  /** Longest pause of a relay's and the leader's schedule waiting for the rest of a write's data, ms. */
  relayGraceMs: number;
  leaderGraceMs: number;
}

/** The shape of a plan's trace, what a shaped pacer is built from. */
export interface ShapedModel {
  trace: Trace;
  burstGapUs: number;
  overheads: WireOverheads;
  segment: number;
}

/** Arrivals at a hop: cumulative bytes `cum[k]` from time `at[k]` (ms), both nondecreasing. */
interface Arrivals {
  at: number[];
  cum: number[];
}

/**
 * The writes of one hop's pacer (a fresh resampler and planner from `rng`): as on a real hop (strategies.ts), the
 * planner moves odd-sized packets by up to SIZE_JITTER_BYTES, from a stream of its own.
 */
export function shapedWrites(m: ShapedModel, rng: Rng): HopWrites {
  const jitter = createRng(Math.floor(rng() * 0xffffffff));
  const packets = new BurstResampler(m.trace, m.burstGapUs, rng);
  const exact = commonSizes(m.trace.sizes);
  const planner = new WritePlanner(
    () => packets.next(),
    m.overheads,
    m.segment,
    DEFAULT_MERGE_US,
    MAX_WRITE,
    jitter,
    exact,
  );
  const rate = traceRate(m.trace);
  return { next: () => planner.next(), steer: (queued) => packets.steer(() => pressureOf(queued(), rate)) };
}

/** A hop's planned writes, and how its queued data steers them (strategies.ts does the same for a real hop). */
export interface HopWrites {
  next(): { gapMs: number; frameBytes: number };
  steer?(queued: () => number): void;
}

/**
 * One downstream shaped hop (a data relay or the leader): its deliveries (cumulative data bytes after each data
 * write, at the write's time), given what arrives. As runShapedLink: the schedule starts at 0 with cover; a
 * write waits for its due time; data counts only once the cushion is in (bytes, or seconds after the first
 * byte, or `completeAt`); short of a full write and not complete, it waits up to `graceMs` for more (unless it
 * is covering and has nothing), a wait longer than REBASE_MS shifts the schedule; with nothing it sends a PAD and
 * covers. Ends when `total` bytes are sent (or at `maxMs`).
 */
export function runHop(
  planner: HopWrites,
  input: Arrivals,
  o: {
    total: number;
    frameOverhead: number;
    graceMs: number;
    cushionBytes: number;
    cushionMs: number;
    /** complete() turns true from this time (ms; Infinity: never while data flows). */
    completeAt: number;
    maxMs: number;
  },
): Arrivals {
  const out: Arrivals = { at: [], cum: [] };
  const fo = o.frameOverhead;
  let k = 0; // input index: input.cum[k - 1] has arrived
  const arrived = (t: number): number => {
    while (k < input.at.length && input.at[k]! <= t) k++;
    return k === 0 ? 0 : input.cum[k - 1]!;
  };
  let firstAt = Infinity;
  let ready = false;
  const cushioned = (t: number, queued: number): boolean => {
    if (ready) return true;
    if (queued > 0 && firstAt === Infinity) firstAt = t; // the hop notes its first byte when it looks
    ready = t >= o.completeAt || queued >= o.cushionBytes || t - firstAt >= o.cushionMs;
    return ready;
  };
  let sent = 0;
  let due = 0;
  let last = -Infinity;
  let covering = true;
  // as runShapedLink's `steer`: what the hop has queued steers the order of its trace's bursts
  planner.steer?.(() => {
    const q = arrived(due) - sent;
    return cushioned(due, q) ? q : 0;
  });
  while (sent < o.total && due < o.maxMs) {
    const w = planner.next();
    due += w.gapMs;
    let t = due;
    const want = w.frameBytes;
    let queued = arrived(t) - sent;
    let avail = cushioned(t, queued) ? queued : 0;
    if (avail + fo < want && t < o.completeAt && !(covering && avail === 0)) {
      // wait for the rest of the write: the first arrival that fills it, the end of the data, or the grace
      let until = Math.min(t + o.graceMs, o.completeAt);
      for (let j = k; j < input.at.length && input.at[j]! <= until; j++) {
        if (input.cum[j]! - sent + fo >= want) {
          until = Math.max(t, input.at[j]!);
          break;
        }
      }
      t = until;
      queued = arrived(t) - sent;
      avail = cushioned(t, queued) ? queued : 0;
    }
    t = Math.max(t, last + Math.min(MIN_SPACING_MS, Math.max(MIN_WRITE_GAP_US / 1000, w.gapMs)));
    if (t - due > REBASE_MS) due = t; // the schedule pauses: the rest keeps its gaps
    last = t;
    if (avail === 0) {
      covering = true;
      continue;
    }
    covering = false;
    const data = Math.min(avail, Math.max(0, want - fo));
    if (data > 0) {
      sent += data;
      out.at.push(t);
      out.cum.push(sent);
    }
  }
  return out;
}

/**
 * One simulated shaped session: the time (s) until the destination has every byte. `draw` gives each hop's
 * planner (the source links', the relays', the leader's, in that order of calls).
 */
export function simulateShapedSession(
  s: ShapedSession,
  draw: () => { next(): { gapMs: number; frameBytes: number } },
  maxMs: number,
): number {
  const n = Math.max(1, s.dataRelays);
  const srcPlan = Array.from({ length: n }, draw);
  const relPlan = Array.from({ length: n }, draw);
  const leadPlan = draw();
  // the source links: every planned write at its time (they never wait), taking chunks from the window (ranges given
  // back first, lowest offset first) while a link holds less than its write; a link whose next write is more than
  // giveBackMs off gives back what it holds (roles/source-links.ts `pumpShaped`). Per link, the ranges it sent, in order
  const giveBackMs = s.giveBackMs ?? Infinity;
  let nextOff = 0; // the next fresh chunk
  const returned: Range[] = []; // given back, by offset
  const held: Range[][] = Array.from({ length: n }, () => []); // taken from the window, not yet sent
  const heldBytes = new Float64Array(n);
  const sentRanges: Range[][] = Array.from({ length: n }, () => []);
  const toRelay: Arrivals[] = Array.from({ length: n }, () => ({ at: [], cum: [] }));
  const due = new Float64Array(n);
  const pending: ({ gapMs: number; frameBytes: number } | undefined)[] = new Array(n).fill(undefined);
  const sentBy = new Float64Array(n);
  const takeChunk = (): Range | undefined => {
    const r = returned.shift();
    if (r !== undefined) return r;
    if (nextOff >= s.envelopeBytes) return undefined;
    const c = { start: nextOff, end: Math.min(nextOff + s.chunkBytes, s.envelopeBytes) };
    nextOff = c.end;
    return c;
  };
  const plan = (j: number): { gapMs: number; frameBytes: number } => {
    if (pending[j] === undefined) {
      pending[j] = srcPlan[j]!.next();
      due[j]! += pending[j]!.gapMs;
    }
    return pending[j]!;
  };
  for (;;) {
    // the link whose next write is due first
    const left = returned.length > 0 || nextOff < s.envelopeBytes;
    let i = -1;
    for (let j = 0; j < n; j++) {
      if (!left && heldBytes[j] === 0) continue;
      plan(j);
      if (i < 0 || due[j]! < due[i]!) i = j;
    }
    if (i < 0 || due[i]! > maxMs) break;
    const w = pending[i]!;
    pending[i] = undefined;
    const mine = held[i]!;
    while (heldBytes[i]! < w.frameBytes) {
      const c = takeChunk();
      if (c === undefined) break;
      mine.push(c);
      heldBytes[i]! += c.end - c.start;
    }
    // one DATA frame per contiguous run of what the link holds
    let room = w.frameBytes;
    let data = 0;
    let prevEnd = -1;
    while (mine.length > 0) {
      const r = mine[0]!;
      const fo = r.start === prevEnd ? 0 : s.dataFrameOverhead;
      if (room <= fo) break;
      const d = Math.min(room - fo, r.end - r.start);
      if (d <= 0) break;
      room -= fo + d;
      data += d;
      addRange(sentRanges[i]!, r.start, r.start + d);
      prevEnd = r.start + d;
      if (d === r.end - r.start) mine.shift();
      else r.start += d;
    }
    heldBytes[i]! -= data;
    sentBy[i]! += data;
    if (data > 0) {
      toRelay[i]!.at.push(due[i]!);
      toRelay[i]!.cum.push(sentBy[i]!);
    }
    if (heldBytes[i]! > 0 && plan(i).gapMs > giveBackMs) {
      for (const r of mine) insertSorted(returned, r, (x) => x.start);
      mine.length = 0;
      heldBytes[i] = 0;
    }
  }
  // the relays: what their source link delivered; the relay sees the end only after the leader has everything
  const fromRelay = toRelay.map((a, i) =>
    runHop(relPlan[i]!, a, {
      total: sentBy[i]!,
      frameOverhead: s.segmentFrameOverhead,
      graceMs: s.relayGraceMs,
      cushionBytes: s.cushionBytes / Math.max(1, s.payloadBytes / s.envelopeBytes) / n,
      cushionMs: s.cushionSeconds * 1000,
      completeAt: Infinity,
      maxMs,
    }),
  );
  if (s.payloadBytes <= 0) {
    // nothing to forward: the session is over once the leader has the envelope
    const ends = fromRelay.map((a) => (a.at.length > 0 ? a.at[a.at.length - 1]! : 0));
    return Math.max(0, ...ends) / 1000;
  }
  // the leader: plaintext of every sealed segment whose ciphertext is in, in envelope order
  const plain = leaderPlaintext(s, fromRelay, sentRanges);
  const lastAt =
    plain.cum.length > 0 && plain.cum[plain.cum.length - 1]! >= s.payloadBytes
      ? plain.at[plain.at.length - 1]!
      : Infinity;
  const lead = runHop(leadPlan, plain, {
    total: s.payloadBytes,
    frameOverhead: s.dataFrameOverhead,
    graceMs: s.leaderGraceMs,
    cushionBytes: s.cushionBytes,
    cushionMs: s.cushionSeconds * 1000,
    completeAt: lastAt,
    maxMs,
  });
  const done = lead.cum.length > 0 && lead.cum[lead.cum.length - 1]! >= s.payloadBytes;
  return (done ? lead.at[lead.at.length - 1]! : maxMs) / 1000;
}

/** A byte range of the envelope, [start, end). */
interface Range {
  start: number;
  end: number;
}

/** Appends [start, end) to `rs`, merged with the last range when they touch. */
function addRange(rs: Range[], start: number, end: number): void {
  const last = rs[rs.length - 1];
  if (last !== undefined && last.end === start) last.end = end;
  else rs.push({ start, end });
}

/**
 * The leader's plaintext over time: merged relay deliveries (each relay's bytes fill the ranges its source link
 * sent, in order) → contiguous envelope → whole sealed segments.
 */
function leaderPlaintext(s: ShapedSession, fromRelay: Arrivals[], sentRanges: Range[][]): Arrivals {
  const events: { at: number; relay: number; cum: number }[] = [];
  fromRelay.forEach((a, r) => {
    for (let j = 0; j < a.at.length; j++) events.push({ at: a.at[j]!, relay: r, cum: a.cum[j]! });
  });
  events.sort((a, b) => a.at - b.at || a.relay - b.relay);
  // every range by its start, with the bytes of it in (the ranges of all links tile the envelope)
  const got = new Map<number, { end: number; got: number }>();
  for (const rs of sentRanges) for (const r of rs) got.set(r.start, { end: r.end, got: 0 });
  const relayCum = new Float64Array(fromRelay.length);
  const relayAt = new Int32Array(fromRelay.length); // per relay: its first range not yet whole
  let frontier = 0; // contiguous envelope bytes in whole ranges
  const out: Arrivals = { at: [], cum: [] };
  const step = s.sealSegmentBytes + s.tagBytes;
  for (const e of events) {
    let add = e.cum - relayCum[e.relay]!;
    relayCum[e.relay] = e.cum;
    const mine = sentRanges[e.relay]!;
    while (add > 0 && relayAt[e.relay]! < mine.length) {
      const start = mine[relayAt[e.relay]!]!.start;
      const g = got.get(start)!;
      const take = Math.min(add, g.end - start - g.got);
      g.got += take;
      add -= take;
      if (g.got === g.end - start) relayAt[e.relay]!++;
    }
    for (let g = got.get(frontier); g !== undefined && g.got === g.end - frontier; g = got.get(frontier))
      frontier = g.end;
    const have = frontier + (got.get(frontier)?.got ?? 0);
    const p =
      have >= s.envelopeBytes
        ? s.payloadBytes
        : Math.min(s.payloadBytes, Math.max(0, Math.floor((have - s.prefixBytes) / step)) * s.sealSegmentBytes);
    if (out.cum.length === 0 ? p > 0 : p > out.cum[out.cum.length - 1]!) {
      out.at.push(e.at);
      out.cum.push(p);
    }
  }
  return out;
}
