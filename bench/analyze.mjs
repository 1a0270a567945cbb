#!/usr/bin/env node
// `npm run bench:analyze`: `smig analyze --json` next to its anchors `capinfos` and `tshark -q -z io,stat,1` on
// the same synthetic header-only captures (1 M packets of Ethernet/IPv4/UDP cut at 64 bytes, ~80 MB, and one four
// times as large to show that memory does not grow with the file), runs interleaved. Wall and CPU seconds and peak
// RSS from /usr/bin/time (package `time`); capinfos and tshark come with the `tshark` package. The work is done by
// `benchAnalyze` (src/bench/perf.ts, exported as smig/bench); this file parses options and prints.
// Env: SMIG_BENCH_DIR (default .bench/), SMIG_BENCH_PACKETS (default 1000000), SMIG_BENCH_RUNS (default 3),
// SMIG_BENCH_TSHARK=0 leaves tshark out.
import { benchAnalyze, median } from 'smig/bench';

const rows = await benchAnalyze({
  dir: process.env.SMIG_BENCH_DIR ?? '.bench',
  packets: Number(process.env.SMIG_BENCH_PACKETS ?? 1_000_000),
  runs: Number(process.env.SMIG_BENCH_RUNS ?? 3),
  ...(process.env.SMIG_BENCH_TSHARK === '0' ? { tshark: false } : {}),
  log: (s) => process.stderr.write(`bench:analyze: ${s}\n`),
});
const col = (xs, d = 2) => xs.map((x) => x.toFixed(d)).join(' / ');
console.log(
  'file                 size MB    packets  tool                      wall s (runs)          CPU s (runs)           peak MiB (max)',
);
for (const r of rows) {
  const name = r.file.split('/').at(-1);
  console.log(
    `${name.padEnd(20)} ${r.sizeMB.toFixed(0).padStart(7)} ${String(r.packets).padStart(10)}  ${r.tool.padEnd(24)}  ${col(r.runs.map((x) => x.seconds)).padEnd(22)} ${col(r.runs.map((x) => x.cpuSeconds)).padEnd(22)} ${Math.max(
      ...r.runs.map((x) => x.peakMiB),
    )
      .toFixed(0)
      .padStart(6)}`,
  );
}
const at = (tool, i = 0) => rows.filter((r) => r.tool.startsWith(tool))[i];
const smig = at('smig');
const cap = at('capinfos');
if (smig && cap) {
  const w = median(smig.runs.map((x) => x.seconds)) / median(cap.runs.map((x) => x.seconds));
  const c = median(smig.runs.map((x) => x.cpuSeconds)) / median(cap.runs.map((x) => x.cpuSeconds));
  console.log(
    `smig analyze ÷ capinfos on ${smig.packets} packets (medians): wall ${w.toFixed(2)}×, CPU ${c.toFixed(2)}×`,
  );
}
console.log(JSON.stringify({ bench: 'analyze', rows }));
