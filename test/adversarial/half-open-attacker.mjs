// The attacker of half-open.test.ts, as its own process so that it can have thousands of descriptors
// (started through `sh -c 'ulimit -n N; exec node …'`). Opens COUNT TCP connections from LOCAL to each
// HOST:PORT given, sends nothing (a TLS handshake that never starts), keeps every socket the peer keeps, and
// prints one JSON line when all connects have settled: how many were accepted and how many the peer has
// closed so far. Then it prints a second line after WAIT_MS, and exits when stdin closes.
// Usage: node half-open-attacker.mjs LOCAL COUNT WAIT_MS HOST:PORT...
import { connect } from 'node:net';

const [local, countText, waitText, ...targets] = process.argv.slice(2);
const count = Number(countText);
const sockets = [];
let connected = 0;
let closed = 0;
let failed = 0;
const settle = [];
for (const target of targets) {
  const i = target.lastIndexOf(':');
  const host = target.slice(0, i);
  const port = Number(target.slice(i + 1));
  for (let n = 0; n < count; n++) {
    settle.push(new Promise((resolve) => {
      const s = connect({ host, port, localAddress: local });
      sockets.push(s);
      s.on('error', () => {});
      s.resume(); // read (nothing comes), so that the peer's close is seen
      s.once('connect', () => { connected++; resolve(); });
      s.once('close', () => { closed++; resolve(); });
      s.once('error', () => { failed++; resolve(); });
    }));
  }
}
await Promise.all(settle);
const report = (phase) => process.stdout.write(`${JSON.stringify({ phase, connected, closed, failed, open: sockets.filter((s) => !s.destroyed && !s.closed).length })}\n`);
report('opened');
setTimeout(() => report('later'), Number(waitText));
process.stdin.resume();
process.stdin.on('end', () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});
