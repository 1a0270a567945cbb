/**
 * `smig bench`: the paper's evaluation (§6, figures 3–6) as real runs. For every size, a plain TCP copy
 * (the paper's "normal traffic" case: no crypto, no relays, one hop) and one migration per strategy through a
 * cluster of real `smig` processes, with a live capture (`smig capture`) on every link; then every link's data
 * direction is tested against the hold-out of a real normal capture by `smig analyze` (KS of packets, bytes per
 * bin, packet sizes and gaps, χ² of sizes), and the figures and a report are written.
 *
 * A cluster ("slot") is a source, data relays, a leader, key relays and a destination, one host each (by default 2
 * data relays and 2-of-3 key relays, the paper's default: 8 hosts). Paced runs of one size run at once, one slot each (they are rate-bound, not
 * CPU-bound); bulk and plain runs, which are CPU-bound and timed, run alone.
 *
 * Sites: `lab`, one network-namespace host per role (smig lab; root), captures on each host's switch port and a
 * link A → B is `src host A and dst host B` there; `loopback`, every process on 127.0.0.1 with its own port,
 * one capture on lo per run and a link is told by ports (a relay logs the ephemeral port of its leader link).
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CvMode } from '../analysis/adversary.js';
import { destroyIdentity, generateIdentity, writeIdentityFiles } from '../crypto/identity.js';
import { isSmigError, smigError } from '../errors.js';
import { linkText, notTcpText, shapeLink } from '../pacing/link.js';
import { createPlan, traceRepeatWarning } from '../pacing/plan.js';
import { parseProfile } from '../profile/model.js';
import { benchCriteria } from './criteria.js';
import { keyFlows, normalFlows, pollBytes } from './key-flows.js';
import type { BenchLayout } from './layout.js';
import { DEFAULT_LAYOUT, wireOverhead } from './layout.js';
import type { AnalyzeContext, LinkSpec } from './link-analysis.js';
import { analyzeLinks, analyzeReverse, analyzeSides } from './link-analysis.js';
import {
  DEFAULT_SPLIT_SEED,
  DEMO_CAPTURE,
  DEMO_DATA_FILTER,
  DEMO_REVERSE_FILTER,
  splitBlocks,
  splitWarning,
} from './normal.js';
import { exitedOrStalled, killAll, lastLine, runOk, runProc, stopProc, writePayloads } from './proc.js';
import { blocksTold, muteTold, observerTold } from './report-format.js';
import type { Measured, RunContext } from './runs.js';
import { plainOnce } from './runs.js';
import type { Daemon, RunCapture, Site } from './site.js';
import { labSite, linkSpec, loopbackSite, pollLinks, rolesOf, runHops, startDaemon, stoppedResources } from './site.js';

export type {
  BenchAdversary,
  BenchHop,
  BenchLink,
  BenchResources,
  BenchResult,
  BenchRun,
  BenchStrategy,
  BenchTest,
} from './result.js';
export { BENCH_STRATEGIES } from './result.js';

import type { BenchResources, BenchResult, BenchRun, BenchStrategy } from './result.js';

/** The paper's figure 3 starts at 840 KB; a paced run takes about size ÷ the profile's mean rate (its leader → destination hop carries it all). */
export const DEFAULT_SIZES: readonly number[] = [250_000, 840_000];
const BLOCK_NS = 5_000_000_000n;

export type { BenchLayout } from './layout.js';
export { DEFAULT_LAYOUT, parseLayout, wireOverhead } from './layout.js';

/** What {@link runBench} needs. */
export interface BenchOptions {
  hosts: 'lab' | 'loopback';
  sizes: readonly number[];
  strategies: readonly BenchStrategy[];
  /** Normal capture: the profile is learned from one block of each pair (unless `profile`), the others are the hold-out. */
  normal: string;
  /** Block length of that split, ns (default 5 s). */
  splitNs?: bigint;
  /** Which block of each pair is learned (normal.ts `splitHalf`; default {@link DEFAULT_SPLIT_SEED}, 0: the even ones). */
  splitSeed?: number;
  /** Filter of the normal capture's data direction (the profile and the reference use it). */
  normalFilter?: string;
  /** Filter of its reverse direction: when given, every link's reverse direction is tested against it too. */
  reverseFilter?: string;
  /** A profile learned elsewhere: then the whole normal capture (as Ethernet) is the reference. */
  profile?: string;
  /** Bin of the profile and the tests, a smig duration (`500ms`). */
  bin: string;
  alpha: number;
  out: string;
  /** Lab name when `hosts` is lab. */
  labName: string;
  /** Relays per migration (default {@link DEFAULT_LAYOUT}). */
  layout?: BenchLayout;
  /** Run the plain copy too (default true). */
  plain?: boolean;
  /** Also run the trained observer (`smig analyze --adversary`) on every link. */
  adversary?: boolean;
  /** Label permutations for a p-value of every observer AUC (`--adversary-permutations`; default 0: none). */
  adversaryPermutations?: number;
  /** How the observer deals windows to folds (`--adversary-cv`; default: one by one). */
  adversaryCv?: CvMode;
  /** Stretches of the learned half as long as each link the observer also scores (`--adversary-stretches`; 0: none). */
  adversaryStretches?: number;
  log: (line: string) => void;
}

