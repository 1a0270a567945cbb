import { randomBytes } from 'node:crypto';
import { combine, split } from 'shamir-secret-sharing';
import { describe, expect, test } from 'vitest';
import { EnvelopeSealer, tryOpenHeader } from '../../src/crypto/envelope.js';
import { combineShares, KEY_BYTES, MAX_SUBSETS, SHARE_BYTES, splitKey } from '../../src/crypto/shares.js';
import { wipe } from '../../src/crypto/wipe.js';

const KEY = new Uint8Array(randomBytes(KEY_BYTES));
const isKey = (k: Uint8Array): boolean => Buffer.from(k).equals(Buffer.from(KEY));

/** All k-subsets of `xs`. */
function choose<T>(xs: T[], k: number): T[][] {
  if (k === 0) return [[]];
  return xs.flatMap((x, i) => choose(xs.slice(i + 1), k - 1).map((rest) => [x, ...rest]));
}

async function rejects(p: Promise<unknown>, code: string, message: string | RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ name: 'SmigError', code });
  expect((err as Error).message).toMatch(message);
}

describe('splitKey', () => {
  test("share layout is the library's: 32 y-bytes then a distinct non-zero x", async () => {
    const lib = await split(KEY, 3, 2);
    expect(lib[0]!.length).toBe(SHARE_BYTES);
    for (const [n, k] of [
      [3, 2],
      [5, 3],
      [1, 1],
      [4, 1],
      [255, 255],
    ] as const) {
      const shares = await splitKey(KEY, n, k);
      expect(shares).toHaveLength(n);
      expect(shares.every((s) => s.length === SHARE_BYTES && s[KEY_BYTES] !== 0)).toBe(true);
      expect(new Set(shares.map((s) => s[KEY_BYTES])).size).toBe(n);
    }
  });

  test.each([
    [3, 2],
    [5, 3],
    [4, 4],
    [2, 2],
    [3, 1],
    [1, 1],
  ])('n=%i k=%i: every k-subset rebuilds the key', async (n, k) => {
    const shares = await splitKey(KEY, n, k);
    for (const subset of choose(shares, k)) {
      const key = await combineShares(subset, k, isKey);
      expect(isKey(key)).toBe(true);
      if (k >= 2) expect(isKey(await combine(subset))).toBe(true); // the library agrees
    }
  });

  test('threshold 1 is the degree-0 polynomial: the library combines such shares too', async () => {
    const shares = await splitKey(KEY, 3, 1);
    expect(shares.every((s) => isKey(s.subarray(0, KEY_BYTES)))).toBe(true);
    expect(isKey(await combine([shares[0]!, shares[2]!]))).toBe(true);
    expect(isKey(await combine(shares))).toBe(true);
  });

  test('Buffer input works and is not modified', async () => {
    const buf = Buffer.from(KEY);
    const shares = await splitKey(buf, 3, 2);
    expect(buf.equals(Buffer.from(KEY))).toBe(true);
    expect(
      isKey(
        await combineShares(
          shares.map((s) => Buffer.from(s)),
          2,
          isKey,
        ),
      ),
    ).toBe(true);
  });

  test.each([
    [3, 0, 'key shares: need 1 <= threshold <= shares <= 255, got threshold 0 of 3'],
    [2, 3, 'key shares: need 1 <= threshold <= shares <= 255, got threshold 3 of 2'],
    [256, 2, 'key shares: need 1 <= threshold <= shares <= 255, got threshold 2 of 256'],
    [0, 0, 'key shares: need 1 <= threshold <= shares <= 255, got threshold 0 of 0'],
    [3, 1.5, 'key shares: need 1 <= threshold <= shares <= 255, got threshold 1.5 of 3'],
  ])('n=%s k=%s is refused', async (n, k, message) => {
    await rejects(splitKey(KEY, n, k), 'SMIG_ERR_USAGE', message);
  });

  test('a key that is not 32 bytes is refused', async () => {
    await rejects(splitKey(new Uint8Array(16), 3, 2), 'SMIG_ERR_INTERNAL', 'key shares: key must be 32 bytes');
  });
});

