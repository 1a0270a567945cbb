/**
 * Two-sample KS by blocks: a permutation p-value for samples that come in blocks of time (docs/ARCHITECTURE.md
 * "Size and gap tests by blocks"). The packets of a capture are not independent draws: sizes and gaps come in
 * bursts and episodes, so the asymptotic KS p-value of n packets treats n correlated values as n independent ones
 * and rejects far too often (the netflix capture's own interleaved 5 s halves: sizes p 0.003). Here the statistic is
 * the same D, and its null distribution comes from dealing whole blocks (say 5 s each) to the two sides at random, as
 * many blocks a side as observed: what the test holds exchangeable is blocks, not packets. With few blocks it has
 * little power (the smallest p it can give is one over the number of ways to deal them), but it is calibrated as far
 * as blocks are independent. Pure; the randomness is an injected rng.
 */
import { smigError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { Reservoir } from './stats.js';

/** Values with the block each came from (0 … blocks − 1 of its own side). */
export interface BlockSample {
  values: Float64Array;
  blocks: Uint32Array;
}

export interface BlockKsResult {
  /** KS D of the two samples as given. */
  statistic: number;
  /** (1 + permutations with D at least the observed) ÷ (1 + permutations). */
  pvalue: number;
  permutations: number;
  /** Blocks holding at least one value, per side. */
  blocks: [number, number];
  /** Ways to deal the blocks (the smallest p possible is about its inverse); capped at 1e15. */
  deals: number;
}

/** Default permutations of a block test: p to 0.002. */
export const DEFAULT_BLOCK_PERMUTATIONS = 499;

/** C(n, k), capped at 1e15. */
function choose(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= Math.min(k, n - k); i++) {
    c = (c * (n - Math.min(k, n - k) + i)) / i;
    if (c > 1e15) return 1e15;
  }
  return Math.round(c);
}

/**
 * KS of `a` against `b` with a block-permutation p-value; null when either side has no value, or the two sides
 * have fewer than 3 blocks together (no deal differs from the observed one but by swapping the sides).
 */
export function blockKs(a: BlockSample, b: BlockSample, permutations: number, rng: Rng): BlockKsResult | null {
  if (a.values.length !== a.blocks.length || b.values.length !== b.blocks.length)
    throw smigError('SMIG_ERR_USAGE', 'blockKs: values and blocks of different lengths');
  if (!Number.isInteger(permutations) || permutations < 1)
    throw smigError('SMIG_ERR_USAGE', `blockKs: permutations must be a positive integer (got ${permutations})`);
  if (a.values.length === 0 || b.values.length === 0) return null;
  // renumber the blocks that hold values: side a's 0 … A − 1, side b's A … A + B − 1
  const renumber = (s: BlockSample, from: number): { ids: Uint32Array; count: number } => {
    const map = new Map<number, number>();
    const ids = new Uint32Array(s.blocks.length);
    s.blocks.forEach((blk, i) => {
      let id = map.get(blk);
      if (id === undefined) map.set(blk, (id = from + map.size));
      ids[i] = id;
    });
    return { ids, count: map.size };
  };
  const ra = renumber(a, 0);
  const rb = renumber(b, ra.count);
  const blocks = ra.count + rb.count;
  if (blocks < 3) return null;
  // pooled values in ascending order, each with its block
  const n = a.values.length + b.values.length;
  const values = new Float64Array(n);
  const owner = new Uint32Array(n);
  values.set(a.values);
  values.set(b.values, a.values.length);
  owner.set(ra.ids);
  owner.set(rb.ids, a.values.length);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => values[x]! - values[y]!);
  const sortedOwner = Uint32Array.from(order, (i) => owner[i]!);
  // where the value changes: D is taken only there (ties move together)
  const lastOfRun = new Uint8Array(n);
  for (let k = 0; k < n; k++) lastOfRun[k] = k === n - 1 || values[order[k + 1]!]! !== values[order[k]!]! ? 1 : 0;
  const perBlock = new Float64Array(blocks);
  for (const o of owner) perBlock[o]!++;
  const side = new Uint8Array(blocks); // 1: side a
  const d = (): number => {
    let na = 0;
    for (let blk = 0; blk < blocks; blk++) if (side[blk] === 1) na += perBlock[blk]!;
    const nb = n - na;
    if (na === 0 || nb === 0) return 0;
    let ca = 0;
    let cb = 0;
    let best = 0;
    for (let k = 0; k < n; k++) {
      if (side[sortedOwner[k]!] === 1) ca++;
      else cb++;
      if (lastOfRun[k] === 1) {
        const diff = Math.abs(ca / na - cb / nb);
        if (diff > best) best = diff;
      }
    }
    return best;
  };
  for (let blk = 0; blk < ra.count; blk++) side[blk] = 1;
  const observed = d();
  const deck = Array.from({ length: blocks }, (_, i) => i);
  let atLeast = 0;
  for (let p = 0; p < permutations; p++) {
    // a random deal of ra.count blocks to side a (a partial Fisher–Yates shuffle)
    for (let i = 0; i < ra.count; i++) {
      const j = i + Math.floor(rng() * (blocks - i));
      [deck[i], deck[j]] = [deck[j]!, deck[i]!];
    }
    side.fill(0);
    for (let i = 0; i < ra.count; i++) side[deck[i]!] = 1;
    if (d() >= observed - 1e-12) atLeast++;
  }
  return {
    statistic: observed,
    pvalue: (1 + atLeast) / (1 + permutations),
    permutations,
    blocks: [ra.count, rb.count],
    deals: choose(blocks, ra.count),
  };
}

/**
 * Whether a test by blocks can reject at `alpha` at all: its blocks can be dealt in at least 1 ÷ alpha ways (one
 * block a side among few cannot be told, whatever its values).
 */
export function blocksCanReject(r: { deals: number }, alpha: number): boolean {
  return r.deals * alpha >= 1;
}

/** Most values a {@link BlockCollector} keeps per feature (a uniform sample beyond, with their blocks). */
export const BLOCK_SAMPLE_CAPACITY = 200_000;

/**
 * Values of one feature with their blocks, as a stream offers them: a uniform sample of at most `capacity` (two
 * reservoirs with one seed, fed in step, so each kept value keeps its block).
 */
export class BlockCollector {
  readonly #values: Reservoir;
  readonly #blocks: Reservoir;

  constructor(capacity: number = BLOCK_SAMPLE_CAPACITY, seed = 0xb10c) {
    this.#values = new Reservoir(capacity, seed);
    this.#blocks = new Reservoir(capacity, seed);
  }

  add(value: number, block: number): void {
    this.#values.add(value);
    this.#blocks.add(block);
  }

  /** Values offered so far. */
  get seen(): number {
    return this.#values.seen;
  }

  sample(): BlockSample {
    return { values: this.#values.values(), blocks: Uint32Array.from(this.#blocks.values()) };
  }
}
