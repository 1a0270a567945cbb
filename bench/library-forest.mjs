// ml-random-forest 2.1.0, the library whose trees the observer's Forest grows, on the same options: the oracle of
// test/unit/forest.test.ts and the other engine of bench/forest.mjs (a dev dependency only).
import { RandomForestClassifier } from 'ml-random-forest';

/**
 * Grows the library's forest on rows `x` (labels `y`, 0 or 1) with Forest's options and answers as Forest does:
 * per row the share of trees voting 1, and the feature importances (one per column).
 * @param {number[][]} x
 * @param {number[]} y
 * @param {{ trees: number, maxFeatures: number, seed: number, maxDepth: number, minNumSamples: number }} o
 * @returns {{ votes: number[], importance: number[] }}
 */
export function libraryForest(x, y, o) {
  const f = new RandomForestClassifier({
    nEstimators: o.trees,
    maxFeatures: o.maxFeatures,
    replacement: false,
    useSampleBagging: true,
    noOOB: true,
    seed: o.seed,
    treeOptions: { maxDepth: o.maxDepth, minNumSamples: o.minNumSamples },
  });
  f.train(x, y);
  const v = f.predictionValues(x);
  const votes = [];
  for (let i = 0; i < v.rows; i++) votes.push(v.getRow(i).filter((c) => c === 1).length / v.columns);
  return { votes, importance: f.featureImportance().slice(0, x[0].length) };
}
