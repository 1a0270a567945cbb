/**
 * Helpers of the migration tests: real `smig relay`/`smig recv` processes on 127.0.0.1 (port 0, the
 * bound address read from their `listening` log line), `smig send` as a process, random files made and
 * hashed as streams, and a tampering relay built from src/net + src/protocol (it has the cluster key and
 * forwards like a relay, but can flip a byte of a chunk or of a key share).
 */

import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { connect as tlsConnect } from 'node:tls';
import type { ChannelListener, FramedConnection, HostPort, Transport } from '../../src/net/index.js';
import {
  deriveTlsPsk,
  formatHostPort,
  parseHostPort,
  TLS_CIPHERS,
  TLS_PSK_IDENTITY,
  tlsTransport,
} from '../../src/net/index.js';
import { decodeMessage, FrameType } from '../../src/protocol/index.js';
import { BIN, ROOT } from '../helpers/cli.js';

/** Every process started here, so none outlives the test file (even when a `beforeAll` fails half-way). */
const started = new Set<Proc>();
process.once('exit', () => {
  for (const p of started) p.kill('SIGKILL');
});

/** Stops (SIGTERM, then SIGKILL after 15 s) every process these helpers started and that still runs. */
export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((p) => p.stop()));
}

/** A running smig daemon process. */
export class Proc {
  readonly child: ChildProcessWithoutNullStreams;
  readonly name: string;
  addr = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  #waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];

  constructor(name: string, args: string[]) {
    this.name = name;
    this.child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT });
    this.child.stdout.resume();
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (s: string) => {
      this.stderr += s;
      this.#waiters = this.#waiters.filter((w) => {
        const m = this.stderr.match(w.re);
        if (m) w.resolve(m);
        return !m;
      });
    });
    this.exited = once(this.child, 'exit').then(([code]) => code as number | null);
    started.add(this);
    void this.exited.then(() => started.delete(this));
  }

  /** Resolves with the first match of `re` in everything the process has logged. */
  waitFor(re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const m = this.stderr.match(re);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`${this.name}: no ${re} within ${timeoutMs} ms; stderr:\n${this.stderr}`)),
        timeoutMs,
      );
      this.#waiters.push({ re, resolve: (x) => (clearTimeout(t), resolve(x)) });
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.alive) this.child.kill(signal);
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(t);
  }
}

async function daemon(name: string, args: string[]): Promise<Proc> {
  const p = new Proc(name, args);
  const m = await p.waitFor(/(?: listening addr=|"event":"listening","addr":")([^\s"]+)/); // text or JSON log
  p.addr = m[1]!;
  return p;
}

/** `smig relay --listen 127.0.0.1:0`. */
export function spawnRelay(keyFile: string, extra: string[] = []): Promise<Proc> {
  return daemon('relay', ['relay', '--listen', '127.0.0.1:0', '--key', keyFile, ...extra]);
}

/** `smig recv --listen 127.0.0.1:0 --out DIR`. */
export function spawnRecv(keyFile: string, outDir: string, extra: string[] = []): Promise<Proc> {
  return daemon('recv', ['recv', '--listen', '127.0.0.1:0', '--key', keyFile, '--out', outDir, ...extra]);
}

/** A `smig send` process; feed stdin yourself when the file is `-`. */
export function startSend(args: string[]): Proc {
  return new Proc('send', ['send', ...args]);
}

/** Collects a process's stdout. */
export function stdoutOf(p: Proc): Promise<string> {
  let out = '';
  p.child.stdout.setEncoding('utf8');
  p.child.stdout.on('data', (s: string) => (out += s));
  return p.exited.then(() => out);
}

