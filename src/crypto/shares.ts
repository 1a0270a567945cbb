/**
 * Shamir k-of-n shares of the session key (docs/DESIGN.md §3 "Envelope"; paper §5.1: any k shares rebuild the key,
 * k−1 leave it undetermined). Built on shamir-secret-sharing 0.0.4 (GF(2^8), per byte), whose share layout
 * is `y-values[secret length] ‖ x-coordinate (1..255)`.
 *
 * Threshold 1 (which the library refuses) uses the degree-0 polynomial: every share is `key ‖ x`. That is
 * exactly what Shamir gives for k = 1 (f(x) = key), so such shares also combine correctly in any number.
 *
 * The library returns garbage, silently, for too few or corrupt shares; so combineShares() takes a `check`
 * (in smig: the candidate key must open the envelope's header segment) and searches the k-subsets, ranked by
 * how well the other shares agree with each one, so that bad shares cannot hide the good ones.
 */
import { randomInt } from 'node:crypto';
import { split } from 'shamir-secret-sharing';
import { smigError } from '../errors.js';
import { wipe } from './wipe.js';

/** Session key length (ChaCha20-Poly1305 key). */
export const KEY_BYTES = 32;
/** Share length: 32 y-bytes and the x-coordinate as the last byte (shamir-secret-sharing's layout). */
export const SHARE_BYTES: number = KEY_BYTES + 1;
/** GF(2^8) has 255 non-zero x-coordinates. */
export const MAX_SHARES = 255;
/** At most this many candidate keys are given to combineShares()' check before it gives up (≥ C(16, 8)). */
export const MAX_SUBSETS = 16384;
/** At most this many k-subsets are scored; beyond, a random sample of this many is. */
export const MAX_RANKED = 65536;
/** Most shares combineShares() accepts (one per x-coordinate of GF(2^8)). */
export const MAX_COMBINE_SHARES: number = 255;
/** combineShares() yields to the event loop after this many checks. */
const YIELD_EVERY = 256;

/**
 * Splits `key` into `n` shares, any `k` of which rebuild it.
 * @throws SmigError SMIG_ERR_USAGE unless 1 ≤ k ≤ n ≤ 255; SMIG_ERR_INTERNAL for a key that is not 32 bytes
 * @example const shares = await splitKey(key, 3, 2);
 */
export async function splitKey(key: Uint8Array, n: number, k: number): Promise<Uint8Array[]> {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw smigError('SMIG_ERR_INTERNAL', `key shares: key must be ${KEY_BYTES} bytes`);
  }
  if (!Number.isInteger(n) || !Number.isInteger(k) || k < 1 || k > n || n > MAX_SHARES) {
    throw smigError(
      'SMIG_ERR_USAGE',
      `key shares: need 1 <= threshold <= shares <= ${MAX_SHARES}, got threshold ${k} of ${n}`,
    );
  }
  if (k === 1) {
    // degree-0 polynomial: f(x) = key for every x (see module comment)
    return Array.from({ length: n }, (_, i) => {
      const s = new Uint8Array(SHARE_BYTES);
      s.set(key);
      s[KEY_BYTES] = i + 1;
      return s;
    });
  }
  const copy = new Uint8Array(key); // the library wants a plain Uint8Array, not a Buffer
  try {
    return await split(copy, n, k);
  } finally {
    wipe(copy);
  }
}

/**
 * Rebuilds the key from `shares`: finds k shares that interpolate to a key `check` accepts (in smig: the
 * candidate opens the envelope's header segment). Rejected candidates are wiped; the caller owns (and should
 * wipe) the returned key; `shares` are not modified.
 *
 * Input rules, all O(n) before any search: at most {@link MAX_COMBINE_SHARES} shares; malformed ones (wrong
 * length, x = 0) are ignored and counted; exact duplicates count once; two *different* shares with the same x
 * are refused at once (honest shares have distinct x, so one of them is forged, and no subset may hold both).
 *
 * Search (bad shares anywhere, any number of them): every k-subset (random ones beyond {@link MAX_RANKED}) is
 * scored by how many of the shares outside it agree with its polynomial on two bytes — an all-good subset is
 * agreed with by every other good share, a subset holding a bad share by almost none — and candidates are
 * checked best score first, at most {@link MAX_SUBSETS}. k good shares among up to 16 are thus always found
 * (C(16, 8) = 12 870 subsets) whatever the others hold, and with more good shares than k the first candidate
 * is the right one. The interpolation is this module's own GF(2^8) arithmetic (the library's field).
 * @throws SmigError SMIG_ERR_SHARES when no subset passes, saying how many were tried, or for repeated x / too
 *   many shares; SMIG_ERR_USAGE for a threshold outside 1..255
 */
