/**
 * A shaped session whose data is through sooner than the plan's lower bound: the leader holds END on its link to
 * the destination, covering, until that link has lasted the bound (hold.ts `endHoldMs`). On the fake clock
 * (test/helpers/session-core.ts), so the times are exact. Oracle: the bound is the payload ÷ the profile's
 * `bytesPerSecond`, set here by hand far below the trace's own rate (the data is through in a few seconds).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { endHoldMs, MAX_END_HOLD_MS, meanWriteRate } from '../../src/pacing/hold.js';
import type { PacingPlan } from '../../src/pacing/plan.js';
import { createPlan, PLAN_MAX_TRACE, traceRepeatWarning } from '../../src/pacing/plan.js';
import { learnProfile } from '../../src/profile/learn.js';
import { FIXTURE_DIR } from '../helpers/captures.js';
import { Cluster, HOSTS } from '../helpers/session-core.js';

const { profile } = await learnProfile(join(FIXTURE_DIR, 'ndpi__netflix.pcap'), { filter: 'dst host 192.168.1.7' });
const SESSION_ID = Uint8Array.from({ length: 16 }, (_, i) => 0xb0 + i);

let c: Cluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

/** The netflix plan with the profile's mean rate set to `bytesPerSecond` (only the lower bound reads it). */
function planAt(bytesPerSecond: number): PacingPlan {
  const plan = createPlan({ strategy: 'profile', profile, seed: 7 });
  return { ...plan, profile: { ...plan.profile!, bytesPerSecond } };
}

describe('endHoldMs', () => {
  it('is the rest of the lower bound for a shaped plan with cover, capped; 0 for any other plan', () => {
    const plan = planAt(1000);
    expect(endHoldMs(plan, 20_000, 4000)).toBe(16_000); // 20 s bound, 4 s gone
    expect(endHoldMs(plan, 20_000, 25_000)).toBe(0);
    expect(endHoldMs(plan, 1_000_000, 0)).toBe(MAX_END_HOLD_MS);
    expect(endHoldMs({ ...plan, cover: false }, 20_000, 0)).toBe(0);
    expect(endHoldMs(createPlan({ strategy: 'constant', rate: 1000, seed: 1 }), 20_000, 0)).toBe(0);
    expect(endHoldMs(undefined, 20_000, 0)).toBe(0);
    const { trace: _t, ...binned } = plan.profile!;
    expect(endHoldMs({ ...plan, profile: binned }, 20_000, 0)).toBe(0); // a binned profile plan is not shaped
  });
});

describe('a shaped session through sooner than its lower bound', () => {
  async function run(
    bytesPerSecond: number,
    size: number,
    sessionIdleMs?: number,
  ): Promise<{ linkMs: number; heldMs: number; inHold: number; written: number; lastedMs: number }> {
    c = await Cluster.start({ record: true, ...(sessionIdleMs === undefined ? {} : { sessionIdleMs }) });
    const data = randomBytes(size);
    const from = c.net.links.length;
    await c.migrate(data, 'held.bin', { plan: planAt(bytesPerSecond), sessionId: SESSION_ID });
    expect(readFileSync(join(c.out, 'held.bin')).equals(data)).toBe(true);
    const toDest = c.net.links.slice(from).find((l) => l.clientHost === HOSTS.leader && l.serverHost === HOSTS.dest)!;
    const up = toDest.deliveries.filter((d) => d.dir === 'up');
    const end = c.events('leader-end');
    expect(end).toHaveLength(1);
    const heldMs = end[0]!.heldMs as number;
    // deliveries in the held time before the link's last one up: its cover
    const inHold = up.filter((d) => d.at > up.at(-1)!.at - heldMs + 1 && d !== up.at(-1)).length;
    const [written, lastedMs] = [end[0]!.written as number, end[0]!.lastedMs as number];
    return { linkMs: up.at(-1)!.at - up[0]!.at, heldMs, inHold, written, lastedMs };
  }

  it('holds END, the link covering, until the link to the destination has lasted the bound', async () => {
    const size = 30_000;
    const { linkMs, heldMs, inHold } = await run(1000, size); // a 30 s bound; the trace runs at ~10 kB/s
    expect(heldMs).toBeGreaterThan(10_000);
    expect(linkMs).toBeGreaterThanOrEqual(30_000 - 1);
    expect(inHold).toBeGreaterThanOrEqual(5); // the link went on with the trace's packets (cover), not silent
  });

  it("a destination whose no-data limit is shorter than the hold waits it out (the plan's longest hold on top)", async () => {
    // 10 s without data would drop the session; the leader holds END for 28 s after the last data
    const { heldMs } = await run(1000, 30_000, 10_000);
    expect(heldMs).toBeGreaterThan(10_000);
    expect(c!.events('receive-failed')).toHaveLength(0);
  });

  it('holds nothing when the data took longer than the bound', async () => {
    const { heldMs, written, lastedMs } = await run(1_000_000, 30_000); // a 30 ms bound
    expect(heldMs).toBe(0);
    // nor to the mean write rate, as a data link is (it would delay DONE): this link ended above it
    expect((written * 1000) / lastedMs).toBeGreaterThan(meanWriteRate(planAt(1_000_000))!);
  });
});

