/**
 * Lab hosts as Linux network namespaces on a bridge (docs/DESIGN.md §2): bring a lab up, run commands and
 * captures on its hosts, report its state, and take it down, also after a crash. Needs root. Every
 * namespace is named `smig-LAB-…` and every interface lives inside one of them (see ./plan.ts): the
 * caller's own interfaces, routes and addresses are never touched.
 */

import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSmigError, smigError } from '../errors.js';
import type { LabHostState, LabSpec, LabState } from './plan.js';
import { BRIDGE_IF, checkLabName, HOST_IF, labPrefix, planLab, planUp, validateState } from './plan.js';
import type { RunResult } from './system.js';
import { findExecutable, listNamespaces, namespacePids, requireRoot, runCommand, runStep } from './system.js';

export type { RunResult } from './system.js';
export { findExecutable, listNamespaces, namespacePids, requireRoot, runCommand } from './system.js';

/** Where `lab up` records each lab (tmpfs: gone after a reboot, as the namespaces are). */
export const LAB_STATE_DIR = '/run/smig/labs';
/** The launcher that `captureLink` runs inside the bridge namespace (needs the build, `npm run build`). */
const SMIG_BIN = fileURLToPath(new URL('../../bin/smig', import.meta.url));

function statePath(name: string): string {
  return join(LAB_STATE_DIR, `${checkLabName(name)}.json`);
}

/**
 * Reads a lab's state file; undefined if there is none.
 * @throws SmigError SMIG_ERR_CONFIG for a file that is not a lab state.
 */
export async function readLabState(name: string): Promise<LabState | undefined> {
  const file = statePath(name);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw smigError('SMIG_ERR_CONFIG', `${file}: ${(err as Error).message}`, err);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw smigError('SMIG_ERR_CONFIG', `${file}: not JSON (${(err as Error).message})`, err);
  }
  return validateState(value, file);
}

