#!/usr/bin/env node
// `npm run bench:estimate`: how well `smig send --dry-run` predicts a paced migration of the demo's size, run
// against real migrations on 127.0.0.1 (benchEstimate, src/bench/estimate-bench.ts, exported as smig/bench).
// Options: --runs N (default 3), --size BYTES (250000), --strategies LIST (constant,profile,replay), --json.
import { benchEstimate } from 'smig/bench';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const STRATEGIES = opt('--strategies', 'constant,profile,replay').split(',');
const rows = await benchEstimate({
  runs: Number(opt('--runs', '3')),
  size: Number(opt('--size', '250000')),
  strategies: STRATEGIES,
  log: (s) => process.stderr.write(`${s}\n`),
});
if (args.includes('--json')) {
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
