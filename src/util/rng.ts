/** Seeded pseudo-random numbers for sampling and reservoirs (not for secrets: those come from node:crypto). */
import { smigError } from '../errors.js';

/** Uniform doubles in [0, 1). */
export type Rng = () => number;

/**
 * A seeded PRNG: sfc32 (Doty-Humphrey's small fast chaotic generator) with its state filled by splitmix32 from
 * the seed's low and high 32 bits; 53-bit doubles. Not for secrets.
 * @throws SmigError SMIG_ERR_USAGE when the seed is not a finite number.
 */
export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed))
    throw smigError('SMIG_ERR_USAGE', `createRng: seed must be a finite number (got ${seed})`);
  let s = (Math.trunc(seed) >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) >>> 0, 0x85ebca6b);
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) | 0;
    return fmix32(s);
  };
  let a = splitmix(),
    b = splitmix(),
    c = splitmix(),
    d = 1;
  const u32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) u32();
  return () => ((u32() >>> 5) * 67108864 + (u32() >>> 6)) / 9007199254740992;
}

/**
 * A 32-bit seed for stream `stream` of a run seeded with `seed` (e.g. one per hop): distinct streams give
 * unrelated generators.
 */
export function deriveSeed(seed: number, stream: number): number {
  const lo = fmix32((Math.trunc(seed) >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) >>> 0, 0xcc9e2d51));
  return fmix32(
    lo ^
      Math.imul((Math.trunc(stream) >>> 0) + 1, 0x9e3779b9) ^
      Math.imul(Math.floor(stream / 2 ** 32) >>> 0, 0x1b873593),
  );
}

/** murmur3's 32-bit finalizer. */
function fmix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
