/**
 * Pacing plans: what each strategy carries, the bound on their JSON (they travel in session messages), strict
 * validation of a plan received from a peer, the compaction of histograms and level pairs, and planDuration
 * against hand-worked values and against the pacer itself.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/pacing/clock.js';
import { captureLink } from '../../src/pacing/link.js';
import type { PacingPlan } from '../../src/pacing/plan.js';
import {
  compactHistogram,
  compactPairs,
  createPlan,
  PEAK_FACTOR,
  PLAN_MAX_JSON_BYTES,
  parsePlan,
  planDuration,
  stringifyPlan,
  validatePlan,
} from '../../src/pacing/plan.js';
import { simulateDuration } from '../../src/pacing/simulate.js';
import { createPacer } from '../../src/pacing/strategies.js';
import { buildChain, learnProfile } from '../../src/profile/learn.js';
import type { Profile } from '../../src/profile/model.js';
import { withoutShape } from '../../src/profile/model.js';
import { createRng } from '../../src/profile/sampler.js';
import { FIXTURE_DIR } from '../helpers/captures.js';
import { ROOT } from '../helpers/cli.js';

const netflix = withoutShape((await learnProfile(join(FIXTURE_DIR, 'ndpi__netflix.pcap'))).profile); // the binned path (a version 2 profile paces by its trace: pacing-shape.test.ts)

/** A profile with the given parts (only what plans read), the rest from netflix. */
function synthetic(parts: { bytes: number[]; packets: number[]; sizes: Profile['sizes']; levels?: number }): Profile {
  const bytes = parts.bytes.reduce((a, b) => a + b, 0);
  const packets = parts.packets.reduce((a, b) => a + b, 0);
  return {
    ...netflix,
    bins: parts.bytes.length,
    duration: parts.bytes.length,
    bytes,
    packets,
    rates: { bytesPerSecond: bytes / parts.bytes.length, packetsPerSecond: packets / parts.bytes.length },
    series: { bytes: parts.bytes, packets: parts.packets },
    chain: buildChain(parts.bytes, parts.packets, parts.levels ?? 2),
    sizes: parts.sizes,
    bursts: { ...netflix.bursts, count: packets },
  };
}

