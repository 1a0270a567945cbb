/**
 * The token bucket on a FakeClock: long-run rate within 0.1 % under random timer lateness, deadlines that never
 * drift, no first-interval burst, bounded catch-up after stalls (the token-bucket arrival curve holds for every
 * interval), rate changes from the next write, pauses, aborts, and per-bin schedules.
 */
import { describe, expect, it } from 'vitest';
import type { RateSchedule } from '../../src/pacing/bucket.js';
import { TokenBucket } from '../../src/pacing/bucket.js';
import { FakeClock } from '../../src/pacing/clock.js';
import { createRng } from '../../src/profile/sampler.js';

interface Grant {
  t: number;
  n: number;
}

/**
 * Runs concurrent producer loops, each taking its sizes one after the other, while driving the clock. A stall
 * goes in `beforeStep` (between timer firings, like a real blocked event loop) or, with a single producer, in
 * `onGrant`. Returns the grants in order.
 */
async function drive(
  bucket: TokenBucket,
  clock: FakeClock,
  sizes: number[][],
  onGrant?: (g: Grant, i: number) => void,
  beforeStep?: () => void,
): Promise<Grant[]> {
  const grants: Grant[] = [];
  let running = sizes.length;
  const loops = sizes.map(async (list) => {
    for (const n of list) {
      await bucket.take(n);
      const g = { t: clock.now(), n };
      grants.push(g);
      onGrant?.(g, grants.length - 1);
    }
    running--;
  });
  while (running > 0) {
    beforeStep?.();
    await clock.next();
  }
  await Promise.all(loops);
  return grants;
}

/** Largest excess of bytes granted in any interval [tᵢ, tⱼ] over depth + rate·(tⱼ − tᵢ) (≤ 0 when the curve holds). */
function arrivalExcess(grants: Grant[], rate: number, depth: number): number {
  let best = -Infinity; // max over i ≤ j of rate·tᵢ/1000 − C(i−1)
  let cum = 0;
  let worst = -Infinity;
  for (const g of grants) {
    best = Math.max(best, (rate * g.t) / 1000 - cum);
    cum += g.n;
    worst = Math.max(worst, cum - (rate * g.t) / 1000 + best - depth);
  }
  return worst;
}

