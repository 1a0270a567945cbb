/**
 * Data links that end before every byte is acknowledged (source-links.ts `mayEndEarly`): on a shaped plan with
 * cover, a data link with nothing left to carry sends END while another link stays open for re-sends; the leader
 * answers with END{bytes it received there} and closes, the relay passes that on. The pure rule first, then sessions
 * on the fake-clock cluster (test/helpers/session-core.ts).
 * Oracles: the rule by hand; in the cluster, the END events each role logs (with what was acknowledged then), the
 * byte counts the leader answered against what the source sent, and a relay crashed right after its link's END.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_END_HOLD_MS, meanWriteRate } from '../../src/pacing/hold.js';
import { createPlan, type PacingPlan } from '../../src/pacing/plan.js';
import { learnProfile } from '../../src/profile/learn.js';
import type { DataLink } from '../../src/roles/source-links.js';
import { mayEndEarly } from '../../src/roles/source-links.js';
import { FIXTURE_DIR } from '../helpers/captures.js';
import { Cluster, HOSTS, until } from '../helpers/session-core.js';

const { profile } = await learnProfile(join(FIXTURE_DIR, 'ndpi__netflix.pcap'), { filter: 'dst host 192.168.1.7' });

/** A plan of 1000 B/s on average: every hop's data takes seconds, so acknowledgements lag the source's writes. */
const slowPlan = (): PacingPlan => {
  const plan = createPlan({ strategy: 'profile', profile, seed: 5 });
  return { ...plan, profile: { ...plan.profile!, bytesPerSecond: 1000 } };
};

describe('mayEndEarly', () => {
  const dl = (index: number, o: Partial<DataLink> = {}): DataLink =>
    ({ index, addr: `r${index}`, lost: false, opened: 0, bytes: 0, ...o }) as DataLink;

  it('ends a link once the payload is cut and no chunk waits, while another link stays open', () => {
    const [a, b] = [dl(0), dl(1)];
    expect(mayEndEarly(a, [a, b], true, 0)).toBe(true);
    expect(mayEndEarly(a, [a, b], false, 0)).toBe(false); // the payload is not all cut yet
    expect(mayEndEarly(a, [a, b], true, 2)).toBe(false); // chunks wait (re-sends)
  });

  it('keeps the last open link for re-sends, and never ends one twice or one that is lost', () => {
    const a = dl(0);
    expect(mayEndEarly(a, [a], true, 0)).toBe(false);
    expect(mayEndEarly(a, [a, dl(1, { ending: true }), dl(2, { lost: true })], true, 0)).toBe(false);
    expect(mayEndEarly(dl(0, { ending: true }), [dl(1)], true, 0)).toBe(false);
    expect(mayEndEarly(dl(0, { lost: true }), [dl(1)], true, 0)).toBe(false);
  });
});

/** The address of the source's first data link to send END early (an `end-sent` event naming its link). */
async function firstEarlyEnd(cl: Cluster): Promise<string> {
  const early = (): Record<string, unknown> | undefined =>
    cl.events('end-sent').find((e) => e.component === HOSTS.source && e.link !== undefined);
  await until(() => early() !== undefined);
  return String(early()!.link);
}

let c: Cluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

