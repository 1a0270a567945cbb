/**
 * A migration cluster of real `smig` processes on 127.0.0.1 whose paced links tcpdump records, and `smig analyze`
 * of a recorded link against a hold-out: what `npm run bench:pacing`, `bench:estimate` and the pacing capture
 * test share (benchPacing, benchEstimate and the test import it).
 *
 * Topology (each hop on its own listening port, so a port filter isolates a link):
 *   source ──▶ data relay D ──▶ leader L ──▶ destination R        key relay K ──▶ leader L (a share, unpaced)
 * Observed links: source→D ('port D'), D→L ('port L' and D's ephemeral port: K→L shares port L), L→R ('port R').
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDecoded, decodePacket } from '../capture/decode.js';
import { readCapture } from '../capture/reader.js';
import type { Proc } from './proc.js';
import { PACKAGE_ROOT, runProc, stopProc, waitFor } from './proc.js';

/** The real captures the tests and benchmarks use (test/fixtures/captures). */
export const FIXTURE_CAPTURES: string = join(PACKAGE_ROOT, 'test', 'fixtures', 'captures');

/** A daemon of the cluster and where it listens. */
export interface ClusterDaemon extends Proc {
  addr: string;
  port: number;
}

/** Destination R, data relay D, leader L, key relay K (JSON logs) and their cluster key. */
export interface LoopbackCluster {
  key: string;
  /** The destination's output directory. */
  out: string;
  R: ClusterDaemon;
  D: ClusterDaemon;
  L: ClusterDaemon;
  K: ClusterDaemon;
  all: ClusterDaemon[];
}

/** Starts tcpdump on lo writing `file`; resolves once it is listening. Stop it with SIGINT. */
export async function startTcpdump(file: string, filter: string): Promise<Proc> {
  const p = runProc(['-i', 'lo', '-w', file, '-U', filter], 'tcpdump');
  await waitFor(p, /listening on/, 'tcpdump', 10_000);
  return p;
}

/** Starts the cluster in `dir` (made if missing): a key, `smig recv` and three `smig relay`s on 127.0.0.1. */
export async function startCluster(dir: string): Promise<LoopbackCluster> {
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'cluster.key');
  const k = runProc(['keygen', '--force', '-o', key]);
  if ((await k.exited) !== 0) throw new Error(k.stderr);
  const out = join(dir, 'out');
  mkdirSync(out, { recursive: true });
  const daemon = async (args: string[]): Promise<ClusterDaemon> => {
    const p = runProc([...args, '--listen', '127.0.0.1:0', '--key', key, '--log-format', 'json']);
    const addr = (await waitFor(p, /"event":"listening","addr":"([^"]+)"/, `smig ${args[0]}`))[1]!;
    return Object.assign(p, { addr, port: Number(addr.split(':').pop()) });
  };
  const [R, D, L, K] = await Promise.all([
    daemon(['recv', '--out', out]),
    daemon(['relay']),
    daemon(['relay']),
    daemon(['relay']),
  ]);
  return { key, out, R: R!, D: D!, L: L!, K: K!, all: [R!, D!, L!, K!] };
}

/** Events of one session (by its 16-hex-digit prefix) from a daemon's JSON log. */
export function sessionEvents(p: Proc, session: string): Record<string, unknown>[] {
  return p.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e.session === session.slice(0, 16));
}

/** Pacing settings of {@link migrateCaptured}. */
export interface CapturedMigrationOptions {
  strategy?: string;
  profile?: string;
  seed?: number;
  rate?: string;
}

/** One recorded link: its name and the capture filter that isolates its data direction's flow. */
export interface RecordedLink {
  link: string;
  filter: string;
}

/** What {@link migrateCaptured} returns. */
export interface CapturedMigration {
  /** `smig send --json`'s summary. */
  summary: Record<string, unknown> & { session: string; done: { sha256: string } };
  wall: number;
  capture: string;
  /** The relays' `pacing` log events of this session. */
  pacing: Record<string, unknown>[];
  links: RecordedLink[];
}

/**
 * One migration of `file` through the cluster while tcpdump records the three paced links into `capture`.
 * @throws Error when `smig send` fails (its stderr).
 */
