/**
 * Two-sample χ² test of homogeneity on histograms (e.g. packet size → count), with the χ² distribution's
 * survival function and its inverse from our own regularized incomplete gamma function.
 */
import { smigError } from '../errors.js';

export interface Chi2Options {
  /** Significance level for `critical`; default 0.05. */
  alpha?: number;
  /** Smallest expected count allowed in any cell after merging; default 5 (Cochran's rule). */
  minExpected?: number;
}

export interface Chi2Result {
  /** Pearson's X² = Σ (O − E)²/E over both samples and all merged bins. */
  statistic: number;
  /** Degrees of freedom, bins − 1 (a 2 × bins table). */
  df: number;
  /** Pr(χ²_df ≥ statistic). */
  pvalue: number;
  /** The χ²_df quantile at 1 − alpha: reject homogeneity when statistic > critical. */
  critical: number;
  alpha: number;
  /** Bins after merging. */
  bins: number;
}

/**
 * χ² test that two histograms come from the same distribution.
 *
 * Merging rule (so that every cell's expected count is at least `minExpected`): categories are taken in
 * ascending key order, and adjacent ones are pooled into the open bin until both samples' expected counts
 * in it, N_a·T/N and N_b·T/N (T the bin's pooled count, N = N_a + N_b), reach `minExpected`; the bin is
 * then closed and the next one opened. A final open bin that falls short is pooled into the last closed
 * bin. Adjacent pooling suits ordered categories like sizes. With a single bin left the test is
 * degenerate: statistic 0, df 0, p-value 1, critical 0.
 *
 * @throws SmigError SMIG_ERR_USAGE when a histogram is empty (total 0), a key is NaN, a count is negative
 *   or not finite, alpha is not in (0, 1), or minExpected is not positive.
 * @example chiSquareHomogeneity(new Map([[60, 50], [1500, 50]]), new Map([[60, 30], [1500, 70]]))
 *   // { statistic: 25/3, df: 1, pvalue: 0.0039, critical: 3.84, alpha: 0.05, bins: 2 }
 */
export function chiSquareHomogeneity(
  a: Map<number, number>,
  b: Map<number, number>,
  opts: Chi2Options = {},
): Chi2Result {
  const alpha = opts.alpha ?? 0.05;
  const minExpected = opts.minExpected ?? 5;
  if (!(alpha > 0 && alpha < 1))
    throw smigError('SMIG_ERR_USAGE', `chiSquareHomogeneity: alpha must be in (0, 1) (got ${alpha})`);
  if (!(minExpected > 0 && Number.isFinite(minExpected))) {
    throw smigError('SMIG_ERR_USAGE', `chiSquareHomogeneity: minExpected must be positive (got ${minExpected})`);
  }
  const na = histogramTotal(a, 'a');
  const nb = histogramTotal(b, 'b');
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort((p, q) => p - q);
  const total = na + nb;
  const minShare = Math.min(na, nb) / total;

  const binsA: number[] = [];
  const binsB: number[] = [];
  let openA = 0,
    openB = 0;
  for (const k of keys) {
    openA += a.get(k) ?? 0;
    openB += b.get(k) ?? 0;
    const t = openA + openB;
    if (t > 0 && minShare * t >= minExpected) {
      binsA.push(openA);
      binsB.push(openB);
      openA = openB = 0;
    }
  }
  if (openA + openB > 0) {
    if (binsA.length === 0) {
      binsA.push(openA);
      binsB.push(openB);
    } else {
      binsA[binsA.length - 1]! += openA;
      binsB[binsB.length - 1]! += openB;
    }
  }
  const bins = binsA.length;
  if (bins < 2) return { statistic: 0, df: 0, pvalue: 1, critical: 0, alpha, bins };

  let statistic = 0;
  for (let i = 0; i < bins; i++) {
    const t = binsA[i]! + binsB[i]!;
    const ea = (na * t) / total;
    const eb = (nb * t) / total;
    statistic += (binsA[i]! - ea) ** 2 / ea + (binsB[i]! - eb) ** 2 / eb;
  }
  const df = bins - 1;
  return { statistic, df, pvalue: chiSquareSf(statistic, df), critical: chiSquareIsf(alpha, df), alpha, bins };
}

