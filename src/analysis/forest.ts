/**
 * The observer's random forest: the trees ml-random-forest 2.1.0 (with ml-cart 2.1.1) grows, grown faster.
 *
 * The library's CART tries every split point of a feature and, for each, copies the labels into two arrays and
 * counts their classes with an O(n²) distinct-value scan, so a 100-tree forest on 187 windows took ~4 s and a
 * bench on a long capture spent most of its time there. Here each column is ranked once per forest and sorted once
 * per tree, each node filters its parent's order, and every split's class counts come from prefix sums, with the
 * library's own arithmetic: the same split candidates (midpoints between neighbours of different label, in the same
 * stable order), the same Gini sums (class shares added up 1/n at a time, as the library does), the same strict
 * "better than the best so far", the same bagging draws (random-js's Mersenne Twister, seeded as the library seeds
 * it) and the same feature importances. The unit tests hold the two to the same votes and importances.
 *
 * Binary labels only (0 and 1): that is all the observer needs.
 */
import { integer, MersenneTwister19937 } from 'random-js';

/** What a forest is grown with (the subset of ml-random-forest's options the observer uses). */
export interface ForestOptions {
  /** Number of trees. */
  trees: number;
  /** Share of the features each tree sees (0 < f ≤ 1; drawn without replacement, once per tree). */
  maxFeatures: number;
  /** Seed of the bagging draws (a 32-bit integer, as the library takes it). */
  seed: number;
  /** A node is split only below this depth (the root is depth 0). */
  maxDepth: number;
  /** A node of at most this many rows is a leaf. */
  minNumSamples: number;
}

/** The library's default: a split must gain more than this much Gini impurity. */
const GAIN_THRESHOLD = 0.01;

interface Leaf {
  kind: 'leaf';
  /** The majority label (0 on a tie). */
  label: number;
  /** The best split found when one was tried and refused (counts towards the importances, as in the library). */
  tried?: Tried;
}

interface Tried {
  column: number;
  value: number;
  gain: number;
  samples: number;
}

interface Split extends Tried {
  kind: 'split';
  left: TreeNode;
  right: TreeNode;
}

type TreeNode = Leaf | Split;

interface Tree {
  /** The columns of the input this tree sees, in the order its split columns index them. */
  columns: number[];
  root: TreeNode;
}

/** ml-cart's class shares: 1/n added k times (not k/n, which can differ in the last bit). */
const shareCache = new Map<number, Float64Array>();
/** Largest n whose shares are cached (n + 1 doubles each); larger nodes add up on the fly. */
const SHARE_CACHE_MAX_N = 2048;

function share(n: number, k: number): number {
  if (k === 0) return 0;
  if (n <= SHARE_CACHE_MAX_N) {
    let row = shareCache.get(n);
    if (!row) {
      row = new Float64Array(n + 1);
      const step = 1 / n;
      for (let i = 1; i <= n; i++) row[i] = row[i - 1]! + step;
      shareCache.set(n, row);
    }
    return row[k]!;
  }
  const step = 1 / n;
  let s = 0;
  for (let i = 0; i < k; i++) s += step;
  return s;
}

/** ml-cart's giniImpurity of n labels of which k1 are 1. */
function gini(n: number, k1: number): number {
  if (n === 0) return 0;
  const p0 = share(n, n - k1);
  let sum = 0.0;
  sum += p0 * p0;
  if (k1 > 0) {
    const p1 = share(n, k1);
    sum += p1 * p1;
  }
  return 1 - sum;
}

/** ml-cart's giniGain: the node's impurity less its halves' (greater first, then lesser), each weighted. */
function gain(parent: number, n: number, lesser: number, lesser1: number, k1: number): number {
  const greater = n - lesser;
  let impurity = 0.0;
  impurity += (gini(greater, k1 - lesser1) * greater) / n;
  impurity += (gini(lesser, lesser1) * lesser) / n;
  return parent - impurity;
}