describe('createPlan', () => {
  it('carries what each strategy needs and nothing more', () => {
    const base = { seed: 7, binNs: '1000000000', overheads: { tls: 22, tcpip: 52, link: 14 } };
    const meta = { sha256: netflix.provenance.sha256, bytesPerSecond: netflix.rates.bytesPerSecond };
    expect(createPlan({ strategy: 'bulk', profile: netflix, seed: 7 })).toEqual({
      strategy: 'bulk',
      ...base,
      profile: meta,
    });
    expect(createPlan({ strategy: 'bulk', seed: 7 })).toEqual({ strategy: 'bulk', ...base });
    expect(createPlan({ strategy: 'constant', profile: netflix, seed: 7 })).toEqual({
      strategy: 'constant',
      ...base,
      rate: netflix.rates.bytesPerSecond,
      profile: meta,
    });
    expect(createPlan({ strategy: 'constant', rate: 5e5, seed: 7, overheads: { link: 0 } })).toEqual({
      strategy: 'constant',
      ...base,
      rate: 5e5,
      overheads: { tls: 22, tcpip: 52, link: 0 },
    });
    const maxBin = Math.max(...netflix.series.bytes);
    const burstPackets = netflix.packets / netflix.bursts.count;
    expect(createPlan({ strategy: 'profile', profile: netflix, seed: 7 })).toEqual({
      strategy: 'profile',
      ...base,
      peak: PEAK_FACTOR * maxBin,
      profile: {
        ...meta,
        burstPackets,
        sizes: netflix.sizes,
        chain: {
          edges: netflix.chain.edges,
          transitions: netflix.chain.transitions,
          levels: netflix.chain.levels.map((l) => ({ pairs: l.pairs })),
        },
      },
    });
    expect(createPlan({ strategy: 'replay', profile: netflix, seed: 7, peak: 1e6 })).toEqual({
      strategy: 'replay',
      ...base,
      peak: 1e6,
      profile: { ...meta, burstPackets, sizes: netflix.sizes, series: netflix.series },
    });
    expect(typeof createPlan({ strategy: 'bulk' }).seed).toBe('number');
  });

  it('refuses what cannot be planned', () => {
    expect(() => createPlan({ strategy: 'profile', seed: 1 })).toThrow(
      expect.objectContaining({
        code: 'SMIG_ERR_USAGE',
        message: '--strategy profile needs a profile (--profile FILE)',
      }),
    );
    expect(() => createPlan({ strategy: 'replay' })).toThrow('--strategy replay needs a profile (--profile FILE)');
    expect(() => createPlan({ strategy: 'constant', seed: 1 })).toThrow(
      '--strategy constant needs --rate or --profile',
    );
    expect(() => createPlan({ strategy: 'fast' as never, seed: 1 })).toThrow(
      "--strategy: 'fast' is not one of bulk, constant, profile, replay",
    );
    expect(() => createPlan({ strategy: 'bulk', seed: 2 ** 32 })).toThrow(
      '--seed: 4294967296 is not an integer from 0 to 4294967295',
    );
  });

  it('stays within PLAN_MAX_JSON_BYTES for a long, varied profile: pairs, sizes and the replay series are cut', () => {
    const rng = createRng(1);
    const n = 100_000;
    const bytes = Array.from({ length: n }, () => Math.floor(rng() ** 3 * 5e9));
    const packets = bytes.map((b) => Math.ceil(b / 1400));
    const values = Array.from({ length: 9000 }, (_, i) => 60 + i);
    const p = synthetic({
      bytes,
      packets,
      sizes: { values, counts: values.map(() => 1 + Math.floor(rng() * 1e6)) },
      levels: 8,
    });
    for (const strategy of ['profile', 'replay'] as const) {
      const plan = createPlan({ strategy, profile: p, seed: 4294967295 });
      const text = stringifyPlan(plan);
      expect(Buffer.byteLength(text), strategy).toBeLessThanOrEqual(PLAN_MAX_JSON_BYTES);
      expect(parsePlan(text)).toEqual(plan);
      expect(plan.profile!.sizes!.values.length).toBeLessThanOrEqual(256);
      if (strategy === 'profile') {
        expect(plan.profile!.chain!.levels).toHaveLength(8);
        for (const l of plan.profile!.chain!.levels) expect(l.pairs.reduce((a, q) => a + q[2], 0)).toBe(64);
      } else {
        expect(plan.profile!.series!.bytes).toEqual(bytes.slice(0, 1024));
      }
    }
  });
});

describe('compaction', () => {
  it('keeps the values at the quantiles (j + ½)/max with their multiplicities', () => {
    expect(compactHistogram({ values: [1, 2, 3, 4, 5], counts: [1, 1, 1, 1, 1] }, 2)).toEqual({
      values: [2, 4],
      counts: [1, 1],
    });
    expect(compactHistogram({ values: [1, 2, 3, 4], counts: [1, 1, 1, 97] }, 2)).toEqual({ values: [4], counts: [2] });
    expect(compactHistogram({ values: [10, 20, 30], counts: [50, 0.5e2, 100] }, 4)).toEqual({
      values: [10, 20, 30],
      counts: [50, 50, 100],
    });
    expect(compactHistogram({ values: [1, 2, 3, 4, 5, 6], counts: [30, 1, 1, 1, 1, 30] }, 4)).toEqual({
      values: [1, 6],
      counts: [2, 2],
    });
    expect(
      compactPairs(
        [
          [1, 1, 3],
          [2, 1, 1],
          [5, 2, 1],
          [9, 3, 3],
        ],
        2,
      ),
    ).toEqual([
      [1, 1, 1],
      [9, 3, 1],
    ]);
    expect(
      compactPairs(
        [
          [1, 1, 3],
          [2, 1, 1],
        ],
        2,
      ),
    ).toEqual([
      [1, 1, 3],
      [2, 1, 1],
    ]);
  });
});