describe('one data link holding its END to its mean write rate', () => {
  it("the leader takes the payload's length from the envelope's header and finishes without waiting for that END", async () => {
    c = await Cluster.start({ record: true });
    const data = randomBytes(250_000);
    const plan = createPlan({ strategy: 'profile', profile, seed: 5 });
    // with this session id the link's data is through while its stretch is dense: it holds its END (source-links.ts
    // `postEnds`), covering, for about 21 s
    await c.migrate(data, 'one.bin', { plan, dataRelays: [c.data[0]!.address], sessionId: new Uint8Array(16).fill(2) });
    expect(readFileSync(join(c.out, 'one.bin')).equals(data)).toBe(true);
    const held = c.events('end-sent').find((e) => e.component === HOSTS.source)!;
    expect(held.heldMs as number).toBeGreaterThan(10_000);
    // DONE came while that END was still held (none was posted); before, the leader waited for it to learn the length
    expect(c.events('data-end').filter((e) => e.component === HOSTS.source)).toHaveLength(0);
    expect(c.events('leader-end')[0]!.ciphertext).toBe(held.ciphertext);
  });
});

describe('traceRepeatWarning', () => {
  it('warns when a session at the mean rate lasts over 1.5 × the trace, naming both; not otherwise', () => {
    const plan = createPlan({ strategy: 'profile', profile, seed: 1 });
    const traceSeconds = profile.shape!.trace.gapsUs.reduce((a, b) => a + b, 0) / 1e6;
    const rate = plan.profile!.bytesPerSecond;
    expect(traceRepeatWarning(plan, Math.floor(rate * traceSeconds * 1.4))).toBeUndefined();
    const w = traceRepeatWarning(plan, Math.round(rate * traceSeconds * 3));
    expect(w).toMatch(/lasts at least \d+ s at the profile's mean rate, 3\.0 × its trace \(\d+ s\)/);
    expect(w).toContain('learn the profile from a capture at least as long as the session');
    expect(traceRepeatWarning(createPlan({ strategy: 'constant', rate: 1000, seed: 1 }), 10_000_000)).toBeUndefined();
    // a trace the plan cut to PLAN_MAX_TRACE packets: a longer capture would not lengthen it, and the warning says so
    const t = profile.shape!.trace;
    const k = Math.ceil((2 * PLAN_MAX_TRACE) / t.sizes.length);
    const long = {
      ...profile,
      shape: {
        ...profile.shape!,
        trace: { sizes: new Array(k).fill(t.sizes).flat(), gapsUs: new Array(k).fill(t.gapsUs).flat() },
      },
    };
    const cut = createPlan({ strategy: 'profile', profile: long, seed: 1 });
    expect(cut.profile!.trace!.sizes).toHaveLength(PLAN_MAX_TRACE);
    expect(traceRepeatWarning(cut, 10_000_000)).toMatch(
      /at most 1600 packets of a trace .*a longer capture will not help/,
    );
    expect(w).not.toMatch(/at most 1600/);
  });
});
