#!/usr/bin/env node
// `npm run bench:vm`: a running QEMU VM through the full protocol on loopback, bulk and constant-rate pacing,
// live pre-copy and stop-first (benchVm, src/bench/vm.ts, exported as smig/bench). Prints a Markdown table, or
// JSON with --json.
// Options: --random SIZE (default 16MiB), --memory MiB (default 64), --rate RATE (default 4MB/s),
// --window SIZE (the small window, default 2MiB), --json. Needs qemu-system-x86_64.
import { benchVm, parseSize } from 'smig/bench';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const say = (s) => process.stderr.write(`bench:vm: ${s}\n`);
const o = {
  randomBytes: parseSize(opt('--random', '16MiB'), '--random'),
  memoryMiB: Number(opt('--memory', '64')),
  rate: opt('--rate', '4MB/s'),
  smallWindow: opt('--window', '2MiB'),
  log: say,
};
let results;
try {
  results = await benchVm(o);
} catch (err) {
  say(err.message);
  process.exit(err.code === 'SMIG_ERR_USAGE' ? 2 : 1);
}
if (args.includes('--json')) {
  const { log: _log, ...settings } = o;
  process.stdout.write(`${JSON.stringify({ ...settings, results }, null, 2)}\n`);
} else {
  process.stdout.write(
    `VM migration on loopback: ${o.memoryMiB} MiB TCG guest, ${o.randomBytes} random bytes + 576 KiB per-run random RAM\n`,
  );
  process.stdout.write(
    "| strategy | mode | stream bytes | total | downtime | QEMU's own downtime | destination |\n|---|---|---:|---:|---:|---:|---|\n",
  );
  for (const x of results)
    process.stdout.write(
      `| ${x.strategy} | ${x.mode} | ${x.streamBytes} | ${x.totalSeconds.toFixed(2)} s | ${x.downtimeSeconds.toFixed(2)} s | ${x.qemuDowntimeMs} ms | ${x.destination} |\n`,
    );
}
