/**
 * The source's keepalive (source-links.ts startKeepalive) on a fake clock: a quiet link gets a PING after a random
 * quiet time between one and 2.25 keepalive periods (checked four times a period), not at a fixed period; a link that
 * carries bytes gets none.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/pacing/clock.js';
import { FrameType } from '../../src/protocol/index.js';
import type { Link } from '../../src/roles/link.js';
import { startKeepalive } from '../../src/roles/source-links.js';
import { createRng } from '../../src/util/rng.js';

/** A link as the keepalive sees it: byte counters, and the times of the PINGs posted on it. */
function fakeLink(clock: FakeClock): {
  link: Link;
  pings: number[];
  conn: { bytesRead: number; bytesWritten: number };
} {
  const conn = { bytesRead: 0, bytesWritten: 0 };
  const pings: number[] = [];
  const link = {
    conn,
    post: (m: { type: FrameType }) => {
      if (m.type === FrameType.PING) pings.push(clock.now());
      conn.bytesWritten += 9;
    },
  } as unknown as Link;
  return { link, pings, conn };
}

describe('startKeepalive', () => {
  it('pings a quiet link after a random 1–2.25 periods each time, and never a busy one', async () => {
    const clock = new FakeClock();
    const quiet = fakeLink(clock);
    const busy = fakeLink(clock);
    // idle timeout 45 s: the period is 15 s (a third, at most KEEPALIVE_MS)
    const timer = startKeepalive(() => [quiet.link, busy.link], 45_000, clock, createRng(3));
    for (let t = 0; t < 200; t++) {
      busy.conn.bytesRead += 100; // traffic every 5 s
      await clock.advance(5_000);
    }
    timer.cancel();
    expect(busy.pings).toEqual([]);
    const gaps = quiet.pings.slice(1).map((t, i) => t - quiet.pings[i]!);
    expect(gaps.length).toBeGreaterThan(20);
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(15_000);
      expect(g).toBeLessThanOrEqual(15_000 * 2.25 + 1);
    }
    // not one period again and again: the gaps spread over the range
    expect(Math.max(...gaps) - Math.min(...gaps)).toBeGreaterThan(10_000);
    expect(new Set(gaps).size).toBeGreaterThan(3);
  });
});
