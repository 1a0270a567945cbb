// Shared by `npm run bench:pacing` (bench/pacing.mjs) and test/e2e/pacing-capture.test.ts: a normal capture cut
// into a learning part and a hold-out part, a migration cluster of real `smig` processes on 127.0.0.1 whose paced
// links tcpdump records, and `smig analyze` of every recorded link against the hold-out. Needs `npm run build`.
//
// Topology (each hop on its own listening port, so a port filter isolates a link):
//   source ──▶ data relay D ──▶ leader L ──▶ destination R        key relay K ──▶ leader L (a share, unpaced)
// Observed links: source→D ('port D'), D→L ('port L' and D's ephemeral port: K→L shares port L), L→R ('port R').
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'smig');
export const CAPTURES = join(ROOT, 'test', 'fixtures', 'captures');

/**
 * Cuts a capture into interleaved 5 s blocks: even ones (learned) and odd ones (held out), each part a capture of
 * its own without the other's gaps. The implementation is src/bench/demo.ts `splitBlocks` (smig bench uses it too).
 */
export async function splitBlocks(capture, blockNs, evenPath, oddPath) {
  const { splitBlocks: split } = await import('smig/bench');
  return split(capture, blockNs, evenPath, oddPath);
}

/** A child process with its output collected. */
export function run(argv, opts = {}) {
  const child = spawn(opts.cmd ?? process.execPath, opts.cmd ? argv : [BIN, ...argv], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = { child, stdout: '', stderr: '', exited: once(child, 'exit').then(([code, signal]) => code ?? signal) };
  child.stdout.setEncoding('utf8').on('data', (s) => (p.stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s) => (p.stderr += s));
  return p;
}

/** Resolves with the first match of `re` in the process's stderr or stdout. */
export async function waitFor(p, re, ms = 20_000) {
  const t0 = Date.now();
  for (;;) {
    const m = p.stderr.match(re) ?? p.stdout.match(re);
    if (m) return m;
    if (Date.now() - t0 > ms) throw new Error(`no ${re} within ${ms} ms:\n${p.stderr}`);
    if (p.child.exitCode !== null) throw new Error(`exited (${p.child.exitCode}) before ${re}:\n${p.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Stops a process (SIGTERM, or the given signal) and waits for it. */
export async function stop(p, signal = 'SIGTERM') {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  await p.exited;
}

/** Starts tcpdump on lo writing `file`; resolves once it is listening. Stop it with SIGINT ({@link stop}). */
export async function startTcpdump(file, filter) {
  const p = run(['-i', 'lo', '-w', file, '-U', filter], { cmd: 'tcpdump' });
  await waitFor(p, /listening on/, 10_000);
  return p;
}

/** The cluster: recv R, relays D, L, K (JSON logs), a key file, all on 127.0.0.1; `dir` is made if missing. */
export async function startCluster(dir) {
  await import('node:fs').then((fs) => fs.mkdirSync(dir, { recursive: true }));
  const key = join(dir, 'cluster.key');
  const k = run(['keygen', '--force', '-o', key]);
  if ((await k.exited) !== 0) throw new Error(k.stderr);
  const out = join(dir, 'out');
  await import('node:fs').then((fs) => fs.mkdirSync(out, { recursive: true }));
  const daemon = async (args) => {
    const p = run([...args, '--listen', '127.0.0.1:0', '--key', key, '--log-format', 'json']);
    p.addr = (await waitFor(p, /"event":"listening","addr":"([^"]+)"/))[1];
    p.port = Number(p.addr.split(':').pop());
    return p;
  };
  const [R, D, L, K] = await Promise.all([
    daemon(['recv', '--out', out]),
    daemon(['relay']),
    daemon(['relay']),
    daemon(['relay']),
  ]);
  return { key, out, R, D, L, K, all: [R, D, L, K] };
}

/** Events of one session (by its 16-hex-digit prefix) from a daemon's JSON log. */
export function events(p, session) {
  return p.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((e) => e.session === session.slice(0, 16));
}

/**
 * One migration of `file` through the cluster while tcpdump records the three paced links. Returns the send
 * summary (JSON), the capture, the link filters and the relays' pacing reports of this session.
 */
export async function migrate(cluster, file, capture, { strategy, profile, seed, rate } = {}) {
  const { D, L, K, R } = cluster;
  const dump = await startTcpdump(capture, `tcp port ${D.port} or tcp port ${L.port} or tcp port ${R.port}`);
  const t0 = performance.now();
  const send = run([
    'send',
    file,
    '--key',
    cluster.key,
    '--dest',
    R.addr,
    '--data-relays',
    D.addr,
    '--key-relays',
    K.addr,
    '--leader',
    L.addr,
    '--threshold',
    '1',
    '--strategy',
    strategy,
    '--json',
    ...(profile ? ['--profile', profile] : []),
    ...(seed !== undefined ? ['--seed', String(seed)] : []),
    ...(rate ? ['--rate', rate] : []),
  ]);
  const code = await send.exited;
  const wall = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 300)); // the last FIN/ACKs
  await stop(dump, 'SIGINT');
  if (code !== 0) throw new Error(`smig send exited ${code}: ${send.stderr}`);
  const summary = JSON.parse(send.stdout);
  await new Promise((r) => setTimeout(r, 100)); // the daemons' last log lines
  const pacing = [D, L].flatMap((p) => events(p, summary.session).filter((e) => e.event === 'pacing'));
  const eph = await busiestPeerPort(capture, L.port);
  return {
    summary,
    wall,
    capture,
    pacing,
    links: [
      { link: 'source → data relay', filter: `tcp port ${D.port}` },
      { link: 'data relay → leader', filter: `tcp port ${L.port} and tcp port ${eph}` },
      { link: 'leader → destination', filter: `tcp port ${R.port}` },
    ],
  };
}

/** The other port of the TCP flow on `port` that carried the most bytes (the data relay's link to the leader). */
export async function busiestPeerPort(capture, port) {
  const { readCapture, createDecoded, decodePacket } = await import('smig/capture');
  const d = createDecoded();
  const bytes = new Map();
  await readCapture(capture, (p) => {
    decodePacket(p.linktype, p.data, d, p.origLen);
    if (d.srcPort === port) bytes.set(d.dstPort, (bytes.get(d.dstPort) ?? 0) + p.origLen);
    else if (d.dstPort === port) bytes.set(d.srcPort, (bytes.get(d.srcPort) ?? 0) + p.origLen);
  });
  let best = 0;
  for (const [k, v] of bytes) if (v > (bytes.get(best) ?? -1)) best = k;
  return best;
}

/** `smig analyze --json` of a link against the hold-out: KS of packets and bytes per bin. */
export async function analyzeLink(holdout, capture, filter, bin) {
  const p = run([
    'analyze',
    '--json',
    '--no-progress',
    '--bin',
    bin,
    '--class',
    `normal=${holdout}`,
    '--class',
    `stealth=${capture}${filter ? `@${filter}` : ''}`,
  ]);
  const code = await p.exited;
  if (code !== 0) throw new Error(`smig analyze exited ${code}: ${p.stderr}`);
  const j = JSON.parse(p.stdout);
  const ks = (feature) => {
    const c = j.comparisons.find((x) => x.feature === feature && x.subject === 'stealth');
    return { D: c.statistic, p: c.pvalue, n: c.n, m: c.m, critical: c.critical, distinguishable: c.distinguishable };
  };
  return { packets: ks('packets_per_bin'), bytes: ks('bytes_per_bin') };
}

/** A file of random bytes. */
export function randomFile(path, size) {
  writeFileSync(path, randomBytes(size));
  return path;
}

export { readFileSync };
