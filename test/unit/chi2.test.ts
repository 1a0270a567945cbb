import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  chiSquareHomogeneity,
  chiSquareIsf,
  chiSquareSf,
  lnGamma,
  regularizedGammaQ,
} from '../../src/analysis/chi2.js';

// We cannot run scipy here, so the distribution is checked against closed forms that do not go through the
// incomplete gamma code, and against published constants (erfc and normal quantiles from Abramowitz &
// Stegun tables): scipy.stats.chi2.sf(x, df) equals each of them mathematically.

/** Relative difference. */
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/** Q(k, x) for integer k: e^−x Σ_{i<k} x^i/i! (Poisson tail identity); all terms positive. */
function qInteger(k: number, x: number): number {
  let term = Math.exp(-x);
  let sum = term;
  for (let i = 1; i < k; i++) {
    term *= x / i;
    sum += term;
  }
  return sum;
}

/** erfc at the points we need, to 17 digits (A&S table 7.1 and later tables). */
const ERFC: Record<number, number> = {
  0.5: 0.4795001221869534623,
  1: 0.1572992070502851307,
  2: 0.004677734981047265838,
  3: 2.209049699858544137e-5,
  4: 1.541725790028001885e-8,
  5: 1.53745979442803485e-12,
};

describe('regularized upper incomplete gamma / χ² survival function', () => {
  test('df = 2: Pr(χ²₂ ≥ x) = exp(−x/2)', () => {
    for (const x of [1e-6, 0.01, 0.5, 1, 2, 2.999, 3.001, 10, 50, 200, 1000]) {
      expect(rel(chiSquareSf(x, 2), Math.exp(-x / 2))).toBeLessThan(1e-13);
    }
  });

  test('even df: the Poisson-sum closed form, across the series/continued-fraction switch', () => {
    for (const k of [1, 2, 3, 5, 10, 25, 50]) {
      for (const x of [0.1, 0.5, k - 1, k, k + 0.999, k + 1.001, k + 3, 2 * k + 10, 5 * k + 30]) {
        if (x <= 0) continue;
        expect(rel(regularizedGammaQ(k, x), qInteger(k, x))).toBeLessThan(1e-12);
      }
    }
  });

  test('df = 1: Pr(χ²₁ ≥ x) = erfc(sqrt(x/2))', () => {
    for (const [z, e] of Object.entries(ERFC)) {
      expect(rel(chiSquareSf(2 * Number(z) ** 2, 1), e)).toBeLessThan(1e-13);
    }
  });

  test('odd df: Q(n + ½, x) = erfc(√x) + e^−x Σ_{i=1..n} x^(i−½)/Γ(i + ½)', () => {
    const gammaHalf = (i: number) => {
      // Γ(i + ½) = (2i)!/(4^i i!) √π
      let g = Math.sqrt(Math.PI);
      for (let j = 1; j <= i; j++) g *= j - 0.5;
      return g;
    };
    for (const [z, e] of Object.entries(ERFC)) {
      const x = Number(z) ** 2;
      for (const n of [1, 2, 4, 7]) {
        let q = e;
        for (let i = 1; i <= n; i++) q += (Math.exp(-x) * x ** (i - 0.5)) / gammaHalf(i);
        expect(rel(chiSquareSf(2 * x, 2 * n + 1), q)).toBeLessThan(1e-13);
      }
    }
  });

  test('large df: close to the Wilson–Hilferty normal approximation', () => {
    const z95 = 1.6448536269514722; // Φ⁻¹(0.95)
    for (const [df, tol] of [
      [100, 0.05],
      [1000, 0.02],
      [100000, 0.02],
    ] as const) {
      const wh = df * (1 - 2 / (9 * df) + z95 * Math.sqrt(2 / (9 * df))) ** 3;
      expect(Math.abs(chiSquareIsf(0.05, df) - wh)).toBeLessThan(tol);
    }
  });

  test('edges', () => {
    expect(chiSquareSf(0, 3)).toBe(1);
    expect(chiSquareSf(-1, 3)).toBe(1);
    expect(chiSquareSf(Infinity, 3)).toBe(0);
    expect(chiSquareSf(1, 0)).toBeNaN();
    expect(chiSquareSf(NaN, 1)).toBeNaN();
    // far tails keep their relative precision: Q(2, 600) = e^−600·601
    expect(rel(chiSquareSf(1200, 4), qInteger(2, 600))).toBeLessThan(1e-12);
  });

  test('ln Γ', () => {
    // absolute error near 2e-15 where ln Γ crosses 0 (the shift to x ≥ 10 cancels ~13 units)
    expect(lnGamma(1)).toBeCloseTo(0, 14);
    expect(lnGamma(2)).toBeCloseTo(0, 14);
    expect(lnGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 14);
    expect(rel(lnGamma(171), Math.log(7.257415615307994e306))).toBeLessThan(1e-15); // 170!
    let lf = 0;
    for (let i = 2; i < 1000; i++) lf += Math.log(i);
    expect(rel(lnGamma(1000), lf)).toBeLessThan(1e-13);
  });
});