describe('TokenBucket on a fake clock', () => {
  it('keeps the long-run rate within 0.1 % over 10^5 writes of random sizes with random timer lateness, and never drifts', async () => {
    const rng = createRng(11);
    const clock = new FakeClock({ start: 1000, lateness: () => rng() * 2 }); // timers 0–2 ms late
    const rate = 1_000_000;
    const bucket = new TokenBucket({ clock, rate, depth: 64 * 1024 });
    const sizes = Array.from({ length: 100_000 }, () => 1 + Math.floor(rng() * 1500));
    const grants = await drive(bucket, clock, [sizes]);
    const total = sizes.reduce((a, b) => a + b, 0);
    const t0 = 1000;
    const achieved = total / ((grants[grants.length - 1]!.t - t0) / 1000);
    expect(Math.abs(achieved - rate) / rate).toBeLessThanOrEqual(0.001);
    // every write goes at or after its deadline t0 + S_k/r, and never more than the timer lateness after it
    let cum = 0;
    let maxLate = 0;
    for (const g of grants) {
      cum += g.n;
      const deadline = t0 + (cum / rate) * 1000;
      expect(g.t).toBeGreaterThanOrEqual(deadline - 1e-6);
      maxLate = Math.max(maxLate, g.t - deadline);
    }
    expect(maxLate).toBeLessThanOrEqual(2 + 1e-6);
    const s = bucket.stats();
    expect(s).toMatchObject({ writes: 100_000, bytes: total, start: t0, last: grants[grants.length - 1]!.t });
    // lateness counts the writes that waited for their deadline (after a late one, the next may be due at once)
    expect(s.lateness.n).toBeGreaterThan(40_000);
    expect(s.lateness.n).toBeLessThan(100_000);
    expect(s.lateness.p50).toBeGreaterThan(0.8);
    expect(s.lateness.p50).toBeLessThan(1.2);
    expect(s.lateness.p99).toBeGreaterThan(1.9);
    expect(s.lateness.max).toBeLessThanOrEqual(2);
  });

  it('starts empty: the first write of n bytes goes n/rate after the first take, even after a long idle spell', async () => {
    const clock = new FakeClock({ start: 5 });
    const bucket = new TokenBucket({ clock, rate: 1000, depth: 10_000 });
    await clock.advance(10_000); // idle before the first write: no credit builds up
    let done = false;
    void bucket.take(1).then(() => (done = true));
    await clock.advance(0.999);
    expect(done).toBe(false);
    await clock.advance(0.001);
    expect(done).toBe(true);
    expect(clock.now()).toBeCloseTo(10_006, 9);
    const grants = await drive(bucket, clock, [[500, 500]]);
    expect(grants.map((g) => g.t)).toEqual([10_506, 11_006]);
  });

  it('after a stall, at most the depth goes at once, then the pace resumes (arrival curve holds)', async () => {
    const clock = new FakeClock();
    const rate = 100_000;
    const depth = 5000;
    const bucket = new TokenBucket({ clock, rate, depth });
    const grants = await drive(bucket, clock, [new Array(200).fill(1000)], (_g, i) => {
      if (i === 49) clock.stall(1000); // the event loop blocks for a second
    });
    // the 50th write went at 500 ms; the stall ends at 1500 ms: writes 51–55 (the depth) go at once, then 10 ms apart
    expect(grants[49]!.t).toBeCloseTo(500, 9);
    expect(grants.slice(50, 55).map((g) => g.t)).toEqual(new Array(5).fill(1500));
    expect(grants[55]!.t).toBeCloseTo(1510, 9);
    expect(grants[56]!.t).toBeCloseTo(1520, 9);
    expect(arrivalExcess(grants, rate, depth)).toBeLessThanOrEqual(1e-6);
  });

  it('random stalls with concurrent writers never exceed depth + rate·interval', async () => {
    const rng = createRng(5);
    const clock = new FakeClock({ lateness: () => rng() * 3 });
    const rate = 250_000;
    const depth = 8000;
    const bucket = new TokenBucket({ clock, rate, depth });
    const sizes = () => Array.from({ length: 2000 }, () => 1 + Math.floor(rng() * 4000));
    const grants = await drive(bucket, clock, [sizes(), sizes(), sizes()], undefined, () => {
      if (rng() < 0.01) clock.stall(rng() * 200);
    });
    expect(grants).toHaveLength(6000);
    expect(arrivalExcess(grants, rate, depth)).toBeLessThanOrEqual(1e-6);
    // and a stall that happened cost the writes' time: bytes never exceed the curve, but do not run ahead of t0 + S/r either
    let cum = 0;
    for (const g of grants) {
      cum += g.n;
      expect(g.t).toBeGreaterThanOrEqual((cum / rate) * 1000 - 1e-6);
    }
  });

  it('a rate change takes effect from the next write, keeping the schedule; rate 0 pauses', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ clock, rate: 1000, depth: 10_000 });
    const grants = await drive(bucket, clock, [[100, 100, 100, 100]], (_g, i) => {
      if (i === 1) bucket.setRate(2000); // at 200 ms, while nothing else is scheduled yet
    });
    expect(grants.map((g) => g.t)).toEqual([100, 200, 250, 300]);
    // a change while a write is waiting leaves that write's deadline alone
    const t: number[] = [];
    const p1 = bucket.take(100).then(() => t.push(clock.now())); // due at 350 at 2000 B/s
    const p2 = bucket.take(100).then(() => t.push(clock.now()));
    await clock.advance(10);
    bucket.setRate(500);
    while (t.length < 2) await clock.next();
    await Promise.all([p1, p2]);
    expect(t).toEqual([350, 550]);
    expect(bucket.rate).toBe(500);
    // pause: the waiting write goes n/rate after the rate comes back
    bucket.setRate(0);
    let resumed = 0;
    const p3 = bucket.take(100).then(() => (resumed = clock.now()));
    await clock.advance(5000);
    expect(resumed).toBe(0);
    bucket.setRate(1000);
    while (resumed === 0) await clock.next();
    await p3;
    expect(resumed).toBeCloseTo(5650, 9);
  });

  it('follows a per-bin schedule, zero bins included', async () => {
    const rates = [1000, 0, 3000];
    let t0 = 0;
    const schedule: RateSchedule = {
      start: (t) => (t0 = t),
      piece: (t) => {
        const i = Math.min(Math.floor((t - t0) / 1000), 2);
        return { rate: rates[i]!, end: i === 2 ? Infinity : t0 + (i + 1) * 1000 };
      },
    };
    const clock = new FakeClock({ start: 50 });
    const bucket = new TokenBucket({ clock, schedule, depth: 1000 });
    const grants = await drive(bucket, clock, [new Array(40).fill(100)]);
    const inBin = (lo: number, hi: number): number => grants.filter((g) => g.t > 50 + lo && g.t <= 50 + hi).length;
    expect([inBin(0, 1000), inBin(1000, 2000), inBin(2000, 3000)]).toEqual([10, 0, 30]);
    expect(grants[10]!.t).toBeCloseTo(50 + 2000 + 100 / 3, 9);
    expect(grants[39]!.t).toBeCloseTo(50 + 3000, 9);
  });

  it('aborts: a waiting write rejects with the reason and is not charged', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ clock, rate: 1000, depth: 10_000 });
    await drive(bucket, clock, [[100]]);
    const ac = new AbortController();
    const second = new AbortController();
    const aborted = bucket.take(500, ac.signal);
    const behind = bucket.take(50, second.signal);
    const reason = new Error('stop');
    await clock.advance(200); // t = 300
    ac.abort(reason);
    second.abort('second');
    await expect(aborted).rejects.toBe(reason);
    await expect(behind).rejects.toBe('second');
    // the 500 bytes were never charged: the next write finds 200 unspent tokens and goes at once
    const t = clock.now();
    await drive(bucket, clock, [[100]]);
    expect(clock.now()).toBe(t);
    expect(bucket.stats()).toMatchObject({ writes: 2, bytes: 200 });
    await expect(bucket.take(1, AbortSignal.abort('already'))).rejects.toBe('already');
  });

  it('refuses bad arguments with coded errors', async () => {
    const clock = new FakeClock();
    expect(() => new TokenBucket({ clock, rate: 1, depth: 0 })).toThrow(
      expect.objectContaining({
        code: 'SMIG_ERR_USAGE',
        message: 'TokenBucket: depth must be a positive number of bytes (got 0)',
      }),
    );
    expect(() => new TokenBucket({ clock, rate: -1, depth: 1 })).toThrow(
      'TokenBucket: rate must be a non-negative number of bytes/s (got -1)',
    );
    expect(() => new TokenBucket({ clock, depth: 1 })).toThrow('TokenBucket: a rate or a schedule is required');
    const b = new TokenBucket({ clock, rate: 10, depth: 100 });
    await expect(b.take(101)).rejects.toMatchObject({
      code: 'SMIG_ERR_USAGE',
      message: 'TokenBucket.take: 101 bytes exceed the depth (100): split the write',
    });
    await expect(b.take(0)).rejects.toMatchObject({ message: 'TokenBucket.take: 0 is not a positive number of bytes' });
    await expect(b.take(NaN)).rejects.toMatchObject({
      message: 'TokenBucket.take: NaN is not a positive number of bytes',
    });
    expect(() => b.setRate(NaN)).toThrow('TokenBucket: rate must be a non-negative number of bytes/s (got NaN)');
    const scheduled = new TokenBucket({
      clock,
      depth: 1,
      schedule: { start: () => {}, piece: () => ({ rate: 1, end: Infinity }) },
    });
    expect(() => scheduled.setRate(1)).toThrow('TokenBucket.setRate: this bucket follows a schedule');
    expect(b.nextWriteSize()).toBe(100);
  });
});

describe('FakeClock', () => {
  it('fires sleepers in order, each at its own time, and lets a stall make them late', async () => {
    const clock = new FakeClock({ start: 10 });
    const seen: [string, number][] = [];
    void clock.sleep(30).then(() => seen.push(['b', clock.now()]));
    void clock.sleep(10).then(() => seen.push(['a', clock.now()]));
    void clock.sleep(30).then(() => seen.push(['c', clock.now()]));
    void clock.sleep(0).then(() => seen.push(['now', clock.now()]));
    await clock.advance(25);
    expect(seen).toEqual([
      ['now', 10],
      ['a', 20],
    ]);
    expect(clock.now()).toBe(35);
    clock.stall(100);
    expect(clock.pending).toBe(2);
    await clock.next();
    await clock.next();
    expect(seen.slice(2)).toEqual([
      ['b', 135],
      ['c', 135],
    ]);
    expect(await clock.next()).toBe(false);
    const ac = new AbortController();
    const p = clock.sleep(5, ac.signal);
    ac.abort('x');
    await expect(p).rejects.toBe('x');
    expect(clock.pending).toBe(0);
  });
});
