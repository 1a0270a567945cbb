/**
 * The observer's forest against ml-random-forest, the library whose trees it grows: the same votes on every row
 * and the same feature importances, bit for bit, on real windows and on data made to hit the corner cases (ties,
 * repeated values, NaN, ±Infinity, a class missing).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { libraryForest } from '../../bench/library-forest.mjs';
import { classWindows } from '../../src/analysis/adversary.js';
import { Forest, type ForestOptions } from '../../src/analysis/forest.js';
import { createRng } from '../../src/util/rng.js';

const CAPTURES = fileURLToPath(new URL('../../captures/', import.meta.url));

function ours(x: number[][], y: number[], o: ForestOptions): { votes: number[]; importance: number[] } {
  const f = Forest.train(x, y, o);
  return { votes: f.votes(x), importance: f.featureImportance() };
}

const OPTIONS: ForestOptions = { trees: 20, maxFeatures: 0.5, seed: 7, maxDepth: 12, minNumSamples: 2 };

describe('Forest', () => {
  it('grows the trees ml-random-forest grows on real windows (netflix vs a paced smig link)', async () => {
    const a = await classWindows({ name: 'a', file: `${CAPTURES}ndpi__netflix.pcap`, filter: 'dst host 192.168.1.7' });
    const b = await classWindows({ name: 'b', file: `${CAPTURES}smig-profile-840000-source.pcap` });
    const x = [...a.windows, ...b.windows].map((w) => Array.from(w.features));
    const y = [...a.windows.map(() => 0), ...b.windows.map(() => 1)];
    expect(x.length).toBeGreaterThan(50);
    for (const seed of [1, 2_000_003 >>> 0, 0xdeadbeef >>> 0]) {
      const o = { ...OPTIONS, seed };
      const mine = ours(x, y, o);
      expect(mine).toEqual(libraryForest(x, y, o));
      // and it learned something: the two classes get different votes
      const mean = (l: number) => mine.votes.filter((_, i) => y[i] === l).reduce((s, v) => s + v, 0);
      expect(mean(1) / b.windows.length).toBeGreaterThan(mean(0) / a.windows.length);
    }
  });

  it('matches on ties, repeated values, NaN and ±Infinity', () => {
    const rng = createRng(11);
    for (let trial = 0; trial < 6; trial++) {
      const rows = 40 + trial * 17;
      const x: number[][] = [];
      const y: number[] = [];
      for (let i = 0; i < rows; i++) {
        const label = rng() < 0.45 ? 1 : 0;
        y.push(label);
        x.push([
          Math.floor(rng() * 4) + label, // few distinct values: many ties across labels
          rng() + label * 0.3,
          trial % 2 === 0 && rng() < 0.1 ? Number.NaN : rng() * 10,
          trial % 3 === 0 && rng() < 0.1 ? (rng() < 0.5 ? Infinity : -Infinity) : rng(),
          -1, // a missing feature (constant)
          Math.round(rng() * 3) / 3 + label * 0.1,
        ]);
      }
      const o = { ...OPTIONS, seed: 100 + trial, maxFeatures: trial % 2 === 0 ? 0.5 : 1 };
      expect(ours(x, y, o)).toEqual(libraryForest(x, y, o));
    }
  });

  it('matches when a class is missing or the rows are few', () => {
    const x = [
      [1, 2],
      [1, 3],
      [2, 2],
    ];
    expect(ours(x, [0, 0, 0], OPTIONS)).toEqual(libraryForest(x, [0, 0, 0], OPTIONS));
    expect(ours(x, [1, 0, 1], OPTIONS)).toEqual(libraryForest(x, [1, 0, 1], OPTIONS));
    const one = ours(x, [1, 1, 1], OPTIONS);
    expect(one.votes).toEqual([1, 1, 1]);
    // no rows: no trees, and every vote is 0
    expect(Forest.train([], [], OPTIONS).votes([[1, 2]])).toEqual([0]);
  });
});
