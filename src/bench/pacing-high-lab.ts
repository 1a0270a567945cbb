/**
 * The lab and capture parts of `npm run bench:pacing-high` (pacing-high.ts): the normal capture and its profile,
 * a lab of network namespaces with rate-limited links, tcpdump on a bridge port, `smig analyze` of a recorded link
 * against the hold-out (per bin and per packet), CPU of a live process, and the pacer-only run (pacer-sink.ts into
 * a plain TCP sink).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { smigError } from '../errors.js';
import type { PacerSinkStats } from './pacer-sink.js';
import { PACER_SINK_JS } from './pacer-sink.js';
import type { Proc } from './proc.js';
import { lastLine, PACKAGE_ROOT, runOk, runProc, stopProc, waitFor } from './proc.js';

/** The lab's name, subnet and the data direction of scripts/make-bulk-capture.sh's capture. */
export const HIGH_LAB = 'hirate';
export const HIGH_SUBNET = '10.78.0';
export const BULK_DATA_FILTER = 'src host 10.79.0.1';

/** The namespace of a lab host (`h1`…, `br`). */
export const labNs = (host: string): { namespace: string } => ({ namespace: `smig-${HIGH_LAB}-${host}` });
/** The address of lab host `i`. */
export const labIp = (i: number): string => `${HIGH_SUBNET}.${i}`;

