// `npm run reproduce`: the paper's evaluation (§6, figures 3–6) regenerated from scratch on this machine, as root.
// Runs `smig bench --hosts lab` (one network-namespace host per role, `smig capture` on every host link) into a
// fresh directory, then publishes into the repository:
//   analysis/  bench.json (paths relative to the repository), report.md, report.html, fig3-time.svg, fig4-6-rates.svg,
//              links-detail.svg
//   captures/  smig-*.pcap: the source host's link during the plain copy, the bulk and the stealth migrations of the
//              largest size (what a tap on the flagged host's switch port records)
// Extra arguments go to smig bench (e.g. `npm run reproduce -- --sizes 250kB,840kB,2MB`).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'smig-reproduce-'));
const args = [
  'bin/smig',
  'bench',
  '--hosts',
  'lab',
  '--lab',
  'repro',
  '--sizes',
  '250kB,840kB',
  '-o',
  out,
  ...process.argv.slice(2),
];
// analysis/ holds one bench: several split seeds make one per split (smig bench writes them under split-N)
const seedAt = process.argv.indexOf('--split-seed');
const seedArg = seedAt > 0 ? process.argv[seedAt + 1] : process.argv.find((a) => a.startsWith('--split-seed='));
if (seedArg?.includes(',')) {
  process.stderr.write(
    'reproduce: one --split-seed at a time (analysis/ holds one bench); run smig bench for several\n',
  );
  process.exit(2);
}
process.stderr.write(`reproduce: node ${args.join(' ')}\n`);
// what was run, on which code, on how loaded a machine: written into bench.json and report.md
const git = (a) => spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
const commit = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
const dirty = git(['status', '--porcelain', '--untracked-files=no', '--', 'src', 'bin', 'scripts']) !== '';
const startedAt = new Date().toISOString();
const loadStart = loadavg()[0];
const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
if (r.status !== 0) {
  process.stderr.write(`reproduce: smig bench failed (exit ${r.status ?? r.signal}); its files are in ${out}\n`);
  process.exit(1);
}
const bench = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8'));
const extra = process.argv.slice(2).join(' ');
bench.reproduced = {
  command: `npm run reproduce${extra ? ` -- ${extra}` : ''}`,
  commit,
  dirty,
  startedAt,
  finishedAt: new Date().toISOString(),
  loadAverage: [Number(loadStart.toFixed(2)), Number(loadavg()[0].toFixed(2))],
};
const analysis = join(ROOT, 'analysis');
const captures = join(ROOT, 'captures');
mkdirSync(analysis, { recursive: true });
const published = new Map();
for (const f of ['report.md', 'report.html', 'fig3-time.svg', 'fig4-6-rates.svg', 'links-detail.svg', 'bench.json']) {
  if (f !== 'bench.json') copyFileSync(join(out, f), join(analysis, f));
  published.set(join(out, f), `analysis/${f}`);
}
// report.md says where it comes from, under its title
const made = bench.reproduced;
const md = readFileSync(join(analysis, 'report.md'), 'utf8').split('\n');
md.splice(
  1,
  0,
  '',
  `Made by \`${made.command}\` at commit ${made.commit}${made.dirty ? ' (with uncommitted changes)' : ''}, ${made.startedAt} to ${made.finishedAt}; load average ${made.loadAverage[0]} at the start, ${made.loadAverage[1]} at the end (1 min, this machine's 2 cores are shared).`,
);
writeFileSync(join(analysis, 'report.md'), md.join('\n'));
// the captures of the largest size, source host's link; paths in bench.json relative to the repository
const largest = Math.max(...bench.runs.map((x) => x.size));
for (const run of bench.runs.filter((x) => x.size === largest)) {
  const src = run.links[0].capture;
  const name = `smig-${run.strategy}-${largest}-source.pcap`;
  copyFileSync(src, join(captures, name));
  published.set(src, `captures/${name}`);
}
const rel = (p) => published.get(p) ?? (p.startsWith(out) ? `<bench dir>/${relative(out, p)}` : relative(ROOT, p));
const rewrite = (v) =>
  typeof v === 'string' && v.startsWith('/')
    ? rel(v)
    : Array.isArray(v)
      ? v.map(rewrite)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rewrite(x)]))
        : v;
writeFileSync(join(analysis, 'bench.json'), `${JSON.stringify(rewrite(bench), null, 2)}\n`);
rmSync(out, { recursive: true, force: true });
process.stderr.write(`reproduce: analysis/ and captures/smig-*-${largest}-source.pcap written\n`);
