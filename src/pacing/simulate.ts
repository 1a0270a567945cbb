/**
 * Session time of a paced migration by simulation: every hop of the path draws its own bins from the plan and a
 * downstream hop can only move what upstream delivered (a packet-shaped plan: its own writes, simulate-shaped.ts).
 * Pure arithmetic over a plan, seeded by the plan's seed.
 */
import { createRateSampler, createRng, deriveSeed } from '../profile/sampler.js';
import { GIVE_BACK_MS, PACED_MIN_CHUNK, PACED_MIN_SEGMENT } from './cut-sizes.js';
import { endHoldMs } from './hold.js';
import type { PacingPlan } from './plan.js';
import { constantWriteSize, DEFAULT_SEGMENT, overheadOf, payloadShare, planDuration, traceWrites } from './plan.js';
import type { PathBase } from './simulate-shaped.js';
import { shapedWrites, simulateShapedSession } from './simulate-shaped.js';

/**
 * The paced path of one session, for {@link simulateDuration}: source → N data relays → leader → destination;
 * the fields below only matter to packet-shaped plans.
 */
export interface SessionPath extends PathBase {
  /**
   * Packet-shaped plans (simulate-shaped.ts): envelope bytes per chunk of the source's window, the envelope's
   * sealed segments (plaintext bytes, tag bytes, bytes before the first), and how long a relay and the leader
   * wait for the rest of a write's data (ms). Defaults: a slow plan's sizes (`pacedCutSizes`: 4 KiB chunks, 1 KiB
   * segments), 16 B tags, no prefix, 1000 ms.
   */
  chunkBytes?: number;
  sealSegmentBytes?: number;
  tagBytes?: number;
  prefixBytes?: number;
  relayGraceMs?: number;
  leaderGraceMs?: number;
}

/** The spread of simulated session times, seconds. */
export interface DurationRange {
  runs: number;
  mean: number;
  /** The 1st, 5th, 50th, 95th and 99th percentiles: the printed 90 % and 98 % ranges. */
  p01: number;
  p05: number;
  p50: number;
  p95: number;
  p99: number;
  /** Set when the sessions were simulated at this payload size and extrapolated to the transfer's (long transfers). */
  simulatedBytes?: number;
}

/** Most bin steps one {@link simulateDuration} call takes (runs × bins × hops); fewer runs for long transfers. */
const SIM_STEP_BUDGET = 4_000_000;

/**
 * Session time of a paced migration, by simulation: the point estimate of {@link planDuration} is one hop at
 * its mean rate, but a session is several hops, each drawing its own bins from the plan independently, and a
 * downstream hop that has no data when its schedule opens a burst loses that burst. Each run draws, bin by bin,
 * every hop's payload budget (the bin's wire bytes times the payload share of its write sizes, less a frame
 * header per write), moves min(budget, bytes on hand) on each hop — the source has all of its share, a relay what
 * its source link delivered in earlier bins, the leader N × the least any relay delivered (it forwards in order)
 * — with the downstream hops starting after their cushion, and ends when the destination has every byte.
 * A packet-shaped plan (`profile` with a trace) is simulated write by write instead (simulate-shaped.ts; 400 runs
 * unless `opts.runs`). Deterministic for a plan (its seed seeds the runs). Null for bulk.
 */
