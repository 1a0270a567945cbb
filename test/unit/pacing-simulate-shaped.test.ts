/**
 * The packet-shaped session simulation (src/pacing/simulate-shaped.ts) against hand-worked cases: a hop's
 * schedule, its pause for the rest of a write (shifting every later write), cover while it has nothing, the
 * cushion, and a whole session over a trace whose every write is the same; then the estimate over a learned
 * trace: deterministic for a seed, moved by the shaped dynamics.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rangeText } from '../../src/cli/estimate.js';
import { createPlan, DEFAULT_OVERHEADS, planDuration } from '../../src/pacing/plan.js';
import { SIZE_JITTER_BYTES } from '../../src/pacing/shape.js';
import { simulateDuration } from '../../src/pacing/simulate.js';
import type { ShapedSession } from '../../src/pacing/simulate-shaped.js';
import { runHop, shapedWrites, simulateShapedSession } from '../../src/pacing/simulate-shaped.js';
import { learnProfile } from '../../src/profile/learn.js';
import { createRng } from '../../src/util/rng.js';
import { FIXTURE_DIR } from '../helpers/captures.js';

/** A planner whose writes are the given [gap ms, frame bytes], then the last one forever. */
function fixed(list: [number, number][]): { next(): { gapMs: number; frameBytes: number } } {
  let i = 0;
  return {
    next: () => {
      const [gapMs, frameBytes] = list[Math.min(i++, list.length - 1)]!;
      return { gapMs, frameBytes };
    },
  };
}

const hop = {
  frameOverhead: 30,
  graceMs: 1000,
  cushionBytes: 0,
  cushionMs: 0,
  completeAt: Infinity,
  maxMs: 1e6,
};

describe('runHop (one downstream shaped hop)', () => {
  it('with all its data on hand: every write at its planned time, frame header off each', () => {
    const out = runHop(
      fixed([
        [0, 1000],
        [100, 1000],
      ]),
      { at: [0], cum: [3000] },
      { ...hop, total: 3000, completeAt: 0 },
    );
    // 970 data bytes per write: at 0, 100, 200 (970, 1940, 2910) and the last 90 at 300
    expect(out.at).toEqual([0, 100, 200, 300]);
    expect(out.cum).toEqual([970, 1940, 2910, 3000]);
  });

  it('short of a write: waits for the rest (up to the grace), and the pause shifts the schedule', () => {
    const out = runHop(
      fixed([
        [0, 1000],
        [100, 1000],
      ]),
      { at: [0, 250], cum: [500, 1000] },
      { ...hop, total: 1000 },
    );
    // write 1 due at 0 has 500 (+30 < 1000): waits until 250 brings 1000, sends 970; the schedule now starts at
    // 250, write 2 is due at 350 with 30 bytes: nothing more comes, it waits the whole grace and sends them at 1350
    expect(out.at).toEqual([250, 1350]);
    expect(out.cum).toEqual([970, 1000]);
  });

  it('complete (the end of the data is in): no wait for the rest', () => {
    const out = runHop(
      fixed([
        [0, 1000],
        [100, 1000],
      ]),
      { at: [0, 250], cum: [500, 1000] },
      { ...hop, total: 1000, completeAt: 250 },
    );
    expect(out.at).toEqual([250, 350]);
  });

  it('covers without pausing while it has nothing, and holds data until its cushion', () => {
    const out = runHop(
      fixed([
        [0, 500],
        [100, 500],
      ]),
      { at: [50], cum: [2000] },
      { ...hop, total: 2000, cushionBytes: 5000, cushionMs: 300 },
    );
    // PADs at 0 (nothing yet); from 100 it holds 2000 B (< 5000) and notes the first byte then: the cushion is in
    // at 400; 470 B per write at 400, 500, 600, 700; the last 120 are short of a write (and the hop does not
    // know they are the last): the write due at 800 waits the grace, 1800
    expect(out.at).toEqual([400, 500, 600, 700, 1800]);
    expect(out.cum[out.cum.length - 1]).toBe(2000);
  });
});

