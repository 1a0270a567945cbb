#!/usr/bin/env node
// `npm run bench:transfer`: bulk throughput of one migration through the full 9-host protocol on loopback
// (5 data relays, the first one leading, 3 key relays, 1 destination: separate `smig` processes), against a
// plain TCP copy of the same file through one hop (no TLS, no envelope: a sender process streams the file to a
// receiver process that writes and fsyncs it). Reports wall time, throughput, the ratio, and CPU seconds and
// peak memory (getrusage maxrss = VmHWM) of every process, from the daemons' `stopped` log line (they log
// their resource usage on SIGTERM) and from `smig send --json`.
//
// Options: --size SIZE (default 1GiB), --json (print the result as JSON), --keep (keep the temp directory).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'smig');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const { parseSize } = await import(join(ROOT, 'dist/util/units.js'));
const SIZE = parseSize(opt('--size', '1GiB'), '--size');
const JSON_OUT = args.includes('--json');
const KEEP = args.includes('--keep');
const say = (s) => process.stderr.write(`${s}\n`);

function run(argv, { stdoutToo = false } = {}) {
  const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { child, stdout: '', stderr: '', exited: once(child, 'exit').then(([code]) => code) };
  child.stdout.setEncoding('utf8').on('data', (s) => (p.stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s) => (p.stderr += s));
  void stdoutToo;
  return p;
}

