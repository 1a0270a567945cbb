/**
 * `npm run bench:pacing-high`: a paced migration at tens of MB/s with a profile learned from a real high-rate
 * capture, through separate `smig` processes on a lab of network namespaces (root):
 *
 *   h1 source ──▶ h2 data relay ──▶ h3 leader ──▶ h5 destination          h4 key relay ──▶ h3 (a share)
 *
 * every host's egress a tbf link (`smig lab up --rate`, MTU 1500, offloads off: captures show wire packets), as
 * the link the normal capture was made on. The normal capture is made by scripts/make-bulk-capture.sh (curl
 * downloads at varied rates over such a link) unless `capture` names one; the profile is learned from its even
 * 5 s blocks (data direction), the odd blocks are the hold-out. tcpdump (-s 96) records the data direction of
 * each paced link on the bridge ports. Per run: the migration's time ÷ its lower bound (size ÷ the profile's mean
 * byte rate); each hop's wire rate, pauses, PAD and the lateness of its paced writes; per link, KS of packets and
 * bytes per bin against the hold-out (the verdict) and of packet sizes and gaps (the per-packet tests); CPU per
 * process. With `pacerOnly`, the shaped pacer alone on a plain TCP socket h1 → h2 (pacer-sink.ts) instead.
 * Progress goes to `log`; bench/pacing-high.mjs prints the tables.
 */

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { smigError } from '../errors.js';
import { createPlan, planDuration } from '../pacing/plan.js';
import { parseProfile } from '../profile/model.js';
import type { HopPacingReport } from '../roles/pace.js';
import { sessionEvents } from './loopback-cluster.js';
import { splitBlocks } from './normal.js';
import type { HighLinkAnalysis, PacerOnlyRun } from './pacing-high-lab.js';
import {
  analyzeHighLink,
  BULK_DATA_FILTER,
  cpuOf,
  dirBytes,
  droppedBy,
  dumpLink,
  labDown,
  labIp,
  labNs,
  labUp,
  loadAverage,
  makeBulkCapture,
  pacerOnly,
} from './pacing-high-lab.js';
import type { Proc } from './proc.js';
import { lastLine, runOk, runProc, SMIG_BIN, stopProc, waitFor } from './proc.js';

export type { PacerSinkStats } from './pacer-sink.js';
export type { HighKs, HighLinkAnalysis, PacerOnlyRun } from './pacing-high-lab.js';

/** Options of {@link benchPacingHigh} (bench/pacing-high.mjs's defaults in brackets). */
export interface PacingHighOptions {
  /** Payload bytes [1000000000]. */
  size: number;
  /** Migrations (or pacer-only runs) [1]. */
  runs: number;
  /** Bin width [500ms]. */
  bin: string;
  /** Each lab host's egress rate [300mbit]. */
  rate: string;
  /** A normal capture to learn from; without it one of `captureSeconds` is made. */
  capture?: string;
  /** Seconds of the capture made when `capture` is not given [40]. */
  captureSeconds: string;
  /** `smig send --strategy` [profile]; bulk for the lab's unpaced throughput. */
  strategy: string;
  /** GSO/GRO on: senders hand tbf GSO packets, which it cuts to wire size. */
  offload?: boolean;
  /** The shaped pacer alone for this many seconds per run, instead of migrations. */
  pacerOnly?: number;
  /** Keep the working directory (captures, profile). */
  keep?: boolean;
  /** Where the working directory is made [/tmp]. */
  tmpRoot?: string;
  log?: (line: string) => void;
}

/** One paced hop of a migration, from `smig send --json` (source) or a relay's `pacing` log event. */
export interface PacingHighHop {
  hop: string;
  writes: unknown;
  /** Wire bytes/s. */
  rate: unknown;
  /** Lateness of paced writes, ms. */
  p50: unknown;
  p99: unknown;
  max: unknown;
  late: unknown;
  padBytes: unknown;
  paused: unknown;
}

/** CPU seconds of each process of a migration. */
export interface PacingHighCpu {
  source: number | null;
  destination: number;
  relay: number;
  leader: number;
  tcpdump: number[];
}

/** One migration. */
export interface PacingHighRun {
  run: number;
  load: string;
  seconds: number;
  lowerBound: number;
  ratio: number;
  installedBytes: number;
  cpu: PacingHighCpu;
  hops: PacingHighHop[];
  links: ({ link: string; dropped: number } & HighLinkAnalysis)[];
}

/** What {@link benchPacingHigh} returns: migrations, or pacer-only runs with `pacerOnly`. */
export type PacingHighResult =
  | { mode: 'migration'; profileBytesPerSecond: number; lowerBound: number; results: PacingHighRun[]; dir?: string }
  | { mode: 'pacer-only'; profileBytesPerSecond: number; lowerBound: number; results: PacerOnlyRun[]; dir?: string };

