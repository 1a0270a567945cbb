/**
 * The anchor of `npm run bench:transfer`: a plain one-hop TCP copy of a file (no TLS, no envelope), as two
 * processes, so that its cost is measured the same way as smig's (each process's own CPU time and peak RSS).
 *
 *   node dist/bench/plain-copy.js recv OUT        listens on 127.0.0.1 (port on stderr: `port N`), writes what
 *                                                 one connection sends to OUT, fsyncs it, prints its usage
 *   node dist/bench/plain-copy.js send FILE PORT  streams FILE to 127.0.0.1:PORT in 1 MiB reads, prints its usage
 *
 * Usage is one JSON line on stdout: `{"cpuSeconds":…,"maxRssMiB":…}`. Started by {@link plainTcpCopy} (perf.ts).
 */
import { createReadStream, createWriteStream, fsyncSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { pathToFileURL } from 'node:url';

/** CPU seconds (user + system) and peak RSS of this process. */
export function selfUsage(): { cpuSeconds: number; maxRssMiB: number } {
  const r = process.resourceUsage();
  return { cpuSeconds: (r.userCPUTime + r.systemCPUTime) / 1e6, maxRssMiB: r.maxRSS / 1024 };
}

function receive(out: string): void {
  const file = createWriteStream(out);
  const server = createServer((socket) => {
    socket.pipe(file);
    file.on('finish', () => {
      fsyncSync((file as unknown as { fd: number }).fd); // the stream keeps its descriptor open until close
      process.stdout.write(`${JSON.stringify(selfUsage())}\n`);
      server.close();
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    process.stderr.write(`port ${typeof addr === 'object' && addr !== null ? addr.port : 0}\n`);
  });
}

function send(path: string, port: number): void {
  const socket = connect(port, '127.0.0.1', () => createReadStream(path, { highWaterMark: 1 << 20 }).pipe(socket));
  socket.on('close', () => process.stdout.write(`${JSON.stringify(selfUsage())}\n`));
}

/** Runs the program when this file is the process's entry point. */
function main(argv: string[]): void {
  const [mode, a, b] = argv;
  if (mode === 'recv' && a !== undefined) receive(a);
  else if (mode === 'send' && a !== undefined && b !== undefined) send(a, Number(b));
  else {
    process.stderr.write('usage: plain-copy.js recv OUT | send FILE PORT\n');
    process.exitCode = 2;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  main(process.argv.slice(2));
