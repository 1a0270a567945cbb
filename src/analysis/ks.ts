/**
 * Two-sample Kolmogorov–Smirnov test with the semantics of scipy.stats.ks_2samp (scipy 1.17.1): same
 * statistic (right-continuous ECDFs, ties included), same `less`/`greater` definitions, same location and
 * sign rule, same choice of method and the same fallbacks from `exact` to `asymp`. The p-value algorithms
 * are our TypeScript of scipy's: Hodges' lattice-path counts for `exact` (Viehmann's "1 − p" recursion
 * for two-sided), the finite-n Kolmogorov distribution `kstwo` (Simard & L'Ecuyer's selection of
 * Ruben–Gambino, Durbin/Marsaglia–Tsang–Wang, Pomeranz, Pelz–Good and Smirnov's one-sided sum) for
 * two-sided `asymp`, and Hodges' eqn 5.3 for one-sided `asymp`.
 *
 * Accuracy against scipy, measured on every fixture of test/fixtures/ks-oracle and every ALT/METHOD key
 * (asserted in test/unit/ks.test.ts): the statistic D is bit-identical (h/lcm when exact, cdf1 − cdf2 in
 * the same float operations otherwise), and so are location and sign. Exact p-values: two-sided
 * bit-identical; one-sided within 5e-13 absolute and relative (binomial coefficients, see below). Asymp
 * p-values: within 5e-16 — this is the finite-n kstwo, not the limiting distribution. The kstwo algorithms
 * are also checked against each other where more than one applies (Durbin vs Pomeranz to 1e-13 for
 * n ≤ 140; Pelz–Good vs Durbin to 3e-8 at n = 2000), and exact p-values against brute-force enumeration.
 *
 * Deviations from scipy, all outside the fixtures: scipy returns NaN for the two-sided asymp p-value of
 * n = m = 1 (kstwo with n = round(0.5) = 0); we use n = 1. Binomial coefficients come from our own
 * Stirling-series evaluation rather than cephes' beta function, so one-sided exact p-values can differ
 * in the last digits where Hodges' recursion cancels heavily (both are then inexact). Smirnov's sum is
 * evaluated term by term in logarithms (relative error ~1e-12) where cephes uses double-double arithmetic.
 */
import { smigError } from '../errors.js';
import type { WeightedSample } from './stats.js';
import { sortedWeighted } from './stats.js';

export type KsAlternative = 'two-sided' | 'less' | 'greater';
export type KsMethod = 'auto' | 'exact' | 'asymp';

export interface KsOptions {
  /** Alternative hypothesis on the CDFs F (of x) and G (of y); default 'two-sided'. */
  alternative?: KsAlternative;
  /** P-value method; default 'auto' (exact when max(n, m) ≤ 10000, as scipy). */
  method?: KsMethod;
}

export interface KsResult {
  /** D (two-sided), D⁺ = max(F − G) ('greater') or D⁻ = max(G − F) ('less'), always ≥ 0. */
  statistic: number;
  pvalue: number;
  /** Size of x. */
  n: number;
  /** Size of y. */
  m: number;
  /** Method actually used: 'exact' may fall back to 'asymp' exactly where scipy's does. */
  method: 'exact' | 'asymp';
  /** The observation (of x or y) at which the ECDF distance is measured. */
  statisticLocation: number;
  /** +1 when the ECDF of x exceeds the ECDF of y at statisticLocation, else −1. */
  statisticSign: 1 | -1;
}

export type { WeightedSample } from './stats.js';

/** scipy's MAX_AUTO_N: 'auto' attempts the exact p-value when max(n, m) ≤ this. */
export const KS_MAX_AUTO_N = 10000;
const INT32_MAX = 2147483647;

/**
 * Two-sample Kolmogorov–Smirnov test, as scipy.stats.ks_2samp(x, y, alternative, method).
 * Sorts copies of the inputs (which are not modified): O((n + m) log(n + m)).
 * @throws SmigError SMIG_ERR_USAGE when a sample is empty or holds NaN, or an option is unknown.
 * @example ksTwoSample([1, 2, 3], [2.5, 4, 5, 6]) // { statistic: 0.75, pvalue: 8/35 (exact), statisticLocation: 3, … }
 */
