import fc from 'fast-check';
import { sampleVariance, mean as ssMean, sum as ssSum } from 'simple-statistics';
import { describe, expect, test } from 'vitest';
import { radixSortU32 } from '../../src/analysis/radix.js';
import {
  ecdfPoints,
  fanoFactor,
  quantileSorted,
  RESERVOIR_MAX_CAPACITY,
  Reservoir,
  sortedWeighted,
  summary,
  weightedSummary,
} from '../../src/analysis/stats.js';

const usage = (message: string) => expect.objectContaining({ code: 'SMIG_ERR_USAGE', message });

function expand(values: number[], counts: number[]): number[] {
  return values.flatMap((v, i) => Array<number>(counts[i]!).fill(v));
}

describe('summary', () => {
  test('numpy values: mean, std(ddof=1), percentile(linear)', () => {
    // np.std([2,4,4,4,5,5,7,9], ddof=1) = sqrt(32/7); np.percentile(..., [50, 90, 99]) = 4.5, 7.6, 8.86
    const s = summary([9, 2, 4, 4, 5, 4, 5, 7]);
    expect(s.n).toBe(8);
    expect(s.mean).toBe(5);
    expect(s.sd).toBeCloseTo(Math.sqrt(32 / 7), 15);
    expect([s.min, s.max]).toEqual([2, 9]);
    expect(s.p50).toBe(4.5);
    expect(s.p90).toBeCloseTo(7.6, 14); // index 6.3: 7 + 0.3·2
    expect(s.p99).toBeCloseTo(8.86, 14); // index 6.93: 7 + 0.93·2
  });

  test('quantile endpoints and a single value', () => {
    const v = [3, 1, 2];
    expect(quantileSorted([1, 2, 3], 0)).toBe(1);
    expect(quantileSorted([1, 2, 3], 1)).toBe(3);
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(
      quantileSorted(
        Array.from({ length: 101 }, (_, i) => i),
        0.9,
      ),
    ).toBe(90);
    expect(v).toEqual([3, 1, 2]);
    expect(summary([7])).toEqual({ n: 1, mean: 7, sd: NaN, min: 7, max: 7, p50: 7, p90: 7, p99: 7 });
  });

  test("numpy's lerp: exact at the neighbours, and monotone in q", () => {
    const sorted = [0.1, 0.7, 1e6, 1e6 + 1];
    let prev = -Infinity;
    for (let q = 0; q <= 1; q += 1 / 64) {
      const v = quantileSorted(sorted, q);
      expect(v).toBeGreaterThanOrEqual(prev);
      prev = v;
    }
    expect(quantileSorted(sorted, 1 / 3)).toBe(0.7);
    expect(quantileSorted(sorted, 2 / 3)).toBe(1e6);
  });

  test('empty: n = 0 and NaN everywhere else', () => {
    const s = summary(new Float64Array(0));
    expect(s.n).toBe(0);
    for (const k of ['mean', 'sd', 'min', 'max', 'p50', 'p90', 'p99'] as const) expect(s[k]).toBeNaN();
  });

  test('compensated mean', () => {
    expect(summary([1e16, 1, -1e16, 1]).mean).toBe(0.5);
  });

  test('errors', () => {
    expect(() => summary([1, NaN])).toThrow(usage('summary: values holds NaN at index 1'));
    expect(() => quantileSorted([1], 1.5)).toThrow(usage('quantileSorted: q must be in [0, 1] (got 1.5)'));
    expect(() => quantileSorted([], 0.5)).toThrow(usage('quantileSorted: sample is empty'));
  });
});

describe('weightedSummary', () => {
  test('equals the summary of the expansion (property)', () => {
    const entries = fc.array(fc.tuple(fc.integer({ min: -20, max: 20 }), fc.integer({ min: 0, max: 6 })), {
      minLength: 1,
      maxLength: 30,
    });
    fc.assert(
      fc.property(entries, (e) => {
        const values = e.map((t) => t[0] / 4);
        const counts = e.map((t) => t[1]);
        const w = weightedSummary({ values: Float64Array.from(values), counts: Float64Array.from(counts) });
        const s = summary(expand(values, counts));
        expect({ ...w, mean: 0, sd: 0 }).toEqual({ ...s, mean: 0, sd: 0 });
        if (s.n > 0) expect(w.mean).toBeCloseTo(s.mean, 12);
        if (s.n > 1) expect(w.sd).toBeCloseTo(s.sd, 12);
      }),
      { numRuns: 300 },
    );
  });

  test('millions of zeros in one entry', () => {
    const w = weightedSummary({ values: new Float64Array([5, 0]), counts: new Float64Array([10, 9_999_990]) });
    expect(w).toMatchObject({ n: 10_000_000, min: 0, max: 5, p50: 0, p99: 0 });
    expect(w.mean).toBeCloseTo(5e-6, 18);
  });
});

