/**
 * Helpers of the adversarial suite: real `smig` daemons on 127.0.0.1 (each started through `sh -c 'ulimit -n N;
 * exec node bin/smig …'`, so a test chooses the daemon's descriptor limit), their memory read from
 * /proc/PID/status, a small legitimate migration, and an attacker that holds the cluster key and speaks raw
 * frames over the same TLS-PSK handshake as src/net — from 127.0.0.2, so that per-address caps tell it
 * apart from the honest hosts on 127.0.0.1.
 */

import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { connect as tlsConnect } from 'node:tls';
import { expect } from 'vitest';
import type { HostPort } from '../../src/net/index.js';
import { deriveTlsPsk, parseHostPort, TLS_CIPHERS, TLS_PSK_IDENTITY } from '../../src/net/index.js';
import type { Message } from '../../src/protocol/index.js';
import { encodeMessageBytes } from '../../src/protocol/index.js';
import { makeRandomFile, sha256File } from '../e2e/migration-helpers.js';
import { BIN, ROOT, runBin } from '../helpers/cli.js';

export const MiB = 1024 * 1024;
/** Where the attacker connects from: another loopback address than the honest hosts (127.0.0.1). */
export const ATTACKER = '127.0.0.2';

const started = new Set<Daemon>();
process.once('exit', () => {
  for (const d of started) d.child.kill('SIGKILL');
});

/** A `smig` daemon process. */
export class Daemon {
  readonly child: ChildProcessWithoutNullStreams;
  readonly name: string;
  stderr = '';
  addr = '';
  readonly exited: Promise<number | null>;

  constructor(name: string, args: string[], fdLimit: number) {
    this.name = name;
    const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    this.child = spawn('/bin/sh', ['-c', `ulimit -n ${fdLimit} 2>/dev/null; exec ${quoted}`], { cwd: ROOT });
    this.child.stdout.resume();
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (s: string) => (this.stderr += s));
    this.exited = once(this.child, 'exit').then(([code]) => code as number | null);
    started.add(this);
    void this.exited.then(() => started.delete(this));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get hostPort(): HostPort {
    return parseHostPort(this.addr, this.name);
  }

  /** Resolves with the first match of `re` in the daemon's stderr. */
  async waitFor(re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = this.stderr.match(re);
      if (m) return m;
      if (!this.alive) throw new Error(`${this.name} exited (${this.child.exitCode}); stderr:\n${this.stderr}`);
      if (Date.now() > end)
        throw new Error(`${this.name}: no ${re} within ${timeoutMs} ms; stderr:\n${this.stderr.slice(-4000)}`);
      await sleep(20);
    }
  }

  /** VmRSS and VmHWM (peak) of the daemon, KiB, from /proc/PID/status. */
  memory(): { rssKiB: number; hwmKiB: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
    return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
  }

  /** Open file descriptors of the daemon. */
  openFds(): number {
    return readdirSync(`/proc/${this.pid}/fd`).length;
  }

  async stop(): Promise<number | null> {
    if (this.alive) this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

/** A key, a directory, and daemons: `relays` × `smig relay`, one `smig recv`, with extra flags each. */
export interface Cluster {
  dir: string;
  keyFile: string;
  key: Uint8Array;
  outDir: string;
  relays: Daemon[];
  recv: Daemon;
  /** Every daemon of the cluster. */
  all(): Daemon[];
  /** Stops every daemon (SIGTERM) and removes the directory; returns the exit codes. */
  stop(): Promise<(number | null)[]>;
}

export async function startCluster(
  o: { relays?: number; relayArgs?: string[]; recvArgs?: string[]; fdLimit?: number } = {},
): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'smig-adv-'));
  const keyFile = join(dir, 'cluster.key');
  const outDir = join(dir, 'out');
  mkdirSync(outDir);
  const k = await runBin(['keygen', '-o', keyFile]);
  expect(k.status, k.stderr).toBe(0);
  const key = Uint8Array.from(Buffer.from(readFileSync(keyFile, 'utf8').trim().split(' ')[1]!, 'hex'));
  const fd = o.fdLimit ?? 4096;
  const daemon = async (name: string, args: string[]): Promise<Daemon> => {
    const d = new Daemon(name, [...args, '--log-format', 'text'], fd);
    d.addr = (await d.waitFor(/ listening addr=(\S+)/))[1]!;
    return d;
  };
  const [recv, ...relays] = await Promise.all([
    daemon('recv', ['recv', '--listen', '127.0.0.1:0', '--key', keyFile, '--out', outDir, ...(o.recvArgs ?? [])]),
    ...Array.from({ length: o.relays ?? 2 }, (_, i) =>
      daemon(`relay${i}`, ['relay', '--listen', '127.0.0.1:0', '--key', keyFile, ...(o.relayArgs ?? [])]),
    ),
  ]);
  const all = (): Daemon[] => [recv!, ...relays];
  return {
    dir,
    keyFile,
    key,
    outDir,
    relays,
    recv: recv!,
    all,
    async stop() {
      const codes = await Promise.all(all().map((d) => d.stop()));
      rmSync(dir, { recursive: true, force: true });
      return codes;
    },
  };
}

