/**
 * The strategies as a hop runs them, on a FakeClock: a producer that always has data writes `nextWriteSize()`
 * bytes after `take()`, and the test bins what went out by pacer time. `constant` is exact; `profile` moves the
 * planned payload rate and its per-bin bytes and packets pass KS against the learned series; `replay` follows
 * the recorded series from a start drawn per hop; hops draw independently.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ksTwoSample } from '../../src/analysis/ks.js';
import { FakeClock } from '../../src/pacing/clock.js';
import type { PacingPlan } from '../../src/pacing/plan.js';
import { constantWriteSize, createPlan, planDuration } from '../../src/pacing/plan.js';
import type { Pacer } from '../../src/pacing/strategies.js';
import { createPacer } from '../../src/pacing/strategies.js';
import { learnProfile } from '../../src/profile/learn.js';
import { withoutShape } from '../../src/profile/model.js';
import { FIXTURE_DIR } from '../helpers/captures.js';

const netflix = withoutShape((await learnProfile(join(FIXTURE_DIR, 'ndpi__netflix.pcap'))).profile); // the binned path (a version 2 profile paces by its trace: pacing-shape.test.ts)
const tls = withoutShape((await learnProfile(join(FIXTURE_DIR, 'suricata__tls-subjectaltname.pcap'))).profile); // the binned path (a version 2 profile paces by its trace: pacing-shape.test.ts)

interface Run {
  pacer: Pacer;
  /** Per pacer bin: wire bytes and writes granted. */
  bytes: number[];
  packets: number[];
  payload: number;
  seconds: number;
}

/** Runs a greedy producer for `seconds` of pacer time, binning what goes out from `offsetMs` after the start. */
async function run(plan: PacingPlan, seconds: number, hop = 0, offsetMs = 0): Promise<Run> {
  const clock = new FakeClock({ start: 100 });
  const pacer = createPacer(plan, clock, hop);
  const overhead = plan.overheads.tls + plan.overheads.tcpip + plan.overheads.link;
  const bytes = new Array<number>(seconds).fill(0);
  const packets = new Array<number>(seconds).fill(0);
  let payload = 0;
  let stop = false;
  const loop = (async () => {
    for (;;) {
      const n = pacer.nextWriteSize();
      await pacer.take(n);
      const bin = Math.floor((clock.now() - 100 - offsetMs) / 1000);
      if (bin >= seconds) break;
      if (bin < 0) continue;
      bytes[bin]! += n + overhead;
      packets[bin]!++;
      payload += n;
    }
    stop = true;
  })();
  while (!stop) await clock.next();
  await loop;
  return { pacer, bytes, packets, payload, seconds };
}