describe('simulateShapedSession (hand-worked)', () => {
  // every packet 1000 B on the wire, 10 ms apart: every write is 1000 − 66 (headers) − 22 (TLS) = 912 frame bytes
  const trace = { sizes: Array(50).fill(1000) as number[], gapsUs: Array(50).fill(10_000) as number[] };
  const model = { trace, burstGapUs: 1000, overheads: { ...DEFAULT_OVERHEADS }, segment: 1514 };
  const session: ShapedSession = {
    payloadBytes: 2000,
    envelopeBytes: 2000,
    dataRelays: 1,
    dataFrameOverhead: 13,
    segmentFrameOverhead: 30,
    cushionBytes: 0,
    cushionSeconds: 0,
    chunkBytes: 16384,
    sealSegmentBytes: 1,
    tagBytes: 0,
    prefixBytes: 0,
    relayGraceMs: 1000,
    leaderGraceMs: 1000,
  };

  it('the planner of such a trace: 912 B every 10 ms from 0, never moved (one size is the whole trace)', () => {
    const p = shapedWrites(model, createRng(7));
    const w = Array.from({ length: 400 }, () => p.next());
    expect(w.slice(0, 3).map((x) => x.gapMs)).toEqual([0, 10, 10]);
    // as on a real hop the size jitter moves odd sizes, but not one that holds EXACT_SIZE_SHARE of the trace
    expect(w.every((x) => x.frameBytes === 912)).toBe(true);
    const odd = {
      ...model,
      trace: { sizes: Array.from({ length: 100 }, (_, i) => 1000 + i), gapsUs: new Array<number>(100).fill(10_000) },
    };
    // 100 sizes of 1 % each (frames of 912 … 1011 B): each moved by up to SIZE_JITTER_BYTES, past both ends too
    const q = shapedWrites(odd, createRng(7));
    const moved = Array.from({ length: 2000 }, () => q.next().frameBytes);
    expect(Math.min(...moved)).toBe(912 - SIZE_JITTER_BYTES);
    expect(Math.max(...moved)).toBe(1011 + SIZE_JITTER_BYTES);
    // the same seed, the same writes
    const again = shapedWrites(model, createRng(7));
    expect(Array.from({ length: 400 }, () => again.next())).toEqual(w);
  });

  it('source, relay and leader: the relay’s last bytes wait its grace, the leader pauses for whole writes', () => {
    // source (899 B/write): 899 @0, 1798 @10, 2000 @20. relay (882 B/write): 882 @0, 1764 @10; 236 B at 20 are
    // short and the relay never sees the end: 2000 @1020. leader (899 B/write): 882 + 13 < 912 at 0, waits to 10,
    // sends 899 (schedule shifted to 10); at 20 holds 865: waits until the relay's last bytes at 1020 (the end,
    // also the grace), sends 899; at 1030 the last 202 (complete: no wait). The destination has all at 1.030 s.
    const t = simulateShapedSession(session, () => shapedWrites(model, createRng(1)), 1e6);
    expect(t).toBeCloseTo(1.03, 9);
  });

  it('an empty payload: over when the leader has the envelope (the relay’s short last write waits its grace)', () => {
    const t = simulateShapedSession(
      { ...session, payloadBytes: 0, envelopeBytes: 100 },
      () => shapedWrites(model, createRng(1)),
      1e6,
    );
    // source: 100 @0; relay: 100 + 30 < 912 and it never sees the end: sends them at 1000
    expect(t).toBeCloseTo(1, 9);
  });

  it('a shorter grace shortens the session by as much (twice: relay and leader wait on the same bytes)', () => {
    const t = simulateShapedSession({ ...session, relayGraceMs: 200 }, () => shapedWrites(model, createRng(1)), 1e6);
    // relay's last 236 B at 220; the leader, waiting since 20 (grace 1000), gets them at 220, sends 899, then 202 at 230
    expect(t).toBeCloseTo(0.23, 9);
  });

  it('two data relays: each link takes a chunk, and the leader can only use the envelope in order', () => {
    const t = simulateShapedSession(
      { ...session, dataRelays: 2, chunkBytes: 16384, payloadBytes: 32768, envelopeBytes: 32768 },
      () => shapedWrites(model, createRng(1)),
      1e6,
    );
    // each source link takes one chunk (it holds a record's worth) and sends 899 B every 10 ms from 0: 16182 by
    // 170, the last 202 at 180. Each relay sends 882 B every 10 ms (15876 by 170) and, short of its last 508 B,
    // waits its grace: all at 1180. The leader only sees chunk 0 until then (chunk 1 comes after it): it sends
    // 899 B at 10…170 (17 writes, 15283 B; it loses 17 B a step against 882 in), at 180 holds 593 and waits until
    // 1180, when both chunks are whole; then 17485 B left: 19 writes of 899 at 1180…1360 and 404 B at 1370.
    expect(t).toBeCloseTo(1.37, 9);
  });

  it('two data relays whose links give back what they hold after each write: the envelope goes in order', () => {
    const two = { ...session, dataRelays: 2, chunkBytes: 16384, payloadBytes: 32768, envelopeBytes: 32768 };
    // every gap is 10 ms: at a 20 ms threshold nothing is given back (the session of the test above)
    expect(simulateShapedSession({ ...two, giveBackMs: 20 }, () => shapedWrites(model, createRng(1)), 1e6)).toBeCloseTo(
      1.37,
      9,
    );
    // at 5 ms each link gives back the rest of its chunk after each write, so the two links send the envelope in turn:
    // link 0 [0, 899) and link 1 [899, 1798) at 0, and so on, 18 × 1798 by 170 and the last 404 B at 180. Each relay
    // falls 17 B a write behind (882 B a write) and, short of a whole write at the end, sends its last bytes after its
    // grace, at 1180. The leader has the envelope in order but for those: it sends 899 B every 10 ms until it has sent
    // what came, then the rest from 1180 (done at 1.2 s, not 1.37)
    expect(simulateShapedSession({ ...two, giveBackMs: 5 }, () => shapedWrites(model, createRng(1)), 1e6)).toBeCloseTo(
      1.2,
      9,
    );
  });
});

