#!/usr/bin/env node
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
// The shaped pacer alone (bench/pacing-high.mjs --pacer-only): a `profile` plan's writes on a plain TCP socket for
// SECONDS, each write the TCP payload its TLS records would be (no TLS, no protocol, no relays), so a capture of
// the link shows what the pacer itself does at the profile's rate. Prints the pacer's stats as JSON on stdout.
//   node bench/pacer-sink.mjs PROFILE.json HOST:PORT SECONDS [SEED]
import { connect } from 'node:net';

const [profilePath, addr, secondsText, seedText] = process.argv.slice(2);
const { parseProfile } = await import('../dist/profile/model.js');
const { createPlan } = await import('../dist/pacing/plan.js');
const { createPacer } = await import('../dist/pacing/strategies.js');
const { RealClock } = await import('../dist/pacing/clock.js');
const { MAX_WRITE, tlsPayload } = await import('../dist/pacing/shape.js');
const plan = createPlan({
  strategy: 'profile',
  profile: parseProfile(readFileSync(profilePath, 'utf8')),
  seed: Number(seedText ?? 1),
});
const pacer = createPacer(plan, new RealClock(), 1);
const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
const socket = connect({ host, port, noDelay: true });
await once(socket, 'connect');
const zeros = Buffer.alloc(MAX_WRITE + 1024);
const end = performance.now() + Number(secondsText) * 1000;
let queued = 0;
while (performance.now() < end) {
  const n = pacer.nextWriteSize();
  await pacer.take(n);
  if (!socket.write(zeros.subarray(0, tlsPayload(n, plan.overheads.tls)))) queued++;
}
socket.end();
await once(socket, 'close');
process.stdout.write(`${JSON.stringify({ ...pacer.stats(), paused: pacer.paused, backpressured: queued })}\n`);
