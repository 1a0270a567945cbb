/**
 * The pacing plan: which strategy every hop of a session paces with, and the compact part of the profile it
 * needs (docs/DESIGN.md §4 "Strategies"). A plan is plain JSON data, small enough to travel in a SESSION or INSTRUCT
 * message (≤ {@link PLAN_MAX_JSON_BYTES}): the chain with at most {@link PLAN_MAX_PAIRS} pairs per level and a
 * size histogram of at most {@link PLAN_MAX_SIZES} entries, never the whole series — except for `replay`, whose
 * series is cut to its first {@link PLAN_MAX_REPLAY_BINS} bins. Each hop builds its own pacer from it
 * (strategies.ts) with its own seed, so hops draw independently.
 *
 * Rates are wire rates, as the capture measured them: each write is charged its payload plus the per-packet
 * overheads (TLS 1.3 record 22 B = 5 header + 1 content type + 16 tag; TCP/IP 52 B = 20 IPv4 + 20 TCP + 12
 * timestamp option; link 14 B Ethernet). That is exact when a write is one packet (the `profile` and `replay`
 * strategies draw packet-sized writes, and the channels have Nagle off) and a slight under-count for the large
 * writes of `constant`, which the stack cuts into several segments.
 */
import { smigError } from '../errors.js';
import type { Histogram, Profile } from '../profile/model.js';
import { FieldChecker, jsonErrorText, validateChain, validateTrace } from '../profile/model.js';
import { tiltWeights } from '../profile/sampler.js';
import { compactHistogram, compactPairs, compactTrace } from './compact.js';
import { planEchoSizes, validateEchoSizes } from './echo-sizes.js';
import { chainMeanBytes } from './envelope.js';
import type { ShapedWrite } from './shape.js';
import { ACK_SLACK, WritePlanner } from './shape.js';

export type Strategy = 'bulk' | 'constant' | 'profile' | 'replay';
export const STRATEGIES: readonly Strategy[] = ['bulk', 'constant', 'profile', 'replay'];

/** Bytes the stack adds to each write on the wire. */
export interface Overheads {
  tls: number;
  tcpip: number;
  link: number;
}

/** TLS 1.3 record 22 B, TCP/IP 52 B, Ethernet 14 B (see the module comment). */
export const DEFAULT_OVERHEADS: Readonly<Overheads> = Object.freeze({ tls: 22, tcpip: 52, link: 14 });

export const PLAN_MAX_JSON_BYTES: number = 32 * 1024;
export const PLAN_MAX_PAIRS = 64;
export const PLAN_MAX_SIZES = 256;
export const PLAN_MAX_REPLAY_BINS = 1024;
/** Most packets of a profile's trace a plan carries (contiguous pieces of it beyond). */
export const PLAN_MAX_TRACE = 1600;
/**
 * A shaped plan whose trace spans fewer bins than this also carries the profile's chain (with at most
 * {@link PLAN_MAX_ENVELOPE_PAIRS} pairs per level): the hops then warp the trace to per-bin targets drawn from it
 * (shape.ts `RateEnvelope`), since such a trace holds none of the bin-scale rhythm. At kB/s a plan's trace spans
 * minutes; at tens of MB/s a tenth of a second.
 */
export const ENVELOPE_MIN_BINS = 20;
/** Pairs per level of the chain a shaped plan carries beside its trace (the two stay within the JSON limit). */
export const PLAN_MAX_ENVELOPE_PAIRS = 32;
/** Wire size of a full TCP segment on the links smig paces: Ethernet (14) + MTU 1500. */
export const DEFAULT_SEGMENT = 1514;
/** Default burst rate of `profile` and `replay`: this many times the rate of the profile's fullest bin. */
export const PEAK_FACTOR = 8;