async function waitFor(p, re, ms = 20_000) {
  const t0 = Date.now();
  for (;;) {
    const m = p.stderr.match(re) ?? p.stdout.match(re);
    if (m) return m;
    if (Date.now() - t0 > ms) throw new Error(`timeout waiting for ${re}: ${p.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function usageOf(p) {
  const m = p.stderr.match(/ stopped cpuUserSeconds=([\d.e-]+) cpuSystemSeconds=([\d.e-]+) maxRssKiB=(\d+)/);
  if (!m) throw new Error(`no resource usage logged:\n${p.stderr}`);
  return { cpuSeconds: Number(m[1]) + Number(m[2]), maxRssMiB: Number(m[3]) / 1024 };
}

async function sha256File(path) {
  const { createReadStream } = await import('node:fs');
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c);
  return h.digest('hex');
}

const dir = mkdtempSync(join(tmpdir(), 'smig-bench-'));
try {
  // the payload: random bytes, streamed to disk
  const file = join(dir, 'payload.bin');
  say(`bench:transfer: writing ${SIZE} random bytes to ${file}`);
  const want = createHash('sha256');
  const w = createWriteStream(file);
  for (let left = SIZE; left > 0;) {
    const b = randomBytes(Math.min(left, 4 << 20));
    want.update(b);
    left -= b.length;
    if (!w.write(b)) await once(w, 'drain');
  }
  w.end();
  await once(w, 'finish');
  const wantHex = want.digest('hex');

  // 1. plain TCP copy through one hop: receiver process writes + fsyncs, sender process streams the file
  const recvScript = `
    const net = require('node:net'); const fs = require('node:fs');
    const out = fs.createWriteStream(process.argv[1]);
    const srv = net.createServer((s) => { s.pipe(out); out.on('finish', () => { fs.fsyncSync(out.fd); const r = process.resourceUsage();
      console.log(JSON.stringify({ cpuSeconds: (r.userCPUTime + r.systemCPUTime) / 1e6, maxRssMiB: r.maxRSS / 1024 })); srv.close(); }); });
    srv.listen(0, '127.0.0.1', () => console.error('port ' + srv.address().port));`;
  const sendScript = `
    const net = require('node:net'); const fs = require('node:fs');
    const s = net.connect(Number(process.argv[2]), '127.0.0.1', () => fs.createReadStream(process.argv[1], { highWaterMark: 1 << 20 }).pipe(s));
    s.on('close', () => { const r = process.resourceUsage(); console.log(JSON.stringify({ cpuSeconds: (r.userCPUTime + r.systemCPUTime) / 1e6, maxRssMiB: r.maxRSS / 1024 })); });`;
  const plainOut = join(dir, 'plain.bin');
  const pr = run(['-e', recvScript, plainOut]);
  const port = (await waitFor(pr, /port (\d+)/))[1];
  say('bench:transfer: plain TCP copy through one hop…');
  const t0 = process.hrtime.bigint();
  const ps = run(['-e', sendScript, file, port]);
  await Promise.all([ps.exited, pr.exited]);
  const plainSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const plain = { seconds: plainSeconds, throughputMBps: SIZE / plainSeconds / 1e6, sender: JSON.parse(ps.stdout), receiver: JSON.parse(pr.stdout) };
  rmSync(plainOut);

  // 2. the smig protocol, 9 hosts
  const keyFile = join(dir, 'cluster.key');
  const k = run([BIN, 'keygen', '-o', keyFile]);
  if ((await k.exited) !== 0) throw new Error(k.stderr);
  const outDir = join(dir, 'out');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(outDir);
  const relays = Array.from({ length: 8 }, () => run([BIN, 'relay', '--listen', '127.0.0.1:0', '--key', keyFile]));
  const recv = run([BIN, 'recv', '--listen', '127.0.0.1:0', '--key', keyFile, '--out', outDir]);
  const addr = async (p) => (await waitFor(p, / listening addr=(\S+)/))[1];
  const ra = await Promise.all(relays.map(addr));
  const da = await addr(recv);
  say('bench:transfer: smig send through 5 data relays, 3 key relays (threshold 2), 1 destination…');
  const send = run([BIN, 'send', file, '--key', keyFile, '--dest', da, '--leader', ra[0],
    '--data-relays', ra.slice(0, 5).join(','), '--key-relays', ra.slice(5, 8).join(','), '--json']);
  const status = await send.exited;
  if (status !== 0) throw new Error(`smig send exited ${status}: ${send.stderr}`);
  const r = JSON.parse(send.stdout);
  for (const p of [...relays, recv]) p.child.kill('SIGTERM');
  await Promise.all([...relays, recv].map((p) => p.exited));
  const got = await sha256File(join(outDir, 'payload.bin'));
  if (got !== wantHex || r.done.sha256 !== wantHex) throw new Error('the migrated file differs from the original');

  const roles = [
    { role: 'source (smig send)', cpuSeconds: r.resources.cpuUserSeconds + r.resources.cpuSystemSeconds, maxRssMiB: r.resources.maxRssKiB / 1024 },
    { role: 'leader + data relay 0', ...usageOf(relays[0]) },
    ...relays.slice(1, 5).map((p, i) => ({ role: `data relay ${i + 1}`, ...usageOf(p) })),
    ...relays.slice(5, 8).map((p, i) => ({ role: `key relay ${i}`, ...usageOf(p) })),
    { role: 'destination (smig recv)', ...usageOf(recv) },
  ];
  const result = {
    bytes: SIZE,
    smig: { seconds: r.seconds, throughputMBps: r.throughput / 1e6, roles, totalCpuSeconds: roles.reduce((a, x) => a + x.cpuSeconds, 0) },
    plainTcp: plain,
    ratio: r.throughput / 1e6 / plain.throughputMBps,
    verified: 'SHA-256 of the installed file equals the original',
  };
  if (JSON_OUT) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    const f = (x, d = 2) => x.toFixed(d);
    process.stdout.write(
      `transfer of ${SIZE} bytes on loopback\n` +
      `  smig, 9 hosts   ${f(r.seconds)} s  ${f(r.throughput / 1e6, 1)} MB/s  (CPU ${f(result.smig.totalCpuSeconds)} s in all)\n` +
      `  plain TCP, 1 hop ${f(plain.seconds)} s  ${f(plain.throughputMBps, 1)} MB/s  (CPU ${f(plain.sender.cpuSeconds + plain.receiver.cpuSeconds)} s)\n` +
      `  ratio smig / plain ${f(result.ratio, 3)}\n\n` +
      `  role                      CPU s   peak MiB\n` +
      roles.map((x) => `  ${x.role.padEnd(24)} ${f(x.cpuSeconds).padStart(6)} ${f(x.maxRssMiB, 1).padStart(10)}`).join('\n') + '\n',
    );
  }
} finally {
  if (!KEEP) rmSync(dir, { recursive: true, force: true });
}