describe('a shaped session whose links end when they have nothing left to carry', () => {
  it('ends all but one link before every byte is acknowledged; the leader counts each, and none is sent again', async () => {
    c = await Cluster.start({ record: true });
    // 300 kB: every link is released before DONE (session-core-release.test.ts `fourLinks`)
    const data = randomBytes(300_000);
    const addr = (i: number): (typeof c.data)[number]['address'] => c!.data[i]!.address;
    const plan = slowPlan();
    const r = await c.migrate(data, 'drain.bin', {
      plan,
      dataRelays: [addr(0), addr(1), addr(0), addr(1)],
      sessionId: new Uint8Array(16).fill(4), // every link released before DONE (session-core-release.test.ts)
    });
    expect(readFileSync(join(c.out, 'drain.bin')).equals(data)).toBe(true);
    expect(r.lostRelays).toEqual([]);
    expect(r.resentChunks).toBe(0);
    const ends = c.events('end-sent').filter((e) => e.component === HOSTS.source);
    const early = ends.filter((e) => e.link !== undefined);
    const ciphertext = ends[0]!.ciphertext as number;
    expect(early.length).toBeGreaterThanOrEqual(1);
    expect(early.length).toBeLessThanOrEqual(3); // one link stays for re-sends until every byte is acknowledged
    expect(early.some((e) => (e.acked as number) < ciphertext)).toBe(true);
    // each of the 4 links released with the leader's count, which sums to the ciphertext (no byte twice)
    const counts = c.events('data-link-released').filter((e) => e.role === 'leader');
    expect(counts).toHaveLength(4);
    expect(counts.reduce((s, e) => s + (e.bytes as number), 0)).toBe(ciphertext);
    expect(c.events('relay-data-released').map((e) => e.received)).toEqual(
      expect.arrayContaining(counts.map((e) => e.bytes)),
    );
    expect(c.events('data-link-released').filter((e) => e.component === HOSTS.source)).toHaveLength(4);
    expect(c.events('relay-lost')).toHaveLength(0);
    // each link's END went once its writes, data and cover, were no more than the plan's mean write rate over its life
    // (or after the longest hold): a link does not end as a stretch denser than the trace
    const posted = c.events('data-end').filter((e) => e.component === HOSTS.source);
    expect(posted).toHaveLength(4);
    for (const e of posted) {
      const [written, lasted] = [e.written as number, e.lastedMs as number];
      expect(written).toBeGreaterThanOrEqual(e.bytes as number);
      // (a link whose stretch of the trace began with a long gap may end having written nothing)
      if ((e.heldMs as number) < MAX_END_HOLD_MS - 1 && written > 0)
        expect(written / (lasted / 1000)).toBeLessThanOrEqual(meanWriteRate(plan)! * 1.01);
    }
  });

  it('a link that drew less than an even share of the data still lasts the bound of that share', async () => {
    c = await Cluster.start({ record: true });
    const addr = (i: number): (typeof c.data)[number]['address'] => c!.data[i]!.address;
    // 8 kB over 4 links at 200 B/s: a share's bound is 10 s, while the trace's start moves the data in about one
    const plan = createPlan({ strategy: 'profile', profile, seed: 5 });
    const slow = { ...plan, profile: { ...plan.profile!, bytesPerSecond: 200 } };
    const data = randomBytes(8000);
    await c.migrate(data, 'share.bin', {
      plan: slow,
      dataRelays: [addr(0), addr(1), addr(0), addr(1)],
      sessionId: new Uint8Array(16).fill(3),
    });
    expect(readFileSync(join(c.out, 'share.bin')).equals(data)).toBe(true);
    const ciphertext = c.events('end-sent').find((e) => e.component === HOSTS.source)!.ciphertext as number;
    const shareMs = (Math.ceil(ciphertext / 4) / 200) * 1000;
    // (a link still holding its END when DONE comes posts none: the session is over)
    const posted = c.events('data-end').filter((e) => e.component === HOSTS.source);
    // some link carried less than its share (here one chunk is all the data, so none): it still lasted the share's
    // bound, covering
    expect(posted.some((e) => (e.bytes as number) < ciphertext / 4)).toBe(true);
    for (const e of posted) expect(e.lastedMs as number).toBeGreaterThanOrEqual(shareMs - 1);
    // a relay whose source link brought no byte within the cushion's time (1 s) started its stretch without data,
    // covering, rather than stay silent until the END (relay-forward.ts `#forwardShaped`)
    const stretches = c.events('relay-stretch');
    expect(stretches).toHaveLength(4);
    expect(stretches.some((e) => e.queued === 0)).toBe(true);
    for (const e of stretches) expect(e.waitedMs as number).toBeLessThanOrEqual(2000);
  });

  it('a relay lost right after its link’s early END: its unacknowledged chunks go again over the open link', async () => {
    c = await Cluster.start({ record: true });
    const cl = c;
    const data = randomBytes(60_000);
    let crashed = '';
    const crash = (async () => {
      crashed = await firstEarlyEnd(cl);
      cl.net.crash(crashed.split(':')[0]!);
    })();
    // a fixed session id fixes each hop's stretch of the trace: here the crashed link still has chunks in flight
    const r = await c.migrate(data, 'crash.bin', { plan: slowPlan(), sessionId: new Uint8Array(16).fill(7) });
    await crash;
    expect(readFileSync(join(c.out, 'crash.bin')).equals(data)).toBe(true);
    expect(r.lostRelays).toEqual([crashed]);
    const lost = c.events('relay-lost').find((e) => e.component === HOSTS.source)!;
    expect(lost.addr).toBe(crashed);
    expect(lost.requeued as number).toBeGreaterThan(0);
    expect(r.resentChunks).toBe(lost.requeued);
    // DONE came by the other relay (its link or a poll through it)
    expect(c.events('done').find((e) => e.component === HOSTS.source)!.via).not.toContain(crashed);
  });

  it('the open link lost while another holds its END: that one takes its END back and carries the re-sends', async () => {
    c = await Cluster.start({ record: true });
    const cl = c;
    const data = randomBytes(60_000);
    let kept = '';
    const crash = (async () => {
      // the first early END names the link that ended; the other relay's link is the one left open: crash it
      const ended = await firstEarlyEnd(cl);
      kept = HOSTS.data.find((h) => !ended.startsWith(`${h}:`))!;
      cl.net.crash(kept);
    })();
    const r = await c.migrate(data, 'back.bin', { plan: slowPlan(), sessionId: new Uint8Array(16).fill(7) });
    await crash;
    expect(readFileSync(join(c.out, 'back.bin')).equals(data)).toBe(true);
    expect(r.lostRelays).toEqual([expect.stringMatching(new RegExp(`^${kept}:`))]);
    expect(c.events('end-taken-back').filter((e) => e.component === HOSTS.source)).toHaveLength(1);
    expect(r.resentChunks).toBeGreaterThan(0);
  });

  it('the open link lost once every other has sent its END, its chunks already through: the outcome comes by poll', async () => {
    c = await Cluster.start({ record: true });
    const cl = c;
    const crash = (async () => {
      // the first END posted names a link that takes no chunk again; crash the other relay, the open link's
      await until(() => cl.events('data-end').some((e) => e.component === HOSTS.source));
      const ended = String(cl.events('data-end').find((e) => e.component === HOSTS.source)!.link);
      cl.net.crash(HOSTS.data.find((h) => !ended.startsWith(`${h}:`))!);
    })();
    // the crashed relay had passed its chunks on before it went (since a link takes a chunk only when it needs one,
    // its last chunk is through and acknowledged when the other link ends: nothing to send again); the outcome it
    // would have carried back comes by poll
    const data = randomBytes(60_000);
    const r = await c.migrate(data, 'polled.bin', { plan: slowPlan(), sessionId: new Uint8Array(16).fill(1) });
    await crash;
    expect(readFileSync(join(c.out, 'polled.bin')).equals(data)).toBe(true);
    const lost = c.events('relay-lost').find((e) => e.component === HOSTS.source)!;
    expect(lost.requeued).toBe(0);
    expect(r.resentChunks).toBe(0);
    expect(r.lostRelays).toEqual([lost.addr]);
    expect(c.events('polling').filter((e) => e.component === HOSTS.source)).toHaveLength(1);
    expect(c.events('done').find((e) => e.component === HOSTS.source)!.via).toMatch(/\(poll\)$/);
  });

  it('the open link lost with chunks the leader never got, every other link past END: both fail, at once', async () => {
    c = await Cluster.start({ record: true });
    const cl = c;
    let crashedAt = -1;
    let leaderFailedAt = -1;
    const fault = (async () => {
      // once the leader has its key, nothing more of data2's gets through; data1 carries the rest and ends early
      await until(() => cl.events('key-rebuilt').length > 0);
      cl.net.freeze(HOSTS.data[1]);
      await until(() => cl.events('data-end').some((e) => e.component === HOSTS.source));
      crashedAt = cl.clock.now();
      cl.net.crash(HOSTS.data[1]);
      await until(() => cl.events('session-failed').some((e) => e.component === HOSTS.leader));
      leaderFailedAt = cl.clock.now();
    })();
    const failed = await c
      .migrate(randomBytes(60_000), 'gone.bin', { plan: slowPlan(), sessionId: new Uint8Array(16).fill(1) })
      .then(
        () => undefined,
        (err: Error) => err,
      );
    await fault;
    expect(String(c.events('data-end').find((e) => e.component === HOSTS.source)!.link)).toMatch(/^data1:/);
    // the source asked the leader, which had not got every byte: the failure says both
    expect(failed?.message).toMatch(
      /with \d+ chunks to send again, and every other data link had already ended; no DONE came by poll: .*every relay link closed before the migration completed/,
    );
    // the leader, with no relay link left and data missing, fails then too, not at the destination's no-data limit
    const leader = c.events('session-failed').filter((e) => e.component === HOSTS.leader);
    expect(leader.map((e) => e.reason)).toEqual(['every relay link closed before the migration completed']);
    expect(leaderFailedAt - crashedAt).toBeLessThan(1000);
    // the source, once a poll has reached the leader (its waits between polls are random: 0.2-1 s, 1-5 s after a
    // relay that did not answer)
    expect(c.clock.now() - crashedAt).toBeLessThan(30_000);
    expect(existsSync(join(c.out, 'gone.bin'))).toBe(false);
  });
});
