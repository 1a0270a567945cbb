#!/usr/bin/env node
// `npm run bench:pacing-high`: a paced migration at tens of MB/s with a profile learned from a real high-rate
// capture, through separate `smig` processes on a lab of network namespaces (root):
//
//   h1 source ──▶ h2 data relay ──▶ h3 leader ──▶ h5 destination          h4 key relay ──▶ h3 (a share)
//
// every host's egress a 300 Mbit/s tbf link (`smig lab up --rate`, MTU 1500, offloads off: captures show wire
// packets), as the link the normal capture was made on. The normal capture is made by scripts/make-bulk-capture.sh
// (curl downloads at varied rates from python3 -m http.server over such a link, tcpdump -s 96) unless --capture
// names one; the profile is learned from its even 5 s blocks (data direction), the odd blocks are the hold-out.
// tcpdump (-s 96) records the data direction of each paced link on the bridge ports. Per run it prints:
//   - the migration's time ÷ its lower bound (size ÷ the profile's mean byte rate);
//   - each hop's achieved wire rate and the lateness of its paced writes, p50 / p99 / max (ms);
//   - per link, KS of packets and bytes per bin against the hold-out (the verdict), and, for information, KS of
//     packet sizes and gaps (the per-packet tests).
//
// Options: --size BYTES (default 1000000000), --runs N (1), --capture FILE (default: make one, 40 s),
// --capture-seconds S (40), --bin DUR (500ms), --rate RATE (lab links, 300mbit), --strategy NAME (profile; bulk for
// the unpaced throughput of the same lab), --offload (senders hand tbf GSO packets, which it cuts to wire size;
// receivers do GRO: less kernel CPU, same captures), --pacer-only SECONDS (the shaped pacer alone on a plain TCP
// socket h1 → h2: src/bench/pacer-sink.ts), --json, --keep.
// The work is benchPacingHigh (src/bench/pacing-high.ts, exported as smig/bench); this file parses options and
// prints.
import { benchPacingHigh } from 'smig/bench';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const SIZE = Number(opt('--size', '1000000000'));
const RUNS = Number(opt('--runs', '1'));
const BIN = opt('--bin', '500ms');
const RATE = opt('--rate', '300mbit');
const CAPTURE_SECONDS = opt('--capture-seconds', '40');
const STRATEGY = opt('--strategy', 'profile');
const JSON_OUT = args.includes('--json');
const OFFLOAD = args.includes('--offload');
const PACER_ONLY = opt('--pacer-only', undefined);
const KEEP = args.includes('--keep');
const say = (s) => process.stderr.write(`${s}\n`);

if (process.getuid?.() !== 0) {
  say('bench:pacing-high: needs root (network namespaces, tcpdump)');
  process.exit(2);
}
const capture = opt('--capture', undefined);
const r0 = await benchPacingHigh({
  size: SIZE,
  runs: RUNS,
  bin: BIN,
  rate: RATE,
  ...(capture !== undefined ? { capture } : {}),
  captureSeconds: CAPTURE_SECONDS,
  strategy: STRATEGY,
  offload: OFFLOAD,
  ...(PACER_ONLY !== undefined ? { pacerOnly: Number(PACER_ONLY) } : {}),
  keep: KEEP,
  ...(process.env.SMIG_BENCH_DIR ? { tmpRoot: process.env.SMIG_BENCH_DIR } : {}),
  log: say,
}).catch((err) => {
  say(`bench:pacing-high: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
const { mode, profileBytesPerSecond, lowerBound, results } = r0;
const pv = (p) => (p < 1e-3 ? p.toExponential(1) : p.toFixed(3));
const mbs = (profileBytesPerSecond / 1e6).toFixed(2);

if (mode === 'pacer-only') {
  if (JSON_OUT) {
    process.stdout.write(
      `${JSON.stringify({ mode: 'pacer-only', bin: BIN, rate: RATE, profileBytesPerSecond, results }, null, 2)}\n`,
    );
  } else {
    const lines = [
      `The shaped pacer alone, h1 → h2 over ${RATE} (plain TCP, no TLS or relays); profile mean ${mbs} MB/s; bins ${BIN}.`,
      '',
      '| run | load | s | wire MB/s | ÷ profile | writes | paused s | late p50 / p99 / max ms | KS pkts/bin D / p | KS bytes/bin D / p | bins n / m | KS size D / p | KS gap D / p | drops |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ];
    for (const r of results) {
      const s = r.stats;
      const rate = (s.bytes / (s.last - s.start)) * 1000;
      const k = r.link;
      lines.push(
        `| ${r.run} | ${r.load} | ${r.seconds} | ${(rate / 1e6).toFixed(2)} | ${(rate / profileBytesPerSecond).toFixed(3)} | ${s.writes} | ${(s.paused / 1000).toFixed(2)} | ${s.lateness.p50.toFixed(3)} / ${s.lateness.p99.toFixed(3)} / ${s.lateness.max.toFixed(1)} | ${k.packets.D.toFixed(3)} / ${pv(k.packets.p)} | ${k.bytes.D.toFixed(3)} / ${pv(k.bytes.p)} | ${k.packets.n} / ${k.packets.m} | ${k.size.D.toFixed(3)} / ${pv(k.size.p)} | ${k.iat.D.toFixed(3)} / ${pv(k.iat.p)} | ${r.dropped} |`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
} else if (JSON_OUT) {
  process.stdout.write(
    `${JSON.stringify({ size: SIZE, bin: BIN, rate: RATE, profileBytesPerSecond, lowerBound, results }, null, 2)}\n`,
  );
} else {
  const f = (x, d = 2) => (x === null || x === undefined ? '-' : Number(x).toFixed(d));
  const lines = [
    `Paced migration of ${SIZE} bytes, source → data relay → leader → destination on a lab of network namespaces (${RATE} per host); profile mean ${mbs} MB/s, lower bound ${lowerBound.toFixed(1)} s; bins ${BIN}; hold-out = odd 5 s blocks of the normal capture (data direction).`,
    '',
    '| run | load (1/5/15 min) | time s | ÷ bound | link | hop rate MB/s | writes | paused s | PAD MB | late p50 / p99 / max ms | KS pkts/bin D / p | KS bytes/bin D / p | bins n / m | KS size D / p | KS gap D / p | drops |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    for (const [j, k] of r.links.entries()) {
      const h = r.hops.find((x) => x.hop === k.link);
      lines.push(
        `| ${j === 0 ? r.run : ''} | ${j === 0 ? r.load : ''} | ${j === 0 ? f(r.seconds, 1) : ''} | ${j === 0 ? f(r.ratio, 3) : ''} | ${k.link} | ${h ? f(h.rate / 1e6) : '-'} | ${h?.writes ?? '-'} | ${f(h?.paused, 1)} | ${h ? f(h.padBytes / 1e6, 1) : '-'} | ${h ? `${f(h.p50, 3)} / ${f(h.p99, 3)} / ${f(h.max, 1)}` : '-'} | ${f(k.packets.D, 3)} / ${pv(k.packets.p)} | ${f(k.bytes.D, 3)} / ${pv(k.bytes.p)} | ${k.packets.n} / ${k.packets.m} | ${f(k.size.D, 3)} / ${pv(k.size.p)} | ${f(k.iat.D, 3)} / ${pv(k.iat.p)} | ${k.dropped} |`,
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
