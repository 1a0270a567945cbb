/**
 * Data links that end when their part is done (release.ts): on a shaped plan with cover the leader closes a data
 * relay's link once that relay's END is in, keeping the last for the replies, and the relay then closes the
 * source's link. The pure choice first, then sessions on the fake-clock cluster (test/helpers/session-core.ts).
 * Oracles: the choice by hand; in the cluster, each link's last delivery against the others' (the released
 * relay's two links end before the session's last link does) and the events each role logs.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPlan } from '../../src/pacing/plan.js';
import { learnProfile } from '../../src/profile/learn.js';
import type { ReleasableLink } from '../../src/roles/release.js';
import { keptDataLink, linksToRelease, sameHost } from '../../src/roles/release.js';
import { FIXTURE_DIR } from '../helpers/captures.js';
import { Cluster, HOSTS, until } from '../helpers/session-core.js';

const { profile } = await learnProfile(join(FIXTURE_DIR, 'ndpi__netflix.pcap'), { filter: 'dst host 192.168.1.7' });

const link = (
  via: ReleasableLink['via'],
  index: number,
  o: { closed?: boolean; released?: boolean; local?: boolean } = {},
): ReleasableLink => ({
  via,
  index,
  link: { isClosed: o.closed ?? false },
  released: o.released ?? false,
  local: o.local ?? false,
});

describe('linksToRelease, keptDataLink', () => {
  const d0 = link('data-relay', 0);
  const d1 = link('data-relay', 1);
  const d2 = link('data-relay', 2);
  const k0 = link('key-relay', 0);
  const k1 = link('key-relay', 1);

  it('releases the data links whose END is in, all but the one that stays', () => {
    expect(linksToRelease([d0, d1, d2], new Set(), new Set([0, 2]), d1)).toEqual([d0, d2]);
    expect(linksToRelease([d0, d1, d2], new Set(), new Set([0, 1, 2]), d2)).toEqual([d0, d1]);
    // one already released and one closed: nothing more
    const gone = [link('data-relay', 0, { released: true }), link('data-relay', 1, { closed: true }), d2];
    expect(linksToRelease(gone, new Set(), new Set([0, 1, 2]), d2)).toEqual([]);
  });

  it("the one that stays: the leader's own host's, else a draw (not the order of the ENDs), kept while open", () => {
    const own = link('data-relay', 2, { local: true });
    expect(keptDataLink([d0, d1, own], undefined, () => 0)).toBe(own);
    expect(keptDataLink([d0, d1, d2], undefined, (n) => n - 1)).toBe(d2);
    expect(keptDataLink([d0, d1, d2], undefined, () => 1)).toBe(d1);
    expect(keptDataLink([d0, d1, d2], d0, () => 1)).toBe(d0); // drawn once, then kept
    const lost = link('data-relay', 0, { closed: true });
    expect(keptDataLink([lost, d1, d2], lost, () => 0)).toBe(d1); // drawn again among the open ones
    expect(keptDataLink([lost, k0], undefined, () => 0)).toBeUndefined();
  });

  it('sameHost: the two ends of a connection on one address (IPv4, IPv6, names)', () => {
    expect(sameHost({ remote: '10.0.0.5:41234', local: '10.0.0.5:7000' })).toBe(true);
    expect(sameHost({ remote: '[fd00::5]:41234', local: '[fd00::5]:7000' })).toBe(true);
    expect(sameHost({ remote: 'data1:3', local: 'data1:7000' })).toBe(true);
    expect(sameHost({ remote: '10.0.0.6:41234', local: '10.0.0.5:7000' })).toBe(false);
    expect(sameHost({ remote: '[fd00::6]:1', local: '[fd00::5]:1' })).toBe(false);
    expect(sameHost({ remote: '?:0', local: '?:0' })).toBe(false); // a socket already gone: no address to compare
  });

  it('releases no data link without one that stays (a plan without cover), and finished key links only beside a data link', () => {
    expect(linksToRelease([d0, d1, k0, k1], new Set([1]), new Set([0, 1]), undefined)).toEqual([k1]);
    expect(linksToRelease([k0, k1], new Set([0, 1]), new Set(), undefined)).toEqual([]);
    expect(linksToRelease([k0, d0, d1], new Set([0]), new Set([1]), d0)).toEqual([k0, d1]);
  });
});

let c: Cluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

describe('a shaped session with 2 data relays', () => {
  /** Each link's last delivery (ms of fake time) by its hosts, and what the roles logged. */
  async function run(strategy: 'profile' | 'constant'): Promise<Map<string, number>> {
    c = await Cluster.start({ record: true });
    const data = randomBytes(120_000);
    const plan =
      strategy === 'profile'
        ? createPlan({ strategy, profile, seed: 3 })
        : createPlan({ strategy, rate: 40_000, seed: 3 });
    const r = await c.migrate(data, 'part.bin', { plan });
    expect(readFileSync(join(c.out, 'part.bin')).equals(data)).toBe(true);
    expect(r.lostRelays).toEqual([]);
    const last = new Map<string, number>();
    for (const l of c.net.links) {
      const at = l.deliveries.at(-1)?.at;
      if (at !== undefined)
        last.set(`${l.clientHost}>${l.serverHost}`, Math.max(at, last.get(`${l.clientHost}>${l.serverHost}`) ?? 0));
    }
    return last;
  }

  it("releases one relay's links once its END is in; the other carries DONE and the source counts no relay lost", async () => {
    const last = await run('profile');
    const released = c!.events('data-link-released');
    const leaderSide = released.filter((e) => e.role === 'leader');
    const sourceSide = released.filter((e) => e.component === HOSTS.source);
    expect(leaderSide).toHaveLength(1);
    expect(sourceSide).toHaveLength(1);
    expect(c!.events('relay-data-released')).toHaveLength(1);
    expect(c!.events('relay-lost')).toHaveLength(0);
    const freed = HOSTS.data[leaderSide[0]!.index as number]!;
    const kept = HOSTS.data[1 - (leaderSide[0]!.index as number)]!;
    expect(sourceSide[0]!.addr).toMatch(new RegExp(`^${freed}:`));
    const end = last.get(`${HOSTS.leader}>${HOSTS.dest}`)!;
    // the kept relay's links last until DONE, after the last delivery to the destination; the released relay's end
    // no later (how much sooner depends on the draws: a relay whose END comes last is released only then, and the
    // in-process network has no delay, so its close and DONE can fall on one instant)
    const keptEnd = last.get(`${HOSTS.source}>${kept}`)!;
    expect(keptEnd).toBeGreaterThanOrEqual(end);
    expect(last.get(`${HOSTS.source}>${freed}`)!).toBeLessThanOrEqual(keptEnd);
    expect(last.get(`${freed}>${HOSTS.leader}`)!).toBeLessThanOrEqual(last.get(`${kept}>${HOSTS.leader}`)!);
    expect(c!.events('done').filter((e) => e.component === HOSTS.source)[0]!.via).toContain(kept);
  });

  it("with the leader on a data relay's host, that relay's link stays and the other is released, session after session", async () => {
    const kept: unknown[] = [];
    for (const seed of [1, 2, 3]) {
      c = await Cluster.start({ record: true });
      const data = randomBytes(60_000);
      const plan = createPlan({ strategy: 'profile', profile, seed });
      await c.migrate(data, 'own.bin', { plan, leader: c.data[0]!.address });
      expect(readFileSync(join(c.out, 'own.bin')).equals(data)).toBe(true);
      const released = c.events('data-link-released');
      kept.push(...released.filter((e) => e.role === 'leader').map((e) => e.index));
      expect(released.filter((e) => e.component === HOSTS.source).map((e) => e.addr)).toEqual([
        expect.stringMatching(new RegExp(`^${HOSTS.data[1]}:`)),
      ]);
      await c.close();
      c = undefined;
    }
    expect(kept).toEqual([1, 1, 1]); // the link of data relay 2 (index 1) each time; data relay 1 is the leader's host
  });

  it('the kept relay lost after the release: the migration fails, saying that the destination may have it', async () => {
    c = await Cluster.start({ record: true });
    const data = randomBytes(60_000);
    // the profile's mean rate set far below the trace's: the data is through in seconds, then the leader holds END
    // on its link to the destination until the 60 s bound, and DONE comes only after that
    const plan = createPlan({ strategy: 'profile', profile, seed: 5 });
    const slow = { ...plan, profile: { ...plan.profile!, bytesPerSecond: 1000 } };
    const cl = c;
    const crash = (async () => {
      await until(() => cl.events('data-link-released').some((e) => e.role === 'leader'));
      const freed = cl.events('data-link-released').find((e) => e.role === 'leader')!.index as number;
      await cl.clock.sleep(1000);
      cl.net.crash(HOSTS.data[1 - freed]!);
    })();
    const failed = await c.migrate(data, 'held.bin', { plan: slow }).then(
      () => undefined,
      (err: Error) => err,
    );
    await crash;
    expect(failed?.message).toMatch(
      /every data relay was lost \(last: data\d:\d+.*\); the leader had acknowledged all \d+ bytes, so the destination may have installed the payload/,
    );
    expect(c.events('data-link-released').filter((e) => e.component === HOSTS.source)).toHaveLength(1);
    expect(c.events('relay-lost').filter((e) => e.component === HOSTS.source)).toHaveLength(1);
  });

  it('releases none on a plan without cover (constant): every data link lasts until DONE', async () => {
    const last = await run('constant');
    expect(c!.events('data-link-released')).toHaveLength(0);
    const end = last.get(`${HOSTS.leader}>${HOSTS.dest}`)!;
    for (const h of HOSTS.data) expect(last.get(`${HOSTS.source}>${h}`)!).toBeGreaterThanOrEqual(end);
  });
});