export function ksTwoSample(x: ArrayLike<number>, y: ArrayLike<number>, opts: KsOptions = {}): KsResult {
  const xs = sortedCopy(x, 'ksTwoSample', 'x');
  const ys = sortedCopy(y, 'ksTwoSample', 'y');
  return ksSorted({ v: xs, c: null, n: xs.length }, { v: ys, c: null, n: ys.length }, opts, 'ksTwoSample');
}

/**
 * The same test on weighted samples: equal to {@link ksTwoSample} on the expanded data (value i repeated
 * counts[i] times), in time linear in the number of distinct values after sorting them.
 * @throws SmigError SMIG_ERR_USAGE when a sample is empty (total count 0), a value is NaN, a count is not a
 *   non-negative integer, the arrays differ in length, or an option is unknown.
 */
export function ksTwoSampleWeighted(x: WeightedSample, y: WeightedSample, opts: KsOptions = {}): KsResult {
  const xs = sortedWeighted(x, 'ksTwoSampleWeighted', 'x');
  const ys = sortedWeighted(y, 'ksTwoSampleWeighted', 'y');
  if (xs.n === 0) throw smigError('SMIG_ERR_USAGE', 'ksTwoSampleWeighted: x is empty');
  if (ys.n === 0) throw smigError('SMIG_ERR_USAGE', 'ksTwoSampleWeighted: y is empty');
  return ksSorted(
    { v: xs.values, c: xs.counts, n: xs.n },
    { v: ys.values, c: ys.counts, n: ys.n },
    opts,
    'ksTwoSampleWeighted',
  );
}

/**
 * Two-sided critical value of D at level α from the limiting distribution:
 * c(α)·sqrt((n + m)/(n·m)) with c(α) = sqrt(−ln(α/2)/2).
 * @throws SmigError SMIG_ERR_USAGE unless n, m > 0 and 0 < α < 1.
 */
export function ksCritical(n: number, m: number, alpha: number): number {
  if (!(n > 0 && m > 0))
    throw smigError('SMIG_ERR_USAGE', `ksCritical: sample sizes must be positive (n=${n}, m=${m})`);
  if (!(alpha > 0 && alpha < 1))
    throw smigError('SMIG_ERR_USAGE', `ksCritical: alpha must be in (0, 1) (got ${alpha})`);
  return Math.sqrt(-Math.log(alpha / 2) / 2) * Math.sqrt((n + m) / (n * m));
}

/**
 * Whether a two-sided test of samples of n and m values can reject at level α at all: its smallest p-value, at
 * D = 1 (every value of one sample below every value of the other), is 2 ÷ C(n + m, n), exactly. One bin against 32
 * gives 2 ÷ 33 = 0.061: no rate series that short can be told apart at 0.05, whatever it holds.
 * @example ksCanReject(1, 32, 0.05) // false; ksCanReject(1, 40, 0.05) // true
 */
export function ksCanReject(n: number, m: number, alpha: number): boolean {
  if (!(n > 0 && m > 0)) return false;
  const limit = 2 / alpha;
  const k = Math.min(n, m);
  let c = 1;
  // C(n + m, k) grows with each factor; stop once it is past 2 ÷ α
  for (let i = 1; i <= k; i++) {
    c = (c * (Math.max(n, m) + i)) / i;
    if (c > limit) return true;
  }
  return c > limit;
}

// ---------------------------------------------------------------------------------------------------
// Statistic

interface Sorted {
  /** Ascending values (ties allowed when c is null). */
  v: Float64Array;
  /** Multiplicity of each value, or null for 1 each. */
  c: Float64Array | null;
  /** Total count. */
  n: number;
}

