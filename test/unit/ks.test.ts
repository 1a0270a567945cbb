import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { KsAlternative, KsMethod, WeightedSample } from '../../src/analysis/ks.js';
import { _ksInternals as K, ksCritical, ksTwoSample, ksTwoSampleWeighted, kstwoSf } from '../../src/analysis/ks.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/ks-oracle/', import.meta.url));

interface Fixture {
  name: string;
  x: number[];
  y: number[];
  scipy: Record<string, { statistic: number; pvalue: number }>;
}

const fixtures: Fixture[] = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(FIXTURES + f, 'utf8')) as Fixture);

/** Run-length weighted form of a sample, shuffled, with a zero-count decoy and a split duplicate. */
function toWeighted(a: number[]): WeightedSample {
  const h = new Map<number, number>();
  for (const v of a) h.set(v, (h.get(v) ?? 0) + 1);
  const entries = [...h].reverse();
  entries.push([1e300, 0]);
  const [v0, c0] = entries[0]!;
  if (c0 > 1) entries.splice(0, 1, [v0, 1], [v0, c0 - 1]);
  return { values: Float64Array.from(entries, (e) => e[0]), counts: Float64Array.from(entries, (e) => e[1]) };
}

describe('ksTwoSample against scipy 1.17.1 (test/fixtures/ks-oracle)', () => {
  test('there are fixtures with every ALT/METHOD key', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(9);
    for (const f of fixtures) expect(Object.keys(f.scipy)).toHaveLength(9);
  });

  for (const f of fixtures) {
    for (const [key, want] of Object.entries(f.scipy)) {
      test(`${f.name} ${key}`, () => {
        const [alternative, method] = key.split('/') as [KsAlternative, KsMethod];
        const r = ksTwoSample(f.x, f.y, { alternative, method });
        // bit-identical (+ 0 folds scipy's −0.0 of a clipped zero into 0)
        expect(r.statistic + 0).toBe(want.statistic + 0);
        // measured worst: 5e-13 absolute (one-sided exact, where Hodges' recursion cancels)
        expect(Math.abs(r.pvalue - want.pvalue)).toBeLessThanOrEqual(1e-12 + 1e-11 * want.pvalue);
        expect([r.n, r.m]).toEqual([f.x.length, f.y.length]);
        // the weighted form of the same data gives the same answer, to the bit
        expect(ksTwoSampleWeighted(toWeighted(f.x), toWeighted(f.y), { alternative, method })).toEqual(r);
      });
    }
  }

  test('exact falls back to asymp where scipy does (one-sided 5000 vs 4000: binom(9000, 4000) overflows)', () => {
    const f = fixtures.find((g) => g.name === 'synthetic_large_exponential')!;
    for (const alternative of ['less', 'greater'] as const) {
      const r = ksTwoSample(f.x, f.y, { alternative, method: 'exact' });
      expect(r.method).toBe('asymp');
      // scipy keeps the statistic rounded to h/lcm when it falls back
      expect(r.statistic).toBe(f.scipy[`${alternative}/exact`]!.statistic);
    }
    expect(ksTwoSample(f.x, f.y, { method: 'exact' }).method).toBe('exact');
  });
});

/** scipy's ks_2samp statistic, transcribed literally (searchsorted on data_all, first argmin/argmax). */
function scipyStatistic(x: number[], y: number[], alternative: KsAlternative) {
  const d1 = [...x].sort((a, b) => a - b);
  const d2 = [...y].sort((a, b) => a - b);
  const all = [...d1, ...d2];
  const right = (arr: number[], v: number) => arr.filter((a) => a <= v).length;
  const cdd = all.map((v) => right(d1, v) / d1.length - right(d2, v) / d2.length);
  let argmin = 0,
    argmax = 0;
  cdd.forEach((c, i) => {
    if (c < cdd[argmin]!) argmin = i;
    if (c > cdd[argmax]!) argmax = i;
  });
  const minS = Math.min(Math.max(-cdd[argmin]!, 0), 1);
  const maxS = cdd[argmax]!;
  if (alternative === 'less' || (alternative === 'two-sided' && minS > maxS)) {
    return { statistic: minS, statisticLocation: all[argmin]!, statisticSign: -1 };
  }
  return { statistic: maxS, statisticLocation: all[argmax]!, statisticSign: 1 };
}