describe('combineShares', () => {
  test('k−1 shares do not pass the check', async () => {
    const shares = await splitKey(KEY, 5, 3);
    await rejects(
      combineShares(shares.slice(0, 2), 3, isKey),
      'SMIG_ERR_SHARES',
      'key shares: need 3 distinct shares, have 2',
    );
    // told a lower threshold, the library returns garbage silently: the check catches it
    await rejects(
      combineShares(shares.slice(0, 2), 2, isKey),
      'SMIG_ERR_SHARES',
      'key shares: no 2 of 2 shares rebuilt a key that passed the check (tried 1 subset(s))',
    );
  });

  test('one corrupt share among k+1 still rebuilds the key; rejected candidates are wiped', async () => {
    const shares = await splitKey(KEY, 3, 2);
    const corrupt = Uint8Array.from(shares[0]!);
    corrupt[7]! ^= 0x55;
    const seen: Uint8Array[] = [];
    const key = await combineShares([corrupt, shares[1]!, shares[2]!], 2, (k) => {
      seen.push(k);
      return isKey(k);
    });
    expect(isKey(key)).toBe(true);
    expect(seen).toHaveLength(3); // {corrupt, 1} and {corrupt, 2} rejected, {1, 2} accepted
    expect(seen.slice(0, 2).every((k) => k.every((b) => b === 0))).toBe(true);
    expect(seen[2]).toBe(key);
  });

  test('with more good shares than k, the first candidate is the right one whatever comes first', async () => {
    // the two bad shares are off by deltas that are not proportional on bytes 0 and 1 (1, 2 and 1, 3): a subset
    // holding both then disagrees with every other share on those bytes whatever the x-coordinates (with equal
    // deltas on both bytes it agrees with a share at x wherever the good share's Lagrange basis is 1 at x: a few
    // per cent of random x-coordinates, which made this test fail now and then)
    const deltas = [
      [1, 1],
      [2, 3],
    ];
    for (let round = 0; round < 50; round++) {
      const shares = await splitKey(KEY, 6, 3); // fresh random x-coordinates every round
      const corrupt = shares.slice(0, 2).map((s, i) => {
        const c = Uint8Array.from(s);
        c[0]! ^= deltas[i]![0]!;
        c[1]! ^= deltas[i]![1]!;
        return c;
      });
      let calls = 0;
      const key = await combineShares([...corrupt, ...shares.slice(2)], 3, (k) => (calls++, isKey(k)));
      expect(isKey(key)).toBe(true);
      expect(calls).toBe(1); // the all-good subsets are agreed with by the fourth good share, ranked first
    }
  });

  test('duplicates count once; two different shares with the same x are refused up front', async () => {
    const shares = await splitKey(KEY, 3, 2);
    await rejects(
      combineShares([shares[0]!, Uint8Array.from(shares[0]!)], 2, isKey),
      'SMIG_ERR_SHARES',
      'key shares: need 2 distinct shares, have 1',
    );
    expect(isKey(await combineShares([shares[0]!, shares[0]!, shares[1]!], 2, isKey))).toBe(true);
    const sameX = Uint8Array.from(shares[0]!);
    sameX[3]! ^= 1; // same x-coordinate, other y: a conflicting copy
    let calls = 0;
    await rejects(
      combineShares([shares[0]!, sameX, shares[1]!], 2, () => (calls++, true)),
      'SMIG_ERR_SHARES',
      `key shares: two different shares with x = ${shares[0]![KEY_BYTES]!} (one of them is forged); refused`,
    );
    expect(calls).toBe(0);
  });

  test('40 shares with repeated x are refused in milliseconds, without a single check', async () => {
    const shares = await splitKey(KEY, 20, 10);
    const forged = shares.map((s) => {
      const c = Uint8Array.from(s);
      c[5]! ^= 0xff;
      return c;
    });
    let calls = 0;
    const cpu = process.cpuUsage();
    await rejects(
      combineShares([...shares, ...forged], 10, () => (calls++, false)),
      'SMIG_ERR_SHARES',
      /two different shares with x = \d+/,
    );
    const used = process.cpuUsage(cpu);
    expect(calls).toBe(0);
    expect((used.user + used.system) / 1000).toBeLessThan(50); // ms of CPU (the old search took hours)
  });

  test('more than 255 shares are refused', async () => {
    await rejects(
      combineShares(
        Array.from({ length: 256 }, () => new Uint8Array(SHARE_BYTES)),
        2,
        isKey,
      ),
      'SMIG_ERR_SHARES',
      'key shares: 256 shares offered, at most 255',
    );
  });

  test.each([
    [8, 8],
    [4, 12],
    [2, 14],
    [12, 4],
    [1, 15],
  ])('k=%i good shares among 16 with %i bad ones (bad first) are found within 1 s of CPU', async (k, bad) => {
    const shares = await splitKey(KEY, 16, k);
    const good = shares.slice(0, k);
    const forged = shares.slice(k, k + bad).map((s) => {
      const c = Uint8Array.from(s);
      for (let i = 0; i < KEY_BYTES; i++) c[i]! ^= (i * 37 + 11) & 0xff || 1;
      return c;
    });
    const cpu = process.cpuUsage();
    const key = await combineShares([...forged, ...good], k, isKey);
    const used = process.cpuUsage(cpu);
    expect(isKey(key)).toBe(true);
    expect((used.user + used.system) / 1e6).toBeLessThan(1);
  });

  test('k good among 16 whose bad shares agree with each other (a consistent forgery) are found, checking with the envelope', async () => {
    // the bad shares lie on one polynomial of their own: subsets of them rank high and must fail the real check
    const k = 6;
    const good = (await splitKey(KEY, 16, k)).slice(0, k);
    const fake = (await splitKey(new Uint8Array(randomBytes(KEY_BYTES)), 16, k))
      .filter((f) => !good.some((g) => g[KEY_BYTES] === f[KEY_BYTES]))
      .slice(0, 16 - k);
    const sid = new Uint8Array(randomBytes(16));
    const sealer = new EnvelopeSealer(KEY, {
      version: 1,
      sessionId: sid,
      destination: 'd:1',
      name: 'f',
      length: 0n,
      segmentSize: 4096,
    });
    const prefix = sealer.prefix();
    const cpu = process.cpuUsage();
    const key = await combineShares([...fake, ...good], k, (c) => tryOpenHeader(c, sid, prefix) !== undefined);
    const used = process.cpuUsage(cpu);
    expect(isKey(key)).toBe(true);
    expect((used.user + used.system) / 1e6).toBeLessThan(1);
  });

  test('the interpolation agrees with the library on random subsets', async () => {
    for (let t = 0; t < 20; t++) {
      const k = 2 + (t % 6);
      const shares = await splitKey(KEY, k + 3, k);
      const pick = shares.slice(t % 3, (t % 3) + k);
      const mine = await combineShares(pick, k, () => true);
      expect(Buffer.from(mine).equals(Buffer.from(await combine(pick)))).toBe(true);
    }
  });

  test('malformed shares are ignored and counted', async () => {
    const shares = await splitKey(KEY, 3, 2);
    const zeroX = Uint8Array.from(shares[2]!);
    zeroX[KEY_BYTES] = 0;
    const key = await combineShares([shares[0]!.subarray(1), zeroX, shares[1]!, shares[2]!], 2, isKey);
    expect(isKey(key)).toBe(true);
    await rejects(
      combineShares([shares[0]!.subarray(1), zeroX, shares[1]!], 2, isKey),
      'SMIG_ERR_SHARES',
      'key shares: need 2 distinct shares, have 1; 2 malformed share(s) ignored',
    );
  });

  test('inputs are not modified (accepted or rejected)', async () => {
    const shares = await splitKey(KEY, 3, 2);
    const before = shares.map((s) => Buffer.from(s));
    await combineShares(shares, 2, () => false).catch(() => undefined);
    await combineShares(shares, 2, isKey);
    expect(shares.map((s) => Buffer.from(s))).toEqual(before);
    const one = await splitKey(KEY, 2, 1);
    await combineShares(one, 1, () => false).catch(() => undefined);
    expect(isKey(one[0]!.subarray(0, KEY_BYTES))).toBe(true);
  });

  test('the number of candidates tried is bounded', async () => {
    const shares = await splitKey(KEY, 18, 9); // C(18,9) = 48 620 subsets
    let calls = 0;
    await rejects(
      combineShares(shares, 9, () => (calls++, false)),
      'SMIG_ERR_SHARES',
      `key shares: no 9 of 18 shares rebuilt a key that passed the check (tried ${MAX_SUBSETS} subset(s), the limit)`,
    );
    expect(calls).toBe(MAX_SUBSETS);
  });

  test('a check that throws propagates after the candidate is wiped', async () => {
    const shares = await splitKey(KEY, 2, 2);
    let cand: Uint8Array | undefined;
    await expect(
      combineShares(shares, 2, (k) => {
        cand = k;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(cand!.every((b) => b === 0)).toBe(true);
  });

  test('a threshold outside 1..255 is refused', async () => {
    await rejects(combineShares([], 0, isKey), 'SMIG_ERR_USAGE', 'key shares: threshold 0 is outside 1..255');
  });
});

describe('wipe', () => {
  test('zeroes every buffer, skips undefined, handles views', () => {
    const a = Uint8Array.from([1, 2, 3]);
    const backing = Uint8Array.from([9, 9, 9, 9]);
    wipe(a, undefined, backing.subarray(1, 3));
    expect([...a]).toEqual([0, 0, 0]);
    expect([...backing]).toEqual([9, 0, 0, 9]);
  });
});

describe('benchShares (the bench:shares cases, checked for correctness, not speed)', () => {
  test('finds the key among random shares and refuses repeated x without checking a candidate', async () => {
    const { benchShares } = await import('../../src/bench/shares.js');
    const rows = await benchShares({ good: [2, 3], total: 6 });
    expect(rows.map((r) => [r.case, r.ok])).toEqual([
      ['2 good among 6, 4 random first', true],
      ['3 good among 6, 3 random first', true],
      ['40 shares, every x twice', true],
    ]);
    // every k-subset at most: C(6,2) = 15, C(6,3) = 20; the repeated-x case is refused before any check
    expect(rows[0]!.checks).toBeGreaterThan(0);
    expect(rows[0]!.checks).toBeLessThanOrEqual(15);
    expect(rows[1]!.checks).toBeLessThanOrEqual(20);
    expect(rows[2]!.checks).toBe(0);
  });
});
