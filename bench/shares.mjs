#!/usr/bin/env node
// `npm run bench:shares`: the leader's key-share search in its worst cases (benchShares, src/bench/shares.ts,
// exported as smig/bench). Prints one line per case; `--json` prints them as JSON.
import { benchShares } from 'smig/bench';

const rows = await benchShares();
if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
else
  for (const r of rows)
    process.stdout.write(
      `${r.case.padEnd(34)} ${String(r.checks).padStart(6)} candidates  ${r.cpuMs.toFixed(1).padStart(7)} CPU-ms  ${r.case.includes('twice') ? (r.ok ? 'refused' : 'NOT REFUSED') : r.ok ? 'key found' : 'NOT FOUND'}\n`,
    );