export async function migrateCaptured(
  cluster: LoopbackCluster,
  file: string,
  capture: string,
  o: CapturedMigrationOptions = {},
): Promise<CapturedMigration> {
  const { D, L, K, R } = cluster;
  const dump = await startTcpdump(capture, `tcp port ${D.port} or tcp port ${L.port} or tcp port ${R.port}`);
  const t0 = performance.now();
  const send = runProc([
    'send',
    file,
    ...['--key', cluster.key, '--dest', R.addr, '--data-relays', D.addr, '--key-relays', K.addr],
    ...['--leader', L.addr, '--threshold', '1', '--strategy', o.strategy ?? 'bulk', '--json'],
    ...(o.profile ? ['--profile', o.profile] : []),
    ...(o.seed !== undefined ? ['--seed', String(o.seed)] : []),
    ...(o.rate ? ['--rate', o.rate] : []),
  ]);
  const code = await send.exited;
  const wall = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 300)); // the last FIN/ACKs
  await stopProc(dump, 'SIGINT');
  if (code !== 0) throw new Error(`smig send exited ${code}: ${send.stderr}`);
  const summary = JSON.parse(send.stdout) as CapturedMigration['summary'];
  await new Promise((r) => setTimeout(r, 100)); // the daemons' last log lines
  const pacing = [D, L].flatMap((p) => sessionEvents(p, summary.session).filter((e) => e.event === 'pacing'));
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
export async function busiestPeerPort(capture: string, port: number): Promise<number> {
  const d = createDecoded();
  const bytes = new Map<number, number>();
  await readCapture(capture, (p) => {
    decodePacket(p.linktype, p.data, d, p.origLen);
    if (d.srcPort === port) bytes.set(d.dstPort, (bytes.get(d.dstPort) ?? 0) + p.origLen);
    else if (d.dstPort === port) bytes.set(d.srcPort, (bytes.get(d.srcPort) ?? 0) + p.origLen);
  });
  let best = 0;
  for (const [k, v] of bytes) if (v > (bytes.get(best) ?? -1)) best = k;
  return best;
}

/** A KS comparison of one per-bin feature, as {@link analyzeLink} returns it. */
export interface LinkKs {
  D: number;
  p: number;
  n: number;
  m: number;
  critical: number;
  distinguishable: boolean;
}

/** `smig analyze --json` of a link against the hold-out: KS of packets and bytes per bin, and each side's busiest bin. */
export async function analyzeLink(
  holdout: string,
  capture: string,
  filter: string | undefined,
  bin: string,
): Promise<{ packets: LinkKs; bytes: LinkKs; peakBytes: { normal: number; link: number } }> {
  const p = runProc([
    ...['analyze', '--json', '--no-progress', '--bin', bin, '--class', `normal=${holdout}`],
    ...['--class', `stealth=${capture}${filter ? `@${filter}` : ''}`],
  ]);
  const code = await p.exited;
  if (code !== 0) throw new Error(`smig analyze exited ${code}: ${p.stderr}`);
  type Cmp = { feature: string; subject: string; statistic: number; pvalue: number } & Omit<LinkKs, 'D' | 'p'>;
  const j = JSON.parse(p.stdout) as { comparisons: Cmp[]; captures: { series: { rows: number[][] } }[] };
  const peak = (i: number): number => Math.max(0, ...j.captures[i]!.series.rows.map((r) => r[2]!));
  const ks = (feature: string): LinkKs => {
    const c = j.comparisons.find((x) => x.feature === feature && x.subject === 'stealth');
    if (c === undefined) throw new Error(`smig analyze: no ${feature} comparison for ${capture}`);
    return { D: c.statistic, p: c.pvalue, n: c.n, m: c.m, critical: c.critical, distinguishable: c.distinguishable };
  };
  return {
    packets: ks('packets_per_bin'),
    bytes: ks('bytes_per_bin'),
    // the busiest bin's bytes, of the reference and of the link
    peakBytes: { normal: peak(0), link: peak(1) },
  };
}

/** Writes a file of `size` random bytes; returns its path. */
export function randomFile(path: string, size: number): string {
  writeFileSync(path, randomBytes(size));
  return path;
}