describe('statistic, location and sign', () => {
  test('hand-worked: x = [1, 3], y = [2, 4]', () => {
    // F − G: 1 → ½, 2 → 0, 3 → ½, 4 → 0. Max ½ first at 1 (x); min 0 first at 2 (data_all = [1, 3, 2, 4]).
    expect(ksTwoSample([3, 1], [4, 2], { method: 'asymp' })).toMatchObject({
      statistic: 0.5,
      statisticLocation: 1,
      statisticSign: 1,
    });
    expect(ksTwoSample([3, 1], [4, 2], { alternative: 'less', method: 'asymp' })).toMatchObject({
      statistic: 0,
      statisticLocation: 2,
      statisticSign: -1,
    });
  });

  test('less is the largest excess of G over F, with sign −1', () => {
    // x larger than y: F below G. F − G: 1 → −⅓, 2 → −⅔, 3 → −1, 4 → −½, 5 → 0
    const r = ksTwoSample([4, 5], [1, 2, 3], { alternative: 'less' });
    expect(r).toMatchObject({ statistic: 1, statisticLocation: 3, statisticSign: -1, method: 'exact' });
    expect(r.pvalue).toBeCloseTo(1 / 10, 15); // 1 arrangement of C(5, 2) = 10
    expect(ksTwoSample([4, 5], [1, 2, 3])).toMatchObject({ statistic: 1, statisticSign: -1, statisticLocation: 3 });
    expect(ksTwoSample([4, 5], [1, 2, 3], { alternative: 'greater' })).toMatchObject({
      statistic: 0,
      pvalue: 1,
      statisticSign: 1,
    });
  });

  test('matches a literal transcription of scipy on random samples with many ties', () => {
    const sample = fc.array(
      fc.integer({ min: -4, max: 4 }).map((v) => v / 2),
      { minLength: 1, maxLength: 25 },
    );
    const alt = fc.constantFrom<KsAlternative>('two-sided', 'less', 'greater');
    fc.assert(
      fc.property(sample, sample, alt, (x, y, alternative) => {
        const r = ksTwoSample(x, y, { alternative, method: 'asymp' });
        const want = scipyStatistic(x, y, alternative);
        expect(r.statistic).toBe(want.statistic);
        expect(r.statisticLocation).toBe(want.statisticLocation);
        expect(r.statisticSign).toBe(want.statisticSign);
        expect(ksTwoSampleWeighted(toWeighted(x), toWeighted(y), { alternative, method: 'asymp' })).toEqual(r);
      }),
      { numRuns: 300 },
    );
  });

  test('does not modify its inputs, and takes typed arrays', () => {
    const x = [3, 1, 2];
    const y = new Float64Array([6, 4, 5]);
    const r = ksTwoSample(x, y);
    expect(x).toEqual([3, 1, 2]);
    expect([...y]).toEqual([6, 4, 5]);
    expect(r.statistic).toBe(1);
  });

  test('±Infinity are ordinary values', () => {
    expect(ksTwoSample([-Infinity, 0], [Infinity, 1], { method: 'asymp' }).statistic).toBe(1);
  });
});