export function simulateDuration(
  plan: PacingPlan,
  path: SessionPath,
  opts: { runs?: number } = {},
): DurationRange | null {
  if (plan.strategy === 'bulk') return null;
  const binS = Number(BigInt(plan.binNs)) / 1e9;
  const o = overheadOf(plan);
  const n = Math.max(1, path.dataRelays);
  const mean = planDuration(plan, path.payloadBytes);
  const expectedBins = Math.max(1, Math.ceil((mean.expectedSeconds ?? 1) / binS));
  const hops = 2 * n + 1;
  const runs = Math.max(8, Math.min(opts.runs ?? 200, Math.floor(SIM_STEP_BUDGET / (expectedBins * 2 * hops))));
  const rng = createRng(deriveSeed(plan.seed, 0x5e5510));
  const trace = plan.strategy === 'profile' ? plan.profile?.trace : undefined;
  if (trace !== undefined) return shapedRange(plan, path, trace, rng, mean.expectedSeconds ?? 1, opts.runs ?? 400);
  // per-bin (wire, packets) draws of one hop
  const drawer = (): (() => [number, number]) => {
    if (plan.strategy === 'constant') {
      const w = constantWriteSize(plan.rate!);
      const wire = plan.rate! * binS;
      return () => [wire, wire / (w + o)];
    }
    const pp = plan.profile!;
    if (plan.strategy === 'replay') {
      const s = pp.series!;
      let i = Math.floor(rng() * s.bytes.length);
      return () => {
        const t: [number, number] = [s.bytes[i]!, s.packets[i]!];
        i = (i + 1) % s.bytes.length;
        return t;
      };
    }
    const r = createRateSampler({ chain: pp.chain! }, createRng(Math.floor(rng() * 0xffffffff)));
    return () => {
      const t = r.next();
      return [t.bytes, t.packets];
    };
  };
  const share =
    plan.strategy === 'constant'
      ? ((): ((b: number, k: number) => number) => {
          const w = constantWriteSize(plan.rate!);
          return () => w / (w + o);
        })()
      : payloadShare(plan.profile!.sizes!, o);
  const budget = (draw: () => [number, number], frame: number): number => {
    const [wire, packets] = draw();
    return Math.max(0, wire * share(wire, packets) - packets * frame);
  };
  const times: number[] = [];
  const perRelay = path.envelopeBytes / n;
  const ratio = path.payloadBytes / Math.max(1, path.envelopeBytes); // envelope bytes → payload bytes
  const maxBins = expectedBins * 20 + 1000;
  for (let run = 0; run < runs; run++) {
    const src = Array.from({ length: n }, drawer);
    const rel = Array.from({ length: n }, drawer);
    const lead = drawer();
    const srcSent = new Float64Array(n);
    const relSent = new Float64Array(n);
    const relStart = new Float64Array(n).fill(-1); // bin of a relay's first byte
    const relGo = new Uint8Array(n);
    let leadSent = 0;
    let leadFirst = -1;
    let leadGo = false;
    let t = 0;
    let end = Infinity;
    for (; t < maxBins; t++) {
      // downstream hops see what arrived in earlier bins: snapshot before this bin's sends
      const srcBefore = Float64Array.from(srcSent);
      let leadAvail = Infinity;
      for (let i = 0; i < n; i++) {
        srcSent[i] = Math.min(perRelay, srcSent[i]! + budget(src[i]!, path.dataFrameOverhead));
        const have = srcBefore[i]!;
        if (have > 0 && relStart[i]! < 0) relStart[i] = t;
        if (
          !relGo[i] &&
          have > 0 &&
          (have >= Math.min(perRelay, path.cushionBytes / ratio / n) ||
            (t - relStart[i]!) * binS >= path.cushionSeconds)
        )
          relGo[i] = 1;
        leadAvail = Math.min(leadAvail, relSent[i]! * n * ratio);
        if (relGo[i]) relSent[i] = Math.min(have, relSent[i]! + budget(rel[i]!, path.segmentFrameOverhead));
      }
      const avail = Math.min(path.payloadBytes, leadAvail);
      if (avail > 0 && leadFirst < 0) leadFirst = t;
      if (!leadGo && avail > 0 && avail >= Math.min(path.payloadBytes, path.cushionBytes)) leadGo = true; // the leader waits for its cushion or the whole payload
      if (leadGo) {
        const b = budget(lead, path.dataFrameOverhead);
        const need = path.payloadBytes - leadSent;
        if (avail >= path.payloadBytes && b >= need && b > 0) {
          end = (t + need / b) * binS;
          break;
        }
        leadSent = Math.min(avail, leadSent + b);
      }
    }
    times.push(Number.isFinite(end) ? end : maxBins * binS);
  }
  return summarize(times, runs);
}

/** Most planned writes one shaped {@link simulateDuration} call simulates (runs × hops × writes, ~0.3 s). */
const SHAPED_WRITE_BUDGET = 1_000_000;
/** Fewest shaped sessions simulated; a transfer too long for that many is simulated shorter and scaled. */
const SHAPED_MIN_RUNS = 40;

/**
 * The shaped model (simulate-shaped.ts) over many sessions: each run draws fresh pacers for every hop from the
 * trace, as the hops of a real session do with their own seeds.
 */