export async function combineShares(
  shares: Uint8Array[],
  k: number,
  check: (key: Uint8Array) => boolean,
): Promise<Uint8Array> {
  if (!Number.isInteger(k) || k < 1 || k > MAX_SHARES) {
    throw smigError('SMIG_ERR_USAGE', `key shares: threshold ${k} is outside 1..${MAX_SHARES}`);
  }
  if (shares.length > MAX_COMBINE_SHARES) {
    throw smigError('SMIG_ERR_SHARES', `key shares: ${shares.length} shares offered, at most ${MAX_COMBINE_SHARES}`);
  }
  const byX = new Map<number, Uint8Array>();
  let malformed = 0;
  for (const s of shares) {
    if (!(s instanceof Uint8Array) || s.length !== SHARE_BYTES || s[KEY_BYTES] === 0) {
      malformed++;
      continue;
    }
    const x = s[KEY_BYTES]!;
    const seen = byX.get(x);
    if (seen === undefined) byX.set(x, s);
    else if (Buffer.compare(seen, s) !== 0) {
      throw smigError(
        'SMIG_ERR_SHARES',
        `key shares: two different shares with x = ${x} (one of them is forged); refused`,
      );
    }
  }
  const usable = [...byX.values()];
  const ignored = malformed > 0 ? `; ${malformed} malformed share(s) ignored` : '';
  if (usable.length < k) {
    throw smigError('SMIG_ERR_SHARES', `key shares: need ${k} distinct shares, have ${usable.length}${ignored}`);
  }
  const m = usable.length;
  const xs = usable.map((s) => s[KEY_BYTES]!);
  // candidates: every k-subset, or a random sample when there are too many; scored, best first
  const total = binomial(m, k);
  const subsets: Uint8Array[] = [];
  if (total <= MAX_RANKED) for (const s of allSubsets(m, k)) subsets.push(s);
  else for (let i = 0; i < MAX_RANKED; i++) subsets.push(randomSubset(m, k));
  const scores = new Int32Array(subsets.length);
  if (k < m) subsets.forEach((s, i) => (scores[i] = agreement(s, usable, xs, k)));
  const order = Array.from(subsets.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
  let tried = 0;
  for (const i of order) {
    if (tried === MAX_SUBSETS) break;
    tried++;
    const candidate = interpolateAt0(subsets[i]!, usable, xs, k);
    let ok = false;
    try {
      ok = check(candidate);
    } finally {
      if (!ok) wipe(candidate);
    }
    if (ok) return candidate;
    if (tried % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r)); // let the daemon breathe
  }
  throw smigError(
    'SMIG_ERR_SHARES',
    `key shares: no ${k} of ${m} shares rebuilt a key that passed the check ` +
      `(tried ${tried} subset(s)${tried === MAX_SUBSETS && tried < total ? ', the limit' : ''})${ignored}`,
  );
}

// ---------------------------------------------------------------------------------------------------------
// GF(2^8) with the polynomial x^8 + x^4 + x^3 + x + 1 and generator 0xe5 (shamir-secret-sharing's field)
// ---------------------------------------------------------------------------------------------------------

const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  const slowMul = (a: number, b: number): number => {
    let r = 0;
    for (; b > 0; b >>= 1) {
      if (b & 1) r ^= a;
      a = (a << 1) ^ (a & 0x80 ? 0x11b : 0);
    }
    return r;
  };
  let v = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = v;
    EXP[i + 255] = v;
    LOG[v] = i;
    v = slowMul(v, 0xe5);
  }
}

function mul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!;
}

function div(a: number, b: number): number {
  return a === 0 ? 0 : EXP[LOG[a]! + 255 - LOG[b]!]!;
}

/** Lagrange basis values at `at` for the subset's x-coordinates (into `out`). */
function basis(subset: Uint8Array, xs: number[], at: number, out: Uint8Array): void {
  for (let i = 0; i < subset.length; i++) {
    const xi = xs[subset[i]!]!;
    let b = 1;
    for (let j = 0; j < subset.length; j++) {
      if (i === j) continue;
      const xj = xs[subset[j]!]!;
      b = mul(b, div(at ^ xj, xi ^ xj));
    }
    out[i] = b;
  }
}

/** The secret (polynomial at 0) from the subset's shares, 32 bytes. */
function interpolateAt0(subset: Uint8Array, shares: Uint8Array[], xs: number[], k: number): Uint8Array {
  const l = new Uint8Array(k);
  basis(subset, xs, 0, l);
  const out = new Uint8Array(KEY_BYTES);
  for (let i = 0; i < k; i++) {
    const s = shares[subset[i]!]!;
    const li = l[i]!;
    for (let b = 0; b < KEY_BYTES; b++) out[b]! ^= mul(s[b]!, li);
  }
  return out;
}

/** How many shares outside the subset agree with its polynomial on bytes 0 and 1. */
function agreement(subset: Uint8Array, shares: Uint8Array[], xs: number[], k: number): number {
  const inSubset = new Uint8Array(shares.length);
  for (const i of subset) inSubset[i] = 1;
  const l = new Uint8Array(k);
  let score = 0;
  for (let j = 0; j < shares.length; j++) {
    if (inSubset[j]) continue;
    basis(subset, xs, xs[j]!, l);
    let y0 = 0;
    let y1 = 0;
    for (let i = 0; i < k; i++) {
      const s = shares[subset[i]!]!;
      y0 ^= mul(s[0]!, l[i]!);
      y1 ^= mul(s[1]!, l[i]!);
    }
    if (y0 === shares[j]![0] && y1 === shares[j]![1]) score++;
  }
  return score;
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) {
    r = (r * (n - k + i)) / i;
    if (r > Number.MAX_SAFE_INTEGER) return Infinity;
  }
  return Math.round(r);
}

/** k-subsets of {0..n−1} as sorted index arrays, in lexicographic order. */
function* allSubsets(n: number, k: number): Generator<Uint8Array> {
  const idx = Uint8Array.from({ length: k }, (_, i) => i);
  for (;;) {
    yield idx.slice();
    let i = k - 1;
    while (i >= 0 && idx[i] === n - k + i) i--;
    if (i < 0) return;
    idx[i]!++;
    for (let j = i + 1; j < k; j++) idx[j] = idx[j - 1]! + 1;
  }
}

/** A uniformly random k-subset of {0..n−1} (partial Fisher–Yates). */
function randomSubset(n: number, k: number): Uint8Array {
  const pool = Array.from({ length: n }, (_, i) => i);
  const out = new Uint8Array(k);
  for (let i = 0; i < k; i++) {
    const j = i + randomInt(n - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    out[i] = pool[i]!;
  }
  return out;
}
