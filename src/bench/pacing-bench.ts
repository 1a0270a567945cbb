/**
 * `npm run bench:pacing`: every pacing strategy on a real migration (separate `smig` processes on 127.0.0.1:
 * source → data relay → leader → destination, a key relay beside; loopback-cluster.ts), tcpdump on its three
 * paced links, `smig analyze` of each link against the hold-out part of a normal capture. Per strategy and run:
 * - achieved against allowed rate of every hop (wire bytes/s from the pacers' reports: `smig send --json` for the
 *   source hop, the relays' `pacing` log events for the others); "allowed" is what the pacer's schedule let
 *   through over the same time, so achieved ÷ allowed is the pacer's own accuracy;
 * - lateness p50/p99 of paced writes against their deadlines (ms);
 * - KS D, p and bins (n normal, m link) of packets and bytes per bin on every link;
 * - migration time against the lower bound size ÷ profile mean byte rate.
 * One session at a time unless `parallel` (lateness is sensitive to a loaded machine). Prints nothing;
 * bench/pacing.mjs prints the tables.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Strategy } from '../pacing/plan.js';
import { createPlan, planDuration } from '../pacing/plan.js';
import { parseProfile } from '../profile/model.js';
import type { HopPacingReport } from '../roles/pace.js';
import type { LinkKs } from './loopback-cluster.js';
import { analyzeLink, FIXTURE_CAPTURES, migrateCaptured, randomFile, startCluster } from './loopback-cluster.js';
import { splitBlocks } from './normal.js';
import { runProc, stopProc } from './proc.js';

/** Options of {@link benchPacing}. */
export interface PacingBenchOptions {
  runs: number;
  /** Payload bytes. */
  size: number;
  /** A capture in test/fixtures/captures, or a path. */
  capture: string;
  /** The data direction the profile learns (`smig profile learn --filter`). */
  filter: string;
  /** Bin width, e.g. `500ms`. */
  bin: string;
  /** Learn from the even blocks of this many seconds, hold out the odd ones. */
  blockSeconds: number;
  strategies: Strategy[];
  /** All strategies at once, each on a cluster of its own. */
  parallel?: boolean;
  /** Keep the working directory (captures, profile); its path is in the result. */
  keep?: boolean;
  log?: (line: string) => void;
}

/** One paced hop of a run. */
export interface PacingBenchHop {
  hop: string;
  rate: number | null;
  allowed: number | null;
  p50: number | null;
  p99: number | null;
  late: number;
  writes: number;
  seconds: number | null;
}

/** One run of one strategy. */
export interface PacingBenchRun {
  strategy: Strategy;
  run: number;
  seconds: number;
  lowerBound: number;
  ratio: number;
  /** The plan's wire rate (bytes/s); null for bulk. */
  target: number | null;
  hops: PacingBenchHop[];
  links: ({ link: string } & { packets: LinkKs; bytes: LinkKs })[];
}

/** What {@link benchPacing} returns. */
export interface PacingBenchResult {
  profileBytesPerSecond: number;
  lowerBound: number;
  results: PacingBenchRun[];
  /** The working directory when kept. */
  dir?: string;
}

/** Runs the benchmark (see the module comment). */
export async function benchPacing(o: PacingBenchOptions): Promise<PacingBenchResult> {
  const say = o.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'smig-bench-pacing-'));
  try {
    const learn = join(dir, 'learn.pcap');
    const holdout = join(dir, 'holdout.pcap');
    const profile = join(dir, 'profile.json');
    const capture = o.capture.includes('/') ? o.capture : join(FIXTURE_CAPTURES, o.capture);
    await splitBlocks(capture, BigInt(o.blockSeconds) * 1_000_000_000n, learn, holdout);
    const l = runProc(['profile', 'learn', learn, '--bin', o.bin, '--filter', o.filter, '-o', profile]);
    if ((await l.exited) !== 0) throw new Error(l.stderr);
    say(l.stderr.trim());
    const payload = randomFile(join(dir, 'payload.bin'), o.size);
    const prof = parseProfile(readFileSync(profile, 'utf8'));
    const lowerBound = o.size / prof.rates.bytesPerSecond;
    const targetOf = (strategy: Strategy): number | null =>
      strategy === 'bulk' ? null : planDuration(createPlan({ strategy, profile: prof, seed: 1 }), o.size).wireRate;

    const bench = async (strategy: Strategy): Promise<PacingBenchRun[]> => {
      const cluster = await startCluster(join(dir, strategy));
      const out: PacingBenchRun[] = [];
      try {
        for (let i = 0; i < o.runs; i++) {
          const m = await migrateCaptured(cluster, payload, join(dir, `${strategy}-${i}.pcap`), {
            strategy,
            ...(strategy === 'bulk' ? {} : { profile }),
          });
          const summary = m.summary as unknown as { seconds: number; pacing: { hops: HopPacingReport[] } };
          const num = (x: unknown): number | null => (typeof x === 'number' ? x : null);
          const hops: PacingBenchHop[] = [
            ...summary.pacing.hops.map((h) => ({
              hop: 'source → data relay',
              rate: h.rate,
              allowed: h.targetRate,
              p50: h.lateness.p50,
              p99: h.lateness.p99,
              late: h.lateness.n,
              writes: h.writes,
              seconds: h.seconds,
            })),
            ...m.pacing.map((e) => ({
              hop: e.role === 'leader' ? 'leader → destination' : 'data relay → leader',
              rate: num(e.rate),
              allowed: num(e.targetRate),
              p50: num(e.lateP50),
              p99: num(e.lateP99),
              late: num(e.lateN) ?? 0,
              writes: num(e.writes) ?? 0,
              seconds: num(e.seconds),
            })),
          ];
          const links: PacingBenchRun['links'] = [];
          for (const k of m.links)
            links.push({ link: k.link, ...(await analyzeLink(holdout, m.capture, k.filter, o.bin)) });
          const r: PacingBenchRun = {
            strategy,
            run: i + 1,
            seconds: summary.seconds,
            lowerBound,
            ratio: summary.seconds / lowerBound,
            target: targetOf(strategy),
            hops,
            links,
          };
          const ps = links.map((x) => `${x.link} p ${x.packets.p.toPrecision(2)}/${x.bytes.p.toPrecision(2)}`);
          say(`${strategy} run ${i + 1}: ${r.seconds.toFixed(1)} s; ${ps.join(', ')}`);
          out.push(r);
        }
      } finally {
        for (const p of cluster.all) await stopProc(p);
      }
      return out;
    };

    const results: PacingBenchRun[] = [];
    if (o.parallel) results.push(...(await Promise.all(o.strategies.map(bench))).flat());
    else for (const s of o.strategies) results.push(...(await bench(s)));
    return { profileBytesPerSecond: prof.rates.bytesPerSecond, lowerBound, results, ...(o.keep ? { dir } : {}) };
  } finally {
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}