/** The part of a profile a plan carries. */
export interface PlanProfile {
  /** SHA-256 of the capture the profile was learned from (which profile this is). */
  sha256: string;
  /** The profile's mean byte rate (bytes/s): the denominator of the lower bound. */
  bytesPerSecond: number;
  /** `profile`: the chain, with at most PLAN_MAX_PAIRS pairs per level. */
  chain?: { edges: number[]; transitions: number[][]; levels: { pairs: [number, number, number][] }[] };
  /** `profile`, `replay`: wire sizes (at most PLAN_MAX_SIZES entries). */
  sizes?: Histogram;
  /** `replay`: the recorded series, at most PLAN_MAX_REPLAY_BINS bins. */
  series?: { packets: number[]; bytes: number[] };
  /** `profile`, `replay`: mean packets per burst in the capture (≥ 1). */
  burstPackets?: number;
  /**
   * `profile` from a version 2 profile: the learned packet trace (at most {@link PLAN_MAX_TRACE} packets) the hops
   * resample packet by packet (shape.ts), and the gap that ends a burst (µs). Without it, `profile` paces bins.
   */
  trace?: { sizes: number[]; gapsUs: number[] };
  burstGapUs?: number;
  /** Shaped `profile`: wire sizes of the records the receivers send back (echo-sizes.ts), when the profile has them. */
  echoSizes?: Histogram;
}

export interface PacingPlan {
  strategy: Strategy;
  /** `constant`: wire bytes/s. */
  rate?: number;
  /** `profile`, `replay`: the rate inside a burst, wire bytes/s (default {@link PEAK_FACTOR} × the largest bin's rate). */
  peak?: number;
  profile?: PlanProfile;
  /** Session seed (u32); each hop derives its own stream from it. */
  seed: number;
  /** Bin width of the profile's schedule, ns (decimal integer). */
  binNs: string;
  overheads: Overheads;
  /** Bucket depth in bytes; default by strategy (strategies.ts). */
  depth?: number;
  /** Shaped `profile`: wire size of a full segment on the links (default {@link DEFAULT_SEGMENT}). */
  segment?: number;
  /**
   * Shaped `profile`: every paced link keeps its schedule from its first write until the session is over,
   * sending cover (PAD frames of the planned sizes) whenever it has no data (default true for shaped plans).
   */
  cover?: boolean;
}

export interface PlanOptions {
  strategy: Strategy;
  profile?: Profile;
  /** `constant`: wire bytes/s (default: the profile's mean byte rate). */
  rate?: number;
  /** `profile`, `replay`: burst rate, wire bytes/s. */
  peak?: number;
  /** Default: a random u32. */
  seed?: number;
  overheads?: Partial<Overheads>;
  depth?: number;
  /** Shaped `profile`: see {@link PacingPlan.segment} and {@link PacingPlan.cover}. */
  segment?: number;
  cover?: boolean;
  /**
   * Shaped `profile`: carry the chain for per-bin targets (shape.ts `RateEnvelope`); default: when the plan's trace
   * spans fewer than {@link ENVELOPE_MIN_BINS} bins.
   */
  envelope?: boolean;
}

/**
 * Makes a plan for a strategy from a profile.
 * @throws SmigError SMIG_ERR_USAGE for an unknown strategy, `profile`/`replay` without a profile, `constant`
 *   without a rate or a profile, or a bad rate, seed, overhead or depth.
 */
