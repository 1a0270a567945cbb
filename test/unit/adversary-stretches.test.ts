/**
 * The observer on stretches of normal traffic as long as a class: which windows make a stretch, the summary of
 * their AUCs worked out by hand, and on real captures that a stretch of the normal capture is among its own and
 * that a constant-rate migration scores above every stretch.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runAdversary } from '../../src/analysis/adversary.js';
import { formatStretches } from '../../src/analysis/adversary-report.js';
import { MAX_ADVERSARY_STRETCHES, stretchAucs, stretchesCanReject } from '../../src/analysis/adversary-stretches.js';
import type { Window } from '../../src/analysis/windows.js';
import { WINDOW_FEATURES } from '../../src/analysis/windows.js';
import { fmtAuc } from '../../src/bench/report-format.js';

const CAPTURES = fileURLToPath(new URL('../../captures/', import.meta.url));
const PACKETS = WINDOW_FEATURES.indexOf('packets');

/** Window i starts at i × 2.5 s; `packets` 0 makes it silent. */
function win(i: number, packets: number): Window {
  const features = new Float64Array(WINDOW_FEATURES.length);
  features[PACKETS] = packets;
  return { startNs: BigInt(i) * 2_500_000_000n, features } as unknown as Window;
}

describe('stretchAucs', () => {
  // windows 0 … 9; 2 and 7 silent
  const source = Array.from({ length: 10 }, (_, i) => win(i, i === 2 || i === 7 ? 0 : 10 + i));

  it('cuts evenly spaced stretches of the class length, leaving out their silent windows', () => {
    const seen: number[][] = [];
    const aucs = [0.4, 0.9, 0.6];
    const r = stretchAucs(source, 4, 0.6, 3, false, (w) => {
      seen.push(w.map((x) => Number(x.startNs / 2_500_000_000n)));
      return { auc: aucs[seen.length - 1]! };
    });
    // starts 0, 3, 6 of the 7 possible; window 2 and window 7 are silent
    expect(seen).toEqual([
      [0, 1, 3],
      [3, 4, 5, 6],
      [6, 8, 9],
    ]);
    // sorted 0.4, 0.6, 0.9: median 0.6, 95th percentile 0.6 + 0.9 × (0.9 − 0.6) by interpolation; 0.6 and 0.9 ≥ 0.6
    expect(r).toEqual({ count: 3, windows: 4, median: 0.6, p95: expect.closeTo(0.87, 12), atLeast: 2, pValue: 0.75 });
    expect(formatStretches(r!, 0.25)).toBe(
      'normal stretches as long (3 of 4 windows): median 0.60, 95th pct 0.87; 2 scored as high (p 0.75)',
    );
    // 3 stretches: the smallest p is 1/4, so at 0.05 they cannot reject
    expect(stretchesCanReject(r!, 0.25)).toBe(true);
    expect(stretchesCanReject(r!, 0.05)).toBe(false);
    expect(formatStretches(r!, 0.05)).toMatch(/\(p 0\.75: too few stretches to reject at 0\.05\)$/);
    expect(fmtAuc({ auc: 0.6, aucLow: null, aucHigh: null, balancedAccuracy: null, windows: 4, stretches: r })).toBe(
      '0.60; normal stretches as long: 2 of 3 as high (too few to reject)',
    );
  });

  it('keeps silent windows when the class kept them; one stretch per start at most', () => {
    const seen: number[] = [];
    const r = stretchAucs(source, 9, 0.99, 50, true, (w) => {
      seen.push(w.length);
      return { auc: 0.5 };
    });
    expect(seen).toEqual([9, 9]);
    expect(r).toMatchObject({ count: 2, atLeast: 0, pValue: 1 / 3 });
  });

  it('nothing to say: no AUC, no stretch asked, a source shorter than the class, or no stretch scored', () => {
    const half = (): { auc: number } => ({ auc: 0.5 });
    expect(stretchAucs(source, 4, null, 5, false, half)).toBeUndefined();
    expect(stretchAucs(source, 4, 0.7, 0, false, half)).toBeUndefined();
    expect(stretchAucs(source, 11, 0.7, 5, false, half)).toBeUndefined();
    expect(stretchAucs(source, 4, 0.7, 5, false, () => ({ auc: null }))).toBeUndefined();
  });
});

describe('on real captures', () => {
  const s = (n: number): bigint => BigInt(n) * 1_000_000_000n;
  const fast = { trees: 30, repeats: 2, bootstrap: 0, seed: 3 };

  it('a stretch of the normal capture is among its own, however short', async () => {
    const netflix = join(CAPTURES, 'ndpi__netflix.pcap');
    const filter = 'dst host 192.168.1.7';
    // the reference: netflix's first 42 s; stretches of its last 42 s
    const a = await runAdversary(
      [
        { name: 'first half', file: netflix, filter, toNs: s(42) },
        { name: 'second half, first 20 s', file: netflix, filter, fromNs: s(42), toNs: s(62) },
      ],
      { ...fast, stretches: { spec: { name: 'second half', file: netflix, filter, fromNs: s(42) }, count: 9 } },
    );
    const own = a.comparisons[0]!;
    // a stretch spans the class's complete windows, silent ones included; the second half has room for 5 to 9
    const cls = a.classes[1]!;
    const count = own.stretches!.count;
    expect(own.stretches!.windows).toBe(cls.windows + cls.silentWindows);
    expect(count).toBeGreaterThanOrEqual(5);
    expect(count).toBeLessThanOrEqual(9);
    // the class is the source's first stretch, window for window: that stretch scores exactly as high
    expect(own.stretches!.atLeast).toBeGreaterThanOrEqual(1);
    expect(own.stretches!.pValue).toBeGreaterThanOrEqual(2 / (count + 1));
  }, 60_000);

  it('a constant-rate link scores above every stretch of normal traffic as long (gnutella, 60 s)', async () => {
    const gnutella = join(CAPTURES, 'ndpi__gnutella.pcap');
    const filter = 'dst host 10.0.2.15';
    const a = await runAdversary(
      [
        { name: 'first half', file: gnutella, filter, toNs: s(300) },
        { name: 'constant', file: join(CAPTURES, 'smig-constant-840000-source.pcap'), toNs: s(60) },
      ],
      { ...fast, stretches: { spec: { name: 'second half', file: gnutella, filter, fromNs: s(300) }, count: 9 } },
    );
    const constant = a.comparisons[0]!;
    expect(constant.auc!).toBeGreaterThan(0.9);
    expect(constant.stretches).toMatchObject({ count: 9, atLeast: 0, pValue: 0.1 });
    expect(constant.stretches!.p95).toBeLessThan(constant.auc!);
    // the bench's cell says it: 9 stretches can reject at 0.1 (p 0.1), not at 0.05
    const cell = { ...constant, windows: constant.m, stretches: constant.stretches };
    expect(fmtAuc(cell, 0.1)).toMatch(/; normal stretches as long: 0 of 9 as high$/);
    expect(fmtAuc(cell, 0.05)).toMatch(/; normal stretches as long: 0 of 9 as high \(too few to reject\)$/);
  }, 120_000);

  it('refuses a count out of range', async () => {
    const netflix = { name: 'netflix', file: join(CAPTURES, 'ndpi__netflix.pcap') };
    await expect(runAdversary([netflix], { ...fast, stretches: { spec: netflix, count: 0 } })).rejects.toThrow(
      `adversary stretches: expected 1 … ${MAX_ADVERSARY_STRETCHES}, got 0`,
    );
  });
});