function histogramTotal(h: Map<number, number>, name: string): number {
  if (!(h instanceof Map)) throw smigError('SMIG_ERR_USAGE', `chiSquareHomogeneity: histogram ${name} is not a Map`);
  let n = 0;
  for (const [k, c] of h) {
    if (Number.isNaN(k)) throw smigError('SMIG_ERR_USAGE', `chiSquareHomogeneity: histogram ${name} has a NaN key`);
    if (!(c >= 0 && Number.isFinite(c))) {
      throw smigError('SMIG_ERR_USAGE', `chiSquareHomogeneity: histogram ${name} has count ${c} at key ${k}`);
    }
    n += c;
  }
  if (n === 0) throw smigError('SMIG_ERR_USAGE', `chiSquareHomogeneity: histogram ${name} is empty`);
  return n;
}

/** Pr(χ²_df ≥ x) = Q(df/2, x/2). NaN for df ≤ 0 or NaN input; 1 for x ≤ 0. */
export function chiSquareSf(x: number, df: number): number {
  if (!(df > 0) || Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  return regularizedGammaQ(df / 2, x / 2);
}

/**
 * Inverse survival function: the x with Pr(χ²_df ≥ x) = p (the critical value at level p), by bisection
 * on a bracket found by doubling, to the last few bits.
 */
export function chiSquareIsf(p: number, df: number): number {
  if (!(df > 0) || !(p >= 0 && p <= 1)) return NaN;
  if (p === 1) return 0;
  if (p === 0) return Infinity;
  let lo = 0;
  let hi = Math.max(1, df);
  while (chiSquareSf(hi, df) > p) {
    lo = hi;
    hi *= 2;
  }
  for (let i = 0; i < 200 && hi - lo > 4 * Number.EPSILON * hi; i++) {
    const mid = (lo + hi) / 2;
    if (chiSquareSf(mid, df) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * Regularized upper incomplete gamma Q(a, x) = Γ(a, x)/Γ(a), Numerical Recipes style: the series of P for
 * x < a + 1 (Q = 1 − P), otherwise Legendre's continued fraction for Q by the modified Lentz method, so that
 * small tail probabilities keep their relative precision.
 */
export function regularizedGammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return NaN;
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  const logPrefix = a * Math.log(x) - x - lnGamma(a); // log(x^a e^−x / Γ(a))
  if (x < a + 1) {
    // P(a, x) = x^a e^−x / Γ(a + 1) · Σ_n x^n / ((a+1)…(a+n))
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 100000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * Number.EPSILON) break;
    }
    return Math.max(0, 1 - sum * Math.exp(logPrefix));
  }
  // Q(a, x) = x^a e^−x / Γ(a) · 1/(x + 1 − a − 1·(1 − a)/(x + 3 − a − 2·(2 − a)/(x + 5 − a − …)))
  const TINY = 1e-300;
  let bn = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / bn;
  let h = d;
  for (let n = 1; n < 100000; n++) {
    const an = -n * (n - a);
    bn += 2;
    d = an * d + bn;
    if (Math.abs(d) < TINY) d = TINY;
    c = bn + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < Number.EPSILON) break;
  }
  return Math.exp(logPrefix) * h;
}

/**
 * ln Γ(x) for x > 0: Stirling's series (to the x^−13 term) after shifting x up to at least 10 by the
 * recurrence Γ(x + 1) = xΓ(x); relative error near 1e-15.
 */
export function lnGamma(x: number): number {
  if (!(x > 0)) return NaN;
  let shift = 0;
  let prod = 1;
  while (x < 10) {
    prod *= x;
    x += 1;
    if (prod > 1e280) {
      shift += Math.log(prod);
      prod = 1;
    }
  }
  shift += Math.log(prod);
  const r = 1 / x;
  const r2 = r * r;
  const series =
    r *
    (1 / 12 + r2 * (-1 / 360 + r2 * (1 / 1260 + r2 * (-1 / 1680 + r2 * (1 / 1188 + r2 * (-691 / 360360 + r2 / 156))))));
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + series - shift;
}
