#!/usr/bin/env node
// `npm run bench:shares`: CPU time of the leader's key-share search (src/crypto/shares.ts) in its worst cases:
// k good shares among 16 whose other shares are random (listed first), each candidate checked as the leader
// does (opening the envelope's header segment); and 40 shares with repeated x-coordinates (refused up front).
// Prints one line per case; `--json` prints them as JSON.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { EnvelopeSealer, tryOpenHeader } = await import(join(ROOT, 'dist/crypto/envelope.js'));
const { splitKey, combineShares } = await import(join(ROOT, 'dist/crypto/shares.js'));
const JSON_OUT = process.argv.includes('--json');

const key = new Uint8Array(randomBytes(32));
const sid = new Uint8Array(randomBytes(16));
const prefix = new EnvelopeSealer(key, {
  version: 1,
  sessionId: sid,
  destination: 'd:1',
  name: 'f',
  length: 0n,
  segmentSize: 4096,
}).prefix();
const cpuMs = (t) => {
  const u = process.cpuUsage(t);
  return (u.user + u.system) / 1000;
};
const rows = [];
for (const k of [8, 6, 4, 2]) {
  const all = await splitKey(key, 16, k);
  const bad = all.slice(k).map((s) => Uint8Array.from([...randomBytes(32), s[32]]));
  let checks = 0;
  const t = process.cpuUsage();
  const found = await combineShares(
    [...bad, ...all.slice(0, k)],
    k,
    (c) => (checks++, tryOpenHeader(c, sid, prefix) !== undefined),
  );
  rows.push({
    case: `${k} good among 16, ${16 - k} random first`,
    checks,
    cpuMs: Number(cpuMs(t).toFixed(1)),
    found: Buffer.from(found).equals(Buffer.from(key)),
  });
}
{
  const all = await splitKey(key, 20, 10);
  const repeated = [...all, ...all.map((s) => Uint8Array.from([...randomBytes(32), s[32]]))];
  let checks = 0;
  const t = process.cpuUsage();
  const refused = await combineShares(repeated, 10, () => (checks++, false)).then(
    () => false,
    () => true,
  );
  rows.push({ case: '40 shares, every x twice', checks, cpuMs: Number(cpuMs(t).toFixed(1)), refused });
}
if (JSON_OUT) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
else
  for (const r of rows)
    process.stdout.write(
      `${r.case.padEnd(34)} ${String(r.checks).padStart(6)} candidates  ${r.cpuMs.toFixed(1).padStart(7)} CPU-ms  ${'found' in r ? (r.found ? 'key found' : 'NOT FOUND') : r.refused ? 'refused' : 'NOT REFUSED'}\n`,
    );
