/**
 * The shaped pacer alone (`npm run bench:pacing-high -- --pacer-only`): a `profile` plan's writes on a plain TCP
 * socket for SECONDS, each write the TCP payload its TLS records would be (no TLS, no protocol, no relays), so a
 * capture of the link shows what the pacer itself does at the profile's rate. Prints the pacer's stats as one JSON
 * line on stdout ({@link PacerSinkStats}):
 *
 *   node dist/bench/pacer-sink.js PROFILE.json HOST:PORT SECONDS [SEED]
 *
 * pacing-high-lab.ts runs it inside a lab host's namespace.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RealClock } from '../pacing/clock.js';
import { createPlan } from '../pacing/plan.js';
import { isShaped, MAX_WRITE, tlsPayload } from '../pacing/shape.js';
import type { PacerStats } from '../pacing/strategies.js';
import { createPacer } from '../pacing/strategies.js';
import { parseProfile } from '../profile/model.js';
import { PACKAGE_ROOT } from './proc.js';

/** The built program. */
export const PACER_SINK_JS: string = join(PACKAGE_ROOT, 'dist', 'bench', 'pacer-sink.js');

/** What the program prints: the pacer's stats, its pauses (ms, shaped pacers) and the writes the socket queued. */
export interface PacerSinkStats extends PacerStats {
  /** Milliseconds the schedule paused for lack of data (shaped pacers only). */
  paused?: number;
  /** Writes after which the socket's buffer was full (`write` returned false). */
  backpressured: number;
}

/** Paces writes of zeros to `host:port` for `seconds`; resolves with the pacer's stats once the socket closed. */
export async function runPacerSink(
  profilePath: string,
  host: string,
  port: number,
  seconds: number,
  seed: number,
): Promise<PacerSinkStats> {
  const plan = createPlan({ strategy: 'profile', profile: parseProfile(readFileSync(profilePath, 'utf8')), seed });
  const pacer = createPacer(plan, new RealClock(), 1);
  const socket = connect({ host, port, noDelay: true });
  await once(socket, 'connect');
  const zeros = Buffer.alloc(MAX_WRITE + 1024);
  const end = performance.now() + seconds * 1000;
  let queued = 0;
  while (performance.now() < end) {
    const n = pacer.nextWriteSize();
    await pacer.take(n);
    if (!socket.write(zeros.subarray(0, tlsPayload(n, plan.overheads.tls)))) queued++;
  }
  socket.end();
  await once(socket, 'close');
  return { ...pacer.stats(), paused: isShaped(pacer) ? pacer.paused : undefined, backpressured: queued };
}

/** Runs the program when this file is the process's entry point. */
async function main(argv: string[]): Promise<void> {
  const [profilePath, addr, secondsText, seedText] = argv;
  const colon = addr?.lastIndexOf(':') ?? -1;
  const seconds = Number(secondsText);
  const seed = Number(seedText ?? 1);
  if (profilePath === undefined || addr === undefined || colon <= 0 || !(seconds > 0) || !Number.isInteger(seed)) {
    process.stderr.write('usage: pacer-sink.js PROFILE.json HOST:PORT SECONDS [SEED]\n');
    process.exitCode = 2;
    return;
  }
  const port = Number(addr.slice(colon + 1));
  const stats = await runPacerSink(profilePath, addr.slice(0, colon), port, seconds, seed);
  process.stdout.write(`${JSON.stringify(stats)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`pacer-sink: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
