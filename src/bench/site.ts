/**
 * Where the hosts of a bench run (see bench.ts): the roles of a slot by host number, the two sites (`lab`: one
 * network-namespace host per role, captures on each host's switch port; `loopback`: every process on 127.0.0.1,
 * one capture on lo), starting a daemon on a site and reading its resources when it stops, the links of a run, and
 * its paced hops' reports from the source's summary and the daemons' logs.
 */

import { smigError } from '../errors.js';
import type { LinkCapture } from '../lab/lab.js';
import { formatHostPort } from '../net/address.js';
import type { BenchLayout } from './layout.js';
import type { LinkSpec } from './link-analysis.js';
import type { Proc, Spawner } from './proc.js';
import { lastLine, runProc, stopProc, waitFor } from './proc.js';
import type { BenchHop, BenchResources } from './result.js';

/** Host numbers of a slot's roles: 0 source, then the data relays, the leader, the key relays, the destination. */
export interface Roles {
  hosts: number;
  S: number;
  D: number[];
  L: number;
  K: number[];
  R: number;
  name(j: number): string;
}

export function rolesOf(l: BenchLayout): Roles {
  const D = Array.from({ length: l.dataRelays }, (_, i) => 1 + i);
  const L = 1 + l.dataRelays;
  const K = Array.from({ length: l.keyRelays }, (_, i) => L + 1 + i);
  const R = L + 1 + l.keyRelays;
  const numbered = (what: string, list: number[], j: number): string =>
    list.length === 1 ? what : `${what} ${list.indexOf(j) + 1}`;
  return {
    hosts: R + 1,
    S: 0,
    D,
    L,
    K,
    R,
    name: (j) =>
      j === 0
        ? 'source'
        : D.includes(j)
          ? numbered('data relay', D, j)
          : j === L
            ? 'leader'
            : K.includes(j)
              ? numbered('key relay', K, j)
              : 'destination',
  };
}
const LAB_PORT = 7000;
const CAPTURE_BUFFER = 64 << 20;

/** Where the hosts of a bench live. */
export interface Site {
  readonly kind: 'lab' | 'loopback';
  /** The address a daemon on host `j` of slot `slot` listens on. */
  listen(slot: number, j: number): string;
  ip(slot: number, j: number): string;
  where(slot: number, j: number): Spawner;
  /** Starts the captures of one run; `ports` are the run's listening ports (loopback filter). */
  capture(
    slot: number,
    hosts: readonly number[],
    ports: readonly number[],
    file: (tag: string) => string,
  ): Promise<RunCapture>;
  close(): Promise<void>;
}

export interface RunCapture {
  /** The capture file holding host j's traffic. */
  fileOf(j: number): string;
  stop(): Promise<number>;
}

/** Packets a `smig capture --json` summary says were lost: dropped by smig (its output lagging) and by the kernel (ring full). */
function ownDrops(summary: Record<string, unknown>): number {
  const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
  return n(summary.writerDropped) + n(summary.kernelDropped);
}

/** `smig capture` on lo, started and listening; `stop` ends it (SIGINT) and returns its own drops. */
async function captureLoopback(file: string, filter: string): Promise<{ stop(): Promise<number> }> {
  const p = runProc(['capture', '-i', 'lo', '-w', file, '-f', filter, '--json', '-B', String(CAPTURE_BUFFER)]);
  await waitFor(p, /listening on /, 'smig capture on lo', 15_000);
  return {
    async stop(): Promise<number> {
      await stopProc(p, 'SIGINT');
      if ((await p.exited) !== 0) throw smigError('SMIG_ERR_CAPTURE_LIVE', `smig capture on lo: ${lastLine(p.stderr)}`);
      return ownDrops(JSON.parse(p.stdout) as Record<string, unknown>);
    },
  };
}

export function loopbackSite(): Site {
  return {
    kind: 'loopback',
    listen: () => '127.0.0.1:0',
    ip: () => '127.0.0.1',
    where: () => ({}),
    async capture(_slot, _hosts, ports, file) {
      const f = file('lo');
      const c = await captureLoopback(f, `tcp and (${ports.map((p) => `port ${p}`).join(' or ')})`);
      return { fileOf: () => f, stop: () => c.stop() };
    },
    async close() {},
  };
}