/** First index of the first n sorted (ascending, finite) values that is ≥ v. */
function lowerBound(sorted: Float64Array, v: number, n: number): number {
  let lo = 0,
    hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Grows one tree. A column whose values are all finite comes sorted to the root, and each node's
 * sorted rows are its parent's filtered in order: a node keeps its rows in sample order, so its ties stay in the
 * order the library's stable sort gives them. A column holding NaN or ±Infinity (where the comparator is no
 * order) is sorted anew at each node, with the library's comparator.
 */
class Grower {
  /** Column-major values of the tree's sample: cols[f][i]. */
  private readonly cols: Float64Array[];
  private readonly y: Uint8Array;
  private readonly o: ForestOptions;
  /** 1 for the rows of the node being split that go left. */
  private readonly left: Uint8Array;
  // scratch, sized to the sample
  private readonly xs: Float64Array;
  private readonly sortedX: Float64Array;
  private readonly ones: Int32Array;
  private readonly order: number[];

  constructor(cols: Float64Array[], y: Uint8Array, o: ForestOptions) {
    this.cols = cols;
    this.y = y;
    this.o = o;
    const n = y.length;
    this.left = new Uint8Array(n);
    this.xs = new Float64Array(n);
    this.sortedX = new Float64Array(n);
    this.ones = new Int32Array(n + 1);
    this.order = new Array<number>(n);
  }

  /**
   * The tree on every row of the sample. `sorted[f]`: the sample's rows in ascending order of column f, ties in
   * sample order (the library's stable sort), or null for a column holding NaN or ±Infinity.
   */
  growRoot(sorted: (Int32Array | null)[]): TreeNode {
    const rows = Int32Array.from({ length: this.y.length }, (_, i) => i);
    return this.grow(rows, sorted, 0, null);
  }

  private grow(rows: Int32Array, sorted: (Int32Array | null)[], depth: number, parentGain: number | null): TreeNode {
    const n = rows.length;
    let k1 = 0;
    for (const r of rows) k1 += this.y[r]!;
    const majority = k1 > n - k1 ? 1 : 0;
    if (n <= this.o.minNumSamples) return { kind: 'leaf', label: majority };
    const best = this.bestSplit(rows, sorted, k1);
    if (best === null) return { kind: 'leaf', label: majority };
    const x = this.cols[best.column]!;
    let lesser = 0;
    for (const r of rows) {
      const l = x[r]! < best.value ? 1 : 0;
      this.left[r] = l;
      lesser += l;
    }
    if (depth < this.o.maxDepth && best.gain > GAIN_THRESHOLD && best.gain !== parentGain && lesser > 0 && lesser < n) {
      const [lRows, rRows] = this.partition(rows, lesser);
      const halves = sorted.map((s) => (s === null ? null : this.partition(s, lesser)));
      return {
        kind: 'split',
        ...best,
        left: this.grow(
          lRows,
          halves.map((h) => (h === null ? null : h[0])),
          depth + 1,
          best.gain,
        ),
        right: this.grow(
          rRows,
          halves.map((h) => (h === null ? null : h[1])),
          depth + 1,
          best.gain,
        ),
      };
    }
    return { kind: 'leaf', label: majority, tried: best };
  }

  /** Rows going left and right (as marked in `left`), each in the order given. */
  private partition(rows: Int32Array, lesser: number): [Int32Array, Int32Array] {
    const l = new Int32Array(lesser),
      r = new Int32Array(rows.length - lesser);
    let i = 0,
      j = 0;
    for (const row of rows) {
      if (this.left[row] === 1) l[i++] = row;
      else r[j++] = row;
    }
    return [l, r];
  }