describe('exact p-values against brute-force enumeration of all rank arrangements', () => {
  // Under H0 every choice of which n of the n + m ranks belong to x is equally likely.
  function* arrangements(n: number, total: number, start = 0, acc: number[] = []): Generator<number[]> {
    if (acc.length === n) {
      yield acc;
      return;
    }
    for (let r = start; r < total; r++) yield* arrangements(n, total, r + 1, [...acc, r]);
  }
  /** D scaled by n·m, as integers: max of (i·m − j·n) and of (j·n − i·m) along the merged ranks. */
  function scaledD(xs: Set<number>, n: number, m: number) {
    let i = 0,
      j = 0,
      plus = 0,
      minus = 0;
    for (let r = 0; r < n + m; r++) {
      if (xs.has(r)) i++;
      else j++;
      plus = Math.max(plus, i * m - j * n);
      minus = Math.max(minus, j * n - i * m);
    }
    return { greater: plus, less: minus, 'two-sided': Math.max(plus, minus) };
  }

  for (const [n, m] of [
    [3, 5],
    [4, 6],
    [5, 5],
    [6, 4],
    [7, 3],
  ] as const) {
    test(`n = ${n}, m = ${m}`, () => {
      const all = [...arrangements(n, n + m)].map((a) => ({ a, d: scaledD(new Set(a), n, m) }));
      for (const alternative of ['two-sided', 'less', 'greater'] as const) {
        for (const { a, d } of all) {
          const x = a;
          const y = [...Array(n + m).keys()].filter((r) => !a.includes(r));
          const want = all.filter((o) => o.d[alternative] >= d[alternative]).length / all.length;
          const r = ksTwoSample(x, y, { alternative, method: 'exact' });
          // like scipy, exact gives up when rounding pushes p past 1 (D = 1/n, n = m): asymp then says 1 too
          if (r.method === 'asymp') expect(want).toBe(1);
          expect(r.statistic).toBeCloseTo(d[alternative] / (n * m), 15);
          expect(Math.abs(r.pvalue - want)).toBeLessThanOrEqual(1e-14);
        }
      }
    });
  }

  test('disjoint samples: 2/C(n+m, n) two-sided, half that one-sided', () => {
    const x = [1, 2, 3, 4, 5];
    const y = [6, 7, 8, 9, 10];
    expect(ksTwoSample(x, y).pvalue).toBeCloseTo(2 / 252, 16);
    expect(ksTwoSample(x, y, { alternative: 'greater' }).pvalue).toBeCloseTo(1 / 252, 16);
    expect(ksTwoSample(x, y, { alternative: 'less' }).pvalue).toBe(1);
  });
});

describe('method selection', () => {
  const seq = (n: number, a: number, b: number) => Array.from({ length: n }, (_, i) => ((i * a) % b) / b);

  test("auto is exact up to max(n, m) = 10000 and asymp above (scipy's MAX_AUTO_N)", () => {
    expect(ksTwoSample(seq(10000, 7919, 10007), seq(30, 13, 31)).method).toBe('exact');
    expect(ksTwoSample(seq(10001, 7919, 10007), seq(30, 13, 31)).method).toBe('asymp');
    expect(ksTwoSample(seq(10001, 7919, 10007), seq(30, 13, 31), { method: 'exact' }).method).toBe('exact');
  });

  test('an explicit exact switches to asymp when lcm(n, m) is too large', () => {
    // 50021 and 50023 are coprime: lcm ≈ 2.5e9 > 2^31 − 1
    const r = ksTwoSample(seq(50021, 7919, 50023), seq(50023, 104729, 50021), { method: 'exact' });
    expect(r.method).toBe('asymp');
  });
});