export function createPlan(o: PlanOptions): PacingPlan {
  if (!STRATEGIES.includes(o.strategy))
    throw smigError('SMIG_ERR_USAGE', `--strategy: '${o.strategy}' is not one of ${STRATEGIES.join(', ')}`);
  const p = o.profile;
  if ((o.strategy === 'profile' || o.strategy === 'replay') && !p) {
    throw smigError('SMIG_ERR_USAGE', `--strategy ${o.strategy} needs a profile (--profile FILE)`);
  }
  const seed = o.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw smigError('SMIG_ERR_USAGE', `--seed: ${seed} is not an integer from 0 to 4294967295`);
  const overheads = { ...DEFAULT_OVERHEADS, ...o.overheads };
  const plan: PacingPlan = { strategy: o.strategy, seed, binNs: p?.binNs ?? '1000000000', overheads };
  if (o.strategy === 'constant') {
    const rate = o.rate ?? p?.rates.bytesPerSecond;
    if (rate === undefined) throw smigError('SMIG_ERR_USAGE', '--strategy constant needs --rate or --profile');
    plan.rate = rate;
  }
  if (o.depth !== undefined) plan.depth = o.depth;
  if (p) {
    const pp: PlanProfile = { sha256: p.provenance.sha256, bytesPerSecond: p.rates.bytesPerSecond };
    if (o.strategy === 'profile' && p.shape !== undefined) {
      pp.trace = compactTrace(p.shape.trace, PLAN_MAX_TRACE);
      pp.burstGapUs = p.shape.burstGapUs;
      const echoSizes = planEchoSizes(p.shape.reverseData ?? p.shape.reverse, overheads);
      if (echoSizes) pp.echoSizes = echoSizes;
      plan.segment = o.segment ?? DEFAULT_SEGMENT;
      plan.cover = o.cover ?? true;
      const spanUs = pp.trace.gapsUs.reduce((a, b) => a + b, 0);
      if (o.envelope ?? spanUs < ENVELOPE_MIN_BINS * p.bin * 1e6) pp.chain = planChain(p, PLAN_MAX_ENVELOPE_PAIRS);
    } else if (o.strategy === 'profile') pp.chain = planChain(p, PLAN_MAX_PAIRS);
    if (o.strategy === 'replay') {
      pp.series = {
        packets: p.series.packets.slice(0, PLAN_MAX_REPLAY_BINS),
        bytes: p.series.bytes.slice(0, PLAN_MAX_REPLAY_BINS),
      };
    }
    if (pp.trace === undefined && (o.strategy === 'profile' || o.strategy === 'replay')) {
      pp.sizes = compactHistogram(p.sizes, PLAN_MAX_SIZES);
      pp.burstPackets = p.packets / p.bursts.count;
      const fullest = Math.max(...(pp.series?.bytes ?? pp.chain!.levels.flatMap((l) => l.pairs.map((q) => q[0]))));
      plan.peak = o.peak ?? (PEAK_FACTOR * fullest) / p.bin;
    }
    plan.profile = pp;
  }
  return validatePlan(JSON.parse(JSON.stringify(plan)), 'pacing plan');
}

/** The chain a plan carries: the profile's, with at most `maxPairs` (bytes, packets) pairs per level. */
function planChain(p: Profile, maxPairs: number): NonNullable<PlanProfile['chain']> {
  return {
    edges: [...p.chain.edges],
    transitions: p.chain.transitions.map((r) => [...r]),
    levels: p.chain.levels.map((l) => ({ pairs: compactPairs(l.pairs, maxPairs) })),
  };
}

/**
 * The plan as JSON text, for a session message.
 * @throws SmigError SMIG_ERR_INTERNAL if it exceeds PLAN_MAX_JSON_BYTES (a plan from createPlan never does).
 */
export function stringifyPlan(plan: PacingPlan): string {
  const text = JSON.stringify(plan);
  const size = Buffer.byteLength(text);
  if (size > PLAN_MAX_JSON_BYTES)
    throw smigError('SMIG_ERR_INTERNAL', `pacing plan: ${size} bytes of JSON, more than ${PLAN_MAX_JSON_BYTES}`);
  return text;
}

/**
 * Validates a plan received as JSON data (from a peer: every array is bounded, every number checked).
 * @throws SmigError SMIG_ERR_PROFILE naming the bad field.
 */
