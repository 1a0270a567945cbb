/**
 * The sampler is the heart of the profile strategy: per-bin traffic drawn from a learned profile must be
 * indistinguishable (two-sample KS, α = 0.05) from the capture's own per-bin series, where a constant rate at
 * the same mean is not; bursts and lulls must last as long as the chain says; sizes follow the histogram, or
 * its minimum-relative-entropy tilt to a bin's mean size.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ksTwoSample, ksTwoSampleWeighted } from '../../src/analysis/ks.js';
import { learnProfile } from '../../src/profile/learn.js';
import type { Profile } from '../../src/profile/model.js';
import { createRateSampler, createRng, createSizeSampler, deriveSeed, tiltWeights } from '../../src/profile/sampler.js';
import { FIXTURE_DIR } from '../helpers/captures.js';

const CAPTURES = ['suricata__tls-subjectaltname.pcap', 'ndpi__netflix.pcap'];
const profiles = new Map<string, Profile>();
beforeAll(async () => {
  for (const f of CAPTURES) profiles.set(f, (await learnProfile(join(FIXTURE_DIR, f))).profile);
  // held-out style: learn from the first minute only
  profiles.set(
    'tls first 60 s',
    (await learnProfile(join(FIXTURE_DIR, CAPTURES[0]!), { toNs: 60_000_000_000n })).profile,
  );
});

function draw(p: Profile, bins: number, seed: number): { bytes: number[]; packets: number[]; levels: number[] } {
  const s = createRateSampler(p, createRng(seed));
  const out = { bytes: [] as number[], packets: [] as number[], levels: [] as number[] };
  for (let i = 0; i < bins; i++) {
    const t = s.next();
    out.bytes.push(t.bytes);
    out.packets.push(t.packets);
    out.levels.push(t.level);
  }
  return out;
}

describe('the rate sampler against the learned series (KS, α = 0.05)', () => {
  for (const name of [...CAPTURES, 'tls first 60 s']) {
    it(`${name}: sampled bins pass for every seed, a constant rate at the mean fails`, () => {
      const p = profiles.get(name)!;
      for (let seed = 1; seed <= 20; seed++) {
        const s = draw(p, 2000, seed);
        const bytes = ksTwoSample(p.series.bytes, s.bytes);
        const packets = ksTwoSample(p.series.packets, s.packets);
        expect(bytes.pvalue, `bytes, seed ${seed}: D=${bytes.statistic}`).toBeGreaterThan(0.05);
        expect(packets.pvalue, `packets, seed ${seed}: D=${packets.statistic}`).toBeGreaterThan(0.05);
      }
      const mean = p.bytes / p.bins;
      const constant = ksTwoSample(p.series.bytes, new Array(2000).fill(mean));
      expect(constant.pvalue).toBeLessThan(0.05);
      // and the same mean: the sampled series carries the profile's rate
      const long = draw(p, 50_000, 99);
      const sampledMean = long.bytes.reduce((a, b) => a + b, 0) / long.bytes.length;
      expect(Math.abs(sampledMean - mean) / mean).toBeLessThan(0.1);
    });
  }

  it('level transitions and dwell times follow the chain', () => {
    const p = profiles.get(CAPTURES[1]!)!;
    const { levels } = draw(p, 200_000, 7);
    const k = p.chain.levels.length;
    const counts = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    for (let i = 1; i < levels.length; i++) counts[levels[i - 1]!]![levels[i]!]!++;
    for (let i = 0; i < k; i++) {
      const row = counts[i]!;
      const n = row.reduce((a, b) => a + b, 0);
      // each estimated probability within 4 standard errors of the chain's
      for (let j = 0; j < k; j++) {
        const pij = p.chain.probabilities[i]![j]!;
        expect(Math.abs(row[j]! / n - pij)).toBeLessThanOrEqual(4 * Math.sqrt((pij * (1 - pij)) / n) + 1e-12);
      }
      // frequency of the level ≈ its share of the learned bins
      expect(Math.abs(n / levels.length - p.chain.levels[i]!.bins / p.bins)).toBeLessThan(0.01);
    }
    // mean run length of the quiet level (level 0) = 1 / (1 − p00)
    const runs: number[] = [];
    let run = 0;
    for (const l of levels) {
      if (l === 0) run++;
      else if (run > 0) {
        runs.push(run);
        run = 0;
      }
    }
    const meanRun = runs.reduce((a, b) => a + b, 0) / runs.length;
    expect(meanRun / (1 / (1 - p.chain.probabilities[0]![0]!))).toBeCloseTo(1, 1);
  });

  it('each level draws only its own pairs, the first level from the stationary distribution', () => {
    const p = profiles.get(CAPTURES[0]!)!;
    const firsts = new Array<number>(p.chain.levels.length).fill(0);
    for (let seed = 0; seed < 4000; seed++) {
      const t = createRateSampler(p, createRng(seed)).next();
      firsts[t.level]!++;
      expect(p.chain.levels[t.level]!.pairs.some(([b, n]) => b === t.bytes && n === t.packets)).toBe(true);
    }
    firsts.forEach((c, i) => expect(Math.abs(c / 4000 - p.chain.levels[i]!.bins / p.bins)).toBeLessThan(0.03));
  });

  it('refuses a malformed chain', () => {
    const rng = createRng(1);
    expect(() => createRateSampler({ chain: { transitions: [], levels: [] } }, rng)).toThrow(
      'createRateSampler: 0 levels but 0 transition rows',
    );
    expect(() => createRateSampler({ chain: { transitions: [[0]], levels: [{ pairs: [[1, 1, 1]] }] } }, rng)).toThrow(
      'sampler: transition row 0 has no weight',
    );
  });
});

describe('the size sampler', () => {
  it('draws wire sizes from the histogram and subtracts the overhead, at least 1', () => {
    const p = profiles.get(CAPTURES[1]!)!;
    const s = createSizeSampler(p, createRng(3), 88);
    const wire: number[] = [];
    for (let i = 0; i < 20_000; i++) wire.push(s.nextWire());
    const r = ksTwoSampleWeighted(
      { values: Float64Array.from(p.sizes.values), counts: Float64Array.from(p.sizes.counts) },
      { values: Float64Array.from(wire), counts: new Float64Array(wire.length).fill(1) },
    );
    expect(r.pvalue).toBeGreaterThan(0.01);
    const two = createSizeSampler({ sizes: { values: [54, 1514], counts: [1, 1] } }, createRng(4), 88);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(two.next());
    expect([...seen].sort((a, b) => a - b)).toEqual([1, 1426]);
    expect(() => createSizeSampler({ sizes: { values: [], counts: [] } }, createRng(1))).toThrow(
      'createSizeSampler: 0 sizes and 0 counts',
    );
  });

  it('tilts to a target mean with the least relative entropy, and back', () => {
    const values = [54, 66, 590, 1514];
    const weights = [40, 30, 10, 20];
    for (const mean of [100, 400, 1000, 1400]) {
      const q = tiltWeights(values, weights, mean);
      expect(q.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(q.reduce((a, b, i) => a + b * values[i]!, 0)).toBeCloseTo(mean, 6);
      // an exponential tilt: log(q/w) is affine in the value
      const l = values.map((v, i) => Math.log(q[i]! / weights[i]!));
      const slope = (l[3]! - l[0]!) / (values[3]! - values[0]!);
      for (let i = 1; i < 3; i++) expect(l[i]! - l[0]!).toBeCloseTo(slope * (values[i]! - values[0]!), 6);
    }
    const untilted = (40 * 54 + 30 * 66 + 10 * 590 + 20 * 1514) / 100;
    Array.from(tiltWeights(values, weights, untilted)).forEach((x, i) => expect(x).toBeCloseTo(weights[i]! / 100, 9));
    expect(Array.from(tiltWeights(values, weights, 10))).toEqual([1, 0, 0, 0]);
    expect(Array.from(tiltWeights(values, weights, 9000))).toEqual([0, 0, 0, 1]);
    const s = createSizeSampler({ sizes: { values, counts: weights } }, createRng(5));
    s.setMean(1400);
    let sum = 0;
    for (let i = 0; i < 20_000; i++) sum += s.nextWire();
    expect(sum / 20_000).toBeGreaterThan(1350);
    s.setMean(undefined);
    sum = 0;
    for (let i = 0; i < 20_000; i++) sum += s.nextWire();
    expect(Math.abs(sum / 20_000 - untilted)).toBeLessThan(20);
  });
});

describe('seeded generators', () => {
  it('are reproducible, uniform in [0, 1), and hop streams differ', () => {
    const a = createRng(42);
    const b = createRng(42);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(Array.from({ length: 10_000 }, () => b())).toEqual(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(Math.abs(xs.reduce((s, x) => s + x, 0) / xs.length - 0.5)).toBeLessThan(0.01);
    const seeds = new Set(Array.from({ length: 1000 }, (_, hop) => deriveSeed(7, hop)));
    expect(seeds.size).toBe(1000);
    expect(deriveSeed(7, 3)).toBe(deriveSeed(7, 3));
    expect(createRng(deriveSeed(7, 0))()).not.toBe(createRng(deriveSeed(7, 1))());
    expect(() => createRng(NaN)).toThrow('createRng: seed must be a finite number (got NaN)');
  });
});
