/**
 * The stealth criteria counted over a bench run's links (src/bench/criteria.ts). Oracle: links built by hand, each
 * failing one criterion, so every count is known.
 */
import { describe, expect, it } from 'vitest';
import { benchCriteria, countCriteria, criteriaLines, sumCriteria } from '../../src/bench/criteria.js';
import type { BenchLink, BenchResult, BenchRun, BenchTest } from '../../src/bench/result.js';

const t = (feature: string, pvalue: number, blocks?: number): BenchTest => ({
  feature,
  test: 'ks',
  statistic: 0.1,
  pvalue,
  n: 100,
  m: 100,
  critical: 0.2,
  distinguishable: pvalue < 0.05,
  ...(blocks === undefined
    ? {}
    : {
        blocks: {
          blockSeconds: 5,
          statistic: 0.1,
          pvalue: blocks,
          permutations: 499,
          blocks: [10, 10],
          deals: 184756,
          distinguishable: blocks < 0.05,
        },
      }),
});
/** A link with the given p-values (per bin packets, bytes; sizes, gaps with their p by blocks) and AUC. */
const link = (
  pk: number,
  by: number,
  size: [number, number],
  gap: [number, number],
  auc: number | null,
  segmentsMean?: number,
): BenchLink => ({
  link: 'l',
  capture: 'c.pcap',
  filter: '',
  packets: 100,
  bytes: 1000,
  tests: [
    t('packets_per_bin', pk),
    t('bytes_per_bin', by),
    t('size', size[0], size[1]),
    t('iat', gap[0], gap[1]),
    { ...t('size_histogram', 1e-9), test: 'chi2' },
  ],
  distinguishable: pk < 0.05 || by < 0.05,
  adversary: {
    auc,
    aucLow: null,
    aucHigh: null,
    balancedAccuracy: null,
    windows: auc === null ? 1 : 10,
    ...(segmentsMean === undefined
      ? {}
      : { segments: { count: 8, windows: 5, mean: segmentsMean, min: segmentsMean, max: segmentsMean } }),
  },
});

describe('the stealth criteria', () => {
  const links = [
    link(0.5, 0.5, [0.2, 0.6], [0.3, 0.7], 0.7), // passes everything (baseline 0.7)
    link(0.04, 0.5, [0.2, 0.6], [0.3, 0.7], 0.75), // per bin fails; AUC at the margin: within
    link(0.5, 0.5, [0.005, 0.6], [0.3, 0.7], 0.76, 0.72), // sizes fail packet by packet only; AUC beyond, its segments within
    link(0.5, 0.5, [0.2, 0.6], [0.001, 0.004], null), // gaps fail both ways; not scored
  ];
  it('counts each criterion over the links', () => {
    expect(countCriteria(links, 0.05, 0.7, 'within')).toEqual({
      links: 4,
      perBin: 3,
      packets: 2,
      packetsByBlocks: 3,
      scored: 3,
      observer: 2,
      observerEqual: 3,
    });
    // on equal footing a link may also fall out: segments beyond the margin while the whole is within
    expect(countCriteria([link(0.5, 0.5, [1, 1], [1, 1], 0.7, 0.9)], 0.05, 0.7, 'within')).toMatchObject({
      observer: 1,
      observerEqual: 0,
    });
    // bulk and constant: the observer criterion is detection (AUC ≥ 0.9)
    expect(countCriteria([link(0.5, 0.5, [1, 1], [1, 1], 0.95), links[0]!], 0.05, 0.7, 'detected').observer).toBe(1);
    // no baseline: nothing is within it
    expect(countCriteria(links, 0.05, null, 'within').observer).toBe(0);
  });

  it('reads a bench result: every migration run, and the learned half as one link', () => {
    const run = (strategy: BenchRun['strategy'], kind: BenchRun['kind'], ls: BenchLink[]): BenchRun => ({
      kind,
      strategy,
      size: 840000,
      seconds: 120,
      lowerBoundSeconds: 93,
      ratio: 120 / 93,
      sha256: '',
      overhead: 0.5,
      wireOverhead: 0.285,
      links: ls,
      resources: {},
      captureDrops: 0,
      adversaryBaseline: { auc: 0.7, aucLow: null, aucHigh: null, balancedAccuracy: null, windows: 8 },
    });
    const r = {
      alpha: 0.05,
      runs: [
        run('plain', 'plain', [links[0]!]),
        run('profile', 'migration', links),
        run('constant', 'migration', links),
      ],
      normal: { learned: link(0.9, 0.9, [3e-4, 0.5], [6e-5, 0.3], 0.73) },
    } as unknown as BenchResult;
    const c = benchCriteria(r);
    expect(c.runs.map((x) => [x.strategy, x.observerRule, x.perBin, x.observer])).toEqual([
      ['profile', 'within', 3, 2],
      ['constant', 'detected', 3, 0],
    ]);
    expect(c.learned).toEqual({
      links: 1,
      perBin: 1,
      packets: 0,
      packetsByBlocks: 1,
      scored: 1,
      observer: 1,
      observerEqual: 1,
    });
    expect(sumCriteria(c.runs)).toMatchObject({ links: 8, observer: 2, observerEqual: 3 });
    // counts written before the equal-footing count add as 0
    const { observerEqual: _, ...old } = c.runs[0]!;
    expect(sumCriteria([old, c.runs[0]!]).observerEqual).toBe(3);
    const lines = criteriaLines(r);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toBe(
      '- profile 840000 bytes: per bin 3 of 4, sizes and gaps at p ≥ 0.01 2 of 4 (by blocks 3 of 4), observer within 0.70 + 0.05 on 2 of 3 scored (as long as the hold-out: 3); 1.29 × the bound, 28.5 % not payload',
    );
    expect(lines[2]).toMatch(/^- constant 840000 bytes: .*observer AUC ≥ 0.9 on 0 of 3 scored/);
    expect(lines[3]).toBe(
      '- the learned half itself (a perfect imitation of it): per bin 1 of 1, sizes and gaps at p ≥ 0.01 0 of 1 (by blocks 1 of 1), observer within 0.70 + 0.05 on 1 of 1 scored (as long as the hold-out: 1)',
    );
    expect(criteriaLines({ ...r, runs: [r.runs[0]!] })).toEqual([]);
    // a paced run that knows one hop's time at its plan's rate says how far above it the session took
    const hop = { ...r, runs: [r.runs[0]!, { ...r.runs[1]!, oneHopSeconds: 100, oneHopRatio: 1.2 }] } as BenchResult;
    expect(criteriaLines(hop)[1]).toMatch(/; 1\.29 × the bound \(1\.20 × one hop\), 28\.5 % not payload$/);
  });
});