/** The netflix capture's data direction, learned whole (a version 2 profile). */
const learnedNetflix = async () =>
  (await learnProfile(join(FIXTURE_DIR, 'ndpi__netflix.pcap'), { filter: 'dst host 192.168.1.7' })).profile;

/** A 250 kB session through one data relay, with the roles' frame headers, cushion, chunks, segments and grace. */
const PATH_250K: ShapedSession = {
  payloadBytes: 250_000,
  envelopeBytes: 251_600,
  dataRelays: 1,
  dataFrameOverhead: 13,
  segmentFrameOverhead: 30,
  cushionBytes: 10_000,
  cushionSeconds: 1,
  chunkBytes: 16384,
  sealSegmentBytes: 4096,
  tagBytes: 16,
  prefixBytes: 64,
  relayGraceMs: 1000,
  leaderGraceMs: 1000,
};

describe('simulateDuration over a learned trace (version 2 profile)', () => {
  it('deterministic for a seed, different for another; a spread above one hop at the mean rate', async () => {
    const profile = await learnedNetflix();
    const path = PATH_250K;
    const plan = createPlan({ strategy: 'profile', profile, seed: 5 });
    expect(plan.profile?.trace).toBeDefined();
    const a = simulateDuration(plan, path)!;
    expect(simulateDuration(plan, path)).toEqual(a);
    expect(simulateDuration(createPlan({ strategy: 'profile', profile, seed: 6 }), path)).not.toEqual(a);
    const hop1 = planDuration(plan, 250_000).expectedSeconds!;
    expect(a.p01).toBeLessThanOrEqual(a.p05);
    expect(a.p05).toBeLessThan(a.p50);
    expect(a.p50).toBeLessThan(a.p95);
    expect(a.p95).toBeLessThanOrEqual(a.p99);
    expect(a.p50).toBeGreaterThan(hop1);
    // the relay's grace is in it: its last bytes wait for it (a relay never sees the end before the leader)
    const slow = simulateDuration(plan, { ...path, relayGraceMs: 6000 })!;
    expect(slow.mean).toBeGreaterThan(a.mean);
    // a transfer too long to simulate a few dozen times is simulated shorter and extrapolated: close to direct runs
    const big = { ...path, payloadBytes: 8_000_000, envelopeBytes: 8_051_000 };
    const est = simulateDuration(plan, big)!;
    const rng = createRng(3);
    const model = {
      trace: plan.profile!.trace!,
      burstGapUs: plan.profile!.burstGapUs!,
      overheads: plan.overheads,
      segment: 1514,
    };
    const direct: number[] = [];
    for (let i = 0; i < 12; i++)
      direct.push(
        simulateShapedSession({ ...big }, () => shapedWrites(model, createRng(Math.floor(rng() * 2 ** 32))), 1e8),
      );
    const directMean = direct.reduce((x, y) => x + y, 0) / direct.length;
    expect(est.runs).toBeLessThan(400);
    expect(est.simulatedBytes).toBeLessThan(8_000_000); // it was extrapolated, and says so
    expect(a.simulatedBytes).toBeUndefined();
    expect(rangeText(est, (x) => `${x.toFixed(0)} s`)).toMatch(
      /^\d+ s \(median of \d+ simulated sessions of [\d.]+ MB, extrapolated to the size; 90 % between \d+ s and \d+ s, 98 % between \d+ s and \d+ s\)$/,
    );
    expect(Math.abs(est.mean / directMean - 1)).toBeLessThan(0.05);
  });
});

describe('steering by the hop’s data (simulated sessions over the netflix trace)', () => {
  it('the relays and the leader lose less time to their lulls when what they hold orders their bursts', async () => {
    const profile = await learnedNetflix();
    const plan = createPlan({ strategy: 'profile', profile, seed: 5 });
    const model = {
      trace: plan.profile!.trace!,
      burstGapUs: plan.profile!.burstGapUs ?? 1000,
      overheads: plan.overheads,
      segment: 1514,
    };
    const session: ShapedSession = { ...PATH_250K, payloadBytes: 840_000, envelopeBytes: 843_600, dataRelays: 2 };
    const median = (steer: boolean): number => {
      const t: number[] = [];
      for (let seed = 1; seed <= 60; seed++) {
        const rng = createRng(seed);
        t.push(
          simulateShapedSession(
            session,
            () => {
              const w = shapedWrites(model, createRng(Math.floor(rng() * 0xffffffff)));
              return steer ? w : { next: () => w.next() };
            },
            1e9,
          ),
        );
      }
      return t.sort((a, b) => a - b)[30]!;
    };
    const bound = session.payloadBytes / profile.rates.bytesPerSecond;
    const steered = median(true);
    const unsteered = median(false);
    // the same draws: steering cannot make a hop faster than its trace, only waste less of it
    expect(steered).toBeLessThan(unsteered * 0.97);
    expect(steered).toBeGreaterThan(bound);
  });
});