  /** ml-cart's bestSplit: features in order, candidates in sorted order, the first strictly best kept. */
  private bestSplit(rows: Int32Array, sorted: (Int32Array | null)[], k1: number): Tried | null {
    const n = rows.length;
    const parent = gini(n, k1);
    let best: Tried | null = null;
    const { xs, sortedX, ones, order, y } = this;
    const sortedRows = new Int32Array(n);
    for (let f = 0; f < this.cols.length; f++) {
      const col = this.cols[f]!;
      const pre = sorted[f]!;
      if (pre !== null) {
        for (let i = 0; i < n; i++) sortedRows[i] = pre[i]!;
      } else {
        for (let i = 0; i < n; i++) {
          xs[i] = col[rows[i]!]!;
          order[i] = i;
        }
        // the library's comparator on the node's values: V8's stable sort makes the library's permutation
        order.length = n;
        order.sort((a, b) => xs[a]! - xs[b]!);
        for (let i = 0; i < n; i++) sortedRows[i] = rows[order[i]!]!;
      }
      for (let i = 0; i < n; i++) {
        sortedX[i] = col[sortedRows[i]!]!;
        ones[i + 1] = ones[i]! + y[sortedRows[i]!]!;
      }
      for (let i = 1; i < n; i++) {
        if (y[sortedRows[i - 1]!] === y[sortedRows[i]!]) continue;
        const v = (sortedX[i - 1]! + sortedX[i]!) / 2;
        let lesser: number, lesser1: number;
        if (pre !== null) {
          lesser = lowerBound(sortedX, v, n);
          lesser1 = ones[lesser]!;
        } else {
          // NaN or ±Infinity: the sort's order is not the values' order, so count as the library splits
          lesser = 0;
          lesser1 = 0;
          for (let j = 0; j < n; j++) {
            if (xs[j]! < v) {
              lesser++;
              lesser1 += y[rows[j]!]!;
            }
          }
        }
        const g = gain(parent, n, lesser, lesser1, k1);
        if (g > (best === null ? -Infinity : best.gain)) best = { column: f, value: v, gain: g, samples: n };
      }
    }
    return best;
  }
}

/** A forest grown as ml-random-forest grows a classifier with sample bagging and no out-of-bag estimate. */
export class Forest {
  private readonly trees: Tree[];
  private readonly features: number;

  private constructor(trees: Tree[], features: number) {
    this.trees = trees;
    this.features = features;
  }

  /**
   * Grow `o.trees` trees on rows `x` with labels `y` (0 or 1): each on a bootstrap sample of the rows and
   * ⌊maxFeatures × columns⌋ columns drawn without replacement.
   */
  static train(x: readonly (readonly number[])[], y: readonly number[], o: ForestOptions): Forest {
    const rows = x.length;
    const features = rows === 0 ? 0 : x[0]!.length;
    const n = o.maxFeatures > 0 && o.maxFeatures <= 1 ? Math.floor(features * o.maxFeatures) : features;
    const trees: Tree[] = [];
    if (rows === 0 || n === 0) return new Forest(trees, features); // nothing to learn: every vote is 0
    let seed = o.seed;
    const pickRow = integer(0, rows - 1);
    const pickColumn = integer(0, features - 1);
    // each finite column's rows ranked once (equal values, equal rank): a tree's sample then sorts by counting
    const ranks: (Int32Array | null)[] = [];
    const distinct: number[] = [];
    for (let c = 0; c < features; c++) {
      const r = denseRanks(x, c);
      ranks.push(r?.ranks ?? null);
      distinct.push(r?.distinct ?? 0);
    }
    for (let t = 0; t < o.trees; t++) {
      let engine = MersenneTwister19937.seed(seed);
      const sample = new Int32Array(rows);
      for (let i = 0; i < rows; i++) sample[i] = pickRow(engine);
      seed = engine.next();
      engine = MersenneTwister19937.seed(seed);
      const used = new Set<number>();
      let index = pickColumn(engine);
      for (let i = 0; i < n; i++) {
        while (used.has(index)) index = pickColumn(engine);
        used.add(index);
      }
      seed = engine.next();
      const columns = [...used];
      const sorted = columns.map((c) => (ranks[c] ? countingSort(ranks[c], sample, distinct[c]!) : null));
      const cols = columns.map((c) => {
        const v = new Float64Array(rows);
        for (let i = 0; i < rows; i++) v[i] = x[sample[i]!]![c]!;
        return v;
      });
      const labels = new Uint8Array(rows);
      for (let i = 0; i < rows; i++) labels[i] = y[sample[i]!] === 1 ? 1 : 0;
      trees.push({ columns, root: new Grower(cols, labels, o).growRoot(sorted) });
    }
    return new Forest(trees, features);
  }