async function writeLabState(state: LabState): Promise<void> {
  await mkdir(LAB_STATE_DIR, { recursive: true, mode: 0o755 });
  const file = statePath(state.name);
  await writeFile(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  await rename(`${file}.tmp`, file);
}

/** Options of {@link Lab.captureLink}. */
export interface LinkCaptureOptions {
  /** pcap file to write (written by `smig capture` as root inside the bridge namespace). */
  file: string;
  /** libpcap filter. */
  filter?: string;
  count?: number;
  /** Stop after this long (integer ns). */
  durationNs?: bigint;
  snaplen?: number;
  nanosecond?: boolean;
  /** libpcap's ring in bytes (smig capture -B). */
  bufferSize?: number;
}

/** A `smig capture` running on a host's link: {@link stop} ends it and returns its `--json` summary. */
export interface LinkCapture {
  readonly child: ChildProcess;
  /** Resolves when the capture process exits, with its JSON summary. */
  readonly done: Promise<Record<string, unknown>>;
  /** Sends SIGINT (the capture flushes and closes its file) and waits for {@link done}. */
  stop(): Promise<Record<string, unknown>>;
}

/** A running lab. Make one with {@link labUp} or {@link labOpen}. */
export class Lab {
  readonly name: string;
  readonly state: LabState;
  readonly hosts: readonly LabHostState[];
  /** Namespace of the bridge: capture there on `vhN` to see host N's link. */
  readonly bridgeNs: string;

  constructor(state: LabState) {
    this.state = state;
    this.name = state.name;
    this.hosts = state.hosts;
    this.bridgeNs = state.bridgeNs;
  }

  /**
   * Finds a host by name (`h3`), 1-based number, or address; `br` names the bridge namespace.
   * @throws SmigError SMIG_ERR_USAGE for an unknown host.
   */
  host(ref: string | number): LabHostState {
    const h =
      typeof ref === 'number'
        ? this.hosts[ref - 1]
        : this.hosts.find((x) => x.name === ref || x.address === ref || x.address6 === ref || x.ns === ref);
    if (!h)
      throw smigError(
        'SMIG_ERR_USAGE',
        `lab ${this.name}: no host '${ref}' (hosts h1..h${this.hosts.length}, or br for the bridge)`,
      );
    return h;
  }

  /** The namespace of a host reference, `br` included. */
  namespaceOf(ref: string | number): string {
    return ref === 'br' || ref === this.bridgeNs ? this.bridgeNs : this.host(ref).ns;
  }

  /**
   * Starts `argv` inside a host's namespace (`ip netns exec`); `opts` go to child_process.spawn.
   * @example lab.exec('h2', ['node', 'server.js'], { stdio: 'inherit' })
   */
  exec(host: string | number, argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    if (argv.length === 0) throw smigError('SMIG_ERR_USAGE', 'lab exec: no command given');
    return spawn('ip', ['netns', 'exec', this.namespaceOf(host), ...argv], opts);
  }

  /** Runs `argv` in a host's namespace to completion and collects its output. */
  run(
    host: string | number,
    argv: readonly string[],
    opts: { stdin?: string; timeoutMs?: number } = {},
  ): Promise<RunResult> {
    return runCommand(['ip', 'netns', 'exec', this.namespaceOf(host), ...argv], opts);
  }

  /**
   * Captures host `host`'s link from the switch side (`vhN` in the bridge namespace, both directions)
   * with `smig capture`; resolves once the capture is listening.
   * @throws SmigError SMIG_ERR_CAPTURE_LIVE when the capture does not start.
   */
  captureLink(host: string | number, opts: LinkCaptureOptions): Promise<LinkCapture> {
    const port = this.host(host).bridgePort;
    const argv = [process.execPath, SMIG_BIN, 'capture', '-i', port, '-w', opts.file, '--json'];
    if (opts.filter) argv.push('-f', opts.filter);
    if (opts.count !== undefined) argv.push('-c', String(opts.count));
    if (opts.durationNs !== undefined) argv.push('--duration', `${opts.durationNs}ns`);
    if (opts.snaplen !== undefined) argv.push('-s', String(opts.snaplen));
    if (opts.nanosecond) argv.push('--nanosecond');
    if (opts.bufferSize !== undefined) argv.push('-B', String(opts.bufferSize));
    const child = this.exec('br', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    const done = new Promise<Record<string, unknown>>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) {
          try {
            resolve(JSON.parse(stdout) as Record<string, unknown>);
            return;
          } catch {
            // fall through
          }
        }
        reject(
          smigError(
            'SMIG_ERR_CAPTURE_LIVE',
            `capture on ${this.name}/${port}: ${lastLine(stderr) || `exit status ${code}`}`,
          ),
        );
      });
    });
    done.catch(() => {});
    return new Promise((resolve, reject) => {
      child.stderr!.on('data', (b: Buffer) => {
        stderr += b.toString();
        if (/listening on /.test(stderr)) {
          const stop = (): Promise<Record<string, unknown>> => {
            if (child.exitCode === null) child.kill('SIGINT');
            return done;
          };
          resolve({ child, done, stop });
        }
      });
      done.then(() => resolve({ child, done, stop: () => done }), reject);
    });
  }

  /** Takes the lab down (see {@link labDown}). */
  down(): Promise<LabDownReport> {
    return labDown(this.name);
  }
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((l) => !/^Warning: .*may not actually work/.test(l))
      .at(-1) ?? ''
  );
}

/** Options of {@link labUp}. */
export interface LabUpOptions extends Omit<LabSpec, 'name'> {
  /** Lab name (default `lab`). */
  name?: string;
}

/**
 * Brings up a lab: N hosts on a bridge, each in its own namespace (./plan.ts has the layout). On any
 * failure everything made so far is removed before the error is thrown.
 * @throws SmigError SMIG_ERR_PERMISSION (not root), SMIG_ERR_USAGE / SMIG_ERR_BAD_ADDRESS (options),
 *   SMIG_ERR_LAB (the lab exists, or an ip/tc step failed; the message names the step).
 * @example
 * const lab = await labUp({ name: 'bench', hosts: 10 });
 * try { lab.exec('h1', ['iperf3', '-s']); … } finally { await lab.down(); }
 */