describe('sortedWeighted', () => {
  test('sorts, merges duplicates and drops zero counts', () => {
    const w = sortedWeighted(
      { values: new Float64Array([3, 1, 3, 2, 0]), counts: new Float64Array([1, 2, 4, 0, 0]) },
      'f',
      's',
    );
    expect([...w.values]).toEqual([1, 3]);
    expect([...w.counts]).toEqual([2, 5]);
    expect(w.n).toBe(7);
  });
  test('returns normalized input as is', () => {
    const s = { values: new Float64Array([1, 2]), counts: new Float64Array([1, 1]) };
    expect(sortedWeighted(s, 'f', 's').values).toBe(s.values);
  });
  test('errors name the function and argument', () => {
    expect(() =>
      sortedWeighted({ values: new Float64Array([1]), counts: new Float64Array([Infinity]) }, 'f', 'x'),
    ).toThrow(usage('f: x.counts[0] is not a non-negative integer (Infinity)'));
    expect(() =>
      sortedWeighted({ values: new Float64Array([1]), counts: new Float64Array([2 ** 53]) }, 'f', 'x'),
    ).toThrow(usage(`f: x total count ${2 ** 53} is too large`));
    expect(() => sortedWeighted(null as never, 'f', 'x')).toThrow(
      usage('f: x is not a weighted sample ({ values, counts })'),
    );
  });
});

describe('fanoFactor', () => {
  test('sample variance over mean', () => {
    expect(fanoFactor([1, 2, 3, 4, 5])).toBeCloseTo(2.5 / 3, 15);
    expect(fanoFactor([4, 4, 4, 4])).toBe(0);
    expect(fanoFactor([0, 0, 10, 0, 0])).toBeCloseTo(20 / 2, 13);
  });
  test('undefined (NaN) for a zero mean or fewer than two windows', () => {
    expect(fanoFactor([0, 0, 0])).toBeNaN();
    expect(fanoFactor([5])).toBeNaN();
    expect(fanoFactor([])).toBeNaN();
    expect(() => fanoFactor([1, NaN])).toThrow(usage('fanoFactor: counts holds NaN at index 1'));
  });
  test('close to 1 for Poisson counts', () => {
    // Poisson(4) by inversion, driven by a fixed-seed LCG
    let s = 12345;
    const u = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const counts = Array.from({ length: 20000 }, () => {
      let k = 0,
        p = Math.exp(-4),
        cdf = p;
      const r = u();
      while (r > cdf) cdf += p *= 4 / ++k;
      return k;
    });
    expect(fanoFactor(counts)).toBeGreaterThan(0.95);
    expect(fanoFactor(counts)).toBeLessThan(1.05);
  });
});

describe('ecdfPoints', () => {
  test('all steps when few distinct values', () => {
    expect(ecdfPoints([3, 1, 2, 2], 10)).toEqual({ x: [1, 2, 3], f: [0.25, 0.75, 1] });
    expect(ecdfPoints([], 10)).toEqual({ x: [], f: [] });
  });

  test('downsampled: at most maxPoints, first and last kept, F exact at each kept point', () => {
    const sample = Array.from({ length: 1000 }, (_, i) => 999 - i);
    const { x, f } = ecdfPoints(sample, 11);
    expect(x).toHaveLength(11);
    expect(x[0]).toBe(0);
    expect(x[10]).toBe(999);
    x.forEach((v, i) => expect(f[i]).toBe((v + 1) / 1000));
    for (let i = 1; i < x.length; i++) expect(x[i]!).toBeGreaterThan(x[i - 1]!);
  });

  test('a big jump survives downsampling', () => {
    const values = [0, ...Array.from({ length: 100 }, (_, i) => i + 1)];
    const counts = [900, ...Array<number>(100).fill(1)];
    const w = ecdfPoints({ values: Float64Array.from(values), counts: Float64Array.from(counts) }, 5);
    expect(w.x[0]).toBe(0);
    expect(w.f[0]).toBe(0.9);
    expect(w.x.length).toBeLessThanOrEqual(5);
    expect(w.f[w.f.length - 1]).toBe(1);
    // the weighted form equals the expanded one
    expect(ecdfPoints(expand(values, counts), 5)).toEqual(w);
  });

  test('maxPoints must be an integer ≥ 2', () => {
    expect(() => ecdfPoints([1], 1)).toThrow(usage('ecdfPoints: maxPoints must be an integer ≥ 2 (got 1)'));
    expect(() => ecdfPoints([1], 2.5)).toThrow(usage('ecdfPoints: maxPoints must be an integer ≥ 2 (got 2.5)'));
  });
});

