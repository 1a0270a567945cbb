/**
 * `npm run bench:estimate`: how well `smig send --dry-run` predicts a paced migration. For each pacing strategy
 * and run, the dry run's expected session time (the median of its simulated sessions, and its 90 % range) for the
 * exact flags and seed of a real migration through separate `smig` processes on 127.0.0.1 (source → data relay →
 * leader → destination, a key relay beside; loopback-cluster.ts), against the time the migration took (`smig send
 * --json` seconds). The profile is learned as `smig demo` learns it: the even 5 s blocks of the shipped
 * ndpi__netflix.pcap, data direction, 500 ms bins.
 *
 * Per run it also notes the load average and, for a shaped plan, how long the source link's schedule paused (it
 * never waits for data, so that is the event loop's stalls: what a loaded machine adds, which the estimate omits).
 * Prints nothing; bench/estimate.mjs prints the table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Strategy } from '../pacing/plan.js';
import { FIXTURE_CAPTURES, randomFile, startCluster } from './loopback-cluster.js';
import { DEMO_DATA_FILTER, splitBlocks } from './normal.js';
import { runProc, stopProc } from './proc.js';

/** Options of {@link benchEstimate}. */
export interface EstimateBenchOptions {
  runs: number;
  /** Payload bytes (the demo's: 250 000). */
  size: number;
  strategies: Strategy[];
  log?: (line: string) => void;
}

/** One real run against its dry run. */
export interface EstimateBenchRow {
  strategy: Strategy;
  seed: number;
  bytes: number;
  /** Seconds the migration took. */
  actual: number;
  /** The dry run's median. */
  expected: number;
  p01: number;
  p05: number;
  p95: number;
  p99: number;
  slowestHop: number;
  lowerBound: number;
  /** (expected − actual) ÷ actual. */
  error: number;
  /** Inside the 90 % range; null when the plan draws nothing (a constant plan's range is one value). */
  inRange: boolean | null;
  /** Inside the 98 % range; null as for {@link inRange}. */
  inRange98: boolean | null;
  load1: number;
  /** Shaped plans: the longest pause of the source link's schedule. */
  sourceStallSeconds: number | null;
}

/** Runs the benchmark (see the module comment). */
export async function benchEstimate(o: EstimateBenchOptions): Promise<EstimateBenchRow[]> {
  const say = o.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'smig-bench-estimate-'));
  const rows: EstimateBenchRow[] = [];
  try {
    const learn = join(dir, 'learn.pcap');
    const profile = join(dir, 'profile.json');
    await splitBlocks(join(FIXTURE_CAPTURES, 'ndpi__netflix.pcap'), 5_000_000_000n, learn, join(dir, 'holdout.pcap'));
    const l = runProc(['profile', 'learn', learn, '--bin', '500ms', '--filter', DEMO_DATA_FILTER, '-o', profile]);
    if ((await l.exited) !== 0) throw new Error(l.stderr);
    const payload = randomFile(join(dir, 'payload.bin'), o.size);
    const cluster = await startCluster(join(dir, 'cluster'));
    try {
      for (const strategy of o.strategies) {
        for (let i = 0; i < o.runs; i++) {
          const seed = 1000 + i;
          const flags = [
            payload,
            ...['--key', cluster.key, '--dest', cluster.R.addr, '--data-relays', cluster.D.addr],
            ...['--key-relays', cluster.K.addr, '--leader', cluster.L.addr, '--threshold', '1'],
            ...['--strategy', strategy, '--profile', profile, '--seed', String(seed), '--json', '--interval', '0'],
          ];
          const dry = runProc(['send', ...flags, '--dry-run']);
          if ((await dry.exited) !== 0) throw new Error(dry.stderr);
          const est = JSON.parse(dry.stdout) as {
            expectedSeconds: number;
            expectedRange: { p01: number; p05: number; p95: number; p99: number };
            slowestHopSeconds: number;
            lowerBoundSeconds: number;
          };
          const send = runProc(['send', ...flags]);
          if ((await send.exited) !== 0) throw new Error(send.stderr);
          const summary = JSON.parse(send.stdout) as {
            seconds: number;
            pacing?: { hops?: { pausedSeconds?: number }[] };
          };
          const actual = summary.seconds;
          // a shaped source link never waits for data: the time its schedule paused is the event loop's stalls
          const stalls = (summary.pacing?.hops ?? []).flatMap((h) =>
            h.pausedSeconds === undefined ? [] : [h.pausedSeconds],
          );
          const r = est.expectedRange;
          const row: EstimateBenchRow = {
            strategy,
            seed,
            bytes: o.size,
            actual,
            expected: est.expectedSeconds,
            p01: r.p01,
            p05: r.p05,
            p95: r.p95,
            p99: r.p99,
            slowestHop: est.slowestHopSeconds,
            lowerBound: est.lowerBoundSeconds,
            error: (est.expectedSeconds - actual) / actual,
            inRange: r.p95 > r.p05 ? actual >= r.p05 && actual <= r.p95 : null,
            inRange98: r.p95 > r.p05 ? actual >= r.p01 && actual <= r.p99 : null,
            load1: loadavg()[0]!,
            sourceStallSeconds: stalls.length > 0 ? Math.max(...stalls) : null,
          };
          rows.push(row);
          const where =
            row.inRange === null
              ? 'no spread'
              : row.inRange
                ? 'inside'
                : row.inRange98
                  ? 'outside, inside 98 %'
                  : 'OUTSIDE 98 %';
          say(
            `${strategy} seed ${seed}: took ${actual.toFixed(1)} s; expected ${row.expected.toFixed(1)} s (90 % ${r.p05.toFixed(1)}–${r.p95.toFixed(1)} s, 98 % ${r.p01.toFixed(1)}–${r.p99.toFixed(1)} s, ` +
              `${where}), median off by ${(100 * row.error).toFixed(1)} %; one hop at the mean rate ${row.slowestHop.toFixed(1)} s; ` +
              `load ${row.load1.toFixed(1)}${row.sourceStallSeconds === null ? '' : `, source link stalled ${row.sourceStallSeconds.toFixed(2)} s`}`,
          );
        }
      }
    } finally {
      await Promise.all(cluster.all.map((p) => stopProc(p)));
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