export function validatePlan(doc: unknown, where = 'pacing plan'): PacingPlan {
  const c = new FieldChecker(where);
  const p = c.object(doc, '(plan)');
  if (!STRATEGIES.includes(p.strategy as Strategy))
    c.fail('strategy', `${JSON.stringify(p.strategy) ?? 'missing'} is not one of ${STRATEGIES.join(', ')}`);
  const strategy = p.strategy as Strategy;
  c.number(p.seed, 'seed', { int: true, min: 0, max: 0xffffffff });
  c.decimalNs(p.binNs, 'binNs', 1000n);
  const oh = c.object(p.overheads, 'overheads');
  for (const k of ['tls', 'tcpip', 'link']) c.number(oh[k], `overheads.${k}`, { int: true, min: 0, max: 65535 });
  if (p.depth !== undefined) c.number(p.depth, 'depth', { above: 0 });
  if (p.rate !== undefined) c.number(p.rate, 'rate', { above: 0 });
  if (p.peak !== undefined) c.number(p.peak, 'peak', { above: 0 });
  if (strategy === 'constant' && p.rate === undefined) c.fail('rate', 'missing (the constant strategy needs a rate)');
  if (p.profile === undefined) {
    if (strategy === 'profile' || strategy === 'replay')
      c.fail('profile', `missing (the ${strategy} strategy needs one)`);
    return p as unknown as PacingPlan;
  }
  const pp = c.object(p.profile, 'profile');
  c.string(pp.sha256, 'profile.sha256', /^[0-9a-f]{64}$/, 'a SHA-256 in lowercase hex');
  c.number(pp.bytesPerSecond, 'profile.bytesPerSecond', { above: 0 });
  if (pp.sizes !== undefined) c.histogram(pp.sizes, 'profile.sizes', { minValue: 1, maxLength: PLAN_MAX_SIZES });
  if (pp.chain !== undefined)
    validateChain(c, pp.chain, 'profile.chain', undefined, { maxPairs: PLAN_MAX_PAIRS, compact: true });
  if (pp.series !== undefined) {
    const s = c.object(pp.series, 'profile.series');
    const b = c.numbers(s.bytes, 'profile.series.bytes', undefined, {
      int: true,
      min: 0,
      maxLength: PLAN_MAX_REPLAY_BINS,
    });
    c.numbers(s.packets, 'profile.series.packets', b.length, { int: true, min: 0 });
    if (b.length === 0) c.fail('profile.series.bytes', 'is empty');
    if (!b.some((x) => x > 0)) c.fail('profile.series.bytes', 'holds no traffic');
  }
  if (pp.burstPackets !== undefined) c.number(pp.burstPackets, 'profile.burstPackets', { min: 1 });
  if (pp.trace !== undefined) {
    const t = validateTrace(c, pp.trace, 'profile.trace', PLAN_MAX_TRACE);
    const ackMax = (oh.link as number) + (oh.tcpip as number) + ACK_SLACK;
    if (!t.sizes.some((x) => x > ackMax))
      c.fail('profile.trace.sizes', `has no packet above ${ackMax} bytes (nothing to write)`);
    c.number(pp.burstGapUs, 'profile.burstGapUs', { min: 0 });
    if (strategy !== 'profile') c.fail('profile.trace', `only the profile strategy paces by a trace, not ${strategy}`);
  }
  if (pp.echoSizes !== undefined) validateEchoSizes(c, pp.echoSizes, 'profile.echoSizes');
  if (p.segment !== undefined) c.number(p.segment, 'segment', { int: true, min: 100, max: 65535 });
  if (p.cover !== undefined && typeof p.cover !== 'boolean') c.fail('cover', 'must be true or false');
  if (
    strategy === 'profile' &&
    pp.trace === undefined &&
    (pp.chain === undefined || pp.sizes === undefined || pp.burstPackets === undefined)
  ) {
    c.fail('profile', 'the profile strategy needs profile.chain, profile.sizes and profile.burstPackets');
  }
  if (strategy === 'replay' && (pp.series === undefined || pp.sizes === undefined || pp.burstPackets === undefined)) {
    c.fail('profile', 'the replay strategy needs profile.series, profile.sizes and profile.burstPackets');
  }
  if ((strategy === 'replay' || (strategy === 'profile' && pp.trace === undefined)) && p.peak === undefined)
    c.fail('peak', `missing (the ${strategy} strategy needs a burst rate)`);
  return p as unknown as PacingPlan;
}

/** Parses a plan's JSON text. @throws SmigError SMIG_ERR_PROFILE */
export function parsePlan(text: string, where = 'pacing plan'): PacingPlan {
  if (Buffer.byteLength(text) > PLAN_MAX_JSON_BYTES)
    throw smigError('SMIG_ERR_PROFILE', `${where}: more than ${PLAN_MAX_JSON_BYTES} bytes of JSON`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw smigError('SMIG_ERR_PROFILE', `${where}: not JSON (${jsonErrorText(e)})`);
  }
  return validatePlan(doc, where);
}

