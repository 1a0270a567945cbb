#!/usr/bin/env node
// `npm run bench:forest`: the observer's forest (Forest, src/analysis/forest.ts) against ml-random-forest 2.1.0,
// whose trees it grows, on real windows: the netflix capture's data direction (label 0) against the shipped paced
// smig link (label 1), and Gnutella's data direction, first half against second. Per case: rows, the time to grow
// one 100-tree forest each way (best of 3), the speed-up, and whether the votes and importances are the same.
// `--json` prints the rows as JSON.
import { fileURLToPath } from 'node:url';
import { classWindows, Forest } from 'smig/analysis';
import { libraryForest } from './library-forest.mjs';

const CAPTURES = fileURLToPath(new URL('../captures/', import.meta.url));
const OPTIONS = { trees: 100, maxFeatures: 0.5, seed: 1, maxDepth: 12, minNumSamples: 2 };

async function rows(a, b) {
  const wa = (await classWindows(a)).windows;
  const wb = (await classWindows(b)).windows;
  return {
    x: [...wa, ...wb].map((w) => Array.from(w.features)),
    y: [...wa.map(() => 0), ...wb.map(() => 1)],
  };
}

function best(f) {
  let ms = Infinity;
  let out;
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint();
    out = f();
    ms = Math.min(ms, Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { ms, out };
}

function ours(x, y) {
  const f = Forest.train(x, y, OPTIONS);
  return { votes: f.votes(x), importance: f.featureImportance() };
}

const gnutella = { file: `${CAPTURES}ndpi__gnutella.pcap`, filter: 'tcp and dst host 10.0.2.15' };
const cases = [
  {
    name: 'netflix vs paced link',
    ...(await rows(
      { name: 'a', file: `${CAPTURES}ndpi__netflix.pcap`, filter: 'dst host 192.168.1.7' },
      { name: 'b', file: `${CAPTURES}smig-profile-840000-source.pcap` },
    )),
  },
  {
    name: 'gnutella halves',
    ...(await rows(
      { name: 'a', ...gnutella, toNs: 300_000_000_000n },
      { name: 'b', ...gnutella, fromNs: 300_000_000_000n },
    )),
  },
];
const out = [];
for (const c of cases) {
  const lib = best(() => libraryForest(c.x, c.y, OPTIONS));
  const mine = best(() => ours(c.x, c.y));
  const same = JSON.stringify(lib.out) === JSON.stringify(mine.out);
  out.push({ case: c.name, rows: c.x.length, libraryMs: lib.ms, forestMs: mine.ms, speedup: lib.ms / mine.ms, same });
}
if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
else
  for (const r of out)
    process.stdout.write(
      `${r.case.padEnd(24)} ${String(r.rows).padStart(5)} rows  ml-random-forest ${r.libraryMs.toFixed(0).padStart(6)} ms  Forest ${r.forestMs.toFixed(0).padStart(5)} ms  ${r.speedup.toFixed(1).padStart(5)}×  ${r.same ? 'same votes and importances' : 'DIFFERENT'}\n`,
    );