/** A `smig send` silent this long, or without a session this long, is stuck: it writes a progress event every second. */
const SEND_STALL_MS = 60_000;

/**
 * {@link migrateOnce}, run once more from the start when `smig send` stalled (seen once in hundreds of lab runs:
 * idle before its session began); a second stall, or any other failure, is the bench's error.
 */
async function migrate(log: (line: string) => void, ...run: Parameters<typeof migrateOnce>): Promise<Measured> {
  try {
    return await migrateOnce(...run);
  } catch (err) {
    if (!isSmigError(err) || err.code !== 'SMIG_ERR_TIMEOUT') throw err;
    log(`${err.message}; running it again`);
    return await migrateOnce(...run);
  }
}

/** One migration on one slot, captured on every link. */
async function migrateOnce(
  site: Site,
  slot: number,
  ctx: RunContext,
  size: number,
  strategy: BenchStrategy,
  tag: string,
): Promise<Measured> {
  const dir = join(ctx.out, 'runs', tag);
  mkdirSync(join(dir, 'in'), { recursive: true });
  const { S, D, L, K, R, name } = ctx.roles;
  const relayRoles: number[] = [...D, L, ...K];
  const daemons: Daemon[] = [];
  let capture: RunCapture | undefined;
  let captureStopped = false;
  try {
    const relays = await Promise.all(relayRoles.map((j) => startDaemon(site, slot, j, ['relay'], ctx.key, name(j))));
    daemons.push(...relays);
    // the destination's identity: the payload is sealed to it and its signed receipt is the proof of success
    const id = generateIdentity('bench destination');
    await writeIdentityFiles(join(dir, 'dest.id'), id, { force: true }).finally(() => destroyIdentity(id));
    const dest = await startDaemon(
      site,
      slot,
      R,
      ['recv', '--out', join(dir, 'in'), '--identity', join(dir, 'dest.id')],
      ctx.key,
      name(R),
    );
    daemons.push(dest);
    const at = (j: number): Daemon => (j === R ? dest : relays[relayRoles.indexOf(j)]!);
    const cap = await site.capture(
      slot,
      [S, ...relayRoles, R],
      daemons.map((d) => d.port),
      (h) => join(ctx.out, 'captures', `${tag}-${h}.pcap`),
    );
    capture = cap;
    const send = runProc(
      [
        'send',
        ctx.payloads.get(size)!,
        '--name',
        'image.bin',
        '--key',
        ctx.key,
        '--dest',
        at(R).addr,
        '--dest-key',
        join(dir, 'dest.id.pub'),
        '--data-relays',
        D.map((j) => at(j).addr).join(','),
        '--key-relays',
        K.map((j) => at(j).addr).join(','),
        '--leader',
        at(L).addr,
        '--threshold',
        String(ctx.layout.threshold),
        '--strategy',
        strategy,
        '--json',
        '--log-format',
        'json',
        ...(strategy === 'bulk' ? [] : ['--profile', ctx.profile]),
        ...(strategy === 'profile' && ctx.matchLink ? ['--match-link'] : []),
      ],
      undefined,
      site.where(slot, S),
    );
    const code = await exitedOrStalled(send, SEND_STALL_MS, /"event":"session-start"/);
    writeFileSync(join(dir, 'send.log'), send.stderr);
    if (code === 'stalled')
      throw smigError(
        'SMIG_ERR_TIMEOUT',
        `smig send --strategy ${strategy} (${size} bytes) stalled (silent for ${SEND_STALL_MS / 1000} s, or no session begun by then) and was stopped (its stderr: ${join(dir, 'send.log')})`,
      );
    await new Promise((r) => setTimeout(r, 300)); // the last FIN/ACKs
    captureStopped = true;
    const captureDrops = await cap.stop();
    if (code !== 0)
      throw smigError(
        'SMIG_ERR_MIGRATION',
        `smig send --strategy ${strategy} (${size} bytes) exited ${code}: ${lastLine(send.stderr)}`,
      );
    const summary = JSON.parse(send.stdout) as {
      seconds: number;
      done: { sha256: string };
      resources: { cpuUserSeconds: number; cpuSystemSeconds: number; maxRssKiB: number };
      pacing?: { hops?: Parameters<typeof runHops>[0]; oneHopSeconds?: number | null };
    };
    await Promise.all(daemons.map((d) => stopProc(d)));
    const resources: Record<string, BenchResources> = {
      source: {
        cpuSeconds: summary.resources.cpuUserSeconds + summary.resources.cpuSystemSeconds,
        maxRssKiB: summary.resources.maxRssKiB,
      },
    };
    for (const j of [...relayRoles, R]) resources[name(j)] = stoppedResources(at(j));
    const spec = (from: number, to: number): LinkSpec =>
      linkSpec(site, slot, ctx.roles, cap.fileOf, at, from, to, send.stderr);
    return {
      seconds: summary.seconds,
      sha256: summary.done.sha256,
      captureDrops,
      resources,
      ...(typeof summary.pacing?.oneHopSeconds === 'number' ? { oneHopSeconds: summary.pacing.oneHopSeconds } : {}),
      hops: runHops(
        summary.pacing?.hops ?? [],
        D.map((j) => ({ name: name(j), addr: at(j).addr, proc: at(j) })),
        { name: name(L), proc: at(L) },
      ),
      links: [...D.map((j) => spec(S, j)), ...D.map((j) => spec(j, L)), spec(L, R)],
      sourceLinks: [...D, ...K].map((j) => spec(S, j)),
      keyLinks: K.map((j) => spec(S, j)),
      pollLinks: pollLinks(site, slot, ctx.roles, cap.fileOf, at, send.stderr),
    };
  } finally {
    if (capture && !captureStopped) await capture.stop().catch(() => 0);
    await Promise.all(daemons.map((d) => stopProc(d)));
  }
}