export async function labSite(
  name: string,
  slots: number,
  perSlot: number,
  log: (line: string) => void,
  link?: { mtu: number; tcpTimestamps: boolean; ipVersion: 4 | 6 },
): Promise<Site> {
  const { labUp } = await import('../lab/lab.js');
  log(`lab ${name}: ${slots * perSlot} hosts (network namespaces on a bridge)`);
  const lab = await labUp({
    name,
    hosts: slots * perSlot,
    ...(link ? { mtu: link.mtu, tcpTimestamps: link.tcpTimestamps, ipv6: link.ipVersion === 6 } : {}),
  });
  const host = (slot: number, j: number) => lab.hosts[slot * perSlot + j]!;
  // a lab set like a capture of TCP over IPv6 carries the migration over IPv6
  const ip = (slot: number, j: number): string => host(slot, j).address6 ?? host(slot, j).address;
  return {
    kind: 'lab',
    listen: (slot, j) => formatHostPort({ host: ip(slot, j), port: LAB_PORT }),
    ip,
    where: (slot, j) => ({ namespace: host(slot, j).ns }),
    async capture(slot, hosts, _ports, file) {
      const caps: LinkCapture[] = [];
      const files = new Map<number, string>();
      try {
        for (const j of hosts) {
          const h = host(slot, j);
          files.set(j, file(h.name));
          caps.push(await lab.captureLink(h.name, { file: files.get(j)!, filter: 'tcp', bufferSize: CAPTURE_BUFFER }));
        }
      } catch (err) {
        await Promise.allSettled(caps.map((c) => c.stop()));
        throw err;
      }
      return {
        fileOf: (j) => files.get(j)!,
        async stop() {
          const summaries = await Promise.all(caps.map((c) => c.stop()));
          return summaries.reduce((a, x) => a + ownDrops(x), 0);
        },
      };
    },
    async close() {
      await lab.down();
    },
  };
}

/** A daemon started and listening: its process and address. */
export interface Daemon extends Proc {
  addr: string;
  port: number;
}

export async function startDaemon(
  site: Site,
  slot: number,
  j: number,
  args: string[],
  key: string,
  role: string,
): Promise<Daemon> {
  const p = runProc(
    [...args, '--listen', site.listen(slot, j), '--key', key, '--log-format', 'json'],
    undefined,
    site.where(slot, j),
  );
  const addr = (await waitFor(p, /"event":"listening","addr":"([^"]+)"/, `smig ${args[0]} (${role})`))[1]!;
  return Object.assign(p, { addr, port: Number(addr.split(':').pop()) });
}

/**
 * The local port of the data connection from → to: a data relay's link to the leader (its `relay-linked` event), or
 * the source's link to a data relay (`session-open`'s `local` in `sourceLog`, the source's JSON log); undefined for
 * other links or when not logged.
 */
function dataPort(
  roles: Roles,
  at: (j: number) => Daemon,
  sourceLog: string,
  from: number,
  to: number,
): string | undefined {
  if (roles.D.includes(from)) return at(from).stderr.match(/"event":"relay-linked"[^\n]*"local":"[^"]*:(\d+)"/)?.[1];
  if (from !== roles.S || !roles.D.includes(to)) return undefined;
  const addr = at(to).addr.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return sourceLog.match(new RegExp(`"event":"session-open"[^\\n]*[" ]${addr}<[^" ]*:(\\d+)[" ]`))?.[1];
}

/**
 * The filters of every connection from → to, data direction (`out`) and reverse (`back`): by host addresses in the
 * lab, by the listening port of `to` on loopback.
 */
function between(
  site: Site,
  slot: number,
  at: (j: number) => Daemon,
  from: number,
  to: number,
): { out: string; back: string } {
  if (site.kind !== 'lab') return { out: `tcp and dst port ${at(to).port}`, back: `tcp and src port ${at(to).port}` };
  const [a, b] = [site.ip(slot, from), site.ip(slot, to)];
  return { out: `tcp and src host ${a} and dst host ${b}`, back: `tcp and src host ${b} and dst host ${a}` };
}

/**
 * The link from → to of a run (`fileOf` names each host's capture): its data direction and reverse ({@link between}),
 * narrowed to the data connection by its local port when the roles logged it (the source's polls for the outcome go
 * to the same relay over connections of their own: {@link pollLinks}).
 */
export function linkSpec(
  site: Site,
  slot: number,
  roles: Roles,
  fileOf: (host: number) => string,
  at: (j: number) => Daemon,
  from: number,
  to: number,
  sourceLog = '',
): LinkSpec {
  const port = dataPort(roles, at, sourceLog, from, to);
  // on loopback every relay's link to the leader has the leader's port and one address: only its own port tells it
  if (port === undefined && site.kind !== 'lab' && roles.D.includes(from))
    throw smigError('SMIG_ERR_INTERNAL', `${roles.name(from)} logged no link to the leader`);
  const { out, back } = between(site, slot, at, from, to);
  const [o, r] = port === undefined ? ['', ''] : [` and src port ${port}`, ` and dst port ${port}`];
  return {
    link: `${roles.name(from)} → ${roles.name(to)}`,
    capture: fileOf(from),
    filter: out + o,
    reverseFilter: back + r,
  };
}

