#!/usr/bin/env node
// Structure check of src/ (run by the tests and by `npm run lint`): the import graph — static, type-only and
// dynamic imports — has no cycles, no CLI command module imports another, and no file is over MAX_LINES
// lines unless it is listed in ALLOW_LONG with the reason (one cohesive codec or table).
// Prints one line per finding and exits 1 when there is any; `--json` prints the findings as JSON.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const MAX_LINES = 500;
/** Files allowed over MAX_LINES: each is one cohesive codec or table. */
const ALLOW_LONG = new Map([
  ['src/protocol/messages.ts', 'the wire codec of every message body: one table of encoders and decoders'],
  ['src/crypto/envelope.ts', 'the STREAM envelope codec: sealer, opener and the segment arithmetic they share'],
  ['src/capture/reader.ts', 'the pcap/pcapng push parser: one state machine over both formats'],
  ['src/analysis/ks.ts', 'the KS family: exact and asymptotic distributions and their tables'],
  ['src/capture/filter.ts', 'the filter-expression compiler: lexer, parser and evaluator of one grammar'],
]);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const IMPORT_RE =
  /(?:^|[^\w.])(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

function importsOf(file) {
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const deps = new Set();
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2];
    if (!spec || !spec.startsWith('.')) continue;
    const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
    deps.add(target);
  }
  return [...deps];
}

const files = walk(src);
const graph = new Map(files.map((f) => [f, importsOf(f).filter((d) => files.includes(d))]));
const rel = (f) => relative(root, f);
const findings = [];

// cycles (Tarjan's strongly connected components)
let index = 0;
const stack = [];
const info = new Map();
function strong(v) {
  info.set(v, { index, low: index, on: true });
  index++;
  stack.push(v);
  for (const w of graph.get(v)) {
    if (!info.has(w)) {
      strong(w);
      info.get(v).low = Math.min(info.get(v).low, info.get(w).low);
    } else if (info.get(w).on) info.get(v).low = Math.min(info.get(v).low, info.get(w).index);
  }
  if (info.get(v).low === info.get(v).index) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      info.get(w).on = false;
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1 || graph.get(v).includes(v)) findings.push({ kind: 'cycle', files: comp.map(rel).sort() });
  }
}
for (const f of files) if (!info.has(f)) strong(f);

// commands importing commands
const commands = join(src, 'cli', 'commands');
for (const [f, deps] of graph) {
  if (!f.startsWith(commands + '/') || f.endsWith('/index.ts')) continue;
  for (const d of deps) {
    if (d.startsWith(commands + '/') && !d.endsWith('/index.ts'))
      findings.push({ kind: 'command-imports-command', files: [rel(f), rel(d)] });
  }
}

// long files
for (const f of files) {
  const lines = readFileSync(f, 'utf8').split('\n').length;
  if (lines > MAX_LINES && !ALLOW_LONG.has(rel(f))) findings.push({ kind: 'long-file', files: [rel(f)], lines });
}

if (process.argv.includes('--json')) console.log(JSON.stringify({ files: files.length, findings }, null, 2));
else {
  for (const x of findings) {
    if (x.kind === 'cycle') console.log(`cycle: ${x.files.join(' → ')}`);
    else if (x.kind === 'long-file') console.log(`long file: ${x.files[0]} has ${x.lines} lines (over ${MAX_LINES})`);
    else console.log(`command imports command: ${x.files[0]} → ${x.files[1]}`);
  }
  console.log(`${files.length} files, ${findings.length} findings`);
}
process.exit(findings.length ? 1 : 0);
