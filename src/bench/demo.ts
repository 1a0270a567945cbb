/**
 * The flow of `smig demo` (issue 6): a profile learned from a shipped real normal capture, a generated payload
 * migrated with `bulk` and with `profile` through clusters of real `smig` processes on 127.0.0.1 while tcpdump
 * records their links, and every link compared with the capture's hold-out by `smig analyze` (KS of packets and
 * bytes per bin). The same flow as bench/pacing-lib.mjs and test/e2e/pacing-capture.test.ts, whose comments
 * explain the choices (5 s interleaved blocks, data direction `dst host 192.168.1.7`, 500 ms bins).
 *
 * Topology per strategy (each hop on its own port, so a port filter isolates a link):
 *   source ──▶ data relay D ──▶ leader L ──▶ destination R        key relay K ──▶ leader L (a share, unpaced)
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { smigError } from '../errors.js';
import { PACKAGE_ROOT, lastLine, runOk, runProc, stopProc, waitFor } from './proc.js';
import type { Proc } from './proc.js';

export { PACKAGE_ROOT };
/** The shipped normal capture the profile is learned from. */
export const DEMO_CAPTURE: string = join(PACKAGE_ROOT, 'captures', 'ndpi__netflix.pcap');
/** The data direction of the normal capture (the client's downloads). */
export const DEMO_DATA_FILTER = 'dst host 192.168.1.7';
const BLOCK_NS = 5_000_000_000n;

/** What `runDemo` needs. */
export interface DemoOptions {
  /** Directory for every file of the demo (made if missing). */
  out: string;
  /** Payload size in bytes (the same for both strategies). */
  size: number;
  /** Bin width of the profile and of the tests, as `smig` durations take it (e.g. `500ms`). */
  bin: string;
  /** Progress lines (no newline). */
  log: (line: string) => void;
}

/** One KS test of a link against the hold-out. */
export interface DemoKs {
  D: number;
  p: number;
  n: number;
  m: number;
  distinguishable: boolean;
}

/** The verdict on one link of one strategy's migration. */
export interface DemoVerdict {
  strategy: 'bulk' | 'profile';
  link: string;
  packets: DemoKs;
  bytes: DemoKs;
  /** Either test rejects "same distribution as the hold-out". */
  distinguishable: boolean;
}

/** What `runDemo` returns. */
export interface DemoResult {
  out: string;
  profile: string;
  holdout: string;
  /** The HTML plot of normal (hold-out) vs bulk vs stealth (profile) on the source → data relay link. */
  report: string;
  migrations: { strategy: 'bulk' | 'profile'; seconds: number; sha256: string; capture: string }[];
  verdicts: DemoVerdict[];
}

const run = (argv: string[], cmd?: string): Proc => runProc(argv, cmd);
const stop = stopProc;

/**
 * Cuts a capture into blocks of `blockNs` and writes the even blocks to `evenPath`, the odd ones to `oddPath`,
 * each with the other part's time removed (as bench/pacing-lib.mjs `splitBlocks`). Returns packet counts.
 */
export async function splitBlocks(capture: string, blockNs: bigint, evenPath: string, oddPath: string): Promise<{ even: number; odd: number }> {
  const { readCapture, PcapWriter } = await import('../capture/index.js');
  const outs = [evenPath, oddPath].map((p) => createWriteStream(p));
  let writers: InstanceType<typeof PcapWriter>[] | undefined;
  let t0: bigint | undefined;
  const counts = [0, 0];
  await readCapture(capture, (p) => {
    writers ??= outs.map((o) => new PcapWriter(o, { linktype: p.linktype, nanosecond: true }));
    t0 ??= p.ts;
    const rel = p.ts - t0;
    const k = rel / blockNs;
    const part = Number(k % 2n);
    writers[part]!.writePacket(t0 + (k / 2n) * blockNs + (rel - k * blockNs), p.data, p.origLen);
    counts[part]!++;
  });
  await Promise.all(outs.map((o) => new Promise<void>((resolve) => o.end(resolve))));
  return { even: counts[0]!, odd: counts[1]! };
}

