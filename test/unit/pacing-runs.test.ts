import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adversarySettings, classify } from '../../src/analysis/adversary.js';
import { WindowBuilder } from '../../src/analysis/windows.js';
import { BurstResampler, MEAN_RUN_BURSTS, MEAN_RUN_SECONDS, meanRunBursts } from '../../src/pacing/resample.js';
import type { Trace } from '../../src/pacing/shape.js';
import { learnProfile } from '../../src/profile/learn.js';
import { createRng } from '../../src/util/rng.js';
import { FIXTURE_DIR } from '../helpers/captures.js';

/** The features of every 5 s window with packets (every 2.5 s) of a packet sequence given as gaps (µs) and sizes. */
function windowsOf(gapsUs: readonly number[], sizes: readonly number[]): number[][] {
  const b = new WindowBuilder({});
  let t = 0;
  for (let i = 0; i < sizes.length; i++) {
    t += gapsUs[i]!;
    b.add(BigInt(Math.round(t * 1000)), sizes[i]!);
  }
  return b.windows.filter((w) => w.features[0] !== 0).map((w) => Array.from(w.features));
}

/** `seconds` of a draw from `trace` (runs of `runBursts` bursts on average; default: the trace's). */
function draw(trace: Trace, seed: number, seconds: number, runBursts?: number): { gaps: number[]; sizes: number[] } {
  const r = new BurstResampler(trace, 1000, createRng(seed), runBursts);
  const gaps: number[] = [];
  const sizes: number[] = [];
  for (let t = 0; ; ) {
    const p = r.next();
    t += p.gapUs;
    if (t > seconds * 1e6) return { gaps, sizes };
    gaps.push(p.gapUs);
    sizes.push(p.size);
  }
}

describe('BurstResampler runs', () => {
  it(`meanRunBursts: ${MEAN_RUN_SECONDS} s of the trace, at least ${MEAN_RUN_BURSTS} bursts`, () => {
    expect(meanRunBursts(400, 40)).toBeCloseTo((400 * MEAN_RUN_SECONDS) / 40, 9);
    expect(meanRunBursts(10, 100)).toBe(MEAN_RUN_BURSTS);
    expect(meanRunBursts(10, 0)).toBeGreaterThan(MEAN_RUN_BURSTS); // a trace of no time: one long run
  });

  it('replays runs as long as the trace time asks, not a fixed count of bursts', () => {
    // 1000 bursts of one packet, 100 ms apart (100 s): sizes 200 + i tell where the draw is
    const t: Trace = {
      sizes: Array.from({ length: 1000 }, (_, i) => 200 + i),
      gapsUs: Array.from({ length: 1000 }, (_, i) => (i === 0 ? 0 : 100_000)),
    };
    const jumps = (runBursts: number | undefined, seed: number): number => {
      const { sizes } = draw(t, seed, 50, runBursts); // 500 bursts, less than a cycle
      let n = 0;
      for (let i = 1; i < sizes.length; i++) if (sizes[i] !== sizes[i - 1]! + 1) n++;
      return n;
    };
    let byTime = 0;
    let short = 0;
    for (let seed = 1; seed <= 10; seed++) {
      byTime += jumps(undefined, seed); // 20 s of this trace: 200 bursts a run, ~2.5 jumps in 500 (measured 3)
      short += jumps(16, seed); // ~31 (measured 37.5)
    }
    expect(byTime / 10).toBeLessThan(6);
    expect(short / 10).toBeGreaterThan(20);
  });

  it('goes round the trace as a circle, cycle after cycle: without chance jumps, a draw is the trace replayed', () => {
    const t: Trace = {
      sizes: Array.from({ length: 300 }, (_, i) => 200 + i),
      gapsUs: Array.from({ length: 300 }, (_, i) => (i === 0 ? 0 : 10_000)),
    };
    for (let seed = 1; seed <= 5; seed++) {
      const { sizes } = draw(t, seed, 3 * 3 + 0.5, 1e9); // over three passes
      expect(sizes.length).toBeGreaterThan(900);
      for (let i = 1; i < sizes.length; i++) expect(sizes[i]).toBe(sizes[i - 1] === 499 ? 200 : sizes[i - 1]! + 1);
    }
    // before, the first burst was never a jump's target, so the first cycle never ended: after one pass every burst
    // was followed by a jump, and a session longer than its trace was a shuffle of single bursts
  });

  it("on netflix, the trained observer tells a draw's windows from the trace's own less than with short runs", async () => {
    const p = (await learnProfile(join(FIXTURE_DIR, 'ndpi__netflix.pcap'), { filter: 'dst host 192.168.1.7' })).profile;
    const trace = p.shape!.trace;
    const ref = windowsOf(trace.gapsUs, trace.sizes);
    const o = adversarySettings({ trees: 50, repeats: 2 });
    const auc = (runBursts: number | undefined): number => {
      let sum = 0;
      for (let seed = 1; seed <= 4; seed++) {
        const d = draw(trace, seed, 150, runBursts);
        sum += classify('trace', 'draw', ref, windowsOf(d.gaps, d.sizes), o).auc!;
      }
      return sum / 4;
    };
    const long = auc(undefined);
    const short = auc(4);
    // measured: 0.25 against 0.64 (runs of 20 s of the trace and of 4 bursts; under ½: the draw repeats windows of
    // the trace nearly as they were, and a forest that has seen a window's twin in the other class answers wrong)
    expect(short - long).toBeGreaterThan(0.15);
    expect(long).toBeLessThan(0.55);
  });
});