export async function labUp(opts: LabUpOptions): Promise<Lab> {
  planLab({ ...opts, name: opts.name ?? 'lab' }); // options first: bad usage is exit 2 for anyone
  requireRoot('smig lab up');
  const ethtool = await findExecutable('ethtool');
  const state = planLab({ ...opts, name: opts.name ?? 'lab' }, ethtool ? 'ethtool' : 'ip');
  const existing = await listNamespaces(labPrefix(state.name));
  if (existing.length > 0 || (await readLabState(state.name).catch(() => undefined))) {
    throw smigError(
      'SMIG_ERR_LAB',
      `lab ${state.name} already exists (${existing[0] ?? statePath(state.name)}); take it down first: smig lab down ${state.name}`,
    );
  }
  try {
    for (const step of planUp(state, ethtool)) await runStep(step);
    await writeLabState(state);
  } catch (err) {
    await labDown(state.name).catch(() => {});
    throw isSmigError(err) ? err : smigError('SMIG_ERR_LAB', `lab ${state.name}: ${(err as Error).message}`, err);
  }
  return new Lab(state);
}

/**
 * Opens a lab that is up, from its state file.
 * @throws SmigError SMIG_ERR_USAGE when there is no such lab.
 */
export async function labOpen(name: string): Promise<Lab> {
  const state = await readLabState(name);
  if (!state)
    throw smigError('SMIG_ERR_USAGE', `no lab ${name} (${statePath(name)} not found; smig lab status lists labs)`);
  return new Lab(state);
}

/** What {@link labDown} removed. */
export interface LabDownReport {
  name: string;
  namespaces: string[];
  /** Processes found in those namespaces and ended (SIGTERM, then SIGKILL after 2 s). */
  killed: number[];
  stateFile: boolean;
}

/**
 * Takes a lab down: ends every process inside its namespaces, deletes the namespaces (their veths and
 * bridge go with them) and the state file. Finds everything by the `smig-LAB-` prefix, so it also
 * cleans up after a crash or a half-built lab; removing nothing is not an error (idempotent).
 * @throws SmigError SMIG_ERR_PERMISSION (not root), SMIG_ERR_LAB (a namespace would not go).
 */
