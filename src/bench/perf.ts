/**
 * Throughput and CPU benchmarks with their anchors (the package export `smig/bench`; `npm run bench:transfer` and
 * `npm run bench:analyze` are thin callers):
 *
 * - {@link benchTransfer}: one bulk migration through the full protocol on loopback (5 data relays, the first one
 *   leading, 3 key relays with threshold 2, 1 destination: ten `smig` processes) against a plain one-hop TCP copy
 *   of the same file (plain-copy.ts), with CPU seconds and peak RSS of every process;
 * - {@link benchAnalyze}: `smig analyze --json` against `capinfos` and `tshark -q -z io,stat,1` on the same
 *   synthetic captures (pcap-gen.ts), wall and CPU seconds and peak RSS from `/usr/bin/time`.
 *
 * Wall-clock numbers depend on what else the machine runs; CPU seconds much less: both are reported, per run.
 * Benchmarks print numbers; nothing here asserts a speed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSyntheticPcap } from './pcap-gen.js';
import { PLAIN_COPY_JS, PACKAGE_ROOT as ROOT, SMIG_BIN as SMIG } from './proc.js';

export { parseSize } from '../util/units.js';
export type { EstimateBenchOptions, EstimateBenchRow } from './estimate-bench.js';
export { benchEstimate } from './estimate-bench.js';
export type {
  PacingBenchHop,
  PacingBenchOptions,
  PacingBenchResult,
  PacingBenchRun,
} from './pacing-bench.js';
export { benchPacing } from './pacing-bench.js';
export type {
  HighKs,
  HighLinkAnalysis,
  PacerOnlyRun,
  PacerSinkStats,
  PacingHighCpu,
  PacingHighHop,
  PacingHighOptions,
  PacingHighResult,
  PacingHighRun,
} from './pacing-high.js';
export { benchPacingHigh } from './pacing-high.js';
export type { SyntheticPcapOptions } from './pcap-gen.js';
export { writeSyntheticPcap } from './pcap-gen.js';
export type { SharesBenchRow } from './shares.js';
export { benchShares } from './shares.js';
export type { VmBenchOptions, VmBenchRow } from './vm.js';
export { benchVm } from './vm.js';

/** The built program (also when this module runs from source, as in tests: `npm test` builds first). */

/** CPU seconds (user + system) and peak resident memory of one process. */
export interface ProcessUsage {
  cpuSeconds: number;
  maxRssMiB: number;
}

