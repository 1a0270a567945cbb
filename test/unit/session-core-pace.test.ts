/**
 * Paced sessions on the fake clock (test/helpers/session-core.ts): the whole cluster in one process, every pacer
 * and timer on one FakeClock, every link of the memory transport recording when its bytes arrived. The timing of
 * each paced hop is checked from those deliveries, deterministically: no real time is waited for.
 *
 * Oracles: the token bucket's bound (src/pacing/bucket.ts): over any interval of length W a hop writes at most
 * depth + rate·W wire bytes, and frame bytes are fewer than wire bytes (each write also pays the plan's
 * 88-byte overhead), so the frame bytes delivered in any window are bounded by it; a constant plan's write is
 * at most 1448 frame bytes (plan.ts constantWriteSize at 100 kB/s) and the profile plan below draws only
 * 1088-byte packets, i.e. 1000-byte frames; payloads compared byte for byte; the idle timeout (60 s) and the
 * source's keepalive (a PING on a link quiet for a whole 15 s tick) from their definitions.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Delivery, MemoryLink } from '../../src/net/memory.js';
import { firstDataMs, MAX_FIRST_DATA_MS, segmentsMs } from '../../src/pacing/cut-sizes.js';
import type { PacingPlan } from '../../src/pacing/plan.js';
import { createPlan, planDuration, validatePlan } from '../../src/pacing/plan.js';
import { Cluster, HOSTS } from '../helpers/session-core.js';

const SESSION_ID = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
/** Unpaced control frames a hop may add to a window (END, a PING passed on): a few small frames. */
const CONTROL_SLACK = 256;

let c: Cluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

/** A profile plan by hand: 50 ms bins, full or empty at random, every packet 1088 wire bytes (1000-byte frames). */
function profilePlan(bytesPerFullBin: number, depth: number): PacingPlan {
  return validatePlan({
    strategy: 'profile',
    seed: 3,
    binNs: '50000000',
    overheads: { tls: 22, tcpip: 52, link: 14 },
    peak: 40 * bytesPerFullBin,
    depth,
    profile: {
      sha256: 'ab'.repeat(32),
      bytesPerSecond: 10 * bytesPerFullBin,
      chain: {
        edges: [1],
        transitions: [
          [1, 1],
          [1, 1],
        ],
        levels: [{ pairs: [[0, 0, 1]] }, { pairs: [[bytesPerFullBin, bytesPerFullBin / 1088, 1]] }],
      },
      sizes: { values: [1088], counts: [1] },
      burstPackets: 4,
    },
  });
}

/** The paced data hops of a session: source → each data relay, each data relay → leader, leader → destination. */
function dataHops(cl: Cluster, from: number): Map<string, MemoryLink> {
  const made = cl.net.links.slice(from);
  const hops = new Map<string, MemoryLink>();
  for (const h of HOSTS.data) {
    hops.set(`source → ${h}`, made.find((l) => l.clientHost === 'source' && l.serverHost === h)!);
    hops.set(`${h} → leader`, made.find((l) => l.clientHost === h && l.serverHost === 'leader')!);
  }
  hops.set('leader → dest', made.find((l) => l.clientHost === 'leader' && l.serverHost === 'dest')!);
  return hops;
}

/**
 * The paced deliveries of a hop: its upstream direction without the opening SESSION (sent before the pacer starts)
 * and the closing END (sent once the leader has everything).
 */
function paced(l: MemoryLink): Delivery[] {
  return l.deliveries.filter((d) => d.dir === 'up').slice(1, -1);
}

/** Most bytes delivered in any window [t, t + w) that starts at a delivery. */
function maxInWindow(ds: Delivery[], w: number): number {
  let most = 0;
  let sum = 0;
  let j = 0;
  for (let i = 0; i < ds.length; i++) {
    while (j < ds.length && ds[j]!.at < ds[i]!.at + w) sum += ds[j++]!.bytes;
    most = Math.max(most, sum);
    sum -= ds[i]!.bytes;
  }
  return most;
}