interface Cluster {
  key: string;
  R: Proc & { addr: string; port: number };
  D: Proc & { addr: string; port: number };
  L: Proc & { addr: string; port: number };
  K: Proc & { addr: string; port: number };
  all: Proc[];
}

async function startCluster(dir: string): Promise<Cluster> {
  mkdirSync(join(dir, 'out'), { recursive: true });
  const key = join(dir, 'cluster.key');
  await runOk('smig keygen', ['keygen', '--force', '-o', key]);
  const all: Proc[] = [];
  const daemon = async (args: string[]): Promise<Proc & { addr: string; port: number }> => {
    const p = run([...args, '--listen', '127.0.0.1:0', '--key', key, '--log-format', 'json']);
    all.push(p);
    const addr = (await waitFor(p, /"event":"listening","addr":"([^"]+)"/, `smig ${args[0]}`))[1]!;
    return Object.assign(p, { addr, port: Number(addr.split(':').pop()) });
  };
  try {
    const [R, D, L, K] = await Promise.all([daemon(['recv', '--out', join(dir, 'out')]), daemon(['relay']), daemon(['relay']), daemon(['relay'])]);
    return { key, R, D, L, K, all };
  } catch (err) {
    await Promise.all(all.map((p) => stop(p)));
    throw err;
  }
}

/** The other port of the TCP flow on `port` that carried the most bytes (the data relay's link to the leader). */
async function busiestPeerPort(capture: string, port: number): Promise<number> {
  const { readCapture, createDecoded, decodePacket } = await import('../capture/index.js');
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

/** One migration of `payload` through `c` while tcpdump records its three paced links. */
async function migrate(c: Cluster, payload: string, capture: string, strategy: 'bulk' | 'profile', profile: string) {
  const dump = run(['-i', 'lo', '-w', capture, '-U', `tcp port ${c.D.port} or tcp port ${c.L.port} or tcp port ${c.R.port}`], 'tcpdump');
  await waitFor(dump, /listening on/, 'tcpdump', 10_000);
  const t0 = performance.now();
  const send = run(['send', payload, '--key', c.key, '--dest', c.R.addr, '--data-relays', c.D.addr, '--key-relays', c.K.addr,
    '--leader', c.L.addr, '--threshold', '1', '--strategy', strategy, '--json', ...(strategy === 'profile' ? ['--profile', profile] : [])]);
  const code = await send.exited;
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 300)); // the last FIN/ACKs
  await stop(dump, 'SIGINT');
  if (code !== 0) throw smigError('SMIG_ERR_MIGRATION', `smig send --strategy ${strategy} exited ${code}: ${lastLine(send.stderr)}`);
  const summary = JSON.parse(send.stdout) as { done: { sha256: string } };
  const eph = await busiestPeerPort(capture, c.L.port);
  return {
    seconds, sha256: summary.done.sha256,
    links: [
      { link: 'source → data relay', filter: `tcp port ${c.D.port}` },
      { link: 'data relay → leader', filter: `tcp port ${c.L.port} and tcp port ${eph}` },
      { link: 'leader → destination', filter: `tcp port ${c.R.port}` },
    ],
  };
}

async function analyzeLink(holdout: string, capture: string, filter: string, bin: string): Promise<{ packets: DemoKs; bytes: DemoKs }> {
  const p = await runOk('smig analyze', ['analyze', '--json', '--no-progress', '--bin', bin, '--class', `normal=${holdout}`, '--class', `stealth=${capture}@${filter}`]);
  const j = JSON.parse(p.stdout) as { comparisons: { feature: string; subject: string; statistic: number; pvalue: number; n: number; m: number; distinguishable: boolean }[] };
  const ks = (feature: string): DemoKs => {
    const c = j.comparisons.find((x) => x.feature === feature && x.subject === 'stealth');
    if (!c) throw smigError('SMIG_ERR_INTERNAL', `smig analyze gave no ${feature} comparison`);
    return { D: c.statistic, p: c.pvalue, n: c.n, m: c.m, distinguishable: c.distinguishable };
  };
  return { packets: ks('packets_per_bin'), bytes: ks('bytes_per_bin') };
}

