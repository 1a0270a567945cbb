#!/usr/bin/env node
// `npm run bench:transfer`: one bulk migration through the full 9-host protocol on loopback (ten `smig`
// processes) against a plain one-hop TCP copy of the same file, in one run: wall time, throughput, the ratio, CPU
// seconds and CPU-ms per MB over all processes, and CPU seconds and peak RSS per role. The work is done by
// `benchTransfer` (src/bench/perf.ts, exported as smig/bench); this file parses options and prints.
//
// Options: --size SIZE (default 1GiB), --runs N (default 1), --chunk-size SIZE, --cpu-prof DIR (a V8 CPU profile
// of every smig process, and its top functions by self time printed per role), --json, --keep (keep the temporary
// directory).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { benchTransfer, median, parseSize, summarizeCpuProfile } from 'smig/bench';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const size = parseSize(opt('--size', '1GiB'), '--size');
const runs = Number(opt('--runs', '1'));
const results = [];
for (let i = 0; i < runs; i++) {
  results.push(
    await benchTransfer({
      size,
      chunkSize: opt('--chunk-size'),
      cpuProfDir: opt('--cpu-prof'),
      keep: args.includes('--keep'),
      log: (s) => process.stderr.write(`bench:transfer: ${runs > 1 ? `run ${i + 1}/${runs}: ` : ''}${s}\n`),
    }),
  );
}
if (args.includes('--json')) {
  process.stdout.write(`${JSON.stringify(runs === 1 ? results[0] : results, null, 2)}\n`);
} else {
  const f = (x, d = 2) => x.toFixed(d);
  const col = (xs, d = 2) => xs.map((x) => f(x, d)).join(' / ');
  const out = [
    `transfer of ${size} bytes on loopback, ${runs} run${runs > 1 ? 's' : ''} (each value: ${runs > 1 ? 'run by run' : 'the run'})`,
    `  smig, 9 hosts      ${col(results.map((r) => r.smig.seconds))} s   ${col(
      results.map((r) => r.smig.throughputMBps),
      1,
    )} MB/s   CPU ${col(results.map((r) => r.smig.totalCpuSeconds))} s = ${col(
      results.map((r) => r.smig.cpuMsPerMB),
      1,
    )} ms/MB`,
    `  plain TCP, 1 hop   ${col(results.map((r) => r.plainTcp.seconds))} s   ${col(
      results.map((r) => r.plainTcp.throughputMBps),
      1,
    )} MB/s   CPU ${col(results.map((r) => r.plainTcp.totalCpuSeconds))} s = ${col(
      results.map((r) => r.plainTcp.cpuMsPerMB),
      1,
    )} ms/MB`,
    `  ratio smig / plain ${col(
      results.map((r) => r.ratio),
      3,
    )}   (median ${f(median(results.map((r) => r.ratio)), 3)})`,
    '',
    '  role                      CPU s            peak MiB',
  ];
  results[0].smig.roles.forEach((x, i) => {
    out.push(
      `  ${x.role.padEnd(24)} ${col(results.map((r) => r.smig.roles[i].cpuSeconds)).padEnd(16)} ${col(
        results.map((r) => r.smig.roles[i].maxRssMiB),
        1,
      )}`,
    );
  });
  process.stdout.write(`${out.join('\n')}\n`);
}

const profDir = opt('--cpu-prof');
if (profDir !== undefined && !args.includes('--json')) {
  // the last run's profiles, matched to roles by pid (node names them CPU.<date>.<time>.<pid>.<n>.cpuprofile)
  const files = readdirSync(profDir);
  for (const role of results.at(-1).smig.roles) {
    const f = files.find((x) => x.split('.')[3] === String(role.pid));
    if (f === undefined) continue;
    const s = summarizeCpuProfile(join(profDir, f));
    const busy = s.totalMs - s.idleMs;
    const top = s.functions.filter((x) => !x.name.startsWith('(idle)')).slice(0, 6);
    process.stdout.write(`\n  ${role.role}: ${busy.toFixed(0)} ms busy in ${f}\n`);
    for (const x of top)
      process.stdout.write(
        `    ${x.ms.toFixed(0).padStart(6)} ms ${((100 * x.ms) / busy).toFixed(1).padStart(5)} %  ${x.name}\n`,
      );
  }
}