function sortedCopy(a: ArrayLike<number>, fn: string, name: string): Float64Array {
  if (a == null || typeof a.length !== 'number')
    throw smigError('SMIG_ERR_USAGE', `${fn}: ${name} is not an array of numbers`);
  if (a.length === 0) throw smigError('SMIG_ERR_USAGE', `${fn}: ${name} is empty`);
  const out = Float64Array.from(a);
  for (let i = 0; i < out.length; i++) {
    if (Number.isNaN(out[i])) throw smigError('SMIG_ERR_USAGE', `${fn}: ${name} holds NaN at index ${i}`);
  }
  return out.sort();
}

function ksSorted(x: Sorted, y: Sorted, opts: KsOptions, fn: string): KsResult {
  const alternative = opts?.alternative ?? 'two-sided';
  const method = opts?.method ?? 'auto';
  if (alternative !== 'two-sided' && alternative !== 'less' && alternative !== 'greater') {
    throw smigError('SMIG_ERR_USAGE', `${fn}: unknown alternative '${String(alternative)}' (two-sided, less, greater)`);
  }
  if (method !== 'auto' && method !== 'exact' && method !== 'asymp') {
    throw smigError('SMIG_ERR_USAGE', `${fn}: unknown method '${String(method)}' (auto, exact, asymp)`);
  }
  const n1 = x.n;
  const n2 = y.n;
  // scipy evaluates cddiffs = cdf1 − cdf2 at every observation of data_all = [sorted x, sorted y] and takes
  // argmax/argmin (first occurrence). The difference at a value is the same at each of its occurrences, so
  // the first occurrence is the smallest maximizing value present in x, or failing that in y.
  let maxX = -Infinity,
    maxY = -Infinity,
    minX = Infinity,
    minY = Infinity;
  let locMaxX = NaN,
    locMaxY = NaN,
    locMinX = NaN,
    locMinY = NaN;
  const xv = x.v,
    yv = y.v,
    xc = x.c,
    yc = y.c;
  const lx = xv.length,
    ly = yv.length;
  let i = 0,
    j = 0,
    cx = 0,
    cy = 0;
  while (i < lx || j < ly) {
    const v = j >= ly || (i < lx && xv[i]! <= yv[j]!) ? xv[i]! : yv[j]!;
    const i0 = i,
      j0 = j;
    while (i < lx && xv[i] === v) {
      cx += xc === null ? 1 : xc[i]!;
      i++;
    }
    while (j < ly && yv[j] === v) {
      cy += yc === null ? 1 : yc[j]!;
      j++;
    }
    // searchsorted(side='right') / n: the same float operations as scipy, so ties between locations break alike
    const d = cx / n1 - cy / n2;
    if (i > i0) {
      if (d > maxX) {
        maxX = d;
        locMaxX = v;
      }
      if (d < minX) {
        minX = d;
        locMinX = v;
      }
    }
    if (j > j0) {
      if (d > maxY) {
        maxY = d;
        locMaxY = v;
      }
      if (d < minY) {
        minY = d;
        locMinY = v;
      }
    }
  }
  const maxS = maxX >= maxY ? maxX : maxY;
  const locMax = maxX >= maxY ? locMaxX : locMaxY;
  const minD = minX <= minY ? minX : minY;
  const locMin = minX <= minY ? locMinX : locMinY;
  const minS = Math.min(Math.max(-minD, 0), 1);

  let d: number, location: number, sign: 1 | -1;
  if (alternative === 'less' || (alternative === 'two-sided' && minS > maxS)) {
    d = minS;
    location = locMin;
    sign = -1;
  } else {
    d = maxS;
    location = locMax;
    sign = 1;
  }
  const { statistic, pvalue, used } = ksPvalue(d, n1, n2, alternative, method);
  return { statistic, pvalue, n: n1, m: n2, method: used, statisticLocation: location, statisticSign: sign };
}

// ---------------------------------------------------------------------------------------------------
// P-value: scipy's ks_2samp method selection