/** Writes `size` random bytes to `path` in 1 MiB pieces; returns their SHA-256 (hex). */
export async function makeRandomFile(path: string, size: number): Promise<string> {
  const h = createHash('sha256');
  const out = createWriteStream(path);
  for (let left = size; left > 0; ) {
    const b = randomBytes(Math.min(left, 1 << 20));
    h.update(b);
    left -= b.length;
    if (!out.write(b)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return h.digest('hex');
}

/** SHA-256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

/** Writes to a child's stdin with backpressure. */
export async function writeStdin(p: Proc, data: Uint8Array): Promise<void> {
  if (!p.child.stdin.write(data)) await once(p.child.stdin, 'drain');
}

/** What a tampering relay does to what passes through it. */
export interface EvilOptions {
  /** Flip one byte of the DATA chunk at this ciphertext offset (when it passes here). */
  flipDataAt?: (offset: number, length: number) => number | undefined;
  /** Flip the first byte of every key share. */
  flipShare?: boolean;
  /** Replace every key share's y-bytes with random ones (its x stays). */
  randomShare?: boolean;
  /** Hold every key share this long before forwarding it (so that others reach the leader first). */
  holdShareMs?: number;
  /** Where it runs: default TLS on 127.0.0.1; an in-process network's host for the core tests. */
  transport?: Transport;
  host?: string;
}

/** A relay that forwards like `smig relay` (data or key role; replies back verbatim) but tampers. */
export interface EvilRelay {
  address: string;
  /** How many bytes it has flipped. */
  readonly flipped: number;
  close(): Promise<void>;
}

/** Starts a tampering relay on 127.0.0.1 with the cluster key. */
export async function startEvilRelay(key: Uint8Array, opts: EvilOptions): Promise<EvilRelay> {
  let flipped = 0;
  const links = new Set<FramedConnection>();
  const transport = opts.transport ?? tlsTransport;
  const listener: ChannelListener = await transport.listen(
    { host: opts.host ?? '127.0.0.1', port: 0 },
    {
      key,
      onConnection(up) {
        let down: FramedConnection | undefined;
        let index = 0;
        let sessionId = new Uint8Array(16);
        links.add(up);
        void up.closed.then(() => down?.destroy());
        up.onFrame(async (type, body) => {
          const msg = decodeMessage(type, body);
          switch (msg.type) {
            case FrameType.SESSION: {
              if (msg.role !== 'data-relay' && msg.role !== 'key-relay')
                throw new Error('evil relay: not a relay SESSION');
              index = msg.index;
              sessionId = new Uint8Array(msg.sessionId);
              const d = await transport.connect(parseHostPort(msg.leader, 'leader'), { key });
              down = d;
              links.add(d);
              d.onFrame((t, b) => up.send(t, b)); // replies verbatim
              void d.closed.then(() => up.close());
              await d.sendMessage({
                type: FrameType.SESSION,
                sessionId,
                role: 'leader',
                via: msg.role,
                index,
                layout: msg.layout,
              });
              return;
            }
            case FrameType.DATA: {
              const bytes = new Uint8Array(msg.bytes);
              const at = opts.flipDataAt?.(msg.offset, bytes.length);
              if (at !== undefined) {
                bytes[at]! ^= 0x01;
                flipped++;
              }
              await down!.sendMessage({ type: FrameType.DATA_SEGMENT, sessionId, index, offset: msg.offset, bytes });
              return;
            }
            case FrameType.KEY: {
              const share = new Uint8Array(msg.share);
              if (opts.holdShareMs !== undefined) await new Promise((r) => setTimeout(r, opts.holdShareMs));
              if (opts.flipShare) {
                share[0]! ^= 0xff;
                flipped++;
              }
              if (opts.randomShare) {
                share.set(randomBytes(share.length - 1));
                flipped++;
              }
              await down!.sendMessage({ type: FrameType.KEY_SEGMENT, sessionId, index, share });
              return;
            }
            case FrameType.END:
              await down!.sendMessage(msg);
              return;
            default:
              return;
          }
        });
      },
    },
  );
  return {
    address: formatHostPort(listener.address),
    get flipped() {
      return flipped;
    },
    async close() {
      for (const l of links) l.destroy();
      await listener.close();
    },
  };
}

/**
 * A bare TLS 1.3 PSK client socket with the cluster key (the same handshake as src/net), for writing
 * arbitrary bytes — malformed frames included — into a relay's channel.
 */
export function connectRawTls(addr: HostPort, key: Uint8Array): Promise<TLSSocket> {
  const psk = deriveTlsPsk(key);
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: addr.host,
      port: addr.port,
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
