/**
 * Child processes for `smig demo` and `smig bench`: `smig` subcommands (this package's bin/smig under the running
 * node) or other programs, with their output collected, started on the machine or inside a lab host's namespace.
 */

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { smigError } from '../errors.js';

/** The package root (from src/bench or dist/bench). */
export const PACKAGE_ROOT: string = fileURLToPath(new URL('../../', import.meta.url));
/** This package's command. */
export const SMIG_BIN: string = join(PACKAGE_ROOT, 'bin', 'smig');
/** The plain TCP copy program (plain-copy.ts), built. */
export const PLAIN_COPY_JS: string = join(PACKAGE_ROOT, 'dist', 'bench', 'plain-copy.js');

/** A started child with its output so far. */
export interface Proc {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** The exit code, the signal's name, or 'not started'. */
  readonly exited: Promise<number | string>;
  /** Set when the program could not be started (e.g. tcpdump not installed). */
  failed?: boolean;
}

/** Where to start a child: the running machine, or a network namespace (`ip netns exec NS`). */
export interface Spawner {
  namespace?: string;
}

/**
 * Starts `smig ARGV…` (no `cmd`), or `cmd ARGV…`, optionally inside `where.namespace`; stdin is closed.
 * A program that cannot be started resolves `exited` with 'not started' and sets `failed`.
 */
export function runProc(argv: readonly string[], cmd?: string, where: Spawner = {}): Proc {
  const full = cmd !== undefined ? [cmd, ...argv] : [process.execPath, SMIG_BIN, ...argv];
  const [file, args] =
    where.namespace !== undefined ? ['ip', ['netns', 'exec', where.namespace, ...full]] : [full[0]!, full.slice(1)];
  const child = spawn(file, args, { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((res) => {
      child.once('exit', (code, signal) => res(code ?? signal ?? 'unknown'));
      child.once('error', (err) => {
        p.failed = true;
        p.stderr += `${err.message}\n`;
        res('not started');
      });
    }),
  };
  LIVE.add(p);
  void p.exited.then(() => LIVE.delete(p));
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (p.stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (p.stderr += s));
  return p;
}

const LIVE = new Set<Proc>();

/** Sends SIGTERM to every child started by {@link runProc} that still runs (an interrupted bench or demo). */
export function killAll(): void {
  for (const p of LIVE) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
}

/** The last non-empty line of a text. */
export function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

/**
 * Runs to completion; a non-zero exit is an error naming `what` and the program's last stderr line.
 * @throws SmigError SMIG_ERR_LAB
 */
export async function runOk(what: string, argv: readonly string[], cmd?: string, where: Spawner = {}): Promise<Proc> {
  const p = runProc(argv, cmd, where);
  const code = await p.exited;
  if (code !== 0) throw smigError('SMIG_ERR_LAB', `${what} exited ${code}: ${lastLine(p.stderr)}`);
  return p;
}

/**
 * Resolves with the first match of `re` in the child's stderr or stdout.
 * @throws SmigError SMIG_ERR_TIMEOUT after `ms`; SMIG_ERR_LAB when the child exits or cannot start first.
 */
export async function waitFor(p: Proc, re: RegExp, what: string, ms = 20_000): Promise<RegExpMatchArray> {
  const t0 = Date.now();
  for (;;) {
    const m = p.stderr.match(re) ?? p.stdout.match(re);
    if (m) return m;
    if (Date.now() - t0 > ms) throw smigError('SMIG_ERR_TIMEOUT', `${what} did not start within ${ms} ms`);
    if (p.failed || p.child.exitCode !== null || p.child.signalCode !== null) {
      throw smigError(
        'SMIG_ERR_LAB',
        `${what} ${p.failed ? 'could not be started' : 'exited before it started'}: ${lastLine(p.stderr)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Signals a child (SIGTERM unless told) if it still runs, and waits for its exit. */
export async function stopProc(p: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  await p.exited;
}

/** Writes one file of random bytes per size into `dir` (`payload-SIZE.bin`, in 1 MiB writes); returns size → path. */
export async function writePayloads(dir: string, sizes: readonly number[]): Promise<Map<number, string>> {
  const payloads = new Map<number, string>();
  for (const size of sizes) {
    const f = join(dir, `payload-${size}.bin`);
    const w = createWriteStream(f);
    for (let left = size; left > 0; left -= 1 << 20) w.write(randomBytes(Math.min(left, 1 << 20)));
    await new Promise<void>((res, rej) => w.end((err?: Error | null) => (err ? rej(err) : res())));
    payloads.set(size, f);
  }
  return payloads;
}

/**
 * Waits for the child's exit like `p.exited`, but gives up on a child that wrote nothing to stderr or stdout for
 * `stallMs` (a `smig send` writes a progress event every second, so its silence means it is stuck), or that has not
 * written `started` within `stallMs` of now: then it is sent SIGTERM (SIGKILL 5 s later) and the result is 'stalled'.
 */
export async function exitedOrStalled(p: Proc, stallMs: number, started?: RegExp): Promise<number | string> {
  let seen = -1;
  const t0 = Date.now();
  let quietSince = t0;
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<'stalled'>((res) => {
    timer = setInterval(
      () => {
        const n = p.stdout.length + p.stderr.length;
        if (n !== seen) {
          seen = n;
          quietSince = Date.now();
        } else if (Date.now() - quietSince >= stallMs) res('stalled');
        if (started !== undefined && Date.now() - t0 >= stallMs && !started.test(p.stderr)) res('stalled');
      },
      Math.min(1000, stallMs),
    );
  });
  try {
    const first = await Promise.race([p.exited, stalled]);
    if (first !== 'stalled') return first;
    p.child.kill('SIGTERM');
    const gone = await Promise.race([p.exited.then(() => true), new Promise((r) => setTimeout(r, 5000, false))]);
    if (!gone) await stopProc(p, 'SIGKILL');
    return first;
  } finally {
    clearInterval(timer);
  }
}