function ksPvalue(
  d: number,
  n1: number,
  n2: number,
  alternative: KsAlternative,
  method: KsMethod,
): { statistic: number; pvalue: number; used: 'exact' | 'asymp' } {
  const g = gcd(n1, n2);
  const n1g = n1 / g;
  const n2g = n2 / g;
  let mode: 'exact' | 'asymp';
  if (method === 'auto') mode = Math.max(n1, n2) <= KS_MAX_AUTO_N ? 'exact' : 'asymp';
  // scipy: "If lcm(n1, n2) is too big, switch from exact to asymp" (only checked for an explicit 'exact')
  else if (method === 'exact') mode = n1g >= INT32_MAX / n2g ? 'asymp' : 'exact';
  else mode = 'asymp';

  if (mode === 'exact') {
    const r = attemptExact(n1, n2, g, d, alternative);
    if (r.ok) return { statistic: r.d, pvalue: clip01(r.p), used: 'exact' };
    d = r.d; // scipy keeps the rounded h/lcm when it falls back
  }
  // asymp; sorted because the one-sided formula is not symmetric in n1, n2
  const m = Math.max(n1, n2);
  const n = Math.min(n1, n2);
  const en = (m * n) / (m + n);
  let p: number;
  if (alternative === 'two-sided') {
    p = kstwoSf(Math.max(1, roundHalfEven(en)), d);
  } else {
    const z = Math.sqrt(en) * d;
    // Hodges (1958) eqn 5.3, m the larger size
    const expt = -2 * z * z - (2 * z * (m + 2 * n)) / Math.sqrt(m * n * (m + n)) / 3;
    p = Math.exp(expt);
  }
  return { statistic: d, pvalue: clip01(p), used: 'asymp' };
}

function attemptExact(
  n1: number,
  n2: number,
  g: number,
  d: number,
  alternative: KsAlternative,
): { ok: boolean; d: number; p: number } {
  const lcm = (n1 / g) * n2;
  const h = roundHalfEven(d * lcm);
  d = h / lcm;
  if (h === 0) return { ok: true, d, p: 1 };
  let p: number;
  if (alternative === 'two-sided') {
    p = n1 === n2 ? probOutsideSquare(n1, h) : outerProbInside(n1, n2, g, h);
  } else if (n1 === n2) {
    // binom(2n, n−h) / binom(2n, n), as a product to avoid the binomials' rounding
    p = 1;
    for (let j = 0; j < h; j++) p *= (n1 - j) / (n1 + j + 1);
  } else {
    const bin = binom(n1 + n2, n1);
    if (!Number.isFinite(bin)) return { ok: false, d, p: NaN };
    const paths = countPathsOutside(n1, n2, g, h);
    if (!Number.isFinite(paths) || paths > bin) return { ok: false, d, p: NaN };
    p = paths / bin;
  }
  return { ok: p >= 0 && p <= 1, d, p };
}

/** Pr(D_{n,n} ≥ h/n): 2·Σ_k (−1)^(k−1) binom(2n, n−kh)/binom(2n, n), evaluated Horner-like (scipy). */
function probOutsideSquare(n: number, h: number): number {
  let P = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    P = p1 * (1 - P);
  }
  return 2 * P;
}

/**
 * Pr(D_{m,n} ≥ h/lcm): the proportion of lattice paths (0,0)→(m,n) that leave |x/m − y/n| < h/lcm
 * (Hodges 1958), computed as 1 − p directly by Viehmann's recursion (arXiv:2102.08037), one sliding column.
 */
function outerProbInside(m: number, n: number, g: number, h: number): number {
  if (m < n) [m, n] = [n, m];
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1);
  A.fill(0, minj, maxj);
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + minj - lastminj]! * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) A.fill(1, maxj - minj, maxj - minj + (lastlen - curlen));
  }
  return A[maxj - minj - 1]!;
}

/**
 * Number of lattice paths (0,0)→(m,n) that reach m·y ≤ n·x − h·g (Hodges' "outside" count, one-sided).
 * May be inexact or non-finite for large sizes: the caller checks it against binom(m+n, n) (as scipy).
 */