describe('a paced session driven by the fake clock', () => {
  it('constant 100 kB/s: every hop stays within depth + rate·W in every window; the source hops run at the rate', async () => {
    c = await Cluster.start({ record: true });
    const rate = 100_000;
    const depth = 4000;
    const plan = createPlan({ strategy: 'constant', rate, seed: 1, depth });
    const data = randomBytes(150_000);
    const from = c.net.links.length;
    const r = await c.migrate(data, 'constant.bin', { plan, sessionId: SESSION_ID });
    expect(readFileSync(join(c.out, 'constant.bin')).equals(data)).toBe(true);
    const hops = dataHops(c, from);
    for (const [name, link] of hops) {
      const ds = paced(link);
      expect(ds.length, name).toBeGreaterThan(10);
      for (const d of ds) expect(d.bytes, name).toBeLessThanOrEqual(1448);
      for (const w of [10, 50, 100, 250, 1000])
        expect(maxInWindow(ds, w), `${name}, ${w} ms`).toBeLessThanOrEqual(depth + (rate * w) / 1000 + CONTROL_SLACK);
    }
    // one paced hop's time: the payload at the plan's payload rate (each write pays its headers), which at a constant
    // rate the leader's hop, carrying all of it, cannot beat (less what its bucket's depth lets out at once)
    const oneHop = data.length / planDuration(plan, 0).payloadRate!;
    expect(r.pacing.oneHopSeconds).toBeCloseTo(oneHop, 6);
    expect(oneHop).toBeGreaterThan(data.length / rate);
    expect(r.seconds).toBeGreaterThanOrEqual(oneHop - depth / rate);
    // the source's hops always had data: the pacer's own report is the rate exactly, never late on a fake clock
    expect(r.pacing.hops).toHaveLength(2);
    for (const h of r.pacing.hops) {
      expect(h.strategy).toBe('constant');
      expect(h.targetRate).toBeCloseTo(rate, 0);
      expect(Math.abs(h.rate! - rate) / rate).toBeLessThan(0.02);
      expect(h.lateness.max).toBe(0);
    }
    // and from the deliveries: what the source link carried, spread over at least (bytes − depth) / rate
    for (const h of HOSTS.data) {
      const ds = paced(hops.get(`source → ${h}`)!);
      const bytes = ds.reduce((n, d) => n + d.bytes, 0);
      expect(ds.at(-1)!.at - ds[0]!.at).toBeGreaterThanOrEqual(((bytes - depth - CONTROL_SLACK) / rate) * 1000);
    }
    // the downstream hops paced too (their own pacers, never above the target)
    const events = c.events('pacing').filter((e) => e.role === 'data-relay' || e.role === 'leader');
    expect(events.map((e) => e.strategy)).toEqual(['constant', 'constant', 'constant']);
    for (const e of events) expect(e.rate as number).toBeLessThanOrEqual((e.targetRate as number) * 1.02);
  });

  it('profile (50 ms bins, full or empty): every hop bursts within depth + peak·W and two bins per 50 ms, in 1000-byte frames', async () => {
    c = await Cluster.start({ record: true });
    const full = 54_400; // 50 packets of 1088 wire bytes per full bin
    const depth = 2 * 1088;
    const plan = profilePlan(full, depth);
    const data = randomBytes(200_000);
    const from = c.net.links.length;
    const r = await c.migrate(data, 'profile.bin', { plan, sessionId: SESSION_ID });
    expect(readFileSync(join(c.out, 'profile.bin')).equals(data)).toBe(true);
    expect(r.pacing.strategy).toBe('profile');
    const peak = 40 * full;
    for (const [name, link] of dataHops(c, from)) {
      const ds = paced(link);
      expect(ds.length, name).toBeGreaterThan(10);
      for (const d of ds) expect(d.bytes, name).toBeLessThanOrEqual(1000);
      // within a burst at most the peak rate; over a bin's length at most two bins' budgets (a window spans two)
      for (const w of [1, 5, 10])
        expect(maxInWindow(ds, w), `${name}, ${w} ms`).toBeLessThanOrEqual(depth + (peak * w) / 1000 + CONTROL_SLACK);
      expect(maxInWindow(ds, 50), name).toBeLessThanOrEqual(2 * full + depth + CONTROL_SLACK);
    }
  });

  it('a session longer than the idle timeout: the key relays are released once they have sent their shares, no link fails', async () => {
    c = await Cluster.start({ record: true });
    const rate = 1500; // the leader's hop alone takes about 100 000 / 1500 ≈ 67 s at this rate
    const plan = createPlan({ strategy: 'constant', rate, seed: 1 });
    const data = randomBytes(100_000);
    const from = c.net.links.length;
    const r = await c.migrate(data, 'slow.bin', { plan, sessionId: SESSION_ID });
    expect(readFileSync(join(c.out, 'slow.bin')).equals(data)).toBe(true);
    expect(r.seconds).toBeGreaterThan(60); // fake time, past the 60 s idle timeout of every link
    const made = c.net.links.slice(from);
    for (const k of HOSTS.keys) {
      // a key relay's links are short flows: SESSION, KEY and END, then closed by the leader once it has the key
      // (the relay closes the source's link in turn), not held open by keepalives until the DONE
      for (const link of made.filter((l) => l.serverHost === k || l.clientHost === k)) {
        expect(link.deliveries.length, k).toBeGreaterThan(0);
        expect(link.deliveries.at(-1)!.at, k).toBeLessThan(5_000);
      }
    }
    expect(c.events('key-link-released')).toHaveLength(2 * HOSTS.keys.length); // the leader's and the source's
    expect(c.events('relay-key-released')).toHaveLength(HOSTS.keys.length);
    expect(c.events('link-failed')).toEqual([]);
    expect(c.events('relay-lost')).toEqual([]);
  });

  it('a session whose first data reaches the leader after the key wait: the leader waits as long as the plan needs', async () => {
    const keyWaitMs = 5000;
    c = await Cluster.start({ record: true, keyWaitMs });
    // 150 B/s: the first envelope bytes reach the leader after ~20 s (a 1448 B write through two paced hops)
    const plan = createPlan({ strategy: 'constant', rate: 150, seed: 1 });
    expect(firstDataMs(plan)).toBeGreaterThan(40_000); // 2 × FIRST_DATA_BYTES at 141 B/s of payload
    expect(firstDataMs(createPlan({ strategy: 'constant', rate: 1e-6, seed: 1 }))).toBe(MAX_FIRST_DATA_MS);
    expect(firstDataMs(createPlan({ strategy: 'bulk', seed: 1 }))).toBe(0);
    const data = randomBytes(12_000);
    const from = c.net.links.length;
    await c.migrate(data, 'late.bin', { plan, sessionId: SESSION_ID });
    expect(readFileSync(join(c.out, 'late.bin')).equals(data)).toBe(true);
    const hops = dataHops(c, from);
    const firstData = Math.min(
      ...HOSTS.data.map((h) => paced(hops.get(`${h} → leader`)!).find((d) => d.bytes > 100)?.at ?? Infinity),
    );
    expect(firstData).toBeGreaterThan(3 * keyWaitMs); // fake time: the code before gave up at keyWaitMs
    expect(c.events('key-rebuilt')).toHaveLength(1);
    // the key relays' links were closed once they had sent their shares, long before the first data came
    const made = c.net.links.slice(from);
    for (const k of HOSTS.keys)
      for (const link of made.filter((l) => l.serverHost === k || l.clientHost === k))
        expect(link.closedAt, k).toBeLessThan(keyWaitMs);
  });

  it('key relays that reach the leader before any data relay: released only once a data relay is in', async () => {
    c = await Cluster.start({ record: true });
    // the data relays' links are slow to come (a second each way), the key relays' are not
    for (const h of HOSTS.data) c.net.shape(HOSTS.source, h, { latencyMs: 1000 });
    const data = randomBytes(50_000);
    const from = c.net.links.length;
    await c.migrate(data, 'first.bin', { sessionId: SESSION_ID });
    expect(readFileSync(join(c.out, 'first.bin')).equals(data)).toBe(true);
    const made = c.net.links.slice(from);
    const dataIn = Math.min(
      ...made
        .filter((l) => HOSTS.data.includes(l.clientHost) && l.serverHost === HOSTS.leader)
        .map((l) => l.deliveries[0]!.at),
    );
    expect(dataIn).toBeGreaterThanOrEqual(1000);
    for (const k of HOSTS.keys) {
      const toLeader = made.find((l) => l.clientHost === k && l.serverHost === HOSTS.leader)!;
      expect(toLeader.deliveries[0]!.at, k).toBeLessThan(dataIn); // its share came first
      expect(toLeader.closedAt, k).toBeGreaterThanOrEqual(dataIn); // and the session waited with it
    }
    expect(c.events('session-failed')).toEqual([]);
  });

  /**
   * A `constant` session at `rate` B/s of `size` bytes, delivered byte for byte: the leader → destination link's
   * upstream deliveries, the SESSION's time and the first data's.
   */
  async function slowSession(
    rate: number,
    size: number,
  ): Promise<{ up: Delivery[]; session: number; firstData: number }> {
    c = await Cluster.start({ record: true });
    const plan = createPlan({ strategy: 'constant', rate, seed: 1 });
    const data = randomBytes(size);
    const from = c.net.links.length;
    // 4 KiB segments (a slow plan's were 4 KiB until 2026-12-07): the first plaintext waits for a whole one
    await c.migrate(data, `slow-${rate}.bin`, { plan, sessionId: SESSION_ID, segmentSize: 4096, chunkSize: 16384 });
    expect(readFileSync(join(c.out, `slow-${rate}.bin`)).equals(data)).toBe(true);
    const toDest = c.net.links.slice(from).find((l) => l.clientHost === HOSTS.leader && l.serverHost === HOSTS.dest)!;
    const up = toDest.deliveries.filter((d) => d.dir === 'up');
    return { up, session: up[0]!.at, firstData: up.find((d) => d.bytes > 100 && d !== up[0])!.at };
  }

  it("a slow constant session (100 B/s): the leader's link to the destination pings while the plaintext is slow to come", async () => {
    const { up, session, firstData } = await slowSession(100, 6000);
    // the first plaintext needs a whole 4 KiB envelope segment through two hops at ~94 B/s of payload: it leaves the
    // leader a minute after the SESSION (the destination dropped the link at 60 s of silence before the pings)
    expect(firstData - session).toBeGreaterThan(60_000);
    for (let i = 1; i < up.length; i++) expect(up[i]!.at - up[i - 1]!.at).toBeLessThan(45_000);
    expect(up.some((d) => d.bytes < 20 && d.at < firstData)).toBe(true); // a PING
  });

  it('25 B/s with the default cuts: every data hop carries a byte either way at least every 45 s, so none idles out', async () => {
    c = await Cluster.start({ record: true });
    const plan = createPlan({ strategy: 'constant', rate: 25, seed: 1 });
    const data = randomBytes(6000);
    const from = c.net.links.length;
    // a constant hop's write is 1448 B: one per ~61 s at 25 B/s, longer than the 60 s idle timeout. The relay's link
    // to the leader lived on the source's pings, passed on, and failed 2 of 25 runs "lost before DONE"
    await c.migrate(data, 'slow-25.bin', { plan, sessionId: SESSION_ID });
    expect(readFileSync(join(c.out, 'slow-25.bin')).equals(data)).toBe(true);
    const hops = dataHops(c, from);
    expect(hops.size).toBe(5);
    for (const [name, link] of hops) {
      const ds = link.deliveries;
      expect(ds.length, name).toBeGreaterThan(5);
      // the keepalive pings after at most 2.25 periods of 15 s (33.75 s) of quiet, checked every 3.75 s
      for (let i = 1; i < ds.length; i++) expect(ds[i]!.at - ds[i - 1]!.at, name).toBeLessThan(45_000);
    }
    expect(c.events('link-lost')).toEqual([]);
  });

  it('40 B/s: the destination waits for its first data as long as the plan needs, past its 120 s no-data timer', async () => {
    // three FIRST_DATA_BYTES (4 KiB segments) at ~37 B/s of payload
    expect(segmentsMs(createPlan({ strategy: 'constant', rate: 40, seed: 1 }), 3)).toBeGreaterThan(300_000);
    const { session, firstData } = await slowSession(40, 5000);
    expect(firstData - session).toBeGreaterThan(120_000); // the destination dropped the session here before
  });
});
