/**
 * on real captures: a migration through separate `smig` processes on 127.0.0.1
 * (source → data relay → leader → destination, a key relay beside), paced with a profile learned from one part
 * of a normal capture, recorded by tcpdump on its links and compared by `smig analyze` with the other part.
 *
 * The normal capture is ndpi__netflix.pcap (a person's streaming session, 90 s). It is cut into 5 s blocks:
 * the even blocks are learned from, the odd ones held out (each part with the other's time removed, so both
 * span about 45 s = 90 bins of 500 ms). A contiguous split does not work: the capture's first and second
 * halves are distinguishable from each other (KS p < 1e-4 on packets and bytes per 500 ms bin), so nothing
 * learned from one half could pass against the other.
 *
 * What an observer of a link sees is both directions: the profile is learned from the data direction of the
 * normal capture (`dst host 192.168.1.7`, the client's downloads) and the pacer reproduces it on the link's
 * data direction; the receiver's ACKs then play the client's ACKs (about one per data packet in both). The
 * hold-out is the whole capture part, both directions.
 *
 * The link asserted for `profile` is source → data relay: the one pacer that always has data at hand, so the
 * link shows exactly the drawn schedule. The downstream links are paced too (their numbers are in
 * `npm run bench:pacing`), but their input is an independent draw with the same mean, so they are sometimes
 * short of data. What is asserted is the pacer's fidelity: the link against the blocks it learned from. Against
 * the hold-out every link is printed, not asserted: this capture's even and odd blocks are not the same traffic
 * (11.6 against 7.8 data packets/s), so a faithful imitation of the learned blocks is told from the hold-out once
 * a run has enough bins (one attempt of 176 bins failed at p 0.003, the next of 227 passed at p 0.998); how often
 * that happens is the stealth evaluation's business (`smig bench`, analysis/), not a test's. KS at α = 0.05
 * rejects even a perfect generator 5 % of the time per feature, so a failed attempt is repeated once with a
 * fresh session (fresh draws), and both attempts are printed. `constant` and `bulk` are rejected against the
 * hold-out with p < 1e-6 and p = 2/91 (a single bin above every normal one: bulk is asserted by that bin).
 *
 * Time: a profile run's length is random (the chain's lulls last seconds; 350 kB took 30–115 s), so the three
 * strategies run at once, each on a cluster of its own (own ports, own tcpdump), started in beforeAll.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as lab from '../../src/bench/loopback-cluster.js';
import { splitBlocks } from '../../src/bench/normal.js';
import { runProc, stopProc } from '../../src/bench/proc.js';

const BIN = '500ms';
const SIZE = 350_000;
const dir = mkdtempSync(join(tmpdir(), 'smig-pacing-'));
const learn = join(dir, 'learn.pcap');
const holdout = join(dir, 'holdout.pcap');
const profile = join(dir, 'profile.json');
type Run = Awaited<ReturnType<typeof migrate>>;
const clusters: lab.LoopbackCluster[] = [];
let payload: string;
const runs: Record<string, Promise<Run>> = {};

type Ks = lab.LinkKs;
type LinkKs = Awaited<ReturnType<typeof lab.analyzeLink>>;

beforeAll(async () => {
  await splitBlocks(join(lab.FIXTURE_CAPTURES, 'ndpi__netflix.pcap'), 5_000_000_000n, learn, holdout);
  const l = runProc(['profile', 'learn', learn, '--bin', BIN, '--filter', 'dst host 192.168.1.7', '-o', profile]);
  expect(await l.exited, l.stderr).toBe(0);
  payload = lab.randomFile(join(dir, 'payload.bin'), SIZE);
  clusters.push(...(await Promise.all(['profile', 'constant', 'bulk'].map((s) => lab.startCluster(join(dir, s))))));
  for (const [i, s] of ['profile', 'constant', 'bulk'].entries()) {
    runs[s] = migrate(clusters[i]!, s, `${s}-0`);
    runs[s].catch(() => {}); // awaited by its test
  }
}, 60_000);

afterAll(async () => {
  for (const c of clusters) for (const p of c.all) await stopProc(p);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** One migration; the KS of every link against the hold-out, and for a paced run against the learned blocks. */