function countPathsOutside(m: number, n: number, g: number, h: number): number {
  if (m < n) [m, n] = [n, m];
  const mg = m / g;
  const ng = n / g;
  // Only the x where n·x/m + ng·h crosses an integer matter
  const lxj = n + Math.floor((mg - h) / mg);
  if (lxj <= 0) return binom(m + n, n);
  const xj = new Float64Array(lxj);
  for (let j = 0; j < lxj; j++) xj[j] = Math.floor((h + mg * j + ng - 1) / ng);
  const B = new Float64Array(lxj); // B[j] = #paths to (xj[j], j) not crossing before
  B[0] = 1;
  for (let j = 1; j < lxj; j++) {
    let Bj = binom(xj[j]! + j, j);
    for (let i = 0; i < j; i++) Bj -= binom(xj[j]! - xj[i]! + j - i, j - i) * B[i]!;
    if (!Number.isFinite(Bj)) return NaN;
    B[j] = Bj;
  }
  let paths = 0;
  for (let j = 0; j < lxj; j++) paths += B[j]! * binom(m - xj[j]! + (n - j), n - j);
  return paths;
}

// ---------------------------------------------------------------------------------------------------
// kstwo: the two-sided one-sample Kolmogorov distribution for finite n (scipy.stats._ksstats._kolmogn)

const E128 = 2 ** 128;
const EM128 = 2 ** -128;
const SQRT2PI = Math.sqrt(2 * Math.PI);
const LOG_2PI = Math.log(2 * Math.PI);
const PI2 = Math.PI ** 2;
const PI4 = Math.PI ** 4;
const PI6 = Math.PI ** 6;

/**
 * Survival function Pr(D_n ≥ x) of the two-sided Kolmogorov statistic for sample size n (scipy's
 * `kstwo.sf(x, n)`), choosing the algorithm as Simard & L'Ecuyer (2011) do.
 */
export function kstwoSf(n: number, x: number): number {
  if (!(n >= 1) || !Number.isInteger(n) || Number.isNaN(x)) return NaN;
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    // Ruben–Gambino: 1/(2n) ≤ x ≤ 1/n
    if (t <= 0.5) return 1;
    let prob: number;
    if (n <= 140) {
      prob = 1;
      for (let i = 1; i <= n; i++) prob *= i * (1 / n) * (2 * t - 1);
    } else {
      prob = Math.exp(logNFactorialDivNPowN(n) + n * Math.log(2 * t - 1));
    }
    return clip01(1 - prob);
  }
  if (t >= n - 1) return clip01(2 * (1 - x) ** n); // Ruben–Gambino
  if (x >= 0.5) return clip01(2 * smirnovSf(n, x)); // exact: D⁺ ≥ x and D⁻ ≥ x are disjoint
  const nx2 = t * x;
  if (n <= 140) {
    if (nx2 <= 0.754693) return clip01(1 - durbinMtwCdf(n, x));
    if (nx2 <= 4) return clip01(1 - pomeranzCdf(n, x));
    return clip01(2 * smirnovSf(n, x)); // Miller's approximation
  }
  if (nx2 >= 370) return 0;
  if (nx2 >= 2.2) return clip01(2 * smirnovSf(n, x));
  const cdf = n <= 100000 && n * x ** 1.5 <= 1.4 ? durbinMtwCdf(n, x) : pelzGoodCdf(n, x);
  return clip01(1 - cdf);
}

/** log(n!/n^n) by Stirling's series with n·log(n) removed up front. */
function logNFactorialDivNPowN(n: number): number {
  const rn = 1 / n;
  const r = rn / n;
  // Bernoulli B_2j/(2j)/(2j−1), j = 8..1 (Horner)
  const c = [
    -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3, 8.4175084175084175084e-4,
    -5.952380952380952381e-4, 7.9365079365079365079e-4, -2.7777777777777777778e-3, 8.3333333333333333333e-2,
  ];
  let s = 0;
  for (const k of c) s = s * r + k;
  return Math.log(n) / 2 - n + LOG_2PI / 2 + rn * s;
}

/**
 * Pr(D_n ≤ d) by Durbin's matrix algorithm as Marsaglia, Tsang & Wang (2003) evaluate it: the (k,k) entry of
 * H^n · n!/n^n with d = (k − h)/n, scaled by powers of 2^128 to stay in range. O(m³ log n), m = 2k − 1.
 */
