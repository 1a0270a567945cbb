/**
 * The plain TCP copy both benchmarks compare smig with (no TLS, no envelope), as two processes so that its cost
 * is measured the same way as smig's (each process's own CPU time and peak RSS):
 *
 *   node dist/bench/plain-copy.js recv OUT [HOST [PORT]] [--sha256]
 *       listens on HOST:PORT (default 127.0.0.1, any port) and says `listening HOST:PORT` on stderr; writes what
 *       one connection sends to OUT, fsyncs it, answers the sender `ok [SHA256]` and prints its usage
 *   node dist/bench/plain-copy.js send FILE PORT [HOST]
 *       streams FILE to HOST:PORT in 1 MiB reads, half-closes, waits for the answer and prints its usage
 *
 * Usage is one JSON line on stdout ({@link CopyUsage}). `smig bench` runs it as the paper's "normal traffic" case
 * (bench.ts, with `--sha256` to check the bytes) and `npm run bench:transfer` as its anchor ({@link plainTcpCopy},
 * perf.ts, without hashing, so that the anchor costs only the copy).
 */
import type { Hash } from 'node:crypto';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, openSync, writeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { pathToFileURL } from 'node:url';

/** What each side prints when it is done. */
export interface CopyUsage {
  cpuSeconds: number;
  maxRssMiB: number;
  maxRssKiB: number;
  /** Receiver with `--sha256`: the SHA-256 of what it wrote. */
  sha256?: string;
  /** Sender: seconds from connecting to the receiver's answer. */
  seconds?: number;
  /** Sender: the receiver's answer (`ok …`). */
  reply?: string;
}

/** CPU seconds (user + system) and peak RSS of this process. */
export function selfUsage(): CopyUsage {
  const r = process.resourceUsage();
  return { cpuSeconds: (r.userCPUTime + r.systemCPUTime) / 1e6, maxRssMiB: r.maxRSS / 1024, maxRssKiB: r.maxRSS };
}

function receive(out: string, host: string, port: number, hash: boolean): void {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    server.close(); // one connection
    const fd = openSync(out, 'w');
    const h: Hash | undefined = hash ? createHash('sha256') : undefined;
    socket.on('data', (b: Buffer) => {
      writeSync(fd, b);
      h?.update(b);
    });
    socket.on('end', () => {
      fsyncSync(fd);
      closeSync(fd);
      const sha256 = h?.digest('hex');
      socket.end(`ok${sha256 ? ` ${sha256}` : ''}\n`);
      process.stdout.write(`${JSON.stringify({ ...selfUsage(), ...(sha256 ? { sha256 } : {}) })}\n`);
    });
  });
  server.listen(port, host, () => {
    const addr = server.address();
    process.stderr.write(`listening ${host}:${typeof addr === 'object' && addr !== null ? addr.port : port}\n`);
  });
}

function send(path: string, port: number, host: string): void {
  const t0 = process.hrtime.bigint();
  let reply = '';
  const socket = connect(port, host, () => createReadStream(path, { highWaterMark: 1 << 20 }).pipe(socket));
  socket.setEncoding('utf8').on('data', (s: string) => (reply += s));
  socket.on('end', () => {
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stdout.write(`${JSON.stringify({ ...selfUsage(), seconds, reply: reply.trim() })}\n`);
  });
}

/** Runs the program when this file is the process's entry point. */
function main(argv: string[]): void {
  const hash = argv.includes('--sha256');
  const [mode, a, b, c] = argv.filter((x) => x !== '--sha256');
  if (mode === 'recv' && a !== undefined) receive(a, b ?? '127.0.0.1', Number(c ?? 0), hash);
  else if (mode === 'send' && a !== undefined && b !== undefined) send(a, Number(b), c ?? '127.0.0.1');
  else {
    process.stderr.write('usage: plain-copy.js recv OUT [HOST [PORT]] [--sha256] | send FILE PORT [HOST]\n');
    process.exitCode = 2;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  main(process.argv.slice(2));