/**
 * Every connection but the data connection, both ways, source → each data relay and each data relay → the leader:
 * the polls for the outcome (src/roles/poll.ts) that the source sends to a data relay and the relay passes on. Left
 * out where the data connection's port was not logged, and on loopback for a relay's (its polls and the other
 * relays' share an address and the leader's port).
 */
export function pollLinks(
  site: Site,
  slot: number,
  roles: Roles,
  fileOf: (host: number) => string,
  at: (j: number) => Daemon,
  sourceLog: string,
): LinkSpec[] {
  const pairs = [...roles.D.map((j) => [roles.S, j] as const), ...roles.D.map((j) => [j, roles.L] as const)];
  return pairs.flatMap(([from, to]) => {
    const port = dataPort(roles, at, sourceLog, from, to);
    if (port === undefined || (site.kind !== 'lab' && from !== roles.S)) return [];
    const { out, back } = between(site, slot, at, from, to);
    return [
      {
        link: `${roles.name(from)} → ${roles.name(to)} polls`,
        capture: fileOf(from),
        filter: `${out} and not src port ${port}`,
        reverseFilter: `${back} and not dst port ${port}`,
      },
    ];
  });
}

/** The `stopped` event of a daemon's JSON log: its CPU time and peak memory. */
export function stoppedResources(p: Proc): BenchResources {
  const line = p.stderr.split('\n').find((l) => l.includes('"event":"stopped"'));
  if (!line) return { cpuSeconds: NaN, maxRssKiB: NaN };
  const j = JSON.parse(line) as { cpuUserSeconds: number; cpuSystemSeconds: number; maxRssKiB: number };
  return { cpuSeconds: j.cpuUserSeconds + j.cpuSystemSeconds, maxRssKiB: j.maxRssKiB };
}

/** A hop's pacing report as the source's `--json` summary and the relays' `pacing` log events carry it. */
export interface PacingFields {
  hop?: unknown;
  strategy?: unknown;
  writes?: unknown;
  payloadBytes?: unknown;
  seconds?: unknown;
  padBytes?: unknown;
  pausedSeconds?: unknown;
  dataSeconds?: unknown;
  lateP99?: unknown;
  lateness?: { p99?: unknown };
}

function benchHop(hop: string, f: PacingFields): BenchHop[] {
  if (f.strategy === 'bulk') return []; // not paced: nothing to report
  const num = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : Number.NaN);
  return [
    {
      hop,
      seconds: num(f.seconds),
      writes: num(f.writes),
      frameBytes: num(f.payloadBytes),
      ...(f.padBytes === undefined ? {} : { padBytes: num(f.padBytes) }),
      ...(f.pausedSeconds === undefined ? {} : { pausedSeconds: num(f.pausedSeconds) }),
      ...(f.dataSeconds === undefined ? {} : { dataSeconds: num(f.dataSeconds) }),
      lateP99Ms: num(f.lateP99 ?? f.lateness?.p99),
    },
  ];
}

/** The last `pacing` event of a daemon's JSON log (roles/pace.ts `pacingLogFields`), or undefined. */
function pacingEvent(p: Pick<Proc, 'stderr'>): PacingFields | undefined {
  const line = p.stderr
    .split('\n')
    .filter((l) => l.includes('"event":"pacing"'))
    .pop();
  if (line === undefined) return undefined;
  try {
    return JSON.parse(line) as PacingFields;
  } catch {
    return undefined; // a line cut by the daemon's end: the hop goes unreported
  }
}

/**
 * The paced hops of a run, named as its links: the source's (its summary's `pacing.hops`, `source → ADDR`), each
 * data relay's and the leader's (their logs); none of a bulk run, which is not paced.
 */
export function runHops(
  source: readonly PacingFields[],
  relays: readonly { name: string; addr: string; proc: Pick<Proc, 'stderr'> }[],
  leader: { name: string; proc: Pick<Proc, 'stderr'> },
): BenchHop[] {
  const hops: BenchHop[] = [];
  for (const r of relays) {
    const f = source.find((h) => h.hop === `source → ${r.addr}`);
    if (f !== undefined) hops.push(...benchHop(`source → ${r.name}`, f));
  }
  for (const r of relays) {
    const f = pacingEvent(r.proc);
    if (f !== undefined) hops.push(...benchHop(`${r.name} → ${leader.name}`, f));
  }
  const f = pacingEvent(leader.proc);
  if (f !== undefined) hops.push(...benchHop(`${leader.name} → destination`, f));
  return hops;
}