function shapedRange(
  plan: PacingPlan,
  path: SessionPath,
  trace: { sizes: readonly number[]; gapsUs: readonly number[] },
  rng: () => number,
  expectedSeconds: number,
  wantRuns: number,
): DurationRange {
  const pp = plan.profile!;
  const model = {
    trace,
    burstGapUs: pp.burstGapUs ?? 1000,
    overheads: plan.overheads,
    segment: plan.segment ?? DEFAULT_SEGMENT,
  };
  const n = Math.max(1, path.dataRelays);
  // a session through sooner than the lower bound ends about there: the leader holds END (hold.ts)
  const held = (t: number): number => t + endHoldMs(plan, path.payloadBytes, t * 1000) / 1000;
  // writes per hop: the payload in mean-size writes, and as many again for cover and pauses
  const writes = traceWrites(trace, plan);
  const meanFrame = writes.reduce((a, w) => a + w.frameBytes, 0) / Math.max(1, writes.length);
  const perHop = (bytes: number): number => ((2 * bytes) / Math.max(1, meanFrame) / n + 100) * (2 * n + 1);
  // a transfer too long for SHAPED_MIN_RUNS sessions is simulated at a size that fits and scaled (below)
  const fit = Math.floor(
    ((SHAPED_WRITE_BUDGET / 1.5 / SHAPED_MIN_RUNS / (2 * n + 1) - 100) * Math.max(1, meanFrame) * n) / 2,
  );
  const scale = path.payloadBytes > fit ? path.payloadBytes / fit : 1;
  const payloadBytes = scale > 1 ? fit : path.payloadBytes;
  const runs = Math.max(SHAPED_MIN_RUNS, Math.min(wantRuns, Math.floor(SHAPED_WRITE_BUDGET / perHop(payloadBytes))));
  const maxMs = ((expectedSeconds / scale) * 20 + 1000) * 1000;
  const base = {
    dataRelays: n,
    dataFrameOverhead: path.dataFrameOverhead,
    segmentFrameOverhead: path.segmentFrameOverhead,
    cushionBytes: path.cushionBytes,
    cushionSeconds: path.cushionSeconds,
    chunkBytes: path.chunkBytes ?? PACED_MIN_CHUNK,
    giveBackMs: GIVE_BACK_MS,
    sealSegmentBytes: path.sealSegmentBytes ?? PACED_MIN_SEGMENT,
    tagBytes: path.tagBytes ?? 16,
    prefixBytes: path.prefixBytes ?? 0,
    relayGraceMs: path.relayGraceMs ?? 1000,
    leaderGraceMs: path.leaderGraceMs ?? 1000,
  };
  const simulate = (bytes: number, k: number): number[] => {
    const session = {
      ...base,
      payloadBytes: bytes,
      envelopeBytes:
        bytes === path.payloadBytes ? path.envelopeBytes : Math.round((path.envelopeBytes * bytes) / path.payloadBytes),
    };
    const out: number[] = [];
    for (let run = 0; run < k; run++)
      out.push(
        simulateShapedSession(session, () => shapedWrites(model, createRng(Math.floor(rng() * 0xffffffff))), maxMs),
      );
    return out;
  };
  const times = simulate(payloadBytes, runs);
  if (scale > 1) {
    // a longer session: T(P) ≈ a + b·P + c·√P. b is the slowest hop's long-run time per payload byte (its data per
    // write at the trace's pace: a source link and a relay carry 1/N of the envelope, the leader all the payload);
    // c·√P is the slowest of the hops' independent draws (their spread grows with √P), fitted from the difference
    // between the simulated sessions and sessions half as long; the spread of every run grows with √P too
    let traceSeconds = 0;
    for (const g of trace.gapsUs) traceSeconds += g / 1e6;
    const dataRate = (fo: number): number =>
      writes.reduce((a, w) => a + Math.max(0, w.frameBytes - fo), 0) / Math.max(1e-3, traceSeconds);
    const env = path.envelopeBytes / path.payloadBytes;
    const b = Math.max(
      env / (n * dataRate(path.dataFrameOverhead)),
      env / (n * dataRate(path.segmentFrameOverhead)),
      1 / dataRate(path.dataFrameOverhead),
    );
    const mean = (t: number[]): number => t.reduce((x, y) => x + y, 0) / t.length;
    const p1 = payloadBytes;
    const p2 = Math.floor(payloadBytes / 2);
    const m = mean(times);
    const c = Math.max(0, (m - mean(simulate(p2, runs)) - b * (p1 - p2)) / (Math.sqrt(p1) - Math.sqrt(p2)));
    const at = m + b * (path.payloadBytes - p1) + c * (Math.sqrt(path.payloadBytes) - Math.sqrt(p1));
    for (let i = 0; i < times.length; i++) times[i] = held(at + Math.sqrt(scale) * (times[i]! - m));
    return { ...summarize(times, runs), simulatedBytes: p1 };
  }
  for (let i = 0; i < times.length; i++) times[i] = held(times[i]!);
  return summarize(times, runs);
}

function summarize(times: number[], runs: number): DurationRange {
  times.sort((a, b) => a - b);
  const q = (p: number): number => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return { runs, mean, p01: q(0.01), p05: q(0.05), p50: q(0.5), p95: q(0.95), p99: q(0.99) };
}