describe('χ² critical values', () => {
  test('published 0.95 and 0.99 quantiles', () => {
    // df = 1: z² with z the normal quantile; df = 2: −2 ln α exactly
    expect(rel(chiSquareIsf(0.05, 1), 1.959963984540054 ** 2)).toBeLessThan(1e-13);
    expect(rel(chiSquareIsf(0.01, 1), 2.5758293035489004 ** 2)).toBeLessThan(1e-13);
    expect(rel(chiSquareIsf(0.05, 2), -2 * Math.log(0.05))).toBeLessThan(1e-13);
    expect(rel(chiSquareIsf(1e-10, 2), -2 * Math.log(1e-10))).toBeLessThan(1e-13);
    // table values (CRC / NIST handbook, 3 decimals)
    for (const [df, x] of [
      [3, 7.815],
      [4, 9.488],
      [5, 11.07],
      [10, 18.307],
      [30, 43.773],
      [100, 124.342],
    ] as const) {
      expect(chiSquareIsf(0.05, df)).toBeCloseTo(x, 3);
    }
  });

  test('inverts the survival function', () => {
    for (const df of [1, 2, 7, 40, 500]) {
      for (const p of [0.5, 0.05, 0.01, 1e-6, 1e-30])
        expect(rel(chiSquareSf(chiSquareIsf(p, df), df), p)).toBeLessThan(1e-12);
    }
    expect(chiSquareIsf(1, 3)).toBe(0);
    expect(chiSquareIsf(0, 3)).toBe(Infinity);
  });
});