describe('validatePlan', () => {
  const good = (): any => JSON.parse(JSON.stringify(createPlan({ strategy: 'profile', profile: netflix, seed: 3 })));
  const cases: [string, (p: any) => void, string][] = [
    [
      'an unknown strategy',
      (p) => (p.strategy = 'warp'),
      'strategy: "warp" is not one of bulk, constant, profile, replay',
    ],
    ['a seed out of range', (p) => (p.seed = -1), 'seed: -1 is negative'],
    ['a negative overhead', (p) => (p.overheads.tls = -22), 'overheads.tls: -22 is negative'],
    ['a bin below 1 µs', (p) => (p.binNs = '10'), 'binNs: 10 is below 1000'],
    ['no peak', (p) => delete p.peak, 'peak: missing (the profile strategy needs a burst rate)'],
    [
      'no chain',
      (p) => delete p.profile.chain,
      'profile: the profile strategy needs profile.chain, profile.sizes and profile.burstPackets',
    ],
    ['no profile', (p) => delete p.profile, 'profile: missing (the profile strategy needs one)'],
    [
      'too many sizes',
      (p) =>
        (p.profile.sizes = { values: Array.from({ length: 257 }, (_, i) => i + 1), counts: new Array(257).fill(1) }),
      'profile.sizes.values: has 257 entries, at most 256 allowed',
    ],
    [
      'too many pairs',
      (p) => (p.profile.chain.levels[0].pairs = new Array(65).fill([0, 0, 1])),
      'profile.chain.levels[0].pairs: has 65 entries, at most 64 allowed',
    ],
    [
      'a transition row without weight',
      (p) => (p.profile.chain.transitions[1] = [0, 0, 0]),
      'profile.chain.transitions[1]: has no transitions (the level would be a dead end)',
    ],
    ['a size of 0', (p) => (p.profile.sizes.values[0] = 0), 'profile.sizes.values[0]: 0 is below 1'],
    ['bursts below one packet', (p) => (p.profile.burstPackets = 0.5), 'profile.burstPackets: 0.5 is below 1'],
  ];
  for (const [what, edit, message] of cases) {
    it(`refuses ${what}`, () => {
      const p = good();
      edit(p);
      expect(() => validatePlan(p, 'SESSION plan')).toThrow(
        expect.objectContaining({ code: 'SMIG_ERR_PROFILE', message: `SESSION plan: ${message}` }),
      );
    });
  }
  it('refuses a replay series that is too long, empty or silent, and text that is not a plan', () => {
    const replay = (): any => JSON.parse(JSON.stringify(createPlan({ strategy: 'replay', profile: netflix, seed: 3 })));
    const long = replay();
    long.profile.series = { bytes: new Array(1025).fill(1), packets: new Array(1025).fill(1) };
    expect(() => validatePlan(long)).toThrow(
      'pacing plan: profile.series.bytes: has 1025 entries, at most 1024 allowed',
    );
    const silent = replay();
    silent.profile.series = { bytes: [0, 0], packets: [0, 0] };
    expect(() => validatePlan(silent)).toThrow('pacing plan: profile.series.bytes: holds no traffic');
    expect(() => parsePlan('nope')).toThrow(
      expect.objectContaining({
        code: 'SMIG_ERR_PROFILE',
        message: expect.stringMatching(/^pacing plan: not JSON \(/),
      }),
    );
    expect(() => parsePlan(' '.repeat(PLAN_MAX_JSON_BYTES + 1))).toThrow(
      `pacing plan: more than ${PLAN_MAX_JSON_BYTES} bytes of JSON`,
    );
  });
});

describe('planDuration', () => {
  it('constant: payload rate = rate × w/(w + overhead); bulk: no estimate', () => {
    const plan = createPlan({ strategy: 'constant', rate: 10_000, profile: netflix, seed: 1 });
    const d = planDuration(plan, 1e6);
    // w = max(1448, 10 000 × 0.01) = 1448 payload bytes per 1536 wire bytes
    expect(d).toEqual({
      strategy: 'constant',
      bytes: 1e6,
      wireRate: 10_000,
      payloadRate: (10_000 * 1448) / 1536,
      expectedSeconds: (1e6 * 1536) / (10_000 * 1448),
      lowerBoundSeconds: 1e6 / netflix.rates.bytesPerSecond,
    });
    expect(planDuration(createPlan({ strategy: 'bulk', seed: 1 }), 5)).toEqual({
      strategy: 'bulk',
      bytes: 5,
      wireRate: null,
      payloadRate: null,
      expectedSeconds: null,
      lowerBoundSeconds: null,
    });
    expect(() => planDuration(plan, -1)).toThrow('planDuration: -1 is not a size');
  });

  it('profile and replay: each bin weighs its bytes by the payload share of its tilted sizes (hand-worked)', () => {
    // series 0, 2000 (10 packets), 0, 1100 (2 packets); sizes 100 and 1000, one each
    const p = synthetic({
      bytes: [0, 2000, 0, 1100],
      packets: [0, 10, 0, 2],
      sizes: { values: [100, 1000], counts: [1, 1] },
    });
    // 2000/10 = 200: tilt to mean 200; 1100/2 = 550: the untilted mean, q = ½, ½: payload share (12 + 912)/1100
    const q200 = (200 - 100) / 900; // P(1000) when the mean is 200
    const share200 = ((1 - q200) * 12 + q200 * 912) / 200;
    const share550 = (12 + 912) / 1100;
    const payload = (2000 * share200 + 1100 * share550) / 4;
    for (const strategy of ['profile', 'replay'] as const) {
      const d = planDuration(createPlan({ strategy, profile: p, seed: 1 }), 1000);
      expect(d.wireRate).toBeCloseTo(3100 / 4, 9);
      expect(d.payloadRate).toBeCloseTo(payload, 6);
      expect(d.expectedSeconds).toBeCloseTo(1000 / payload, 6);
      expect(d.lowerBoundSeconds).toBeCloseTo(1000 / (3100 / 4), 9);
    }
  });

  it('agrees with the pacer: replay over whole loops, and the payload share of profile', async () => {
    const simulate = async (plan: PacingPlan, seconds: number): Promise<{ payload: number; wire: number }> => {
      const clock = new FakeClock();
      const pacer = createPacer(plan, clock, 0);
      let stop = false;
      const loop = (async () => {
        while (clock.now() < seconds * 1000) await pacer.take(pacer.nextWriteSize());
        stop = true;
      })();
      while (!stop) await clock.next();
      await loop;
      const s = pacer.stats();
      return { payload: s.payloadBytes / seconds, wire: s.bytes / seconds };
    };
    const replay = createPlan({ strategy: 'replay', profile: netflix, seed: 42 });
    const r = await simulate(replay, 3 * netflix.bins);
    const dr = planDuration(replay, 1);
    expect(Math.abs(r.wire / dr.wireRate! - 1)).toBeLessThan(0.01);
    expect(Math.abs(r.payload / dr.payloadRate! - 1)).toBeLessThan(0.01);
    const profile = createPlan({ strategy: 'profile', profile: netflix, seed: 42 });
    const s = await simulate(profile, 1000);
    const dp = planDuration(profile, 1);
    expect(Math.abs(s.payload / s.wire / (dp.payloadRate! / dp.wireRate!) - 1)).toBeLessThan(0.01);
  });
});

describe('simulateDuration', () => {
  const path = (payloadBytes: number, dataRelays = 1) => ({
    payloadBytes,
    envelopeBytes: payloadBytes + 624 + 16 * Math.ceil(payloadBytes / 4096),
    dataRelays,
    dataFrameOverhead: 21,
    segmentFrameOverhead: 38,
    cushionBytes: 0,
    cushionSeconds: 0,
  });

  it('bulk: null (as fast as the links go)', () => {
    expect(simulateDuration(createPlan({ strategy: 'bulk', seed: 1 }), path(1000))).toBeNull();
  });

  it('constant: no spread; every hop at the payload rate, one bin behind the hop before it', () => {
    const plan = createPlan({ strategy: 'constant', rate: 10_000, seed: 1 });
    const r = simulateDuration(plan, path(100_000))!;
    expect(r.p05).toBe(r.p95);
    // one second bins: 100 kB at the payload rate, plus a bin of lag on each of the two downstream hops
    const hop = planDuration(plan, 100_000).expectedSeconds!;
    const frames = 100_000 / (1448 - 21); // a frame header per write carries no payload
    expect(r.p50).toBeGreaterThan(hop);
    expect(r.p50).toBeCloseTo(hop + (frames * 21) / planDuration(plan, 0).payloadRate! + 2, 0);
  });

  it('profile: a spread whose median is above one hop at the mean rate (independent draws, lost bursts downstream); deterministic per seed', () => {
    const plan = createPlan({ strategy: 'profile', profile: netflix, seed: 5 });
    const a = simulateDuration(plan, path(250_000))!;
    const b = simulateDuration(plan, path(250_000))!;
    expect(a).toEqual(b);
    expect(a.p05).toBeLessThan(a.p50);
    expect(a.p50).toBeLessThan(a.p95);
    expect(a.p50).toBeGreaterThan(planDuration(plan, 250_000).expectedSeconds!);
    expect(a.p05).toBeGreaterThan(planDuration(plan, 250_000).lowerBoundSeconds! * 0.9);
    // a longer transfer takes longer
    expect(simulateDuration(plan, path(1_000_000))!.p50).toBeGreaterThan(a.p95);
  });
});

describe('captureLink', () => {
  it('reads TCP timestamps from the pure ACKs and the full segment from the largest size, by hand', () => {
    const run = (n: number, size: number): number[] => Array.from({ length: n }, () => size);
    // Linux defaults: 66 B ACKs, 1514 B full segments
    expect(captureLink([...run(30, 66), ...run(60, 1514), 200, 74])).toEqual({
      segment: 1514,
      mtu: 1500,
      tcpip: 52,
      tcpTimestamps: true,
      ipVersion: 4,
    });
    // behind a tunnel, without timestamps: 54 B ACKs (60 B when the capture kept Ethernet's padding), 1260 B segments
    expect(captureLink([...run(20, 54), ...run(11, 60), ...run(25, 66), ...run(40, 1260)])).toEqual({
      segment: 1260,
      mtu: 1246,
      tcpip: 40,
      tcpTimestamps: false,
      ipVersion: 4,
    });
    // a largest size seen once is no segment size (1 in 100 < 2 %)
    expect(captureLink([...run(99, 500), 1400]).segment).toBe(1514);
    expect(captureLink([]).segment).toBe(1514);
    // beyond Ethernet (receive offload merged segments, or jumbo frames): the largest, however rare, so that every
    // packet of the trace fits one; at most a 64 KiB frame
    expect(captureLink([...run(50, 1514), ...run(50, 54), 18_000])).toEqual({
      segment: 18_000,
      mtu: 17_986,
      tcpip: 40,
      tcpTimestamps: false,
      ipVersion: 4,
    });
    expect(captureLink([...run(50, 9014), 66]).mtu).toBe(9000);
    expect(captureLink([70_000, 1514]).segment).toBe(65_535);
  });

  it('over IPv6: ACKs 20 B larger (86 B with timestamps, 74 B without), headers of 72 or 60 B, MTU at least 1280', () => {
    const run = (n: number, size: number): number[] => Array.from({ length: n }, () => size);
    expect(captureLink([...run(30, 86), ...run(60, 1514), 74], 6)).toEqual({
      segment: 1514,
      mtu: 1500,
      tcpip: 72,
      tcpTimestamps: true,
      ipVersion: 6,
    });
    expect(captureLink([...run(30, 74), ...run(10, 86), ...run(60, 1334)], 6)).toEqual({
      segment: 1334,
      mtu: 1320,
      tcpip: 60,
      tcpTimestamps: false,
      ipVersion: 6,
    });
    // 54 and 66 B are no IPv6 ACKs (they are data there); 60 B (a padded IPv4 ACK) neither
    expect(captureLink([...run(30, 54), ...run(30, 60), ...run(10, 86)], 6).tcpTimestamps).toBe(true);
    // the same sizes read as IPv4: 86 B is data, 54/60 B are ACKs without timestamps
    expect(captureLink([...run(30, 54), ...run(30, 60), ...run(10, 86)]).tcpTimestamps).toBe(false);
    // a full segment under IPv6's least MTU is no MTU a link can take: the default link
    expect(captureLink([...run(50, 1200), ...run(50, 86)], 6).segment).toBe(1514);
    expect(captureLink([...run(50, 1200), ...run(50, 66)], 4).segment).toBe(1200);
  });

  it('on real captures: netflix is a Linux-like link, the Webex and Gnutella clients send 54 B ACKs', async () => {
    const link = async (file: string, filter: string) =>
      captureLink((await learnProfile(file, { filter })).profile.shape!.trace.sizes);
    expect(await link(join(FIXTURE_DIR, 'ndpi__netflix.pcap'), 'dst host 192.168.1.7')).toMatchObject({
      segment: 1514,
      tcpTimestamps: true,
    });
    const shipped = join(ROOT, 'captures');
    // webex was captured with receive offload (frames up to 18,020 B, tshark: frame.len > 1514 on 72 packets)
    expect(await link(join(shipped, 'ndpi__webex.pcap'), 'tcp and dst host 10.8.0.1')).toMatchObject({
      segment: 18_020,
      mtu: 18_006,
      tcpTimestamps: false,
    });
    expect(await link(join(shipped, 'ndpi__gnutella.pcap'), 'tcp and src host 10.0.2.15')).toMatchObject({
      tcpTimestamps: false,
    });
  });
});
