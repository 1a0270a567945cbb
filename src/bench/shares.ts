/**
 * `npm run bench:shares`: CPU time of the leader's key-share search (src/crypto/shares.ts) in its worst cases —
 * k good shares among 16 whose other shares are random and listed first, each candidate checked as the leader
 * does (opening the envelope's header segment) — and 40 shares with repeated x-coordinates, refused up front.
 * Prints nothing; bench/shares.mjs prints the rows.
 */
import { randomBytes } from 'node:crypto';
import { EnvelopeSealer, tryOpenHeader } from '../crypto/envelope.js';
import { combineShares, splitKey } from '../crypto/shares.js';

/** One case of {@link benchShares}. */
export interface SharesBenchRow {
  case: string;
  /** Candidate keys the search checked. */
  checks: number;
  cpuMs: number;
  /** Whether the search found the key (good-share cases) or refused (the repeated-x case). */
  ok: boolean;
}

const cpuMsSince = (t: NodeJS.CpuUsage): number => {
  const u = process.cpuUsage(t);
  return (u.user + u.system) / 1000;
};

/** Runs the cases: `good` good shares among `total` (default 8, 6, 4, 2 among 16), then the repeated-x case. */
export async function benchShares(o: { good?: number[]; total?: number } = {}): Promise<SharesBenchRow[]> {
  const total = o.total ?? 16;
  const key = new Uint8Array(randomBytes(32));
  const sid = new Uint8Array(randomBytes(16));
  const sealer = new EnvelopeSealer(key, {
    version: 1,
    sessionId: sid,
    destination: 'd:1',
    name: 'f',
    length: 0n,
    segmentSize: 4096,
  });
  const prefix = sealer.prefix();
  const rows: SharesBenchRow[] = [];
  for (const k of o.good ?? [8, 6, 4, 2]) {
    const all = await splitKey(key, total, k);
    // a random share keeps its x (last byte) so that only agreement, not the x, tells it apart
    const bad = all.slice(k).map((s) => Uint8Array.from([...randomBytes(s.length - 1), s[s.length - 1]!]));
    let checks = 0;
    const t = process.cpuUsage();
    const found = await combineShares([...bad, ...all.slice(0, k)], k, (c) => {
      checks++;
      return tryOpenHeader(c, sid, prefix) !== undefined;
    });
    rows.push({
      case: `${k} good among ${total}, ${total - k} random first`,
      checks,
      cpuMs: Number(cpuMsSince(t).toFixed(1)),
      ok: Buffer.from(found).equals(Buffer.from(key)),
    });
  }
  const all = await splitKey(key, 20, 10);
  const repeated = [...all, ...all.map((s) => Uint8Array.from([...randomBytes(s.length - 1), s[s.length - 1]!]))];
  let checks = 0;
  const t = process.cpuUsage();
  const refused = await combineShares(repeated, 10, () => {
    checks++;
    return false;
  }).then(
    () => false,
    () => true,
  );
  rows.push({ case: '40 shares, every x twice', checks, cpuMs: Number(cpuMsSince(t).toFixed(1)), ok: refused });
  key.fill(0);
  return rows;
}