const LINKS = [
  { link: 'source → data relay', port: 'vh1', from: 1, to: 2 },
  { link: 'data relay → leader', port: 'vh2', from: 2, to: 3 },
  { link: 'leader → destination', port: 'vh3', from: 3, to: 5 },
] as const;

/**
 * Runs the benchmark (see the module comment).
 * @throws SmigError SMIG_ERR_LAB when not root or a step fails
 */
export async function benchPacingHigh(o: PacingHighOptions): Promise<PacingHighResult> {
  const say = o.log ?? (() => {});
  if (process.getuid?.() !== 0)
    throw smigError('SMIG_ERR_LAB', 'bench:pacing-high: needs root (network namespaces, tcpdump)');
  const dir = mkdtempSync(join(o.tmpRoot ?? '/tmp', 'smig-bench-pacing-high-'));
  const keep = o.keep === true;
  try {
    // 1. the normal capture, its halves, the profile
    let capture = o.capture;
    if (capture === undefined) {
      capture = join(dir, 'bulk.pcap.gz');
      say(`making a ${o.captureSeconds} s bulk capture (scripts/make-bulk-capture.sh) …`);
      makeBulkCapture(capture, o.captureSeconds);
    }
    const learn = join(dir, 'learn.pcap');
    const holdout = join(dir, 'holdout.pcap');
    const profile = join(dir, 'profile.json');
    await splitBlocks(capture, 5_000_000_000n, learn, holdout);
    const learnArgv = ['profile', 'learn', learn, '--bin', o.bin, '--filter', BULK_DATA_FILTER, '-o', profile];
    await runOk('profile learn', learnArgv);
    const prof = parseProfile(readFileSync(profile, 'utf8'));
    const plan = createPlan({ strategy: 'profile', profile: prof, seed: 1 });
    const lowerBound = o.size / prof.rates.bytesPerSecond;
    say(
      `profile: mean ${(prof.rates.bytesPerSecond / 1e6).toFixed(2)} MB/s, ${prof.bins} bins; plan: trace ${plan.profile?.trace?.sizes.length} packets, envelope ${plan.profile?.chain ? 'yes' : 'no'}, expected ${planDuration(plan, o.size).expectedSeconds?.toFixed(1)} s, lower bound ${lowerBound.toFixed(1)} s`,
    );
    const base = { profileBytesPerSecond: prof.rates.bytesPerSecond, lowerBound, ...(keep ? { dir } : {}) };

    // 2. the payload (random: nothing compresses) and the lab
    if (o.pacerOnly !== undefined) {
      const results: PacerOnlyRun[] = [];
      try {
        await labUp(o.rate, o.offload === true);
        const c = { dir, profile, holdout, bin: o.bin, keep, say };
        for (let run = 1; run <= o.runs; run++) results.push(await pacerOnly(c, run, o.pacerOnly));
      } finally {
        await labDown();
      }
      return { mode: 'pacer-only', ...base, results };
    }
    const payload = join(dir, 'payload.bin');
    const results: PacingHighRun[] = [];
    try {
      await writeRandom(payload, o.size);
      await labUp(o.rate, o.offload === true);
      await migrations(o, dir, payload, profile, holdout, lowerBound, results, say);
    } finally {
      await labDown();
      rmSync(payload, { force: true });
      if (keep) say(`kept ${dir}`);
    }
    return { mode: 'migration', ...base, results };
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes `size` random bytes to `path` in 16 MiB pieces. */
async function writeRandom(path: string, size: number): Promise<void> {
  const w = createWriteStream(path);
  for (let left = size; left > 0; left -= 1 << 24)
    if (!w.write(randomBytes(Math.min(left, 1 << 24)))) await once(w, 'drain');
  w.end();
  await once(w, 'finish');
}

/** The daemons on the lab, then `o.runs` migrations h1 → h5 while tcpdump records each paced link. */
async function migrations(
  o: PacingHighOptions,
  dir: string,
  payload: string,
  profile: string,
  holdout: string,
  lowerBound: number,
  results: PacingHighRun[],
  say: (line: string) => void,
): Promise<void> {
  const key = join(dir, 'cluster.key');
  await runOk('keygen', ['keygen', '--force', '-o', key]);
  const out = join(dir, 'out');
  mkdirSync(out, { recursive: true });
  const daemon = async (host: string, argv: string[]): Promise<Proc> => {
    const p = runProc([...argv, '--key', key, '--log-format', 'json'], undefined, labNs(host));
    await waitFor(p, /"event":"listening"/, `smig ${argv[0]} on ${host}`, 30_000);
    return p;
  };
  const started = await Promise.allSettled([
    daemon('h5', ['recv', '--listen', `${labIp(5)}:7100`, '--out', out]),
    daemon('h2', ['relay', '--listen', `${labIp(2)}:7000`]),
    daemon('h3', ['relay', '--listen', `${labIp(3)}:7000`]),
    daemon('h4', ['relay', '--listen', `${labIp(4)}:7000`]),
  ]);
  const up = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed !== undefined) {
    for (const p of up) await stopProc(p);
    throw failed.reason;
  }
  const [R, D, L, K] = up as [Proc, Proc, Proc, Proc];
  try {
    for (let run = 1; run <= o.runs; run++) {
      const dumps: ((typeof LINKS)[number] & { file: string; p: Proc })[] = [];
      for (const k of LINKS) {
        const file = join(dir, `run${run}-${k.port}.pcap`);
        dumps.push({ ...k, file, p: await dumpLink(file, k.port, k.from, k.to) });
      }
      const load = loadAverage();
      say(`run ${run}: migrating ${o.size} bytes (load ${load}) …`);
      const cpu0 = [R, D, L].map(cpuOf);
      const send = runProc(
        [
          ...['-f', 'cpu %U %S', process.execPath, SMIG_BIN, 'send', payload, '--key', key],
          ...['--dest', `${labIp(5)}:7100`, '--data-relays', `${labIp(2)}:7000`, '--key-relays', `${labIp(4)}:7000`],
          ...['--leader', `${labIp(3)}:7000`, '--threshold', '1', '--strategy', o.strategy],
          ...(o.strategy === 'bulk' ? [] : ['--profile', profile]),
          ...['--json', '-i', '0'],
        ],
        '/usr/bin/time',
        labNs('h1'),
      );
      const code = await send.exited;
      const cpuSend = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(send.stderr);
      const cpu: PacingHighCpu = {
        source: cpuSend ? Number(cpuSend[1]) + Number(cpuSend[2]) : null,
        destination: cpuOf(R) - cpu0[0]!,
        relay: cpuOf(D) - cpu0[1]!,
        leader: cpuOf(L) - cpu0[2]!,
        tcpdump: dumps.map((d) => cpuOf(d.p)),
      };
      await new Promise((r) => setTimeout(r, 500));
      for (const d of dumps) await stopProc(d.p, 'SIGINT');
      if (code !== 0) throw smigError('SMIG_ERR_LAB', `smig send exited ${code}: ${lastLine(send.stderr)}`);
      const summary = JSON.parse(send.stdout) as {
        session: string;
        seconds: number;
        pacing: { hops: HopPacingReport[] };
      };
      await new Promise((r) => setTimeout(r, 300));
      const installed = dirBytes(out);
      const ev = (p: Proc): Record<string, unknown>[] =>
        sessionEvents(p, summary.session).filter((e) => e.event === 'pacing');
      const hops: PacingHighHop[] = [
        ...summary.pacing.hops.map((h) => ({
          hop: 'source → data relay',
          writes: h.writes,
          rate: h.rate,
          p50: h.lateness.p50,
          p99: h.lateness.p99,
          max: h.lateness.max,
          late: h.lateness.n,
          padBytes: h.padBytes,
          paused: h.pausedSeconds,
        })),
        ...[...ev(D), ...ev(L)].map((e) => ({
          hop: e.role === 'leader' ? 'leader → destination' : 'data relay → leader',
          writes: e.writes,
          rate: e.rate,
          p50: e.lateP50,
          p99: e.lateP99,
          max: e.lateMax,
          late: e.lateN,
          padBytes: e.padBytes,
          paused: e.pausedSeconds,
        })),
      ];
      const links: PacingHighRun['links'] = [];
      for (const d of dumps) {
        links.push({ link: d.link, dropped: droppedBy(d.p), ...(await analyzeHighLink(holdout, d.file, o.bin)) });
        if (o.keep !== true) rmSync(d.file, { force: true });
      }
      const r: PacingHighRun = {
        run,
        load,
        seconds: summary.seconds,
        lowerBound,
        ratio: summary.seconds / lowerBound,
        installedBytes: installed,
        cpu,
        hops,
        links,
      };
      results.push(r);
      const ps = links.map((k) => `${k.link} p ${k.packets.p.toPrecision(2)}/${k.bytes.p.toPrecision(2)}`);
      say(`run ${run}: ${r.seconds.toFixed(1)} s = ${r.ratio.toFixed(3)} × bound; ${ps.join(', ')}`);
      say(`run ${run}: CPU s ${JSON.stringify(cpu)}`);
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out, { recursive: true });
    }
  } finally {
    for (const p of [R, D, L, K]) await stopProc(p);
  }
}