function durbinMtwCdf(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  let H: Float64Array = new Float64Array(m * m);
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    v[j - 1] = 1 - h ** j;
    w[j - 1] = fac;
    fac /= j;
    v[j - 1]! *= fac;
  }
  const tt = Math.max(2 * h - 1, 0) ** m - 2 * h ** m;
  v[m - 1] = (1 + tt) * fac;
  for (let i = 1; i < m; i++) for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - i + 1]!;
  for (let r = 0; r < m; r++) H[r * m] = v[r]!;
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c]!;

  let P: Float64Array = new Float64Array(m * m);
  for (let i = 0; i < m; i++) P[i * m + i] = 1;
  let nn = n;
  let expnt = 0; // scaling of P
  let hExpnt = 0; // scaling of H
  while (nn > 0) {
    if (nn % 2) {
      P = matmul(P, H, m);
      expnt += hExpnt;
    }
    H = matmul(H, H, m);
    hExpnt *= 2;
    if (Math.abs(H[(k - 1) * m + k - 1]!) > E128) {
      for (let i = 0; i < H.length; i++) H[i]! /= E128;
      hExpnt += 128;
    }
    nn = Math.floor(nn / 2);
  }
  let p = P[(k - 1) * m + k - 1]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < EM128) {
      p *= E128;
      expnt -= 128;
    }
  }
  return clip01(ldexp(p, expnt));
}

function matmul(a: Float64Array, b: Float64Array, m: number): Float64Array {
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      const aik = a[i * m + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < m; j++) out[i * m + j]! += aik * b[k * m + j]!;
    }
  }
  return out;
}