describe('Reservoir', () => {
  test('keeps everything, in order, until full', () => {
    const r = new Reservoir(10);
    for (let i = 0; i < 5; i++) r.add(i);
    expect([...r.values()]).toEqual([0, 1, 2, 3, 4]);
    expect(r.seen).toBe(5);
    expect(new Reservoir(3).values()).toHaveLength(0);
  });

  test('bounded, drawn from the stream, deterministic per seed', () => {
    const fill = (seed: number) => {
      const r = new Reservoir(100, seed);
      for (let i = 0; i < 100_000; i++) r.add(i);
      return r;
    };
    const a = fill(7);
    expect(a.seen).toBe(100_000);
    expect(a.values()).toHaveLength(100);
    expect(new Set(a.values()).size).toBe(100);
    for (const v of a.values()) expect(Number.isInteger(v) && v >= 0 && v < 100_000).toBe(true);
    expect(fill(7).values()).toEqual(a.values());
    expect(fill(8).values()).not.toEqual(a.values());
    // values() is a copy
    a.values()[0] = -1;
    expect(a.values()[0]).not.toBe(-1);
  });

  test('uniform: every part of the stream is equally likely to be kept', () => {
    const perDecile = new Array<number>(10).fill(0);
    for (let seed = 1; seed <= 200; seed++) {
      const r = new Reservoir(100, seed);
      for (let i = 0; i < 10_000; i++) r.add(i);
      for (const v of r.values()) perDecile[Math.floor(v / 1000)]!++;
    }
    // 2000 expected per decile; sd ≈ 42
    for (const c of perDecile) expect(Math.abs(c - 2000)).toBeLessThan(200);
  });

  test('errors', () => {
    expect(() => new Reservoir(0)).toThrow(
      usage(`Reservoir: capacity must be an integer in [1, ${RESERVOIR_MAX_CAPACITY}] (got 0)`),
    );
    expect(() => new Reservoir(1.5)).toThrow(expect.objectContaining({ code: 'SMIG_ERR_USAGE' }));
    expect(() => new Reservoir(RESERVOIR_MAX_CAPACITY + 1)).toThrow(
      expect.objectContaining({ code: 'SMIG_ERR_USAGE' }),
    );
    expect(() => new Reservoir(4, NaN)).toThrow(usage('Reservoir: seed must be a finite number (got NaN)'));
    expect(() => new Reservoir(4).add(NaN)).toThrow(usage('Reservoir.add: NaN (value 1)'));
  });
});

describe('summary: mean and sd bit for bit as simple-statistics computes them', () => {
  test('random samples of mixed magnitudes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e12, max: 1e12, noNaN: true }), { minLength: 2, maxLength: 300 }),
        (xs) => {
          const s = summary(xs);
          const ordered = Array.from(Float64Array.from(xs).sort()); // summary sums in ascending order
          expect(s.mean).toBe(ssMean(ordered));
          expect(s.sd).toBe(Math.sqrt(sampleVariance(ordered)));
        },
      ),
      { seed: 20261204, numRuns: 300 },
    );
  });
  test('fanoFactor and the weighted mean too', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1e9 }), { minLength: 2, maxLength: 300 }),
        fc.array(fc.double({ min: -1e9, max: 1e9, noNaN: true }), { minLength: 1, maxLength: 100 }),
        (counts, xs) => {
          const m = ssMean(counts);
          expect(fanoFactor(counts)).toBe(m === 0 ? NaN : sampleVariance(counts) / m);
          const values = Float64Array.from(new Set(xs.map((x) => (Object.is(x, -0) ? 0 : x)))).sort();
          const weights = Float64Array.from(values, (_, i) => 1 + (i % 5));
          const n = weights.reduce((a, b) => a + b, 0);
          const want = ssSum(Array.from(values, (v, i) => v * weights[i]!)) / n;
          expect(weightedSummary({ values, counts: weights }).mean).toBe(want);
        },
      ),
      { seed: 20261205, numRuns: 300 },
    );
  });
});

describe('radixSortU32', () => {
  const sorted = (keys: Uint32Array): number[] => Array.from(radixSortU32(keys, new Uint32Array(keys.length)));
  test('equals the native sort: random keys of every width, repeats, empty and constant arrays', () => {
    let s = 7;
    const rand = (): number => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0);
    for (const [n, bits] of [
      [0, 32],
      [1, 32],
      [5000, 0],
      [5000, 8],
      [5000, 11],
      [5000, 22],
      [5000, 23],
      [20000, 32],
    ] as const) {
      const keys = new Uint32Array(n);
      for (let i = 0; i < n; i++) keys[i] = bits === 0 ? 12345 : bits === 32 ? rand() : rand() >>> (32 - bits);
      const want = Array.from(keys.slice().sort());
      expect(sorted(keys), `${n} keys of ${bits} bits`).toEqual(want);
    }
    expect(sorted(Uint32Array.of(0xffffffff, 0, 0x7ff, 0x800, 0x3fffff, 0x400000, 1))).toEqual([
      0, 1, 0x7ff, 0x800, 0x3fffff, 0x400000, 0xffffffff,
    ]);
  });
});