interface Child {
  pid: number | undefined;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

function run(cmd: string, argv: string[]): Child {
  const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const c: Child = {
    pid: child.pid,
    stdout: '',
    stderr: '',
    exited: once(child, 'exit').then(([code]) => code as number | null),
    kill: (signal) => void child.kill(signal),
  };
  child.stdout.setEncoding('utf8').on('data', (s: string) => (c.stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (c.stderr += s));
  return c;
}

async function waitFor(c: Child, re: RegExp, ms = 30_000): Promise<RegExpMatchArray> {
  const t0 = Date.now();
  for (;;) {
    const m = c.stderr.match(re) ?? c.stdout.match(re);
    if (m) return m;
    if (Date.now() - t0 > ms) throw new Error(`timeout waiting for ${re}: ${c.stderr.slice(-400)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The usage a smig daemon logs when it stops (SIGTERM). */
function daemonUsage(c: Child): ProcessUsage {
  const m = c.stderr.match(/ stopped cpuUserSeconds=([\d.e-]+) cpuSystemSeconds=([\d.e-]+) maxRssKiB=(\d+)/);
  if (!m) throw new Error(`no resource usage logged:\n${c.stderr.slice(-400)}`);
  return { cpuSeconds: Number(m[1]) + Number(m[2]), maxRssMiB: Number(m[3]) / 1024 };
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

/** Writes `size` random bytes to `path`; returns their SHA-256 (hex). */
export async function writeRandomFile(path: string, size: number): Promise<string> {
  const want = createHash('sha256');
  const w = createWriteStream(path);
  for (let left = size; left > 0; ) {
    const b = randomBytes(Math.min(left, 4 << 20));
    want.update(b);
    left -= b.length;
    if (!w.write(b)) await once(w, 'drain');
  }
  w.end();
  await once(w, 'finish');
  return want.digest('hex');
}

/** Result of {@link plainTcpCopy}. */
export interface PlainCopyResult {
  seconds: number;
  throughputMBps: number;
  sender: ProcessUsage;
  receiver: ProcessUsage;
}

/** Copies `file` to `out` through one loopback TCP connection between two processes (the receiver fsyncs). */
export async function plainTcpCopy(file: string, out: string): Promise<PlainCopyResult> {
  const size = statSync(file).size;
  const receiver = run(process.execPath, [PLAIN_COPY_JS, 'recv', out]);
  const port = (await waitFor(receiver, /listening \S+:(\d+)/))[1]!;
  const t0 = process.hrtime.bigint();
  const sender = run(process.execPath, [PLAIN_COPY_JS, 'send', file, port]);
  const [a, b] = await Promise.all([sender.exited, receiver.exited]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (a !== 0 || b !== 0) throw new Error(`plain copy failed: ${sender.stderr}${receiver.stderr}`);
  return {
    seconds,
    throughputMBps: size / seconds / 1e6,
    sender: JSON.parse(sender.stdout) as ProcessUsage,
    receiver: JSON.parse(receiver.stdout) as ProcessUsage,
  };
}

/** Options of {@link benchTransfer}. */
export interface TransferBenchOptions {
  /** Payload bytes. */
  size: number;
  /** Ciphertext per chunk (`smig send --chunk-size`); default smig's. */
  chunkSize?: string;
  /** Write a V8 CPU profile of every smig process into this directory (`node --cpu-prof`). */
  cpuProfDir?: string;
  /** Keep the temporary directory (payload, copies, key). */
  keep?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** One role's process in {@link TransferBenchResult}. */
export interface RoleUsage extends ProcessUsage {
  role: string;
  /** Its process id (to match CPU profiles and `perf` samples with roles). */
  pid: number | undefined;
}

/** Result of {@link benchTransfer}. */
export interface TransferBenchResult {
  bytes: number;
  smig: { seconds: number; throughputMBps: number; roles: RoleUsage[]; totalCpuSeconds: number; cpuMsPerMB: number };
  plainTcp: PlainCopyResult & { totalCpuSeconds: number; cpuMsPerMB: number };
  /** smig throughput ÷ plain copy throughput. */
  ratio: number;
  verified: string;
  dir: string;
}

/**
 * The plain copy, then one migration through 9 hosts (separate processes on 127.0.0.1), on the same random file.
 * @throws Error when a process fails or the installed file differs from the original
 */
export async function benchTransfer(o: TransferBenchOptions): Promise<TransferBenchResult> {
  const say = o.log ?? ((): void => {});
  const dir = mkdtempSync(join(tmpdir(), 'smig-bench-'));
  const node = o.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`];
  const smig = (args: string[]): Child => run(process.execPath, [...node, SMIG, ...args]);
  try {
    const file = join(dir, 'payload.bin');
    say(`writing ${o.size} random bytes to ${file}`);
    const want = await writeRandomFile(file, o.size);

    say('plain TCP copy through one hop…');
    const plainOut = join(dir, 'plain.bin');
    const plain = await plainTcpCopy(file, plainOut);
    rmSync(plainOut);

    const keyFile = join(dir, 'cluster.key');
    const k = smig(['keygen', '-o', keyFile]);
    if ((await k.exited) !== 0) throw new Error(k.stderr);
    // sealed to the destination's identity (the inner end-to-end layer and the signed receipt), as deployed
    const idFile = join(dir, 'dest.id');
    const id = smig(['keygen', '--identity', '-o', idFile]);
    if ((await id.exited) !== 0) throw new Error(id.stderr);
    const outDir = join(dir, 'out');
    mkdirSync(outDir);
    const relays = Array.from({ length: 8 }, () => smig(['relay', '--listen', '127.0.0.1:0', '--key', keyFile]));
    const recv = smig(['recv', '--listen', '127.0.0.1:0', '--key', keyFile, '--identity', idFile, '--out', outDir]);
    const addr = async (c: Child): Promise<string> => (await waitFor(c, / listening addr=(\S+)/))[1]!;
    const ra = await Promise.all(relays.map(addr));
    const da = await addr(recv);
    say('smig send through 5 data relays, 3 key relays (threshold 2), 1 destination…');
    const send = smig([
      'send',
      file,
      '--key',
      keyFile,
      '--dest',
      da,
      '--dest-key',
      `${idFile}.pub`,
      '--leader',
      ra[0]!,
      '--data-relays',
      ra.slice(0, 5).join(','),
      '--key-relays',
      ra.slice(5, 8).join(','),
      '--json',
      ...(o.chunkSize === undefined ? [] : ['--chunk-size', o.chunkSize]),
    ]);
    const status = await send.exited;
    if (status !== 0) throw new Error(`smig send exited ${status}: ${send.stderr.slice(-600)}`);
    const r = JSON.parse(send.stdout) as {
      seconds: number;
      throughput: number;
      done: { sha256: string };
      resources: { cpuUserSeconds: number; cpuSystemSeconds: number; maxRssKiB: number };
    };
    for (const c of [...relays, recv]) c.kill('SIGTERM');
    await Promise.all([...relays, recv].map((c) => c.exited));
    const got = await sha256File(join(outDir, 'payload.bin'));
    if (got !== want || r.done.sha256 !== want) throw new Error('the migrated file differs from the original');

    const roles: RoleUsage[] = [
      {
        role: 'source (smig send)',
        pid: send.pid,
        cpuSeconds: r.resources.cpuUserSeconds + r.resources.cpuSystemSeconds,
        maxRssMiB: r.resources.maxRssKiB / 1024,
      },
      { role: 'leader + data relay 0', pid: relays[0]!.pid, ...daemonUsage(relays[0]!) },
      ...relays.slice(1, 5).map((c, i) => ({ role: `data relay ${i + 1}`, pid: c.pid, ...daemonUsage(c) })),
      ...relays.slice(5, 8).map((c, i) => ({ role: `key relay ${i}`, pid: c.pid, ...daemonUsage(c) })),
      { role: 'destination (smig recv)', pid: recv.pid, ...daemonUsage(recv) },
    ];
    const mb = o.size / 1e6;
    const totalCpuSeconds = roles.reduce((a, x) => a + x.cpuSeconds, 0);
    const plainCpu = plain.sender.cpuSeconds + plain.receiver.cpuSeconds;
    return {
      bytes: o.size,
      smig: {
        seconds: r.seconds,
        throughputMBps: r.throughput / 1e6,
        roles,
        totalCpuSeconds,
        cpuMsPerMB: (1000 * totalCpuSeconds) / mb,
      },
      plainTcp: { ...plain, totalCpuSeconds: plainCpu, cpuMsPerMB: (1000 * plainCpu) / mb },
      ratio: r.throughput / 1e6 / plain.throughputMBps,
      verified: 'SHA-256 of the installed file equals the original',
      dir,
    };
  } finally {
    if (o.keep !== true) rmSync(dir, { recursive: true, force: true });
  }
}

/** Wall and CPU seconds and peak RSS of one command, from `/usr/bin/time` (package `time`). */
export interface TimedRun {
  seconds: number;
  cpuSeconds: number;
  peakMiB: number;
  stdout: string;
}

/**
 * Runs `cmd args` under `/usr/bin/time`.
 * @throws Error when the command fails or /usr/bin/time is missing
 */
export function timeCommand(cmd: string, args: string[]): TimedRun {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', cmd, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr.slice(-500)}`);
  const [sec, user, sys, kb] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number) as [
    number,
    number,
    number,
    number,
  ];
  return { seconds: sec, cpuSeconds: user + sys, peakMiB: kb / 1024, stdout: r.stdout };
}

/** True when `cmd` runs (`cmd --version` exits 0). */
export function hasTool(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Options of {@link benchAnalyze}. */
export interface AnalyzeBenchOptions {
  /** Where the synthetic captures are made (kept between runs). */
  dir: string;
  /** Packets of the header-only capture the tools are compared on. Default 1 000 000. */
  packets?: number;
  /** Repetitions of each measurement. Default 3. */
  runs?: number;
  /** Include `tshark -q -z io,stat,1` (slow). Default true when tshark is installed. */
  tshark?: boolean;
  log?: (line: string) => void;
}

/** One measured (file, tool) pair of {@link benchAnalyze}: one entry per run. */
export interface AnalyzeBenchRow {
  file: string;
  sizeMB: number;
  packets: number;
  tool: string;
  runs: { seconds: number; cpuSeconds: number; peakMiB: number }[];
}

/**
 * Makes the captures if missing — `hdr-N.pcap` (N packets, 64-byte snaplen, Ethernet/IPv4/UDP: ~80 bytes a
 * record) and `hdr-4N.pcap` (four times as many, to show memory flat in file size) — and measures smig analyze
 * and capinfos on both, and tshark on the first, interleaved run by run so that load hits them alike.
 */
export async function benchAnalyze(o: AnalyzeBenchOptions): Promise<AnalyzeBenchRow[]> {
  const say = o.log ?? ((): void => {});
  const packets = o.packets ?? 1_000_000;
  const runs = o.runs ?? 3;
  mkdirSync(o.dir, { recursive: true });
  const files: { path: string; packets: number }[] = [];
  for (const n of [packets, 4 * packets]) {
    const path = join(o.dir, `hdr-${n}.pcap`);
    if (!existsSync(path)) {
      say(`making ${path} (${n} packets, 64-byte snaplen)…`);
      await writeSyntheticPcap(`${path}.part`, { packets: n, meanBytes: 300, seed: 1, snaplen: 64, udpOnly: true });
      spawnSync('mv', [`${path}.part`, path]);
    }
    files.push({ path, packets: n });
  }
  const tools: { tool: string; cmd: string; args: (f: string) => string[]; files: number }[] = [
    {
      tool: 'smig analyze --json',
      cmd: process.execPath,
      args: (f) => [SMIG, 'analyze', '--no-progress', '--json', f],
      files: 2,
    },
  ];
  if (hasTool('capinfos')) tools.push({ tool: 'capinfos', cmd: 'capinfos', args: (f) => [f], files: 2 });
  if (o.tshark ?? hasTool('tshark'))
    tools.push({
      tool: 'tshark -q -z io,stat,1',
      cmd: 'tshark',
      args: (f) => ['-q', '-n', '-z', 'io,stat,1', '-r', f],
      files: 1,
    });
  const rows: AnalyzeBenchRow[] = [];
  for (const t of tools) {
    for (const f of files.slice(0, t.files)) {
      rows.push({ file: f.path, sizeMB: statSync(f.path).size / 1e6, packets: f.packets, tool: t.tool, runs: [] });
    }
  }
  for (let i = 0; i < runs; i++) {
    for (const row of rows) {
      const t = tools.find((x) => x.tool === row.tool)!;
      say(`run ${i + 1}/${runs}: ${row.tool} ${row.file}`);
      const r = timeCommand(t.cmd, t.args(row.file));
      if (t.cmd === process.execPath) {
        const n = (JSON.parse(r.stdout) as { captures: { packets: number }[] }).captures[0]!.packets;
        if (n !== row.packets)
          throw new Error(`smig analyze counted ${n} packets in ${row.file}, expected ${row.packets}`);
      }
      row.runs.push({ seconds: r.seconds, cpuSeconds: r.cpuSeconds, peakMiB: r.peakMiB });
    }
  }
  return rows;
}

/** Median of some numbers (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Self time by function in one V8 `.cpuprofile` (from `node --cpu-prof`). */
export interface ProfileSummary {
  /** Milliseconds sampled, idle included. */
  totalMs: number;
  idleMs: number;
  /** Self milliseconds by `function (file:line)`, largest first. */
  functions: { name: string; ms: number }[];
}

/** Reads a `.cpuprofile` and sums self time by function. */
export function summarizeCpuProfile(path: string): ProfileSummary {
  const p = JSON.parse(readFileSync(path, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const cf = byId.get(p.samples[i]!)!.callFrame;
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    if (cf.functionName === '(idle)') idle += dt;
    const file = cf.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, '');
    const key = `${cf.functionName || '(anonymous)'}${file === '' ? '' : ` (${file}:${cf.lineNumber + 1})`}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const functions = [...self].map(([name, us]) => ({ name, ms: us / 1000 })).sort((a, b) => b.ms - a.ms);
  return { totalMs: total / 1000, idleMs: idle / 1000, functions };
}
