/**
 * Radix sorts of the analyzer's large samples (src/analysis/stats.ts, traffic.ts): doubles in the order of
 * `Float64Array#sort`, 64-bit integer keys as two 32-bit halves, and 32-bit keys — each far faster than a comparison
 * sort at a million values.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Sorts NaN-free doubles ascending in place, in the order of `Float64Array#sort` (−0 before +0): LSD radix sort
 * on the IEEE bit patterns made order-preserving (negative: all bits flipped; positive: the sign bit), 16 bits a
 * pass, a pass skipped when every key has the same digit.
 */
export function radixSort(a: Float64Array): Float64Array {
  if (!LITTLE_ENDIAN) return a.sort();
  const n = a.length;
  const words = new Uint32Array(a.buffer, a.byteOffset, 2 * n); // [low, high] per double
  const lo = new Uint32Array(n);
  const hi = new Uint32Array(n);
  toSortable(words, lo, hi);
  const [l, h] = radixPasses(lo, hi);
  fromSortable(words, l, h);
  return a;
}

// Each loop is a function of its own: V8 optimizes small hot functions at once, while one big function running a
// million-iteration loop once stays in the interpreter for a long time (3× slower in a one-shot run).
function toSortable(words: Uint32Array, lo: Uint32Array, hi: Uint32Array): void {
  for (let i = 0; i < lo.length; i++) {
    const h = words[2 * i + 1]!;
    const l = words[2 * i]!;
    if (h & 0x80000000) {
      hi[i] = ~h >>> 0;
      lo[i] = ~l >>> 0;
    } else {
      hi[i] = (h | 0x80000000) >>> 0;
      lo[i] = l;
    }
  }
}

function fromSortable(words: Uint32Array, lo: Uint32Array, hi: Uint32Array): void {
  for (let i = 0; i < lo.length; i++) {
    const h = hi[i]!;
    if (h & 0x80000000) {
      words[2 * i + 1] = (h & 0x7fffffff) >>> 0;
      words[2 * i] = lo[i]!;
    } else {
      words[2 * i + 1] = ~h >>> 0;
      words[2 * i] = ~lo[i]! >>> 0;
    }
  }
}

/**
 * LSD radix sort of 64-bit keys given as (hi, lo) 32-bit halves: four stable passes of 16 bits, low digits first, a
 * pass skipped when every key has the same digit. Returns the sorted halves (the given arrays or scratch ones).
 */
export function radixPasses(lo: Uint32Array, hi: Uint32Array): [lo: Uint32Array, hi: Uint32Array] {
  const n = lo.length;
  let lo2: Uint32Array = new Uint32Array(n);
  let hi2: Uint32Array = new Uint32Array(n);
  const count = new Uint32Array(65_536);
  for (let pass = 0; pass < 4; pass++) {
    const src = pass < 2 ? lo : hi;
    const shift = (pass & 1) * 16;
    countDigits(src, shift, count);
    if (count[(src[0]! >>> shift) & 0xffff] === n) continue; // one digit for all: nothing moves
    prefixSums(count);
    scatter(src, shift, count, lo, hi, lo2, hi2);
    [lo, lo2] = [lo2, lo];
    [hi, hi2] = [hi2, hi];
  }
  return [lo, hi];
}

/** Digits of {@link radixSortU32}: three passes of 11 bits (a 2048-entry count table per pass stays in cache). */
const U32_BITS = 11;
const U32_DIGITS = 1 << U32_BITS;

/**
 * Sorts 32-bit unsigned keys ascending: LSD radix, three passes of 11 bits whose counts are taken in one read of
 * the keys, a pass skipped when every key has the same digit. `scratch` has the keys' length; returns whichever of
 * the two arrays holds the sorted keys.
 */
export function radixSortU32(keys: Uint32Array, scratch: Uint32Array): Uint32Array {
  const count = new Uint32Array(3 * U32_DIGITS);
  countDigits3(keys, count);
  let src = keys;
  let dst = scratch;
  for (let pass = 0; pass < 3; pass++) {
    const shift = pass * U32_BITS;
    const at = pass * U32_DIGITS;
    if (src.length === 0 || count[at + ((src[0]! >>> shift) & (U32_DIGITS - 1))] === src.length) continue;
    prefixSumsAt(count, at, U32_DIGITS);
    scatter32(src, dst, count, at, shift);
    [src, dst] = [dst, src];
  }
  return src;
}

function countDigits3(keys: Uint32Array, count: Uint32Array): void {
  const m = U32_DIGITS - 1;
  for (let i = 0; i < keys.length; i++) {
    const x = keys[i]!;
    count[x & m]!++;
    count[U32_DIGITS + ((x >>> U32_BITS) & m)]!++;
    count[2 * U32_DIGITS + (x >>> (2 * U32_BITS))]!++;
  }
}

function prefixSumsAt(count: Uint32Array, at: number, n: number): void {
  let sum = 0;
  for (let d = at; d < at + n; d++) {
    const c = count[d]!;
    count[d] = sum;
    sum += c;
  }
}

function scatter32(src: Uint32Array, dst: Uint32Array, count: Uint32Array, at: number, shift: number): void {
  const m = U32_DIGITS - 1;
  for (let i = 0; i < src.length; i++) {
    const x = src[i]!;
    dst[count[at + ((x >>> shift) & m)]!++] = x;
  }
}

function countDigits(src: Uint32Array, shift: number, count: Uint32Array): void {
  count.fill(0);
  for (let i = 0; i < src.length; i++) count[(src[i]! >>> shift) & 0xffff]!++;
}

function prefixSums(count: Uint32Array): void {
  let sum = 0;
  for (let d = 0; d < count.length; d++) {
    const c = count[d]!;
    count[d] = sum;
    sum += c;
  }
}

function scatter(
  src: Uint32Array,
  shift: number,
  count: Uint32Array,
  lo: Uint32Array,
  hi: Uint32Array,
  lo2: Uint32Array,
  hi2: Uint32Array,
): void {
  for (let i = 0; i < src.length; i++) {
    const at = count[(src[i]! >>> shift) & 0xffff]!++;
    lo2[at] = lo[i]!;
    hi2[at] = hi[i]!;
  }
}