describe('kstwo: the finite-n Kolmogorov distribution', () => {
  test('Durbin/MTW and Pomeranz (both exact) agree for n ≤ 140', () => {
    // kept to n·x ≤ 12: the matrix of Durbin's method has side 2⌈n·x⌉ − 1
    let worst = 0;
    for (const n of [2, 3, 7, 10, 31, 64, 100, 140]) {
      for (let t = 0.51; t < Math.min(n, 12); t += 0.0731) {
        worst = Math.max(worst, Math.abs(K.durbinMtwCdf(n, t / n) - K.pomeranzCdf(n, t / n)));
      }
    }
    expect(worst).toBeLessThan(1e-13);
  });

  test('for x ≥ ½ the two-sided tail is exactly twice the one-sided (Smirnov) tail', () => {
    for (const n of [2, 5, 17, 60, 140]) {
      for (const x of [0.5, 0.55, 0.7, 0.9, 0.99]) {
        expect(Math.abs(2 * K.smirnovSf(n, x) - (1 - K.pomeranzCdf(n, x)))).toBeLessThan(1e-13);
      }
    }
  });

  test('closed forms: n = 1, Ruben–Gambino x ≤ 1/n and x ≥ 1 − 1/n', () => {
    for (const x of [0.5, 0.6, 0.75, 0.99]) expect(kstwoSf(1, x)).toBeCloseTo(2 - 2 * x, 15);
    // Pr(D_n ≤ x) = n!/n^n (2nx − 1)^n for 1/(2n) ≤ x ≤ 1/n
    const n = 6,
      x = 0.15;
    expect(kstwoSf(n, x)).toBeCloseTo(1 - (720 / 6 ** 6) * (2 * n * x - 1) ** n, 15);
    expect(kstwoSf(n, x)).toBeCloseTo(1 - K.pomeranzCdf(n, x), 13);
    expect(kstwoSf(n, 0.9)).toBeCloseTo(2 * 0.1 ** 6, 18);
    expect(kstwoSf(n, 0.05)).toBe(1);
    expect(kstwoSf(n, 1)).toBe(0);
  });

  test('Pelz–Good (large n, small x) agrees with the exact Durbin matrix to its known accuracy', () => {
    for (const z of [0.3, 0.6, 0.9, 1.2]) {
      const x = z / Math.sqrt(2000);
      expect(Math.abs(K.pelzGoodCdf(2000, x) - K.durbinMtwCdf(2000, x))).toBeLessThan(3e-8);
    }
  });

  test('Smirnov sum matches the exact distribution where the intersection term is negligible', () => {
    // nx² ≥ 4: 2·Pr(D⁺ ≥ x) and Pr(D ≥ x) differ by Pr(D⁺ ≥ x ∧ D⁻ ≥ x), far below 1e-12 here
    const n = 120,
      x = Math.sqrt(6 / n);
    expect(Math.abs(2 * K.smirnovSf(n, x) - (1 - K.pomeranzCdf(n, x)))).toBeLessThan(1e-12);
  });

  test('tends to the limiting Kolmogorov distribution (the gap shrinks like 1/√n)', () => {
    const kolmogorov = (z: number) => {
      let s = 0;
      for (let k = 1; k < 100; k++) s += 2 * (-1) ** (k - 1) * Math.exp(-2 * k * k * z * z);
      return s;
    };
    for (const z of [0.8, 1.2, 1.6]) {
      const gap = (n: number) => Math.abs(kstwoSf(n, z / Math.sqrt(n)) - kolmogorov(z));
      expect(gap(1_000_000)).toBeLessThan(5e-4);
      expect(gap(1_000_000) / gap(10_000)).toBeGreaterThan(0.05);
      expect(gap(1_000_000) / gap(10_000)).toBeLessThan(0.2);
    }
  });

  test('binomial coefficients', () => {
    expect(K.binom(10, 3)).toBe(120);
    expect(K.binom(40, 19)).toBe(131282408400); // product formula below k = 20: exact
    expect(Math.abs(K.binom(60, 30) / 118264581564861424 - 1)).toBeLessThan(1e-14);
    expect(Math.abs(K.binom(100, 50) / 1.0089134454556419e29 - 1)).toBeLessThan(1e-14);
    expect(Math.abs(K.binom(20000, 70) / Math.exp(lnChoose(20000, 70)) - 1)).toBeLessThan(1e-11);
    expect(K.binom(2000, 1000)).toBe(Infinity);
  });
});

/** ln C(n, k) as a plain sum of logs (slow, independent of the Stirling series). */
function lnChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log((n - k + i) / i);
  return s;
}

describe('ksCritical', () => {
  test('c(α)·sqrt((n + m)/(n·m)), with the textbook c(α)', () => {
    expect(ksCritical(1, 1, 0.05) / Math.SQRT2).toBeCloseTo(1.358, 3);
    expect(ksCritical(1, 1, 0.01) / Math.SQRT2).toBeCloseTo(1.628, 3);
    expect(ksCritical(1, 1, 0.1) / Math.SQRT2).toBeCloseTo(1.224, 3);
    expect(ksCritical(100, 100, 0.05)).toBeCloseTo(Math.sqrt(-Math.log(0.025) / 2) * Math.sqrt(0.02), 15);
  });
  test('rejects bad arguments', () => {
    expect(() => ksCritical(0, 5, 0.05)).toThrow(expect.objectContaining({ code: 'SMIG_ERR_USAGE' }));
    expect(() => ksCritical(5, 5, 1)).toThrow(/alpha must be in \(0, 1\)/);
  });
});

