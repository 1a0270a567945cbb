#!/usr/bin/env node
// `npm run bench:estimate`: how well `smig send --dry-run` predicts a paced migration. For each pacing strategy
// and run, the dry run's expected session time (the median of its simulated sessions, and its 90 % range) for
// the exact flags and seed of a real migration of the demo's size (250 kB) through separate `smig` processes on
// 127.0.0.1 (source → data relay → leader → destination, a key relay beside; bench/pacing-lib.mjs), against the
// time the migration took (`smig send --json` seconds). The profile is learned as `smig demo` learns it: the even
// 5 s blocks of the shipped ndpi__netflix.pcap, data direction, 500 ms bins.
//
// Per run it also notes the load average and, for a shaped plan, how long the source link's schedule paused (it
// never waits for data, so that is the event loop's stalls: what a loaded machine adds, which the estimate omits).
//
// Options: --runs N (default 3), --size BYTES (250000), --strategies LIST (constant,profile,replay), --json.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lab from './pacing-lib.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('--runs', '3'));
const SIZE = Number(opt('--size', '250000'));
const STRATEGIES = opt('--strategies', 'constant,profile,replay').split(',');
const JSON_OUT = args.includes('--json');
const say = (s) => process.stderr.write(`${s}\n`);

const dir = mkdtempSync(join(tmpdir(), 'smig-bench-estimate-'));
const learn = join(dir, 'learn.pcap');
const profile = join(dir, 'profile.json');
await lab.splitBlocks(join(lab.CAPTURES, 'ndpi__netflix.pcap'), 5_000_000_000n, learn, join(dir, 'holdout.pcap'));
const l = lab.run(['profile', 'learn', learn, '--bin', '500ms', '--filter', 'dst host 192.168.1.7', '-o', profile]);
if ((await l.exited) !== 0) throw new Error(l.stderr);
const payload = lab.randomFile(join(dir, 'payload.bin'), SIZE);
const cluster = await lab.startCluster(join(dir, 'cluster'));
const rows = [];
try {
  for (const strategy of STRATEGIES) {
    for (let i = 0; i < RUNS; i++) {
      const seed = 1000 + i;
      const flags = [
        payload,
        '--key',
        cluster.key,
        '--dest',
        cluster.R.addr,
        '--data-relays',
        cluster.D.addr,
        '--key-relays',
        cluster.K.addr,
        '--leader',
        cluster.L.addr,
        '--threshold',
        '1',
        '--strategy',
        strategy,
        '--profile',
        profile,
        '--seed',
        String(seed),
        '--json',
        '--interval',
        '0',
      ];
      const dry = lab.run(['send', ...flags, '--dry-run']);
      if ((await dry.exited) !== 0) throw new Error(dry.stderr);
      const est = JSON.parse(dry.stdout);
      const send = lab.run(['send', ...flags]);
      if ((await send.exited) !== 0) throw new Error(send.stderr);
      const summary = JSON.parse(send.stdout);
      const actual = summary.seconds;
      // a shaped source link never waits for data: the time its schedule paused is the event loop's stalls
      const stalls = (summary.pacing?.hops ?? []).map((h) => h.pausedSeconds).filter((x) => x !== undefined);
      const r = est.expectedRange;
      const row = {
        strategy,
        seed,
        bytes: SIZE,
        actual,
        expected: est.expectedSeconds,
        p05: r.p05,
        p95: r.p95,
        slowestHop: est.slowestHopSeconds,
        lowerBound: est.lowerBoundSeconds,
        error: (est.expectedSeconds - actual) / actual,
        // a constant plan draws nothing: its "range" is one value, and only the 10 % criterion applies
        inRange: r.p95 > r.p05 ? actual >= r.p05 && actual <= r.p95 : null,
        load1: loadavg()[0],
        sourceStallSeconds: stalls.length > 0 ? Math.max(...stalls) : null,
      };
      rows.push(row);
      say(
        `${strategy} seed ${seed}: took ${actual.toFixed(1)} s; expected ${row.expected.toFixed(1)} s (90 % ${r.p05.toFixed(1)}–${r.p95.toFixed(1)} s, ` +
          `${row.inRange === null ? 'no spread' : row.inRange ? 'inside' : 'OUTSIDE'}), median off by ${(100 * row.error).toFixed(1)} %; one hop at the mean rate ${row.slowestHop.toFixed(1)} s; ` +
          `load ${row.load1.toFixed(1)}${row.sourceStallSeconds === null ? '' : `, source link stalled ${row.sourceStallSeconds.toFixed(2)} s`}`,
      );
    }
  }
} finally {
  await Promise.all(cluster.all.map((p) => lab.stop(p)));
  rmSync(dir, { recursive: true, force: true });
}
if (JSON_OUT) {
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
} else {
  process.stdout.write(
    '| strategy | runs | took (mean) | expected median (mean) | median off by | runs inside the 90 % range | one hop at the mean rate |\n|---|---|---|---|---|---|---|\n',
  );
  for (const s of STRATEGIES) {
    const r = rows.filter((x) => x.strategy === s);
    const mean = (f) => r.reduce((a, x) => a + f(x), 0) / r.length;
    process.stdout.write(
      `| ${s} | ${r.length} | ${mean((x) => x.actual).toFixed(1)} s | ${mean((x) => x.expected).toFixed(1)} s | ` +
        `${((100 * (mean((x) => x.expected) - mean((x) => x.actual))) / mean((x) => x.actual)).toFixed(1)} % | ${r.some((x) => x.inRange === null) ? '–' : `${r.filter((x) => x.inRange).length} of ${r.length}`} | ${mean((x) => x.slowestHop).toFixed(1)} s |\n`,
    );
  }
}