/** Endpoints of the non-zero interval of row i in Pomeranz's recursion. */
function pomeranzJ1J2(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number, j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const ip1div2 = Math.floor((i + 1) / 2);
    if ((i + 1) % 2 === 0) {
      // i odd
      if (ip1div2 === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = ip1div2 - 1 - ll - roundf - 1;
        j2 = ip1div2 + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = ip1div2 - 1 - ll - 1;
      j2 = ip1div2 + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/**
 * Pr(D_n ≤ x) by Pomeranz's (1974) recursion: 2n+1 convolutions of a short row with Poisson-like weights,
 * keeping two rows and their start offsets, scaled to avoid underflow.
 */
function pomeranzCdf(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs); // (g/n)^m/m!
  const twogpower = new Float64Array(npwrs); // (2g/n)^m/m!
  const onem2gpower = new Float64Array(npwrs); // ((1−2g)/n)^m/m!
  gpower[0] = twogpower[0] = onem2gpower[0] = 1;
  const gn = g / n,
    g2n = (2 * g) / n,
    g12n = (1 - 2 * g) / n;
  for (let m = 1; m < npwrs; m++) {
    gpower[m] = (gpower[m - 1]! * gn) / m;
    twogpower[m] = (twogpower[m - 1]! * g2n) / m;
    onem2gpower[m] = (onem2gpower[m - 1]! * g12n) / m;
  }
  let V0 = new Float64Array(npwrs);
  let V1 = new Float64Array(npwrs);
  V1[0] = 1;
  let V0s = 0,
    V1s = 0,
    expnt = 0;
  let [j1, j2] = pomeranzJ1J2(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [V0, V1] = [V1, V0];
    [V0s, V1s] = [V1s, V0s];
    V1.fill(0);
    [j1, j2] = pomeranzJ1J2(i, n, ll, ceilf, roundf);
    const pw = i === 1 || i === 2 * n + 1 ? gpower : i % 2 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      // conv = convolve(V0[k1−V0s : k1−V0s+ln2], pw[:ln2]); keep conv[j1−k1 : j1−k1+(j2−j1+1)]
      const a0 = k1 - V0s;
      const la = Math.max(0, Math.min(ln2, npwrs - a0));
      const lb = Math.min(ln2, npwrs);
      const convStart = j1 - k1;
      const convLen = j2 - j1 + 1;
      let vmax = 0;
      for (let r = 0; r < convLen; r++) {
        const idx = convStart + r;
        let s = 0;
        for (let q = Math.max(0, idx - lb + 1); q <= Math.min(idx, la - 1); q++) s += V0[a0 + q]! * pw[idx - q]!;
        V1[r] = s;
        if (s > vmax) vmax = s;
      }
      if (vmax > 0 && vmax < EM128) {
        for (let r = 0; r < npwrs; r++) V1[r]! *= E128;
        expnt -= 128;
      }
      V1s = V0s + j1 - k1;
    }
  }
  let ans = V1[n - V1s]!;
  for (let m = 1; m <= n; m++) {
    if (Math.abs(ans) > E128) {
      ans *= EM128;
      expnt += 128;
    }
    ans *= m;
  }
  return clip01(ldexp(ans, expnt));
}

/**
 * Pelz & Good (1976) approximation of Pr(D_n ≤ x): the Li-Chien/Korolyuk expansion
 * K0 + K1/√n + K2/n + K3/n^1.5 in z = x√n, transformed by Jacobi's theta identity for small z.
 */
function pelzGoodCdf(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z ** 2,
    z3 = z ** 3,
    z4 = z ** 4,
    z6 = z ** 6;
  const qlog = -PI2 / 8 / z2;
  if (qlog < -708) return 0;
  let q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = PI2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * z2)) / 16;
  const k3d = (PI6 * (5 - 30 * z2)) / 64;
  const k3c = (PI4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;
  const K = [0, 0, 0, 0];
  // Horner over the odd integers m = 2k − 1 of Σ c_m q^(m²)
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m ** 2,
      m4 = m ** 4,
      m6 = m ** 6;
    const qp = q ** (8 * k);
    K[0] = K[0]! * qp + 1;
    K[1] = K[1]! * qp + (k1a + k1b * m2);
    K[2] = K[2]! * qp + (k2a + k2b * m2 + k2c * m4);
    K[3] = K[3]! * qp + (k3a + k3b * m2 + k3c * m4 + k3d * m6);
  }
  const div = [z, 6 * z4, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) K[i] = (K[i]! * q * SQRT2PI) / div[i]!;
  // The other sums, over all integers k: K2 (π²k²)q^(k²), K3 (3π²k²z² − π⁴k⁴)q^(k²)
  q = Math.exp(-PI2 / 2 / z2);
  const sqrt3z = Math.sqrt(3) * z;
  let k2extra = 0,
    k3extra = 0;
  for (let k = maxk; k > 0; k--) {
    const k2 = k * k;
    const qk = q ** k2;
    const kpi = Math.PI * k;
    k2extra += k2 * qk;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qk;
  }
  K[2] = K[2]! + k2extra * ((PI2 * SQRT2PI) / (-36 * z3));
  K[3] = K[3]! + k3extra * ((PI2 * SQRT2PI) / (216 * z6));
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += K[i]! / n ** (i / 2);
  return sum;
}

/**
 * Pr(D⁺_n ≥ x), Smirnov's one-sided statistic (scipy.special.smirnov), by the Birnbaum–Tingey sum
 * x·Σ_{v < n(1−x)} C(n,v)(x + v/n)^(v−1)(1 − x − v/n)^(n−v), every term evaluated in logarithms (all
 * terms are positive, so no cancellation). Special cases as cephes' `_smirnov`.
 */
