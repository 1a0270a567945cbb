/**
 * The host-side commands a lab runs on (docs/DESIGN.md §2): the root check, running a command to completion,
 * running one planned step with a one-line error, and looking up namespaces, their processes and executables.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, readdir } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { smigError } from '../errors.js';
import type { LabStep } from './plan.js';

const NETNS_DIR = '/run/netns';

/**
 * Refuses unless running as root.
 * @throws SmigError SMIG_ERR_PERMISSION (exit 2)
 */
export function requireRoot(what: string, uid: number | undefined = process.getuid?.()): void {
  if (uid !== 0)
    throw smigError('SMIG_ERR_PERMISSION', `${what} needs root (it creates network namespaces); run it with sudo`);
}

/** Output of a finished command. */
export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs argv to completion, collecting its output; a signal death is status 128 + n. */
export function runCommand(argv: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' ? 'not found on PATH (smig lab needs iproute2: ip, tc)' : e.message;
      reject(smigError('SMIG_ERR_LAB', `${argv[0]}: ${why}`, e));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        status: code ?? 128 + signalNumber(signal),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
    child.stdin!.on('error', () => {}); // a command that exits without reading its input
    child.stdin!.end(opts.stdin ?? '');
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (constants.signals[signal] ?? 0) : 0;
}

/** Runs one planned step. @throws SmigError SMIG_ERR_LAB naming the step and the tool's complaint */
export async function runStep(step: LabStep): Promise<void> {
  const r = await runCommand(step.argv, { stdin: step.stdin ?? '', timeoutMs: 30_000 });
  if (r.status === 0) return;
  const why =
    r.stderr
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? `exit status ${r.status}`;
  if (step.argv[0] === 'tc' && /qdisc kind is unknown/i.test(why)) {
    const kind = /netem/.test(step.stdin ?? '')
      ? 'netem (CONFIG_NET_SCH_NETEM), needed for --delay/--loss'
      : 'tbf (CONFIG_NET_SCH_TBF), needed for --rate';
    throw smigError('SMIG_ERR_LAB', `${step.what}: this kernel has no tc ${kind}`);
  }
  throw smigError('SMIG_ERR_LAB', `${step.what}: ${step.argv[0]}: ${why}`);
}

/** The namespaces whose names start with `prefix` (from /run/netns, where `ip netns` keeps them). */
export async function listNamespaces(prefix: string): Promise<string[]> {
  try {
    return (await readdir(NETNS_DIR)).filter((n) => n.startsWith(prefix)).sort(byHostOrder);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** `…-br` first, then `…-h1`, `…-h2`, … `…-h10` in numeric order. */
function byHostOrder(a: string, b: string): number {
  const key = (s: string): [number, string] => {
    const m = /-h(\d+)$/.exec(s);
    return m ? [Number(m[1]), s] : [-1, s];
  };
  const [ka, sa] = key(a);
  const [kb, sb] = key(b);
  return ka - kb || sa.localeCompare(sb);
}

/** Pids of the processes in a namespace (`ip netns pids`). */
export async function namespacePids(ns: string): Promise<number[]> {
  const r = await runCommand(['ip', 'netns', 'pids', ns]);
  if (r.status !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

/** The first executable `name` on PATH (and in /usr/sbin, /sbin, where root's tools live). */
export async function findExecutable(name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d !== ''), '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    const file = join(d, name);
    try {
      await access(file, fsConstants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}
