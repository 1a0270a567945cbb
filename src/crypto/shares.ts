/**
 * Shamir k-of-n shares of the session key (DESIGN §3 "Envelope"; paper §5.1: any k shares rebuild the key,
 * k−1 leave it undetermined). Built on shamir-secret-sharing 0.0.4 (GF(2^8), per byte), whose share layout
 * is `y-values[secret length] ‖ x-coordinate (1..255)`.
 *
 * Threshold 1 (which the library refuses) uses the degree-0 polynomial: every share is `key ‖ x`. That is
 * exactly what Shamir gives for k = 1 (f(x) = key), so such shares also combine correctly in any number.
 *
 * The library returns garbage, silently, for too few or corrupt shares; so combineShares() takes a `check`
 * (in smig: the candidate key must open the envelope's header segment) and tries other k-subsets.
 */
import { combine, split } from 'shamir-secret-sharing';
import { smigError } from '../errors.js';
import { wipe } from './wipe.js';

/** Session key length (ChaCha20-Poly1305 key). */
export const KEY_BYTES = 32;
/** Share length: 32 y-bytes and the x-coordinate as the last byte (shamir-secret-sharing's layout). */
export const SHARE_BYTES: number = KEY_BYTES + 1;
/** GF(2^8) has 255 non-zero x-coordinates. */
export const MAX_SHARES = 255;
/** At most this many k-subsets are tried by combineShares() before it gives up. */
export const MAX_SUBSETS = 1024;

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
    throw smigError('SMIG_ERR_USAGE', `key shares: need 1 <= threshold <= shares <= ${MAX_SHARES}, got threshold ${k} of ${n}`);
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
 * Rebuilds the key from `shares`, trying k-subsets (in a fixed order, at most {@link MAX_SUBSETS}) until
 * `check` accepts a candidate; rejected candidates are wiped. Malformed shares (wrong length, x = 0) are
 * ignored, exact duplicates count once, and two shares with the same x are never combined together.
 * The caller owns (and should wipe) the returned key; `shares` are not modified.
 * @throws SmigError SMIG_ERR_SHARES when no subset passes, saying how many were tried;
 *   SMIG_ERR_USAGE for a threshold outside 1..255
 */
export async function combineShares(shares: Uint8Array[], k: number,
  check: (key: Uint8Array) => boolean): Promise<Uint8Array> {
  if (!Number.isInteger(k) || k < 1 || k > MAX_SHARES) {
    throw smigError('SMIG_ERR_USAGE', `key shares: threshold ${k} is outside 1..${MAX_SHARES}`);
  }
  const usable: Uint8Array[] = [];
  let malformed = 0;
  for (const s of shares) {
    if (!(s instanceof Uint8Array) || s.length !== SHARE_BYTES || s[KEY_BYTES] === 0) malformed++;
    else if (!usable.some((u) => Buffer.from(u.buffer, u.byteOffset, u.length).equals(s))) usable.push(s);
  }
  const ignored = malformed > 0 ? `; ${malformed} malformed share(s) ignored` : '';
  if (usable.length < k) {
    throw smigError('SMIG_ERR_SHARES', `key shares: need ${k} distinct shares, have ${usable.length}${ignored}`);
  }
  let tried = 0;
  for (const subset of subsets(usable.length, k)) {
    if (tried === MAX_SUBSETS) break;
    const picked = subset.map((i) => usable[i]!);
    if (new Set(picked.map((s) => s[KEY_BYTES])).size < k) continue; // same x twice: not a valid subset
    tried++;
    // copies: the library wants plain Uint8Arrays (not Buffers), and the inputs stay untouched
    const copies = picked.map((s) => new Uint8Array(s));
    const candidate = k === 1 ? copies[0]!.slice(0, KEY_BYTES) : await combine(copies);
    wipe(...copies);
    let ok = false;
    try {
      ok = check(candidate);
    } finally {
      if (!ok) wipe(candidate);
    }
    if (ok) return candidate;
  }
  throw smigError('SMIG_ERR_SHARES',
    `key shares: no ${k} of ${usable.length} shares rebuilt a key that passed the check ` +
    `(tried ${tried} subset(s)${tried === MAX_SUBSETS ? ', the limit' : ''})${ignored}`);
}

/** k-subsets of {0..n−1} as sorted index arrays, in lexicographic order. */
function* subsets(n: number, k: number): Generator<number[]> {
  const idx = Array.from({ length: k }, (_, i) => i);
  for (;;) {
    yield idx.slice();
    let i = k - 1;
    while (i >= 0 && idx[i] === n - k + i) i--;
    if (i < 0) return;
    idx[i]!++;
    for (let j = i + 1; j < k; j++) idx[j] = idx[j - 1]! + 1;
  }
}