describe('errors', () => {
  const usage = (message: string) => expect.objectContaining({ code: 'SMIG_ERR_USAGE', message });
  test('empty samples', () => {
    expect(() => ksTwoSample([], [1])).toThrow(usage('ksTwoSample: x is empty'));
    expect(() => ksTwoSample([1], [])).toThrow(usage('ksTwoSample: y is empty'));
    const empty = { values: new Float64Array([1]), counts: new Float64Array([0]) };
    expect(() => ksTwoSampleWeighted(empty, toWeighted([1]))).toThrow(usage('ksTwoSampleWeighted: x is empty'));
  });
  test('NaN and non-arrays', () => {
    expect(() => ksTwoSample([1, NaN], [1])).toThrow(usage('ksTwoSample: x holds NaN at index 1'));
    expect(() => ksTwoSample([1], undefined as unknown as number[])).toThrow(
      usage('ksTwoSample: y is not an array of numbers'),
    );
  });
  test('bad options', () => {
    expect(() => ksTwoSample([1], [2], { alternative: 'two_sided' as KsAlternative })).toThrow(
      usage("ksTwoSample: unknown alternative 'two_sided' (two-sided, less, greater)"),
    );
    expect(() => ksTwoSample([1], [2], { method: 'approx' as KsMethod })).toThrow(
      usage("ksTwoSample: unknown method 'approx' (auto, exact, asymp)"),
    );
  });
  test('malformed weighted samples', () => {
    const ok = toWeighted([1, 2]);
    expect(() => ksTwoSampleWeighted({ values: new Float64Array(2), counts: new Float64Array(1) }, ok)).toThrow(
      usage('ksTwoSampleWeighted: x.values and x.counts differ in length (2 vs 1)'),
    );
    expect(() => ksTwoSampleWeighted(ok, { values: new Float64Array([1]), counts: new Float64Array([1.5]) })).toThrow(
      usage('ksTwoSampleWeighted: y.counts[0] is not a non-negative integer (1.5)'),
    );
    expect(() => ksTwoSampleWeighted(ok, { values: new Float64Array([1]), counts: new Float64Array([-1]) })).toThrow(
      usage('ksTwoSampleWeighted: y.counts[0] is not a non-negative integer (-1)'),
    );
    expect(() => ksTwoSampleWeighted(ok, { values: new Float64Array([NaN]), counts: new Float64Array([1]) })).toThrow(
      usage('ksTwoSampleWeighted: y.values holds NaN at index 0'),
    );
  });
});

// Sizes that matter in practice (a million inter-arrival times; millions of empty bins), checked for what they
// compute: how fast is `npm run bench:analyze`'s business, not a timed test's.
describe('large inputs', () => {
  // xorshift32: deterministic test data
  function uniforms(n: number, seed: number): Float64Array {
    const out = new Float64Array(n);
    let s = seed;
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      out[i] = (s >>> 0) / 2 ** 32;
    }
    return out;
  }

  test('1e6 vs 1e6 samples: the asymptotic method, and two uniform streams are not told apart', () => {
    const x = uniforms(1_000_000, 1);
    const y = uniforms(1_000_000, 2);
    const r = ksTwoSample(x, y);
    expect(r.method).toBe('asymp');
    expect(r.pvalue).toBeGreaterThan(0.001);
    // against a shifted copy the same sizes are told apart
    const shifted = ksTwoSample(
      x,
      y.map((v) => v * 0.99),
    );
    expect(shifted.pvalue).toBeLessThan(1e-6);
  });

  test('weighted: millions of zero bins are one entry each side, the statistic exact', () => {
    const x = { values: new Float64Array([0, 1, 2, 3]), counts: new Float64Array([5_000_000, 300, 200, 100]) };
    const y = { values: new Float64Array([0, 1, 2, 3]), counts: new Float64Array([4_000_000, 200, 300, 100]) };
    const r = ksTwoSampleWeighted(x, y);
    expect(r).toMatchObject({ n: 5_000_600, m: 4_000_600, method: 'asymp' });
    const diffs = [
      [5_000_000, 4_000_000],
      [5_000_300, 4_000_200],
      [5_000_500, 4_000_500],
      [5_000_600, 4_000_600],
    ].map(([i, j]) => i! / 5_000_600 - j! / 4_000_600);
    expect(r.statistic).toBe(Math.max(...diffs.map(Math.abs)));
  });
});