/** The 1/5/15-minute load averages, as /proc/loadavg has them. */
export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** Makes a bulk capture of `seconds` with scripts/make-bulk-capture.sh (its output on this process's stderr). */
export function makeBulkCapture(file: string, seconds: string): void {
  const r = spawnSync(join(PACKAGE_ROOT, 'scripts', 'make-bulk-capture.sh'), [file, seconds, '1'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) throw smigError('SMIG_ERR_LAB', `make-bulk-capture.sh exited ${r.status}`);
}

/** Tears the lab down (whether or not it is up). */
export async function labDown(): Promise<void> {
  await runProc(['lab', 'down', HIGH_LAB]).exited;
}

/**
 * Brings up a lab of 5 hosts with `rate` egress links; with `offload`, turns GRO/GSO/TSO on and gives tbf a burst
 * of two wire packets, which it cuts GSO packets to.
 */
export async function labUp(rate: string, offload: boolean): Promise<void> {
  await labDown();
  await runOk('lab up', [
    'lab',
    'up',
    '--hosts',
    '5',
    '--name',
    HIGH_LAB,
    '--subnet',
    `${HIGH_SUBNET}.0/24`,
    '--rate',
    rate,
  ]);
  if (!offload) return;
  for (let i = 1; i <= 5; i++) {
    await runOk(
      'ethtool',
      ['-K', 'eth0', 'gro', 'on', 'tx', 'on', 'gso', 'on', 'tso', 'on'],
      'ethtool',
      labNs(`h${i}`),
    );
    const tbf = ['qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', rate, 'burst', '3028', 'latency', '100ms'];
    await runOk('tc', tbf, 'tc', labNs(`h${i}`));
  }
}

/** Starts tcpdump (-s 96) on bridge port `port` for TCP from lab host `from` to `to`; resolves once listening. */
export async function dumpLink(file: string, port: string, from: number, to: number): Promise<Proc> {
  const filter = `tcp and src host ${labIp(from)} and dst host ${labIp(to)}`;
  const p = runProc(['-i', port, '-s', '96', '-B', '32768', '-U', '-w', file, filter], 'tcpdump', labNs('br'));
  await waitFor(p, /listening on/, 'tcpdump', 10_000);
  return p;
}

/** Packets tcpdump said the kernel dropped (0 when it did not say). */
export function droppedBy(dump: Proc): number {
  return Number(/(\d+) packets? dropped by kernel/.exec(dump.stderr)?.[1] ?? 0);
}

/** CPU seconds (user + system) a live process has used so far (/proc/PID/stat; 0 once gone). */
export function cpuOf(p: Proc): number {
  try {
    const f = readFileSync(`/proc/${p.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** Total bytes of the files in a directory (0 when it does not exist). */
export function dirBytes(d: string): number {
  let n = 0;
  for (const f of existsSync(d) ? readdirSync(d) : []) n += statSync(join(d, f)).size;
  return n;
}

/** One KS comparison of a link against the hold-out. */
export interface HighKs {
  D: number;
  p: number;
  n: number;
  m: number;
  distinguishable: boolean;
}

/** A recorded link against the hold-out: per bin (the verdict) and per packet (sizes, gaps). */
export interface HighLinkAnalysis {
  packetsCaptured: number;
  bytesCaptured: number;
  full: null;
  packets: HighKs;
  bytes: HighKs;
  size: HighKs;
  iat: HighKs;
}

/** `smig analyze --json` of a recorded link against the hold-out's data direction. */
export async function analyzeHighLink(holdout: string, file: string, bin: string): Promise<HighLinkAnalysis> {
  const p = await runOk('analyze', [
    ...['analyze', '--json', '--no-progress', '--bin', bin],
    ...['--class', `normal=${holdout}@${BULK_DATA_FILTER}`, '--class', `stealth=${file}`],
  ]);
  type Cmp = { feature: string; subject: string; statistic: number; pvalue: number; n: number; m: number };
  const j = JSON.parse(p.stdout) as {
    comparisons: (Cmp & { distinguishable: boolean })[];
    captures: { name: string; packets: number; bytes: number }[];
  };
  const ks = (feature: string): HighKs => {
    const c = j.comparisons.find((x) => x.feature === feature && x.subject === 'stealth');
    if (c === undefined) throw smigError('SMIG_ERR_LAB', `smig analyze: no ${feature} comparison for ${file}`);
    return { D: c.statistic, p: c.pvalue, n: c.n, m: c.m, distinguishable: c.distinguishable };
  };
  const st = j.captures.find((c) => c.name === 'stealth');
  return {
    packetsCaptured: st?.packets ?? 0,
    bytesCaptured: st?.bytes ?? 0,
    full: null,
    packets: ks('packets_per_bin'),
    bytes: ks('bytes_per_bin'),
    size: ks('size'),
    iat: ks('iat'),
  };
}

/** One pacer-only run. */
export interface PacerOnlyRun {
  run: number;
  load: string;
  seconds: number;
  stats: PacerSinkStats;
  /** CPU seconds of the sink process. */
  sinkCpu: number;
  dropped: number;
  link: HighLinkAnalysis;
}

/** Where a pacer-only run works and what it compares with. */
export interface PacerOnlyContext {
  dir: string;
  profile: string;
  holdout: string;
  bin: string;
  keep: boolean;
  say: (line: string) => void;
}

/** The pacer alone for `seconds` on h1 → h2 (pacer-sink.ts into a plain TCP sink), captured on vh1. */
export async function pacerOnly(c: PacerOnlyContext, run: number, seconds: number): Promise<PacerOnlyRun> {
  const sinkJs = `require('node:net').createServer((s) => s.resume()).listen(7200, '${labIp(2)}', () => console.log('listening'))`;
  const sink = runProc(['-e', sinkJs], process.execPath, labNs('h2'));
  await waitFor(sink, /listening/, 'sink', 30_000);
  const file = join(c.dir, `pacer${run}-vh1.pcap`);
  const dump = await dumpLink(file, 'vh1', 1, 2);
  const load = loadAverage();
  c.say(`pacer-only run ${run}: ${seconds} s (load ${load}) …`);
  const child = runProc(
    [PACER_SINK_JS, c.profile, `${labIp(2)}:7200`, String(seconds), String(run)],
    process.execPath,
    labNs('h1'),
  );
  const code = await child.exited;
  const cpu = cpuOf(sink);
  await new Promise((r) => setTimeout(r, 300));
  await stopProc(dump, 'SIGINT');
  await stopProc(sink);
  if (code !== 0) throw smigError('SMIG_ERR_LAB', `pacer-sink exited ${code}: ${lastLine(child.stderr)}`);
  const stats = JSON.parse(child.stdout) as PacerSinkStats;
  const dropped = droppedBy(dump);
  const k = await analyzeHighLink(c.holdout, file, c.bin);
  if (!c.keep) rmSync(file, { force: true });
  const span = (stats.last ?? 0) - (stats.start ?? 0);
  c.say(
    `pacer-only run ${run}: ${(((stats.bytes / span) * 1000) / 1e6).toFixed(2)} MB/s, late p99 ${stats.lateness.p99.toFixed(3)} ms; KS p ${k.packets.p.toPrecision(2)}/${k.bytes.p.toPrecision(2)}`,
  );
  return { run, load, seconds, stats, sinkCpu: cpu, dropped, link: k };
}