export async function labDown(name: string): Promise<LabDownReport> {
  const prefix = labPrefix(name);
  requireRoot('smig lab down');
  const namespaces = await listNamespaces(prefix);
  const killed: number[] = [];
  const signalAll = async (signal: NodeJS.Signals): Promise<number[]> => {
    const left: number[] = [];
    for (const ns of namespaces) {
      for (const pid of await namespacePids(ns)) {
        if (pid === process.pid) continue;
        try {
          process.kill(pid, signal);
          left.push(pid);
        } catch {
          // already gone
        }
      }
    }
    return left;
  };
  killed.push(...(await signalAll('SIGTERM')));
  for (let i = 0; i < 40 && killed.length > 0; i++) {
    if ((await Promise.all(namespaces.map(namespacePids))).every((p) => p.length === 0)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const pid of await signalAll('SIGKILL')) if (!killed.includes(pid)) killed.push(pid);
  if (namespaces.length > 0) {
    await runStep({
      what: `delete the namespaces of lab ${name}`,
      argv: ['ip', '-batch', '-'],
      stdin: namespaces.map((ns) => `netns del ${ns}\n`).join(''),
    });
  }
  let stateFile = true;
  try {
    await rm(statePath(name));
  } catch {
    stateFile = false;
  }
  await rm(`${statePath(name)}.tmp`, { force: true });
  return { name, namespaces, killed, stateFile };
}

/** One host as `lab status` sees it. */
export interface HostStatus extends LabHostState {
  /** The namespace exists. */
  present: boolean;
  /** eth0's operational state (`UP`, `DOWN`, `LOWERLAYERDOWN`), or `-` when it cannot be read. */
  link: string;
  /** Addresses on eth0 as `a.b.c.d/p` (and IPv6 ones but link-local). */
  addresses: string[];
  /** Processes running in the namespace. */
  processes: number;
}

/** A lab as `lab status` sees it. */
export interface LabStatus {
  name: string;
  /** The recorded state, or null for leftovers without a state file. */
  state: LabState | null;
  /** Namespaces with the lab's prefix that exist. */
  namespaces: string[];
  bridge: { ns: string; present: boolean; link: string; ports: { name: string; link: string }[] };
  hosts: HostStatus[];
}

interface IpLink {
  ifname: string;
  operstate?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

async function ipJson(ns: string, args: string[]): Promise<IpLink[]> {
  const r = await runCommand(['ip', '-n', ns, '-j', ...args]);
  if (r.status !== 0) return [];
  try {
    return JSON.parse(r.stdout) as IpLink[];
  } catch {
    return [];
  }
}

/**
 * Reports labs: the one named, or every lab with a state file or leftover namespaces.
 * @throws SmigError SMIG_ERR_PERMISSION (not root: namespaces cannot be inspected otherwise).
 */
export async function labStatus(name?: string): Promise<LabStatus[]> {
  requireRoot('smig lab status');
  let names: string[];
  if (name !== undefined) {
    names = [checkLabName(name)];
  } else {
    const fromState = (await readdir(LAB_STATE_DIR).catch(() => [] as string[]))
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5));
    const fromNs = (await listNamespaces('smig-'))
      .map((ns) => /^smig-([a-z][a-z0-9]{0,9})-(?:br|h\d+)$/.exec(ns)?.[1])
      .filter((n): n is string => n !== undefined);
    names = [...new Set([...fromState, ...fromNs])].filter((n) => /^[a-z][a-z0-9]{0,9}$/.test(n)).sort();
  }
  const out: LabStatus[] = [];
  for (const n of names) {
    const state = (await readLabState(n)) ?? null;
    const namespaces = await listNamespaces(labPrefix(n));
    const present = new Set(namespaces);
    const bridgeNs = `${labPrefix(n)}br`;
    const brLinks = present.has(bridgeNs) ? await ipJson(bridgeNs, ['link', 'show']) : [];
    const ports = present.has(bridgeNs) ? await ipJson(bridgeNs, ['link', 'show', 'master', BRIDGE_IF]) : [];
    const hostRecords: LabHostState[] =
      state?.hosts ??
      namespaces
        .filter((ns) => /-h\d+$/.test(ns))
        .map((ns) => {
          const i = Number(/-h(\d+)$/.exec(ns)![1]);
          return { name: `h${i}`, ns, address: '-', bridgePort: `vh${i}` };
        });
    const hosts: HostStatus[] = [];
    for (const h of hostRecords) {
      const here = present.has(h.ns);
      const eth = here ? (await ipJson(h.ns, ['addr', 'show', 'dev', HOST_IF]))[0] : undefined;
      hosts.push({
        ...h,
        present: here,
        link: eth?.operstate ?? '-',
        addresses: (eth?.addr_info ?? [])
          .filter((a) => a.family === 'inet' || (a.family === 'inet6' && !a.local.startsWith('fe80:')))
          .map((a) => `${a.local}/${a.prefixlen}`),
        processes: here ? (await namespacePids(h.ns)).length : 0,
      });
    }
    out.push({
      name: n,
      state,
      namespaces,
      bridge: {
        ns: bridgeNs,
        present: present.has(bridgeNs),
        link: brLinks.find((l) => l.ifname === BRIDGE_IF)?.operstate ?? '-',
        ports: ports.map((p) => ({ name: p.ifname, link: p.operstate ?? '-' })),
      },
      hosts,
    });
  }
  return out;
}