/**
 * A legitimate migration of `size` random bytes: relay 0 carries the data and leads, relay 1 holds the key
 * (threshold 1). Resolves with `smig send`'s exit status and stderr, and whether the installed file is
 * byte-identical.
 */
export async function migrate(
  c: Cluster,
  name: string,
  size = 2 * MiB,
  timeoutMs = 60_000,
): Promise<{ status: number; stderr: string; identical: boolean }> {
  const file = join(c.dir, name);
  const want = await makeRandomFile(file, size);
  const r = await runBin(
    [
      'send',
      file,
      '--key',
      c.keyFile,
      '--dest',
      c.recv.addr,
      '--data-relays',
      c.relays[0]!.addr,
      '--key-relays',
      c.relays[1]!.addr,
      '--threshold',
      '1',
    ],
    { timeoutMs },
  );
  let identical = false;
  try {
    identical = (await sha256File(join(c.outDir, name))) === want;
  } catch {
    identical = false;
  }
  return { status: r.status, stderr: r.stderr, identical };
}

/** A TLS 1.3 PSK client with the cluster key, from `localAddress`: the attacker's raw channel. */
export function attackerTls(addr: HostPort, key: Uint8Array, localAddress = ATTACKER): Promise<TLSSocket> {
  const psk = deriveTlsPsk(key);
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: addr.host,
      port: addr.port,
      localAddress,
      ciphers: TLS_CIPHERS,
      minVersion: 'TLSv1.3',
      pskCallback: () => ({ psk, identity: TLS_PSK_IDENTITY }),
      checkServerIdentity: () => undefined,
    });
    s.once('secureConnect', () => {
      s.off('error', reject);
      s.on('error', () => {});
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** One message as wire bytes. */
export function wire(msg: Message): Buffer {
  return Buffer.from(encodeMessageBytes(msg));
}

/**
 * Writes `piece` again and again until `total` bytes went out, the socket closed, or no write was taken for
 * `stallMs` (the peer stopped reading). Never reads. Returns what happened.
 */
export async function flood(
  s: TLSSocket,
  piece: Buffer,
  total: number,
  stallMs: number,
  budgetMs: number,
): Promise<{ sent: number; closed: boolean; stalled: boolean; ms: number }> {
  const t0 = Date.now();
  let sent = 0;
  let closed = s.destroyed;
  // one close promise for the whole flood (a `once` per wait left a close and an error listener behind each time)
  const gone = new Promise<false>((resolve) => {
    s.once('close', () => {
      closed = true;
      resolve(false);
    });
    s.once('error', () => (closed = true)); // reset by the daemon
  });
  while (sent < total && !closed && Date.now() - t0 < budgetMs) {
    const more = s.write(piece);
    sent += piece.length;
    if (!more) {
      let onDrain!: () => void;
      const drain = new Promise<true>((resolve) => {
        onDrain = () => resolve(true);
        s.once('drain', onDrain);
      });
      const drained = await Promise.race([drain, gone, sleep(stallMs).then(() => false)]);
      s.off('drain', onDrain);
      if (!drained) break;
    }
  }
  const stalled = !closed && sent < total;
  return { sent, closed, stalled, ms: Date.now() - t0 };
}

/** Waits until `cond()` or throws after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
