/**
 * The trained observer: window features against values computed by hand, the windowing rules, ROC AUC,
 * determinism with a seed, and on real captures (shipped in captures/): two clearly different kinds of
 * traffic separate, a capture's interleaved halves do not.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  adversarySettings,
  baselineOf,
  classify,
  classWindows,
  rocAuc,
  runAdversary,
} from '../../src/analysis/adversary.js';
import { formatAuc } from '../../src/analysis/adversary-report.js';
import {
  gapEntropy,
  MISSING,
  subWindowFano,
  WINDOW_FEATURES,
  WindowBuilder,
  windowFeatures,
} from '../../src/analysis/windows.js';
import { fmtAuc, observerTold } from '../../src/bench/report-format.js';
import { createRng } from '../../src/util/rng.js';
import type { PcapRecordSpec } from '../helpers/captures.js';
import { pcapFile } from '../helpers/captures.js';

const CAPTURES = fileURLToPath(new URL('../../captures/', import.meta.url));
const MS = 1_000_000;

function byName(f: Float64Array): Record<string, number> {
  return Object.fromEntries(WINDOW_FEATURES.map((n, i) => [n, f[i]!]));
}

describe('window features', () => {
  it('equal values computed by hand', () => {
    // packets at 0, 1, 3 and 50 ms of a 1 s window; sizes 100, 1500, 60, 700
    const f = byName(
      windowFeatures([0, 1 * MS, 3 * MS, 50 * MS], [100, 1500, 60, 700], 4, 2360, 1_000_000_000n, 10_000_000n),
    );
    expect(f.packets).toBe(4);
    expect(f.bytes).toBe(2360);
    // sorted sizes 60 100 700 1500, numpy 'linear' quantiles
    expect([f.size_min, f.size_p10, f.size_p25, f.size_p50, f.size_p75, f.size_p90, f.size_max, f.size_mean]).toEqual(
      [60, 72, 90, 400, 900, 1260, 1500, 590].map((v) => expect.closeTo(v, 9)),
    );
    expect(
      [0, 80, 160, 320, 640, 1000, 1300, 1500].map(
        (e, i, a) => f[i + 1 < a.length ? `size_share_${e}_${a[i + 1]}` : `size_share_${e}_up`],
      ),
    ).toEqual([0.25, 0.25, 0, 0, 0.25, 0, 0, 0.25]);
    // gaps 1, 2, 47 ms
    expect([f.gap_p10, f.gap_p25, f.gap_p50, f.gap_p75, f.gap_p90, f.gap_max, f.gap_mean]).toEqual(
      [0.0012, 0.0015, 0.002, 0.0245, 0.038, 0.047, 0.05 / 3].map((v) => expect.closeTo(v, 12)),
    );
    // three gaps in three different quarter decades: log2(3) bits
    expect(f.gap_entropy).toBeCloseTo(Math.log2(3), 12);
    // 10 ms sub-windows: 3 in the first, 1 in the sixth, 98 empty: var (10 − 100·0.04²)/99 ÷ mean 0.04
    expect(f.fano_10ms).toBeCloseTo((10 - 100 * 0.04 ** 2) / 99 / 0.04, 12);
    expect(f.fano_100ms).toBeCloseTo(1.6 / 0.4, 12); // counts 4, 0 × 9
    expect(f.fano_1s).toBe(MISSING); // one sub-window: undefined
    // one burst (0, 1, 3 ms: gaps < 10 ms) of 3 packets and 1660 bytes; the 50 ms packet is alone
    expect([f.bursts, f.burst_len_mean, f.burst_len_max, f.burst_bytes_mean]).toEqual([1, 3, 3, 1660]);
  });

  it('an empty window: counts 0, distributions MISSING', () => {
    const f = byName(windowFeatures([], [], 0, 0, 5_000_000_000n, 10_000_000n));
    expect(f.packets).toBe(0);
    expect(f.size_p50).toBe(MISSING);
    expect(f.gap_entropy).toBe(MISSING);
    expect(f.fano_1s).toBe(MISSING);
    expect(f.bursts).toBe(0);
    expect(WINDOW_FEATURES).toHaveLength(33);
  });

  it('gap entropy and sub-window Fano factors', () => {
    expect(gapEntropy([0.001, 0.001, 0.001])).toBe(0);
    expect(gapEntropy([1e-3, 1e-1])).toBeCloseTo(1, 12);
    expect(gapEntropy([])).toBe(MISSING);
    // a constant rate: variance 0
    expect(subWindowFano([0, 100 * MS, 200 * MS, 300 * MS], 400_000_000n, 100_000_000n)).toBe(0);
  });
});

describe('WindowBuilder', () => {
  it('emits complete windows only, every step, empty ones included', () => {
    const b = new WindowBuilder({ windowNs: 5_000_000_000n, stepNs: 2_500_000_000n });
    const t0 = 1_700_000_000_000_000_000n;
    for (const s of [0, 1, 6, 12]) b.add(t0 + BigInt(s) * 1_000_000_000n, 100);
    // at 12 s the windows [0, 5), [2.5, 7.5) and [5, 10) are complete; [7.5, 12.5) and [10, 15) are not
    expect(b.windows.map((w) => [Number(w.startNs) / 1e9, w.features[0]])).toEqual([
      [0, 2],
      [2.5, 1],
      [5, 1],
    ]);
    b.add(t0 + 40_000_000_000n, 100);
    // up to 40 s: windows starting at 7.5 … 35 complete, the ones in the silence empty
    expect(b.windows).toHaveLength(3 + 12);
    expect(b.windows.slice(5).every((w) => w.features[0] === 0)).toBe(true);
  });

  it('caps the windows and says so; drops out-of-order packets', () => {
    const b = new WindowBuilder({ windowNs: 1_000_000_000n, stepNs: 1_000_000_000n, maxWindows: 3 });
    for (let s = 0; s < 10; s++) b.add(BigInt(s) * 1_000_000_000n, 60);
    expect(b.windows).toHaveLength(3);
    expect(b.capped).toBe(true);
    const c = new WindowBuilder();
    c.add(10n, 60);
    c.add(5n, 60);
    expect(c.outOfOrder).toBe(1);
  });

  it('refuses a step longer than the window', () => {
    expect(() => new WindowBuilder({ windowNs: 1_000_000_000n, stepNs: 2_000_000_000n })).toThrow(/step/);
  });
});

describe('ROC AUC', () => {
  it('is the Mann-Whitney probability, ties counting one half', () => {
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
    expect(rocAuc([0, 1], [0, 1])).toBe(1);
    expect(rocAuc([0, 1], [1, 0])).toBe(0);
    expect(rocAuc([0, 1], [1, 1])).toBeNaN();
  });
});

describe('classifier', () => {
  const o = adversarySettings({ trees: 10, bootstrap: 200 });
  // two overlapping synthetic classes: feature 0 shifted by 1 sd, the rest noise
  const rows = (n: number, shift: number, seed: number): number[][] => {
    const r = createRng(seed);
    return Array.from({ length: n }, () => WINDOW_FEATURES.map((_, i) => (i === 0 ? shift : 0) + r() + r() + r()));
  };

  it('is deterministic for a seed, and finds the feature that differs', () => {
    const a = classify('x', 'y', rows(40, 0, 1), rows(40, 1, 2), o);
    const b = classify('x', 'y', rows(40, 0, 1), rows(40, 1, 2), o);
    expect(b).toEqual(a);
    expect(a.auc!).toBeGreaterThan(0.5);
    expect(a.aucLow!).toBeLessThanOrEqual(a.auc!);
    expect(a.aucHigh!).toBeGreaterThanOrEqual(a.auc!);
    expect(a.importance[0]!.feature).toBe('packets');
  });

  it('permutations: a p-value of 1/(k+1) where the classes differ, a large one where they do not', () => {
    const po = adversarySettings({ trees: 10, bootstrap: 0, repeats: 1, permutations: 9 });
    const apart = classify('x', 'y', rows(20, 0, 1), rows(20, 3, 2), po);
    expect(apart.auc!).toBeGreaterThan(0.95);
    expect(apart.pValue).toBeCloseTo(0.1, 10); // no permutation scores as high: (0 + 1) / (9 + 1)
    // where nothing differs p is about uniform: over 10 seeds, p = 0.1 (the smallest) about once, not every time
    // (measured: 3 of 10; 5 or more has probability 0.002 under the null)
    const smallest = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].filter(
      (seed) => classify('x', 'y', rows(20, 0, 1), rows(20, 0, 2), { ...po, seed }).pValue! <= 0.1 + 1e-9,
    );
    expect(smallest.length).toBeLessThan(5);
    expect(classify('x', 'y', rows(20, 0, 1), rows(20, 0, 2), o).pValue).toBeNull();
    expect(() => adversarySettings({ permutations: -1 })).toThrow(/permutations: expected 0/);
  });

  it('formats an AUC with its interval and, when permutations ran, its p-value; the bench says the same', () => {
    const c = { auc: 0.812, aucLow: 0.62, aucHigh: 0.951 };
    expect(formatAuc({ ...c, pValue: null })).toBe('0.81 [0.62–0.95]');
    expect(formatAuc({ ...c, pValue: 0.05 })).toBe('0.81 [0.62–0.95] p 0.05');
    expect(formatAuc({ auc: 0.5, aucLow: null, aucHigh: null, pValue: 0.35 })).toBe('0.50 p 0.35');
    expect(fmtAuc({ ...c, balancedAccuracy: 0.7, pValue: 0.1, windows: 9 })).toBe('0.81 [0.62–0.95] p 0.1');
    expect(fmtAuc({ auc: null, aucLow: null, aucHigh: null, balancedAccuracy: null, windows: 1 })).toBe(
      'n/a (1 windows)',
    );
    expect(fmtAuc(undefined)).toBe('-');
    // silent windows left out: a link's own, of its complete windows; a baseline's, of the whole reference's
    const b = { ...c, balancedAccuracy: 0.7, windows: 9 };
    expect(fmtAuc({ ...b, silentWindows: 3 })).toBe('0.81 [0.62–0.95] (3 of 12 windows silent)');
    expect(fmtAuc({ ...b, silentWindows: 4, ofWindows: 16 })).toBe('0.81 [0.62–0.95] (4 of 16 windows silent)');
    // the bench's run line: links told apart by their permutation p, none said without permutations
    const link = (pValue?: number) => ({
      auc: 0.6,
      aucLow: null,
      aucHigh: null,
      balancedAccuracy: 0.5,
      pValue,
      windows: 9,
    });
    expect(observerTold([link(0.05), link(0.3), link(0.04), undefined], 0.05)).toBe(
      ', the observer told 2 of 4 apart at p ≤ 0.05',
    );
    expect(observerTold([link(), link()], 0.05)).toBe('');
  });

  it('says why when a side has too few windows', () => {
    const c = classify('x', 'y', rows(10, 0, 1), rows(1, 0, 2), o);
    expect(c.auc).toBeNull();
    expect(c.note).toMatch(/too few windows/);
  });
});

describe('silent windows', () => {
  // the reference: 2.5 s slots, each silent or a burst of 10–40 packets of 66–1514 B (a bursty normal flow); the
  // subject: a packet of 764 B every 70 ms for 60 s, then silence to 120 s (a `constant` link once its share is sent)
  function slots(seed: number): PcapRecordSpec[] {
    const rng = createRng(seed);
    const out: PcapRecordSpec[] = [rec(0, 66)];
    for (let slot = 0; slot < 48; slot++) {
      if (rng() < 0.4) continue;
      let t = slot * 2.5 + 0.01 + rng();
      for (let k = 10 + Math.floor(rng() * 30); k > 0; k--, t += rng() * 0.02)
        out.push(rec(t, 66 + Math.floor(rng() * 1449)));
    }
    out.push(rec(120.5, 66));
    return out;
  }
  function rec(t: number, size: number): PcapRecordSpec {
    return { sec: Math.floor(t), frac: Math.round((t % 1) * 1e6), data: new Uint8Array(14), origLen: size };
  }
  const constant = [...Array.from({ length: 857 }, (_, i) => rec(i * 0.07, 764)), rec(120.5, 66)];

  it('are left out and counted by default, and tie between the classes when kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smig-silent-'));
    const ref = join(dir, 'normal.pcap');
    const sub = join(dir, 'constant.pcap');
    writeFileSync(ref, pcapFile({ records: slots(3) }));
    writeFileSync(sub, pcapFile({ records: constant }));
    const classes = [
      { name: 'normal', file: ref },
      { name: 'constant', file: sub },
    ];
    const o = { trees: 30, seed: 2, bootstrap: 0 };
    const kept = await runAdversary(classes, { ...o, keepSilent: true });
    const left = await runAdversary(classes, o);
    // 120.5 s: windows starting at 0, 2.5 … 115 are complete (47); the subject's from 60 on are silent (23)
    expect(kept.classes.map((c) => [c.windows, c.silentWindows])).toEqual([
      [47, kept.classes[0]!.silentWindows],
      [47, 23],
    ]);
    expect(kept.classes[0]!.silentWindows).toBeGreaterThan(0);
    expect(left.classes.map((c) => c.windows + c.silentWindows)).toEqual([47, 47]);
    expect(left.classes[1]!.windows).toBe(24);
    expect(left.keepSilent).toBe(false);
    expect(kept.keepSilent).toBe(true);
    // every window with packets gives the constant link away; its silence, kept in, is scored like normal silence
    expect(left.comparisons[0]!.auc!).toBeGreaterThan(0.95);
    expect(kept.comparisons[0]!.auc!).toBeLessThan(left.comparisons[0]!.auc! - 0.03);
    rmSync(dir, { recursive: true });
  }, 60_000);
});

describe('on real captures', () => {
  const netflix = { name: 'netflix', file: join(CAPTURES, 'ndpi__netflix.pcap'), filter: 'dst host 192.168.1.7' };
  const webex = { name: 'webex', file: join(CAPTURES, 'ndpi__webex.pcap'), filter: 'dst host 10.8.0.1' };
  const gnutella = { name: 'gnutella', file: join(CAPTURES, 'ndpi__gnutella.pcap'), filter: 'dst host 10.0.2.15' };

  it('two clearly different kinds of traffic separate (AUC > 0.95); the same seed gives the same result', async () => {
    const a = await runAdversary([webex, netflix], { seed: 7, trees: 30 });
    // 45 and 34 complete windows, of which netflix's quiet stretch leaves some without a packet
    expect(a.classes.map((c) => c.windows + c.silentWindows)).toEqual([45, 34]);
    expect(a.classes[1]!.silentWindows).toBeGreaterThan(0);
    expect(a.comparisons[0]!.auc!).toBeGreaterThan(0.95);
    const again = await runAdversary([webex, netflix], { seed: 7, trees: 30 });
    expect(again).toEqual(a);
  }, 60_000);

  it('averaged over repeated fold draws, the baseline depends less on the seed than one draw does', async () => {
    const { windows } = await classWindows(netflix);
    const spread = (repeats: number): number => {
      const aucs = [1, 2, 3, 4, 5, 6].map(
        (seed) => baselineOf('netflix', windows, adversarySettings({ trees: 30, bootstrap: 0, seed, repeats })).auc!,
      );
      return Math.max(...aucs) - Math.min(...aucs);
    };
    // measured: 0.19 with one draw, 0.10 with five
    expect(spread(5)).toBeLessThan(spread(1) * 0.75);
    expect(() => adversarySettings({ repeats: 0 })).toThrow(/repeats: expected 1/);
  }, 60_000);

  it("a capture's interleaved halves do not (gnutella, 600 s: AUC < 0.75)", async () => {
    const a = await runAdversary([gnutella], { trees: 15, folds: 3 });
    // 600 s: 150 windows of the two halves with a packet (its silent ones left out)
    expect(a.baseline.n + a.baseline.m).toBeGreaterThanOrEqual(150);
    expect(a.baseline.auc!).toBeLessThan(0.75);
  }, 60_000);
});