/** Total per-write overhead, bytes. */
export function overheadOf(plan: Pick<PacingPlan, 'overheads'>): number {
  return plan.overheads.tls + plan.overheads.tcpip + plan.overheads.link;
}

/**
 * Payload bytes per write of the `constant` strategy at wire rate `rate`: about 10 ms of traffic, at least one
 * full Ethernet TCP segment (1448 B) and at most one TLS record (16 KiB).
 */
export function constantWriteSize(rate: number): number {
  return Math.min(16384, Math.max(1448, Math.round(rate * 0.01)));
}

export interface PlanDuration {
  strategy: Strategy;
  /** Payload bytes to move. */
  bytes: number;
  /** Expected time at the plan's pace, seconds; null for `bulk` (as fast as the links go). */
  expectedSeconds: number | null;
  /** bytes ÷ the profile's mean byte rate, seconds; null without a profile. */
  lowerBoundSeconds: number | null;
  /** Mean wire rate the pacer targets (bytes/s); null for bulk. */
  wireRate: number | null;
  /** Mean payload rate (bytes/s) after the per-write overheads; null for bulk. */
  payloadRate: number | null;
}

/**
 * Expected duration of moving `bytes` payload bytes with a plan, against the lower bound bytes ÷ the profile's
 * mean byte rate (`smig send --dry-run`, `smig profile plan`). The expectation accounts for the per-write
 * overheads: `constant` carries w payload bytes per w + overhead charged; `profile` and `replay` average, over the
 * chain's stationary distribution (or the series), each bin's bytes times the payload share of its tilted size
 * distribution (as the pacer draws it).
 * @throws SmigError SMIG_ERR_USAGE when bytes is negative or not finite.
 */
export function planDuration(plan: PacingPlan, bytes: number): PlanDuration {
  if (!(bytes >= 0) || !Number.isFinite(bytes))
    throw smigError('SMIG_ERR_USAGE', `planDuration: ${bytes} is not a size`);
  const o = overheadOf(plan);
  const lowerBoundSeconds = plan.profile ? bytes / plan.profile.bytesPerSecond : null;
  const out = (wireRate: number | null, payloadRate: number | null): PlanDuration => ({
    strategy: plan.strategy,
    bytes,
    lowerBoundSeconds,
    wireRate,
    payloadRate,
    expectedSeconds: payloadRate === null ? null : bytes / payloadRate,
  });
  switch (plan.strategy) {
    case 'bulk':
      return out(null, null);
    case 'constant': {
      const w = constantWriteSize(plan.rate!);
      return out(plan.rate!, (plan.rate! * w) / (w + o));
    }
    case 'profile':
    case 'replay': {
      const pp = plan.profile!;
      if (pp.trace !== undefined) {
        const r = traceRates(pp.trace, plan);
        if (pp.chain === undefined) return out(r.wire, r.payload);
        // the envelope sets the rate (the chain's mean), the trace the payload share of each wire byte
        const wire = chainMeanBytes(pp.chain) / (Number(BigInt(plan.binNs)) / 1e9);
        return out(wire, (wire * r.payload) / r.wire);
      }
      const binSeconds = Number(BigInt(plan.binNs)) / 1e9;
      const share = payloadShare(pp.sizes!, o);
      let wire = 0;
      let payload = 0;
      if (plan.strategy === 'profile') {
        const rows = pp.chain!.transitions.map((r) => r.reduce((a, b) => a + b, 0));
        const total = rows.reduce((a, b) => a + b, 0);
        pp.chain!.levels.forEach((l, i) => {
          const n = l.pairs.reduce((a, q) => a + q[2], 0);
          for (const [b, k, c] of l.pairs) {
            const w = (rows[i]! / total) * (c / n);
            wire += w * b;
            payload += w * b * share(b, k);
          }
        });
      } else {
        const s = pp.series!;
        for (let i = 0; i < s.bytes.length; i++) {
          wire += s.bytes[i]! / s.bytes.length;
          payload += (s.bytes[i]! * share(s.bytes[i]!, s.packets[i]!)) / s.bytes.length;
        }
      }
      return out(wire / binSeconds, payload / binSeconds);
    }
  }
}