  /** Per row, the share of trees that vote 1. */
  votes(x: readonly (readonly number[])[]): number[] {
    return x.map((row) => {
      let ones = 0;
      for (const tree of this.trees) {
        let node = tree.root;
        while (node.kind === 'split') node = row[tree.columns[node.column]!]! < node.value ? node.left : node.right;
        ones += node.label;
      }
      return this.trees.length === 0 ? 0 : ones / this.trees.length;
    });
  }

  /**
   * ml-random-forest's feature importances: per tree, each tried split's gain × rows less its children's,
   * normalised to sum 1; then summed over the trees into the input's columns and normalised again (NaN where a
   * tree made no split, as there).
   */
  featureImportance(): number[] {
    const total = new Array<number>(this.features).fill(0.0);
    for (const tree of this.trees) {
      const imp = new Array<number>(this.features).fill(0.0);
      const visit = (node: TreeNode): void => {
        const tried = node.kind === 'split' ? node : node.tried;
        if (!tried || !(tried.gain > 0)) return;
        let f = tried.gain * tried.samples;
        if (node.kind === 'split') {
          f -= childWeight(node.left);
          f -= childWeight(node.right);
        }
        imp[tried.column] = imp[tried.column]! + f;
        if (node.kind === 'split') {
          visit(node.left);
          visit(node.right);
        }
      };
      visit(tree.root);
      const s = imp.reduce((a, v) => a + v, 0);
      for (let c = 0; c < tree.columns.length; c++) total[tree.columns[c]!] = total[tree.columns[c]!]! + imp[c]! / s;
    }
    const s = total.reduce((a, v) => a + v, 0);
    return total.map((v) => v / s);
  }
}

/** Dense ranks of column c's values (0 for the smallest), or null when one is NaN or ±Infinity. */
function denseRanks(x: readonly (readonly number[])[], c: number): { ranks: Int32Array; distinct: number } | null {
  const n = x.length;
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    v[i] = x[i]![c]!;
    if (!Number.isFinite(v[i]!)) return null;
  }
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => v[a]! - v[b]!);
  const ranks = new Int32Array(n);
  let rank = -1;
  for (let i = 0; i < n; i++) {
    if (i === 0 || v[order[i]!]! !== v[order[i - 1]!]!) rank++;
    ranks[order[i]!] = rank;
  }
  return { ranks, distinct: rank + 1 };
}

/** Positions 0‥n−1 of a sample ordered by their rows' ranks, equal ranks in position order (a stable sort). */
function countingSort(ranks: Int32Array, sample: Int32Array, distinct: number): Int32Array {
  const start = new Int32Array(distinct + 1);
  for (let i = 0; i < sample.length; i++) start[ranks[sample[i]!]! + 1]!++;
  for (let r = 0; r < distinct; r++) start[r + 1]! += start[r]!;
  const out = new Int32Array(sample.length);
  for (let i = 0; i < sample.length; i++) out[start[ranks[sample[i]!]!]!++] = i;
  return out;
}

/** A child's gain × rows as the library reads it (0 where it tried no split). */
function childWeight(node: TreeNode): number {
  const tried = node.kind === 'split' ? node : node.tried;
  // the library's model passes through JSON, where a gain of -Infinity or NaN becomes null, read as 0
  return tried && Number.isFinite(tried.gain) ? tried.gain * tried.samples : 0;
}