describe('chiSquareHomogeneity', () => {
  const h = (o: Record<number, number>) => new Map(Object.entries(o).map(([k, v]) => [Number(k), v]));

  test('hand-worked 2 × 2 table', () => {
    // N = 200, totals 80 and 120: expected 40/60 in each sample; X² = 2·10²/40 + 2·10²/60 = 25/3
    const r = chiSquareHomogeneity(h({ 64: 50, 1500: 50 }), h({ 64: 30, 1500: 70 }));
    expect(r.statistic).toBeCloseTo(25 / 3, 13);
    expect(r).toMatchObject({ df: 1, bins: 2, alpha: 0.05 });
    expect(rel(r.pvalue, chiSquareSf(25 / 3, 1))).toBeLessThan(1e-15);
    expect(r.critical).toBeCloseTo(3.841459, 6);
  });

  test('unequal sample sizes: expected counts use each sample total', () => {
    // Na = 100, Nb = 300; totals 100/300: expected a 25/75, b 75/225
    const r = chiSquareHomogeneity(h({ 1: 40, 2: 60 }), h({ 1: 60, 2: 240 }));
    const want = (40 - 25) ** 2 / 25 + (60 - 75) ** 2 / 75 + (60 - 75) ** 2 / 75 + (240 - 225) ** 2 / 225;
    expect(r.statistic).toBeCloseTo(want, 12);
  });

  test('sparse categories merge with their neighbours in key order; a short tail joins the last bin', () => {
    // minShare = ½: a bin closes once its pooled count reaches 10.
    // keys 1, 2 close alone; 3 (1 + 0), 4 (1 + 2) stay short and are pooled into the bin of key 2.
    const r = chiSquareHomogeneity(h({ 1: 100, 2: 100, 3: 1, 4: 1 }), h({ 1: 100, 2: 100, 4: 2 }));
    expect(r).toMatchObject({ bins: 2, df: 1, statistic: 0, pvalue: 1 });
    // keys 10..19 with 1 each side: pooled in fives (pooled count 10 ⇒ expected 5)
    const a = new Map([...Array(10).keys()].map((i) => [10 + i, 1]));
    const r2 = chiSquareHomogeneity(a, new Map(a));
    expect(r2.bins).toBe(2);
  });

  test('merging with a custom minExpected', () => {
    const a = h({ 1: 3, 2: 3, 3: 3, 4: 3 });
    const b = h({ 1: 3, 2: 3, 3: 3, 4: 15 }); // minShare ⅓: pooled counts 6, 12, 18 | 18
    expect(chiSquareHomogeneity(a, b, { minExpected: 1 }).bins).toBe(4);
    expect(chiSquareHomogeneity(a, b).bins).toBe(2);
  });

  test('degenerate: one bin after merging ⇒ statistic 0, p-value 1', () => {
    expect(chiSquareHomogeneity(h({ 1: 3 }), h({ 2: 2 }))).toEqual({
      statistic: 0,
      df: 0,
      pvalue: 1,
      critical: 0,
      alpha: 0.05,
      bins: 1,
    });
  });

  test('distinguishes different size distributions and accepts equal ones', () => {
    const small = h({ 60: 900, 1500: 100 });
    const large = h({ 60: 100, 1500: 900 });
    const d = chiSquareHomogeneity(small, large, { alpha: 0.01 });
    expect(d.pvalue).toBeLessThan(1e-100);
    expect(d.statistic).toBeGreaterThan(d.critical);
    expect(d.critical).toBeCloseTo(6.634897, 6);
    const s = chiSquareHomogeneity(small, h({ 60: 1800, 1500: 200 }));
    expect(s.statistic).toBeCloseTo(0, 12);
  });

  test('properties: symmetric in a, b; p-value below α exactly when X² exceeds the critical value', () => {
    const hist = fc
      .dictionary(fc.integer({ min: 40, max: 60 }).map(String), fc.integer({ min: 0, max: 40 }), { minKeys: 1 })
      .map((o) => h(o))
      .filter((m) => [...m.values()].some((c) => c > 0));
    fc.assert(
      fc.property(hist, hist, (a, b) => {
        const r = chiSquareHomogeneity(a, b);
        const s = chiSquareHomogeneity(b, a);
        expect(s.bins).toBe(r.bins);
        expect(s.statistic).toBeCloseTo(r.statistic, 9);
        expect(r.df).toBe(Math.max(0, r.bins - 1));
        expect(r.pvalue >= 0 && r.pvalue <= 1).toBe(true);
        if (r.bins > 1 && Math.abs(r.statistic - r.critical) > 1e-9)
          expect(r.pvalue < 0.05).toBe(r.statistic > r.critical);
      }),
      { numRuns: 200 },
    );
  });

  test('errors', () => {
    const ok = h({ 1: 5 });
    const usage = (message: string) => expect.objectContaining({ code: 'SMIG_ERR_USAGE', message });
    expect(() => chiSquareHomogeneity(new Map(), ok)).toThrow(usage('chiSquareHomogeneity: histogram a is empty'));
    expect(() => chiSquareHomogeneity(ok, h({ 1: 0 }))).toThrow(usage('chiSquareHomogeneity: histogram b is empty'));
    expect(() => chiSquareHomogeneity(ok, h({ 7: -1 }))).toThrow(
      usage('chiSquareHomogeneity: histogram b has count -1 at key 7'),
    );
    expect(() => chiSquareHomogeneity(new Map([[NaN, 1]]), ok)).toThrow(
      usage('chiSquareHomogeneity: histogram a has a NaN key'),
    );
    expect(() => chiSquareHomogeneity(ok, ok, { alpha: 0 })).toThrow(
      usage('chiSquareHomogeneity: alpha must be in (0, 1) (got 0)'),
    );
    expect(() => chiSquareHomogeneity(ok, ok, { minExpected: 0 })).toThrow(
      usage('chiSquareHomogeneity: minExpected must be positive (got 0)'),
    );
    expect(() => chiSquareHomogeneity({} as Map<number, number>, ok)).toThrow(
      usage('chiSquareHomogeneity: histogram a is not a Map'),
    );
  });
});