/** For a bin of (bytes, packets): the payload share of the wire bytes when sizes are tilted to its mean. */
export function payloadShare(sizes: Histogram, o: number): (bytes: number, packets: number) => number {
  const cache = new Map<number, number>();
  return (bytes, packets) => {
    if (packets === 0 || bytes === 0) return 0;
    const mean = bytes / packets;
    let v = cache.get(mean);
    if (v === undefined) {
      const q = tiltWeights(sizes.values, sizes.counts, mean);
      let pay = 0;
      let wire = 0;
      for (let i = 0; i < q.length; i++) {
        const payload = Math.max(1, sizes.values[i]! - o);
        pay += q[i]! * payload;
        wire += q[i]! * (payload + o);
      }
      v = pay / wire;
      cache.set(mean, v);
    }
    return v;
  };
}

/**
 * Mean wire and payload rates (bytes/s) of a shaped plan: the trace's writes planned in order (shape.ts) over
 * its total time. Payload is the frame bytes (what a role fills with frames).
 */
export function traceRates(
  t: { sizes: readonly number[]; gapsUs: readonly number[] },
  plan: Pick<PacingPlan, 'overheads' | 'segment'>,
): { wire: number; payload: number } {
  let wire = 0;
  let payload = 0;
  for (const w of traceWrites(t, plan)) {
    wire += w.packets.reduce((a, b) => a + b, 0);
    payload += w.frameBytes;
  }
  let us = 0;
  for (const g of t.gapsUs) us += g;
  const seconds = Math.max(us / 1e6, 1e-3);
  return { wire: wire / seconds, payload: payload / seconds };
}

/** The writes of one pass over a trace in order (shape.ts `WritePlanner`), for estimates. */
export function traceWrites(
  t: { sizes: readonly number[]; gapsUs: readonly number[] },
  plan: Pick<PacingPlan, 'overheads' | 'segment'>,
): ShapedWrite[] {
  let i = 0;
  const planner = new WritePlanner(
    () => {
      const k = i++ % t.sizes.length;
      return { size: t.sizes[k]!, gapUs: t.gapsUs[k]! };
    },
    plan.overheads,
    plan.segment ?? DEFAULT_SEGMENT,
  );
  const out: ShapedWrite[] = [];
  while (i < t.sizes.length && out.length < 10 * t.sizes.length) out.push(planner.next());
  return out;
}

export { compactHistogram, compactPairs, compactTrace } from './compact.js';

/**
 * The warning for a shaped session of `bytes` longer than its profile's trace, or undefined: each link then replays
 * the trace's stretches more than once, and a trained observer finds the repeats (docs/ARCHITECTURE.md "A session
 * longer than its trace"). Longer than 1.5 × the trace at the profile's mean rate. A trace cut to {@link PLAN_MAX_TRACE}
 * packets cannot be lengthened by a longer capture: then the warning says so.
 */
export function traceRepeatWarning(plan: PacingPlan, bytes: number): string | undefined {
  const trace = plan.strategy === 'profile' ? plan.profile?.trace : undefined;
  const lower = planDuration(plan, bytes).lowerBoundSeconds;
  if (trace === undefined || lower === null) return undefined;
  let us = 0;
  for (const g of trace.gapsUs) us += g;
  const traceSeconds = us / 1e6;
  if (lower <= 1.5 * traceSeconds) return undefined;
  const full = trace.sizes.length >= PLAN_MAX_TRACE;
  return (
    `a session of ${bytes} bytes lasts at least ${lower.toFixed(0)} s at the profile's mean rate, ` +
    `${(lower / traceSeconds).toFixed(1)} × its trace (${traceSeconds.toFixed(0)} s): every link replays stretches of the trace ` +
    'more than once, and a trained observer finds the repeats; ' +
    (full
      ? `the plan carries at most ${PLAN_MAX_TRACE} packets of a trace (pieces of a longer one), so a longer capture will not help: smaller sessions will`
      : 'learn the profile from a capture at least as long as the session')
  );
}