async function migrate(
  cluster: lab.LoopbackCluster,
  strategy: string,
  tag: string,
): Promise<{
  wall: number;
  links: (LinkKs & { link: string })[];
  learned: (LinkKs & { link: string })[];
  summary: lab.CapturedMigration['summary'];
}> {
  const m = await lab.migrateCaptured(cluster, payload, join(dir, `${tag}.pcap`), {
    strategy,
    profile: strategy === 'bulk' ? undefined : profile,
  });
  const links = [];
  const learned = [];
  for (const l of m.links) {
    links.push({ link: l.link, ...(await lab.analyzeLink(holdout, m.capture, l.filter, BIN)) });
    if (strategy === 'profile')
      learned.push({ link: l.link, ...(await lab.analyzeLink(learn, m.capture, l.filter, BIN)) });
  }
  return { wall: m.wall, links, learned, summary: m.summary };
}

const show = (k: Ks): string => `D ${k.D.toFixed(3)} p ${k.p.toPrecision(3)} n ${k.n} m ${k.m}`;

describe('pacing on every hop, measured on tcpdump captures of a real migration', () => {
  it('the two parts of the normal capture are alike (the hold-out is a fair reference)', async () => {
    const r = await lab.analyzeLink(holdout, learn, undefined, BIN);
    expect(r.packets.distinguishable).toBe(false);
    expect(r.bytes.distinguishable).toBe(false);
    expect(Math.min(r.packets.n, r.packets.m)).toBeGreaterThanOrEqual(60);
  }, 30_000);

  it('profile: the source → data relay link is not distinguishable from the blocks it learned (packets and bytes per bin)', async () => {
    const attempts: string[] = [];
    let passed = false;
    const line = (ls: (LinkKs & { link: string })[]): string =>
      ls.map((l) => `${l.link}: packets ${show(l.packets)}; bytes ${show(l.bytes)}`).join(' | ');
    for (let i = 0; i < 2 && !passed; i++) {
      const r = await (i === 0 ? runs.profile! : migrate(clusters[0]!, 'profile', `profile-${i}`));
      const src = r.learned[0]!;
      attempts.push(
        `attempt ${i + 1} (${r.wall.toFixed(1)} s):\n  against the learned blocks: ${line(r.learned)}\n  against the hold-out: ${line(r.links)}`,
      );
      expect(r.summary.done.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(r.learned.map((l) => l.link)).toEqual(r.links.map((l) => l.link));
      passed =
        Math.min(src.packets.n, src.packets.m) >= 60 && !src.packets.distinguishable && !src.bytes.distinguishable;
    }
    console.log(attempts.join('\n'));
    expect(passed, attempts.join('\n')).toBe(true);
  }, 280_000);

  it("constant (the profile's mean rate) is distinguishable on every link", async () => {
    const r = await runs.constant!;
    console.log(
      r.links.map((l) => `constant ${l.link}: packets ${show(l.packets)}; bytes ${show(l.bytes)}`).join('\n'),
    );
    for (const l of r.links) {
      expect(l.packets.distinguishable || l.bytes.distinguishable, l.link).toBe(true);
      expect(Math.min(l.packets.n, l.packets.m), l.link).toBeGreaterThanOrEqual(60);
    }
  }, 150_000);

  // Bulk lasts one or two bins, and KS with m = 1 rests on that bin being above every normal one (p = 2/91); when a
  // loaded machine spills its last packets into a second bin (m = 2, p ≈ 0.14), KS has no power left. What tells it
  // is the same either way, and is asserted as such: a bin busier than any of the hold-out's.
  it('bulk is distinguishable on every link: a bin busier than any normal one', async () => {
    const r = await runs.bulk!;
    console.log(
      r.links
        .map(
          (l) =>
            `bulk ${l.link}: packets ${show(l.packets)}; bytes ${show(l.bytes)}; busiest bin ${l.peakBytes.link} B (normal ${l.peakBytes.normal} B)`,
        )
        .join('\n'),
    );
    for (const l of r.links) expect(l.peakBytes.link, l.link).toBeGreaterThan(l.peakBytes.normal);
  }, 60_000);
});
