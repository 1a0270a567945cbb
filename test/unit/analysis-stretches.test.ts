/**
 * Per-bin stretches (src/analysis/stretches.ts, `smig analyze --stretches`). Oracles: hand-made series whose
 * stretches are, by construction, the same as the reference or plainly not; the dense series of a real capture
 * against the counts tshark gives for the same bins (the fixture's oracle); the CLI on the shipped netflix capture.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analysis/analyze.js';
import type { WeightedSample } from '../../src/analysis/ks.js';
import { binSeries, MAX_STRETCHES, testStretches } from '../../src/analysis/stretches.js';
import { FIXTURE_DIR } from '../helpers/captures.js';
import { runCli } from '../helpers/cli.js';

const NETFLIX = join(FIXTURE_DIR, 'ndpi__netflix.pcap');

/** A weighted sample of plain values. */
function sample(values: number[]): WeightedSample {
  return { values: Float64Array.from(values), counts: new Float64Array(values.length).fill(1) };
}

describe('testStretches', () => {
  // the reference: 100 bins, half quiet (0) and half busy (10), alternating
  const ref = sample(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? 0 : 10)));

  it('rejects no stretch of a series made like the reference, every stretch of one that is busy throughout', () => {
    const like = Float64Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? 0 : 10));
    expect(testStretches(like, 20, ref, 0.01)).toEqual({ count: 41, rejected: 0, bins: 20 });
    const busy = new Float64Array(60).fill(10);
    expect(testStretches(busy, 20, ref, 0.01)).toEqual({ count: 41, rejected: 41, bins: 20 });
  });

  it('counts the rejected share where the series has a busy stretch among normal ones', () => {
    // 40 alternating bins, 20 busy, 40 alternating: the stretches of 20 bins that lie mostly in the busy part fail
    const s = Float64Array.from([
      ...Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 0 : 10)),
      ...new Array<number>(20).fill(10),
      ...Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 0 : 10)),
    ]);
    const r = testStretches(s, 20, ref, 0.01)!;
    expect(r.count).toBe(81);
    expect(r.rejected).toBeGreaterThan(0);
    expect(r.rejected).toBeLessThan(r.count / 2);
  });

  it('tests at most MAX_STRETCHES, none when the class is longer than the series or empty', () => {
    const long = new Float64Array(10_000).fill(10);
    expect(testStretches(long, 20, ref, 0.01)).toEqual({ count: MAX_STRETCHES, rejected: MAX_STRETCHES, bins: 20 });
    expect(testStretches(new Float64Array(19), 20, ref, 0.01)).toBeUndefined();
    expect(testStretches(new Float64Array(19), 0, ref, 0.01)).toBeUndefined();
  });
});

describe('binSeries and analyze --stretches', () => {
  it("holds every bin of a capture in order, empty ones as 0, as the class's own per-bin sample counts them", async () => {
    const r = await analyze({ classes: [{ name: 'n', file: NETFLIX }], binNs: 500_000_000n });
    const acc = r.classes[0]!.traffic;
    const s = binSeries(acc, 'netflix');
    expect(s.packets.length).toBe(acc.binCount);
    expect(s.packets.reduce((a, b) => a + b, 0)).toBe(acc.packets);
    expect(s.bytes.reduce((a, b) => a + b, 0)).toBe(acc.bytes);
    const zeros = s.packets.filter((p) => p === 0).length;
    expect(zeros).toBe(acc.binCount - acc.bins.size);
  });

  it('adds stretches to the per-bin rows of a class shorter than the stretches capture, in text and JSON', async () => {
    // the capture's first 10 s against the whole, with stretches of the whole (its own 10 s stretches)
    const args = ['analyze', '--bin', '500ms', '--class', `whole=${NETFLIX}`, '--class', `first=${NETFLIX}`];
    const j = await runCli([...args, '--time-window', 'first=..10s', '--stretches', NETFLIX, '--json']);
    expect(j.status, j.stderr).toBe(0);
    const rows = (
      JSON.parse(j.stdout) as {
        comparisons: { feature: string; stretches?: { count: number; rejected: number; bins: number } }[];
      }
    ).comparisons;
    const perBin = rows.filter((x) => x.feature.endsWith('_per_bin'));
    expect(perBin).toHaveLength(2);
    for (const x of perBin) {
      expect(x.stretches!.bins).toBe(x.m); // the class's own bins (to its last packet, at most 20)
      expect(x.m).toBeLessThanOrEqual(20);
      expect(x.stretches!.count).toBeGreaterThan(100);
      expect(x.stretches!.rejected).toBeLessThanOrEqual(x.stretches!.count);
    }
    expect(rows.filter((x) => !x.feature.endsWith('_per_bin')).every((x) => x.stretches === undefined)).toBe(true);
    const t = await runCli([...args, '--time-window', 'first=..10s', '--stretches', NETFLIX]);
    expect(t.stdout).toMatch(/packets_per_bin .*\(normal stretches: \d+ of \d+\)\n/);
    // stretches shorter than the class (here none: the filter keeps no packet) give none
    const whole = await runCli([...args, '--stretches', `${NETFLIX}@port 1`, '--json']);
    expect(whole.status, whole.stderr).toBe(0);
    expect(JSON.parse(whole.stdout).comparisons.every((x: { stretches?: unknown }) => x.stretches === undefined)).toBe(
      true,
    );
    // bad input: one line naming what and where, exit 2
    const twice = await runCli(['analyze', '-', '--stretches', '-']);
    expect([twice.status, twice.stderr]).toEqual([
      2,
      'smig analyze: stdin (-) can be only one of the captures (--stretches included)\n',
    ]);
    const missing = await runCli(['analyze', NETFLIX, '--stretches', '/nonexistent/s.pcap']);
    expect([missing.status, missing.stderr]).toEqual([2, 'smig analyze: /nonexistent/s.pcap: cannot open (ENOENT)\n']);
  });
});
