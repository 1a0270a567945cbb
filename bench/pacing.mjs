#!/usr/bin/env node
// `npm run bench:pacing`: every pacing strategy on a real migration (separate `smig` processes on 127.0.0.1:
// source → data relay → leader → destination, a key relay beside; src/bench/loopback-cluster.ts), tcpdump on its three
// paced links, `smig analyze` of each link against the hold-out part of a normal capture. Per strategy and run:
//   - achieved vs target rate of every hop (wire bytes/s from the pacers' stats: `smig send --json` for the source
//     hop, the relays' `pacing` log events for the others); "allowed" is what the pacer's schedule let through
//     over the same time (tokens accrued), so achieved ÷ allowed is the pacer's own accuracy;
//   - lateness p50/p99 of paced writes against their deadlines (ms);
//   - KS D, p and bins (n normal, m link) of packets and bytes per bin on every link;
//   - migration time against the lower bound size ÷ profile mean byte rate.
// One session at a time (lateness is sensitive to a loaded machine); --parallel runs the strategies at once,
// each on a cluster of its own. The work is benchPacing (src/bench/pacing-bench.ts, exported as smig/bench);
// this file parses options and prints.
//
// Options: --runs N (default 3), --size BYTES (default 350000), --capture NAME (default ndpi__netflix.pcap),
// --filter EXPR (data direction, default 'dst host 192.168.1.7'), --bin DUR (500ms), --block SECONDS (5),
// --strategies LIST (bulk,constant,profile,replay), --parallel, --json, --keep.
import { benchPacing } from 'smig/bench';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('--runs', '3'));
const SIZE = Number(opt('--size', '350000'));
const CAPTURE = opt('--capture', 'ndpi__netflix.pcap');
const FILTER = opt('--filter', 'dst host 192.168.1.7');
const BIN = opt('--bin', '500ms');
const BLOCK = BigInt(opt('--block', '5'));
const STRATEGIES = opt('--strategies', 'bulk,constant,profile,replay').split(',');
const JSON_OUT = args.includes('--json');
const KEEP = args.includes('--keep');
const PARALLEL = args.includes('--parallel');
const say = (s) => process.stderr.write(`${s}\n`);

const { profileBytesPerSecond, lowerBound, results, dir } = await benchPacing({
  runs: RUNS,
  size: SIZE,
  capture: CAPTURE,
  filter: FILTER,
  bin: BIN,
  blockSeconds: Number(BLOCK),
  strategies: STRATEGIES,
  parallel: PARALLEL,
  keep: KEEP,
  log: say,
});
if (dir) say(`kept ${dir}`);
const prof = { rates: { bytesPerSecond: profileBytesPerSecond } };

if (JSON_OUT) {
  process.stdout.write(
    `${JSON.stringify({ capture: CAPTURE, filter: FILTER, bin: BIN, blockSeconds: Number(BLOCK), size: SIZE, profileBytesPerSecond: prof.rates.bytesPerSecond, results }, null, 2)}\n`,
  );
} else {
  const f = (x, d = 1) => (x === null || x === undefined ? '-' : Number(x).toFixed(d));
  const kB = (x) => (x === null || x === undefined ? '-' : (x / 1000).toFixed(2));
  const ks = (k) => `${k.D.toFixed(3)} / ${k.p < 1e-3 ? k.p.toExponential(1) : k.p.toFixed(3)}`;
  const lines = [];
  lines.push(
    `Pacing benchmark: ${SIZE} bytes through source → data relay → leader → destination on 127.0.0.1; profile learned from the even ${BLOCK} s blocks of ${CAPTURE} (${FILTER}), hold-out the odd blocks (both directions); bins ${BIN}; profile mean ${kB(prof.rates.bytesPerSecond)} kB/s, lower bound ${lowerBound.toFixed(1)} s.`,
  );
  lines.push('');
  lines.push(
    '| strategy | run | time s | ÷ bound | hop | rate kB/s | target kB/s | allowed kB/s | rate ÷ allowed | late p50 ms | late p99 ms | KS packets D / p | KS bytes D / p | bins n / m |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    for (const [j, k] of r.links.entries()) {
      const h = r.hops.find((x) => x.hop === k.link);
      lines.push(
        `| ${j === 0 ? r.strategy : ''} | ${j === 0 ? r.run : ''} | ${j === 0 ? f(r.seconds) : ''} | ${j === 0 ? f(r.ratio, 2) : ''} | ${k.link} | ${kB(h?.rate)} | ${kB(r.target)} | ${kB(h?.allowed)} | ${h?.allowed ? (h.rate / h.allowed).toFixed(4) : '-'} | ${f(h?.p50, 3)} | ${f(h?.p99, 3)} | ${ks(k.packets)} | ${ks(k.bytes)} | ${k.packets.n} / ${k.packets.m} |`,
      );
    }
  }
  lines.push('');
  lines.push(
    '| strategy | runs | time s (mean) | ÷ bound (mean) | links not distinguishable (packets and bytes, α = 0.05) |',
  );
  lines.push('|---|---|---|---|---|');
  for (const s of STRATEGIES) {
    const rs = results.filter((r) => r.strategy === s);
    const pass = rs
      .flatMap((r) => r.links)
      .filter((k) => !k.packets.distinguishable && !k.bytes.distinguishable).length;
    const src = rs.filter((r) => !r.links[0].packets.distinguishable && !r.links[0].bytes.distinguishable).length;
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    lines.push(
      `| ${s} | ${rs.length} | ${f(mean(rs.map((r) => r.seconds)))} | ${f(mean(rs.map((r) => r.ratio)), 2)} | ${pass} of ${rs.length * 3} links (source link: ${src} of ${rs.length}) |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