/**
 * Runs the demo: split the shipped capture (even 5 s blocks learned, odd ones held out), learn a profile, run
 * `bulk` and `profile` at once on two clusters, test every link against the hold-out, plot the source link.
 */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const { out, log } = opts;
  if (!existsSync(DEMO_CAPTURE)) throw smigError('SMIG_ERR_FILE', `the shipped capture ${DEMO_CAPTURE} is missing`);
  mkdirSync(out, { recursive: true });
  const learn = join(out, 'learn.pcap');
  const holdout = join(out, 'holdout.pcap');
  const profile = join(out, 'profile.json');
  const counts = await splitBlocks(DEMO_CAPTURE, BLOCK_NS, learn, holdout);
  log(`normal capture ${DEMO_CAPTURE}: ${counts.even} packets to learn from (even 5 s blocks), ${counts.odd} held out (odd blocks)`);
  await runOk('smig profile learn', ['profile', 'learn', learn, '--bin', opts.bin, '--filter', DEMO_DATA_FILTER, '-o', profile]);
  log(`profile learned (${opts.bin} bins, data direction '${DEMO_DATA_FILTER}'): ${profile}`);
  const payload = join(out, 'payload.bin');
  writeFileSync(payload, randomBytes(opts.size));
  const strategies = ['bulk', 'profile'] as const;
  const clusters: Cluster[] = [];
  try {
    for (const s of strategies) clusters.push(await startCluster(join(out, s)));
    log(`two clusters of smig processes on 127.0.0.1 (source → data relay → leader → destination, key relay); migrating ${opts.size} bytes with bulk and profile while tcpdump records`);
    // Settled, not Promise.all: a failed run must not leave the other's tcpdump behind.
    const settled = await Promise.allSettled(strategies.map(async (s, i) => {
      const capture = join(out, `${s}.pcap`);
      const m = await migrate(clusters[i]!, payload, capture, s, profile);
      log(`${s}: done in ${m.seconds.toFixed(1)} s (sha256 ${m.sha256.slice(0, 16)}…)`);
      return { strategy: s, capture, ...m };
    }));
    const failed = settled.find((x) => x.status === 'rejected');
    if (failed) throw failed.reason;
    const runs = settled.map((x) => (x as PromiseFulfilledResult<Awaited<ReturnType<typeof migrate>> & { strategy: 'bulk' | 'profile'; capture: string }>).value);
    log('testing every link against the hold-out (KS, packets and bytes per bin)');
    const verdicts: DemoVerdict[] = [];
    for (const r of runs) {
      for (const l of r.links) {
        const k = await analyzeLink(holdout, r.capture, l.filter, opts.bin);
        verdicts.push({ strategy: r.strategy, link: l.link, ...k, distinguishable: k.packets.distinguishable || k.bytes.distinguishable });
      }
    }
    const report = join(out, 'report.html');
    const src = (r: (typeof runs)[number]): string => `${r.capture}@${r.links[0]!.filter}`;
    await runOk('smig analyze --plot', ['analyze', '--no-progress', '--bin', opts.bin, '--class', `normal=${holdout}`, '--class', `bulk=${src(runs[0]!)}`,
      '--class', `stealth=${src(runs[1]!)}`, '--plot', report]);
    return {
      out, profile, holdout, report, verdicts,
      migrations: runs.map((r) => ({ strategy: r.strategy, seconds: r.seconds, sha256: r.sha256, capture: r.capture })),
    };
  } finally {
    await Promise.all(clusters.flatMap((c) => c.all.map((p) => stop(p))));
  }
}