/**
 * Runs the benchmark (see the module comment). Writes `bench.json`, the figures and `report.html` into `out`.
 * @throws SmigError SMIG_ERR_PERMISSION for the lab without root; SMIG_ERR_MIGRATION when a run fails.
 */
export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const { out, log } = o;
  if (!existsSync(o.normal)) throw smigError('SMIG_ERR_FILE', `normal capture ${o.normal}: not found`);
  for (const d of ['captures', 'runs']) mkdirSync(join(out, d), { recursive: true });
  const normalFilter = o.normalFilter ?? (o.normal === DEMO_CAPTURE ? DEMO_DATA_FILTER : undefined);
  const reverseFilter =
    o.reverseFilter ??
    (o.normal === DEMO_CAPTURE && normalFilter === DEMO_DATA_FILTER ? DEMO_REVERSE_FILTER : undefined);
  // the reference and the profile
  // the reference is an Ethernet capture, as the lab's links are (the hold-out, or the whole capture with --profile)
  const reference = join(out, o.profile === undefined ? 'normal-holdout.pcap' : 'normal-reference.pcap');
  let profile = o.profile;
  let learn: string | undefined;
  const splitSeed = o.splitSeed ?? DEFAULT_SPLIT_SEED;
  if (profile === undefined) {
    learn = join(out, 'normal-learn.pcap');
    const n = await splitBlocks(o.normal, o.splitNs ?? BLOCK_NS, learn, reference, splitSeed);
    profile = join(out, 'profile.json');
    await runOk('smig profile learn', [
      'profile',
      'learn',
      learn,
      '--bin',
      o.bin,
      ...(normalFilter ? ['--filter', normalFilter] : []),
      '-o',
      profile,
    ]);
    log(
      `normal capture ${o.normal}: profile learned from one ${Number(o.splitNs ?? BLOCK_NS) / 1e9} s block of each pair (${splitSeed === 0 ? 'the even ones' : `drawn with split seed ${splitSeed}`}; ${n.even} packets), the other held out (${n.odd} packets)`,
    );
    const thin = splitWarning(n.even, n.odd, Number(o.splitNs ?? BLOCK_NS) / 1e9);
    if (thin !== undefined) log(`warning: ${thin}`);
  } else await splitBlocks(o.normal, BLOCK_NS, reference);
  const profileText = readFileSync(profile, 'utf8');
  const profileJson = JSON.parse(profileText) as {
    rates: { bytesPerSecond: number };
    shape?: { trace: { sizes: number[] }; ipVersion?: 6; nonTcpShare?: number; tcpTimestamps?: boolean };
  };
  const meanByteRate = profileJson.rates.bytesPerSecond;
  // a lab is set like the capture's link (its MTU, TCP timestamps), so that `profile` can make its packets
  const shape = profileJson.shape;
  const link = o.hosts === 'lab' && shape ? shapeLink(shape) : undefined;
  if (link) log(`lab links set like the capture's: ${linkText(link)}`);
  const nonTcp = shape?.nonTcpShare ?? 0;
  if (nonTcp >= 0.1) log(`warning: ${notTcpText(nonTcp)}`);
  if (shape && o.strategies.includes('profile')) {
    const plan = createPlan({ strategy: 'profile', profile: parseProfile(profileText), seed: 0 });
    for (const size of o.sizes) {
      const w = traceRepeatWarning(plan, size);
      if (w !== undefined) log(`warning: ${w}`);
    }
  }
  const key = join(out, 'cluster.key');
  await runOk('smig keygen', ['keygen', '--force', '-o', key]);
  const payloads = await writePayloads(join(out, 'runs'), o.sizes);
  const layout = o.layout ?? DEFAULT_LAYOUT;
  const roles = rolesOf(layout);
  const ctx: RunContext = { out, key, profile, payloads, layout, roles, matchLink: link !== undefined };
  const paced = o.strategies.filter((s) => s !== 'bulk');
  const site =
    o.hosts === 'lab' ? await labSite(o.labName, Math.max(1, paced.length), roles.hosts, log, link) : loopbackSite();
  // Interrupted (^C, kill): the lab goes down with everything in it, not left behind.
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping; taking the ${site.kind === 'lab' ? `lab ${o.labName}` : 'processes'} down`);
    killAll();
    void site.close().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const runs: BenchRun[] = [];
  // the key relay flows are set beside the normal capture's TCP flows
  const normalTcp = await normalFlows(o.normal);
  const refCtx: AnalyzeContext = {
    reference,
    referenceFilter: normalFilter ?? null,
    bin: o.bin,
    alpha: o.alpha,
    adversary: o.adversary === true,
    permutations: o.adversaryPermutations ?? 0,
    ...(o.adversaryCv === undefined ? {} : { cv: o.adversaryCv }),
    ...(o.adversaryStretches ? { adversaryStretches: o.adversaryStretches } : {}),
    // sizes and gaps are also tested by blocks of the split's length (the halves' own unit of exchange)
    blocks: `${Number(o.splitNs ?? BLOCK_NS) / 1e9}s`,
  };
  // the learned half against the hold-out, tested as a link: the best a pacer imitating it can score
  const learned =
    learn === undefined
      ? undefined
      : (await analyzeLinks(refCtx, [{ link: 'learned half', capture: learn, filter: normalFilter ?? '' }], []))
          .links[0];
  if (learned && learn !== undefined && reverseFilter !== undefined)
    learned.reverse = (
      await analyzeReverse(refCtx, reverseFilter, [{ link: 'learned half', capture: learn, filter: reverseFilter }])
    ).reverses[0];
  // the observer on the whole normal capture against itself (even vs odd blocks): more windows than the hold-out has
  const wholeBaseline = o.adversary
    ? (await analyzeLinks({ ...refCtx, reference: o.normal }, [], [])).baseline
    : undefined;
  const record = async (
    kind: BenchRun['kind'],
    strategy: BenchRun['strategy'],
    size: number,
    m: Measured,
  ): Promise<void> => {
    // per bin, links shorter than the learned half are also set beside its stretches of their length
    const stretches = learn === undefined ? undefined : `${learn}${normalFilter ? `@${normalFilter}` : ''}`;
    const a = await analyzeLinks({ ...refCtx, ...(stretches ? { stretches } : {}) }, m.links, m.sourceLinks);
    // the reverse directions (ACKs, PROGRESS, the echoes) against the normal capture's reverse direction, and both
    // directions against the learned half (the pacer's fidelity to what it learned)
    const reverseBaseline =
      kind === 'migration' ? await analyzeSides(refCtx, a.links, m.links, reverseFilter, learn) : undefined;
    const keys = m.keyLinks.length > 0 ? await keyFlows(m.keyLinks, normalTcp) : undefined;
    const polls = m.pollLinks.length > 0 ? await keyFlows(m.pollLinks, normalTcp) : undefined;
    // the polls' bytes (both ways) count as bytes that are not payload, on the source's links and on the wire
    const pb = pollBytes(polls, ctx.roles.name(ctx.roles.S));
    const sourceBytes = a.bytes.slice(m.links.length).reduce((x, y) => x + y, 0) + pb.source;
    const lower = size / meanByteRate;
    runs.push({
      kind,
      strategy,
      size,
      seconds: m.seconds,
      lowerBoundSeconds: lower,
      ratio: m.seconds / lower,
      ...(m.oneHopSeconds !== undefined && m.oneHopSeconds > 0
        ? { oneHopSeconds: m.oneHopSeconds, oneHopRatio: m.seconds / m.oneHopSeconds }
        : {}),
      sha256: m.sha256,
      overhead: sourceBytes / size - 1,
      wireOverhead: wireOverhead(size, kind === 'plain' ? 1 : 3, [...a.bytes.slice(0, m.links.length), ...pb.all]),
      links: a.links,
      resources: m.resources,
      captureDrops: m.captureDrops,
      ...(a.baseline ? { adversaryBaseline: a.baseline } : {}),
      ...(reverseBaseline ? { reverseAdversaryBaseline: reverseBaseline } : {}),
      ...(keys ? { keyFlows: keys } : {}),
      ...(polls?.length ? { pollFlows: polls } : {}),
      ...(m.hops.length > 0 ? { hops: m.hops } : {}),
    });
    const dist = a.links.filter((l) => l.distinguishable).length;
    log(
      `${strategy} ${size} bytes: ${m.seconds.toFixed(2)} s (${(m.seconds / lower).toFixed(3)} × the lower bound${m.oneHopSeconds ? `, ${(m.seconds / m.oneHopSeconds).toFixed(2)} × one paced hop` : ''}, ${(100 * (runs.at(-1)!.wireOverhead ?? 0)).toFixed(1)} % of the links' wire bytes not payload), ${dist} of ${a.links.length} links distinguishable${muteTold(a.links, o.alpha)}${blocksTold(a.links, o.alpha)}${observerTold(
        a.links.map((l) => l.adversary),
        o.alpha,
      )}`,
    );
  };
  try {
    for (const size of o.sizes) {
      if (o.plain !== false) {
        log(`${size} bytes: plain copy`);
        await record('plain', 'plain', size, await plainOnce(site, 0, ctx, size, `plain-${size}`));
      }
      if (o.strategies.includes('bulk')) {
        log(`${size} bytes: bulk migration`);
        await record('migration', 'bulk', size, await migrate(log, site, 0, ctx, size, 'bulk', `bulk-${size}`));
      }
      if (paced.length > 0) {
        log(
          `${size} bytes: ${paced.join(', ')} at once (about ${(size / meanByteRate).toFixed(0)} s: the profile's mean rate is ${meanByteRate.toFixed(0)} B/s)`,
        );
        const settled = await Promise.allSettled(
          paced.map((s, i) => migrate(log, site, i, ctx, size, s, `${s}-${size}`)),
        );
        const failed = settled.find((x) => x.status === 'rejected');
        if (failed) throw (failed as PromiseRejectedResult).reason;
        for (let i = 0; i < paced.length; i++)
          await record('migration', paced[i]!, size, (settled[i] as PromiseFulfilledResult<Measured>).value);
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await site.close();
  }
  const files = {
    json: join(out, 'bench.json'),
    report: join(out, 'report.html'),
    timeFigure: join(out, 'fig3-time.svg'),
    rateFigure: join(out, 'fig4-6-rates.svg'),
    detailFigure: join(out, 'links-detail.svg'),
  };
  const result: BenchResult = {
    version: 1,
    hosts: o.hosts,
    created: new Date().toISOString(),
    bin: o.bin,
    alpha: o.alpha,
    ...(o.adversary
      ? { adversary: { cv: o.adversaryCv ?? 'windows', permutations: o.adversaryPermutations ?? 0 } }
      : {}),
    normal: {
      capture: o.normal,
      filter: normalFilter ?? null,
      reference,
      profile,
      meanByteRate,
      ...(learn !== undefined ? { splitSeconds: Number(o.splitNs ?? BLOCK_NS) / 1e9, splitSeed } : {}),
      ...(learned ? { learned } : {}),
      ...(wholeBaseline ? { adversaryBaseline: wholeBaseline } : {}),
      ...(reverseFilter !== undefined ? { reverseFilter } : {}),
      tcpFlows: {
        count: normalTcp.count,
        medianSeconds: normalTcp.seconds[normalTcp.seconds.length >> 1] ?? null,
        medianBytes: normalTcp.bytes[normalTcp.bytes.length >> 1] ?? null,
      },
    },
    link: link ?? null,
    layout,
    runs,
    files,
  };
  result.criteria = benchCriteria(result);
  const { writeBenchReport } = await import('./report.js');
  await writeBenchReport(result, refCtx);
  writeFileSync(files.json, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