function smirnovSf(n: number, x: number): number {
  if (!(n > 0 && x >= 0 && x <= 1)) return NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const [nxfl, alpha] = modNX(n, x);
  let n1mxfl = n - nxfl - (alpha === 0 ? 0 : 1);
  if (alpha === 0) n1mxfl -= 1; // exclude the vanishing last term
  if (nxfl === 0 || (nxfl === 1 && alpha === 0)) return clip01(1 - x * (1 + x) ** (n - 1)); // x ≤ 1/n
  if (-2 * n * x * x < MINLOG) return 0;
  if (nxfl >= n - 1) return clip01((1 - x) ** n); // x ≥ 1 − 1/n
  if (n > 1000000) {
    // cephes: too many terms; p ≈ exp(−(6nx + 1)²/(18n))
    const logp = -((6 * n * x + 1) ** 2) / 18 / n;
    return clip01(logp < -Math.LN2 ? Math.exp(logp) : 1 + Math.expm1(logp));
  }
  const logx = Math.log(x);
  const nTerms = n1mxfl + 1;
  let logC = 0;
  let sum = 0;
  for (let v = 0; v < nTerms; v++) {
    const a = nxfl + v + alpha; // n·(x + v/n)
    const term = Math.exp(logC + logx + (v - 1) * Math.log(a / n) + (n - v) * Math.log1p(-a / n));
    sum += term;
    // cephes' early exit: the remaining terms cannot matter
    if (term !== 0) {
      if (4 * (nTerms - v) * term < Number.EPSILON * sum && v !== nTerms - 1) break;
    } else if (v > Math.floor(n / 2)) {
      break;
    }
    logC += Math.log((n - v) / (v + 1));
  }
  return clip01(sum);
}

const MINLOG = -708.3964185322641; // log(2^-1022), cephes' MINLOG

/** floor(n·x) and the remainder, from the exact product (Dekker's two-product). */
function modNX(n: number, x: number): [number, number] {
  const p = n * x;
  const SPLIT = 134217729; // 2^27 + 1
  const split = (a: number): [number, number] => {
    const c = SPLIT * a;
    const hi = c - (c - a);
    return [hi, a - hi];
  };
  const [nh, nl] = split(n);
  const [xh, xl] = split(x);
  const err = nh * xh - p + nh * xl + nl * xh + nl * xl;
  let fl = Math.floor(p);
  if (p === fl && err < 0) fl -= 1;
  let alpha = p - fl + err;
  if (alpha >= 1) {
    fl += 1;
    alpha -= 1;
  }
  if (alpha < 0) alpha = 0;
  return [fl, alpha];
}

// ---------------------------------------------------------------------------------------------------
// Small numerics

function clip01(p: number): number {
  return p < 0 ? 0 : p > 1 ? 1 : p;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** numpy's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** x · 2^e without intermediate overflow/underflow of 2^e. */
function ldexp(x: number, e: number): number {
  while (e > 1000) {
    x *= 2 ** 1000;
    e -= 1000;
  }
  while (e < -1000) {
    x *= 2 ** -1000;
    e += 1000;
  }
  return x * 2 ** e;
}

/** Stirling's series remainder δ(k) = ln k! − ((k + ½)ln k − k + ½ln 2π), for k ≥ 20. */
function stirlingError(k: number): number {
  const r = 1 / k;
  const r2 = r * r;
  return r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 / 1188))));
}

/**
 * Binomial coefficient C(n, k) as a double (Infinity on overflow). Small k: the product formula (exact
 * where representable, like scipy's); otherwise Stirling with the n·ln n terms cancelled analytically, so
 * the relative error stays near 1e-13 even for n in the tens of thousands.
 */
function binom(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  if (k > n / 2) k = n - k;
  if (k < 20) {
    let num = 1,
      den = 1;
    for (let i = 1; i <= k; i++) {
      num *= i + n - k;
      den *= i;
      if (Math.abs(num) > 1e50) {
        num /= den;
        den = 1;
      }
    }
    return Math.round(num / den);
  }
  const nk = n - k;
  const logC =
    k * Math.log(n / k) -
    nk * Math.log1p(-k / n) +
    0.5 * Math.log(n / (2 * Math.PI * k * nk)) +
    stirlingError(n) -
    stirlingError(k) -
    stirlingError(nk);
  const c = Math.exp(logC);
  return c < 2 ** 53 ? Math.round(c) : c;
}

/** Test-only hooks: the kstwo algorithms, to check them against each other where more than one applies. */
export const _ksInternals: {
  durbinMtwCdf: (n: number, d: number) => number;
  pomeranzCdf: (n: number, x: number) => number;
  pelzGoodCdf: (n: number, x: number) => number;
  smirnovSf: (n: number, x: number) => number;
  binom: (n: number, k: number) => number;
} = { durbinMtwCdf, pomeranzCdf, pelzGoodCdf, smirnovSf, binom };