describe('strategies on a fake clock', () => {
  it('bulk: no waiting, no limit', async () => {
    const pacer = createPacer(createPlan({ strategy: 'bulk', seed: 1 }), new FakeClock(), 0);
    expect(pacer.nextWriteSize()).toBe(Infinity);
    await pacer.take(1e9);
    expect(pacer.stats()).toMatchObject({ strategy: 'bulk', writes: 1, bytes: 1e9, payloadBytes: 1e9 });
  });

  it('constant: evenly spaced writes at the wire rate, ~10 ms of traffic each', async () => {
    const rate = 200_000;
    const plan = createPlan({ strategy: 'constant', rate, seed: 1 });
    const r = await run(plan, 20);
    const w = constantWriteSize(rate);
    expect(w).toBe(2000);
    expect(r.pacer.nextWriteSize()).toBe(w);
    // 20 s at 200 kB/s of 2088-byte wire writes: one every 10.44 ms; the first at 10.44 ms
    expect(r.packets.reduce((a, b) => a + b, 0)).toBe(Math.floor(20_000 / (((w + 88) / rate) * 1000)));
    for (const b of r.bytes) expect(Math.abs(b - rate)).toBeLessThanOrEqual(w + 88);
    expect(Math.abs(r.payload / 20 / planDuration(plan, 1).payloadRate! - 1)).toBeLessThan(0.001);
    const st = r.pacer.stats();
    expect(Math.abs(st.bytes - st.accrued)).toBeLessThanOrEqual(w + 88);
    // per-bin bytes of a constant rate are nothing like the capture's
    expect(ksTwoSample(netflix.series.bytes, r.bytes).pvalue).toBeLessThan(1e-6);
  });

  it('constant defaults to the profile mean rate', () => {
    expect(createPlan({ strategy: 'constant', profile: netflix, seed: 1 }).rate).toBe(netflix.rates.bytesPerSecond);
  });

  // The smallest write costs overhead + 1 byte on the wire (89 B by default). 30 % of the tls capture's bins hold a
  // single 52-byte packet (a bare ACK), which no write can be; with the default overheads its per-bin bytes are
  // therefore distinguishable at the pacer (D ≈ 0.27). With zero overheads (write = wire size) they are not.
  // An observer's bins need not line up with the pacer's: with bins offset by 370 ms it sees whole bursts of two
  // neighbouring bins, and the distribution still passes.
  for (const [name, profile, overheads, seconds, offset] of [
    ['netflix, default overheads', netflix, undefined, 1500, 0],
    ['netflix, observer offset 370 ms', netflix, undefined, 1500, 370],
    ['tls, zero overheads', tls, { tls: 0, tcpip: 0, link: 0 }, 500, 0],
  ] as const) {
    it(`profile (${name}): sends what the drawn bins allow; per-bin bytes and packets pass KS against the capture`, async () => {
      const plan = createPlan({ strategy: 'profile', profile, seed: 42, overheads });
      const o = plan.overheads.tls + plan.overheads.tcpip + plan.overheads.link;
      const r = await run(plan, seconds, 0, offset);
      // what went out is what the drawn bins allowed (to within a write)
      const st = r.pacer.stats();
      expect(Math.abs(st.bytes - st.accrued)).toBeLessThanOrEqual(1514);
      expect(st.bytes - st.payloadBytes).toBe(o * st.writes);
      const kb = ksTwoSample(profile.series.bytes, r.bytes);
      const kp = ksTwoSample(profile.series.packets, r.packets);
      expect(kb.pvalue, `bytes D=${kb.statistic}`).toBeGreaterThan(0.05);
      expect(kp.pvalue, `packets D=${kp.statistic}`).toBeGreaterThan(0.05);
      expect(r.pacer.stats().strategy).toBe('profile');
    });
  }

  // A hop's bins start at its first take; an observer's start at the connection, so a hop that starts pacing later
  // (the relay and the leader, after their cushion) is seen at an arbitrary offset. Over a demo-length window
  // (30 s, 500 ms bins) per-bin bytes must pass about as often at half a bin's offset as at the pacer's own bins:
  // with each bin's bursts spread over the whole bin, an offset observer saw a drawn bin as two half-full ones
  // (empty bins 0.60 → 0.49 here; 30 of 40 hops passed at the offset against 37 aligned).
  it('profile: an observer whose 500 ms bins are offset by half a bin sees the same per-bin distribution', async () => {
    const profile = withoutShape(
      (await learnProfile(join(FIXTURE_DIR, 'ndpi__netflix.pcap'), { binNs: 500_000_000n })).profile,
    ); // the binned path (a version 2 profile paces by its trace: pacing-shape.test.ts)
    const plan = createPlan({ strategy: 'profile', profile, seed: 7 });
    const o = plan.overheads.tls + plan.overheads.tcpip + plan.overheads.link;
    const hops = 40;
    const pass = { aligned: 0, offset: 0 };
    const empty = { aligned: 0, offset: 0 };
    for (let hop = 0; hop < hops; hop++) {
      const clock = new FakeClock({ start: 100 });
      const pacer = createPacer(plan, clock, hop);
      const writes: [number, number][] = [];
      let stop = false;
      const loop = (async () => {
        while (!stop) {
          const n = pacer.nextWriteSize();
          await pacer.take(n);
          writes.push([clock.now() - 100, n + o]);
        }
      })();
      while (clock.now() < 100 + 30_500) await clock.next();
      stop = true;
      await clock.next();
      await loop;
      for (const [kind, offset] of [
        ['aligned', 0],
        ['offset', 250],
      ] as const) {
        const bins = new Array<number>(60).fill(0);
        for (const [t, b] of writes) {
          const i = Math.floor((t - offset) / 500);
          if (i >= 0 && i < 60) bins[i]! += b;
        }
        if (ksTwoSample(profile.series.bytes, bins).pvalue > 0.05) pass[kind]++;
        empty[kind] += bins.filter((b) => b === 0).length / 60 / hops;
      }
    }
    expect(pass.offset / hops, JSON.stringify({ pass, empty })).toBeGreaterThanOrEqual(0.75);
    expect(pass.offset).toBeGreaterThanOrEqual(pass.aligned - 3);
    expect(Math.abs(empty.offset - empty.aligned), JSON.stringify(empty)).toBeLessThan(0.05);
  });

  it('replay: follows the recorded series bin by bin from a start drawn per hop, looping', async () => {
    const plan = createPlan({ strategy: 'replay', profile: netflix, seed: 9 });
    const series = netflix.series.bytes;
    const L = series.length;
    const offsets: number[] = [];
    for (const hop of [0, 1, 2]) {
      const r = await run(plan, 2 * L + 10, hop);
      // the start bin: the rotation of the series closest to what went out
      let best = -1;
      let bestErr = Infinity;
      for (let off = 0; off < L; off++) {
        let err = 0;
        for (let b = 0; b < r.seconds; b++) err += Math.abs(r.bytes[b]! - series[(off + b) % L]!);
        if (err < bestErr) [best, bestErr] = [off, err];
      }
      offsets.push(best);
      // every bin within a couple of writes of its recorded bytes (a write straddling a boundary lands in one bin)
      for (let b = 0; b < r.seconds; b++)
        expect(Math.abs(r.bytes[b]! - series[(best + b) % L]!), `bin ${b}`).toBeLessThanOrEqual(2 * 1514);
      const total = r.bytes.reduce((a, x) => a + x, 0);
      let want = 0;
      for (let b = 0; b < r.seconds; b++) want += series[(best + b) % L]!;
      expect(Math.abs(total - want)).toBeLessThanOrEqual(2 * 1514);
    }
    expect(new Set(offsets).size).toBe(3);
  });

  it('hops draw independently; the same hop and seed draw the same', async () => {
    const plan = createPlan({ strategy: 'profile', profile: netflix, seed: 3 });
    const a = await run(plan, 60, 0);
    const b = await run(plan, 60, 1);
    const a2 = await run(plan, 60, 0);
    expect(a2.bytes).toEqual(a.bytes);
    expect(b.bytes).not.toEqual(a.bytes);
  });

  it('a write above the depth is charged in parts, in order', async () => {
    const clock = new FakeClock();
    const pacer = createPacer(createPlan({ strategy: 'constant', rate: 10_000, seed: 1, depth: 1000 }), clock, 0);
    let done = false;
    void pacer.take(2912).then(() => (done = true)); // 2912 + 88 = 3000 wire bytes = 0.3 s
    await clock.advance(299);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(done).toBe(true);
    expect(pacer.stats()).toMatchObject({ writes: 3, bytes: 3000, payloadBytes: 2912 });
    await expect(pacer.take(0)).rejects.toMatchObject({
      code: 'SMIG_ERR_USAGE',
      message: 'Pacer.take: 0 is not a positive number of bytes',
    });
  });
});
