/**
 * What `smig profile show` reports about a profile: a summary (rates, levels with their dwell times, size and
 * gap quantiles, bursts, provenance) and the input of its plot, which draws the learned series beside a series
 * sampled from the profile's chain and compares their per-bin distributions with KS (the profile strategy's
 * claim, visible at a glance).
 */
import { ksTwoSample } from '../analysis/ks.js';
import type { AnalysisPlotInput } from '../analysis/plot.js';
import type { Summary } from '../analysis/stats.js';
import { ecdfPoints, weightedSummary } from '../analysis/stats.js';
import type { PacketShape, Profile } from './model.js';
import { createRateSampler, createRng } from './sampler.js';

export interface LevelSummary {
  level: number;
  /** Bytes per bin of its bins, smallest and largest. */
  min: number;
  max: number;
  bins: number;
  /** Share of the bins (the stationary probability). */
  share: number;
  bytesPerSecond: number;
  packetsPerSecond: number;
  /** Probability of staying in the level from one bin to the next. */
  stay: number;
  /** Mean run length in seconds: bin ÷ (1 − stay); Infinity when the level is never left. */
  meanDwellSeconds: number;
}

export interface ProfileSummary {
  provenance: Profile['provenance'];
  bin: number;
  bins: number;
  duration: number;
  packets: number;
  bytes: number;
  rates: Profile['rates'];
  perBin: { packets: Summary; bytes: Summary };
  levels: LevelSummary[];
  sizes: Summary & { top: { size: number; share: number }[] };
  iat: Profile['iat']['quantiles'];
  bursts: { gapNs: string; count: number; packets: Summary; bytes: Profile['bursts']['bytes'] };
  /** Version 2: the packet shape without its trace (how many packets the trace keeps instead). */
  shape?: Omit<PacketShape, 'trace'> & { tracePackets: number };
}

/** The summary `smig profile show` prints (and `--json` emits). */
export function summarizeProfile(p: Profile): ProfileSummary {
  const hist = (h: { values: number[]; counts: number[] }): Summary =>
    weightedSummary({ values: Float64Array.from(h.values), counts: Float64Array.from(h.counts) });
  const levels = p.chain.levels.map((l, i): LevelSummary => {
    let bytes = 0;
    let packets = 0;
    for (const [b, k, c] of l.pairs) {
      bytes += b * c;
      packets += k * c;
    }
    const stay = p.chain.probabilities[i]![i]!;
    return {
      level: i,
      min: l.min,
      max: l.max,
      bins: l.bins,
      share: l.bins / p.bins,
      bytesPerSecond: bytes / l.bins / p.bin,
      packetsPerSecond: packets / l.bins / p.bin,
      stay,
      meanDwellSeconds: stay >= 1 ? Infinity : p.bin / (1 - stay),
    };
  });
  const top = p.sizes.values
    .map((size, i) => ({ size, share: p.sizes.counts[i]! / p.packets }))
    .sort((a, b) => b.share - a.share || a.size - b.size)
    .slice(0, 5);
  return {
    provenance: p.provenance,
    bin: p.bin,
    bins: p.bins,
    duration: p.duration,
    packets: p.packets,
    bytes: p.bytes,
    rates: p.rates,
    perBin: { packets: hist(p.perBin.packets), bytes: hist(p.perBin.bytes) },
    levels,
    sizes: { ...hist(p.sizes), top },
    iat: p.iat.quantiles,
    bursts: { gapNs: p.bursts.gapNs, count: p.bursts.count, packets: hist(p.bursts.packets), bytes: p.bursts.bytes },
    ...(p.shape === undefined ? {} : { shape: shapeSummary(p.shape) }),
  };
}

function shapeSummary(s: PacketShape): Omit<PacketShape, 'trace'> & { tracePackets: number } {
  const { trace, ...rest } = s;
  return { ...rest, tracePackets: trace.sizes.length };
}

/**
 * Draws `bins` consecutive bins from the profile's chain (seeded): the series the `profile` strategy aims at.
 */
export function sampleSeries(p: Profile, bins: number, seed: number): { packets: number[]; bytes: number[] } {
  const s = createRateSampler(p, createRng(seed));
  const packets: number[] = [];
  const bytes: number[] = [];
  for (let i = 0; i < bins; i++) {
    const t = s.next();
    packets.push(t.packets);
    bytes.push(t.bytes);
  }
  return { packets, bytes };
}

/**
 * Plot input: the learned series and a series sampled from the chain (same length, seed `seed`), and the ECDFs
 * of their bytes and packets per bin with two-sample KS.
 */
export function profilePlotInput(p: Profile, name: string, seed: number): AnalysisPlotInput {
  const sampled = sampleSeries(p, p.bins, seed);
  const learned = `${name} (learned)`;
  const synthetic = `sampled from the chain (seed ${seed})`;
  const ecdf = (
    feature: 'bytes_per_bin' | 'packets_per_bin',
    x: number[],
    y: number[],
    unit: string,
  ): AnalysisPlotInput['ecdfs'][number] => {
    const r = ksTwoSample(x, y);
    return {
      feature,
      unit,
      reference: learned,
      subject: synthetic,
      ref: ecdfPoints(x, 400),
      sub: ecdfPoints(y, 400),
      statistic: r.statistic,
      pvalue: r.pvalue,
      n: r.n,
      m: r.m,
      distinguishable: r.pvalue < 0.05,
    };
  };
  return {
    title: `smig profile — ${name}, bin ${p.bin} s`,
    series: [
      { name: learned, binSeconds: p.bin, packets: p.series.packets, bytes: p.series.bytes },
      { name: synthetic, binSeconds: p.bin, packets: sampled.packets, bytes: sampled.bytes },
    ],
    ecdfs: [
      ecdf('bytes_per_bin', p.series.bytes, sampled.bytes, 'bytes'),
      ecdf('packets_per_bin', p.series.packets, sampled.packets, 'packets'),
    ],
  };
}
