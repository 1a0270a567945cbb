#!/usr/bin/env node
// npm run bench:analyze — smig analyze against `tshark -q -z io,stat,1` on a ≥ 1 M-packet pcap, and peak memory
// on a small and a ≥ 1 GB file (it must not grow with the file). Prints a table and a JSON line.
// Env: SMIG_BENCH_DIR (default .bench/), SMIG_BENCH_PACKETS (default 1000000), SMIG_BENCH_BIG_PACKETS (default
// 1400000 packets of ~610 B ≈ 0.85 GB; a second file twice that size, 1.7 GB, shows that memory stays flat),
// SMIG_BENCH_TSHARK=0 to leave tshark out (it takes minutes).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.SMIG_BENCH_DIR ?? '.bench';
mkdirSync(dir, { recursive: true });
const packets = Number(process.env.SMIG_BENCH_PACKETS ?? 1_000_000);
const bigPackets = Number(process.env.SMIG_BENCH_BIG_PACKETS ?? 1_400_000);

function make(name, n, mean) {
  const path = join(dir, name);
  if (!existsSync(path)) {
    process.stderr.write(`making ${path} (${n} packets)…\n`);
    const r = spawnSync(process.execPath, ['bench/make-pcap.mjs', path, String(n), String(mean)], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(1);
  }
  return path;
}

/** Runs a command under /usr/bin/time -f, returning wall seconds and peak RSS in MiB. */
function timed(cmd, args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr.slice(-500)}`);
  const [sec, kb] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { seconds: sec, peakMiB: kb / 1024, stdout: r.stdout };
}

const small = make('bench-1m.pcap', packets, 300);
const big = make('bench-1g.pcap', bigPackets, 1300);
const bigger = make('bench-2g.pcap', 2 * bigPackets, 1300);
const smig = ['bin/smig', 'analyze', '--no-progress', '--json'];
const rows = [];
for (const file of [small, big, bigger]) {
  const size = statSync(file).size;
  const s = timed(process.execPath, [...smig, file]);
  const report = JSON.parse(s.stdout);
  rows.push({ file, sizeMB: size / 1e6, packets: report.captures[0].packets, tool: 'smig analyze', seconds: s.seconds, peakMiB: s.peakMiB });
}
const hasTshark = process.env.SMIG_BENCH_TSHARK !== '0' && spawnSync('tshark', ['--version']).status === 0;
if (hasTshark) {
  const t = timed('tshark', ['-q', '-n', '-z', 'io,stat,1', '-r', small]);
  rows.push({ file: small, sizeMB: statSync(small).size / 1e6, packets, tool: 'tshark -q -z io,stat,1', seconds: t.seconds, peakMiB: t.peakMiB });
}
console.log('file                      size MB   packets  tool                       seconds  peak MiB');
for (const r of rows) {
  console.log(`${r.file.padEnd(24)} ${r.sizeMB.toFixed(0).padStart(8)} ${String(r.packets).padStart(9)}  ${r.tool.padEnd(25)} ${r.seconds.toFixed(2).padStart(8)} ${r.peakMiB.toFixed(0).padStart(9)}`);
}
if (hasTshark) console.log(`speed-up over tshark on ${packets} packets: ${(rows[3].seconds / rows[0].seconds).toFixed(1)}×`);
console.log(JSON.stringify({ bench: 'analyze', rows }));
