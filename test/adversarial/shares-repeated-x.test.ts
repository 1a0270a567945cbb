/**
 * Attack: a key holder opens one session at a real leader with 40 key-relay links whose shares repeat their
 * x-coordinates (and a data link bringing the first bytes, so that the leader tries to combine). The old
 * combiner skipped same-x subsets before counting them against its limit: 28 shares froze a relay for 11 s, 40
 * would take hours. Now a repeated x is refused up front: the session fails at once, the relay stays responsive
 * and serves the next migration.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FramedConnection } from '../../src/net/index.js';
import { connectChannel, parseHostPort } from '../../src/net/index.js';
import type { ErrorMessage } from '../../src/protocol/index.js';
import { decodeMessage, FrameType } from '../../src/protocol/index.js';
import type { Proc } from '../e2e/migration-helpers.js';
import { makeRandomFile, spawnRecv, spawnRelay, stopAll } from '../e2e/migration-helpers.js';
import { runBin } from '../helpers/cli.js';
import { scratch, sendArgv } from './helpers.js';

let s: Awaited<ReturnType<typeof scratch>>;
let leader: Proc;
let recv: Proc;

beforeAll(async () => {
  s = await scratch('smig-adv-shares-');
  // its 41 links all come from 127.0.0.1, more than a listener takes from one address by default (32)
  [leader, recv] = await Promise.all([
    spawnRelay(s.keyFile, ['--max-per-address', '64']),
    spawnRecv(s.keyFile, s.outDir, ['--identity', s.idFile]),
  ]);
}, 60_000);

afterAll(async () => {
  await stopAll();
  rmSync(s.dir, { recursive: true, force: true });
}, 60_000);

describe('40 key shares with repeated x at a leader', () => {
  it('are refused at once: the session fails with ERROR within seconds, the relay stays up', async () => {
    const key = new Uint8Array(
      readFileSync(s.keyFile, 'utf8')
        .trim()
        .split(' ')[1]!
        .match(/../g)!
        .map((h) => parseInt(h, 16)),
    );
    const addr = parseHostPort(leader.addr, 'leader');
    const sessionId = new Uint8Array(randomBytes(16));
    const layout = { dataRelays: 1, keyRelays: 40, threshold: 20 };
    const data = await connectChannel(addr, { key });
    const error = new Promise<ErrorMessage>((resolve) =>
      data.onFrame((type, body) => {
        const m = decodeMessage(type, body);
        if (m.type === FrameType.ERROR) resolve(m);
      }),
    );
    await data.sendMessage({ type: FrameType.SESSION, sessionId, role: 'leader', via: 'data-relay', index: 0, layout });
    const prefix = randomBytes(4096);
    prefix[0] = 1; // an envelope's version byte: the leader gets as far as trying candidate keys
    await data.sendMessage({ type: FrameType.DATA_SEGMENT, sessionId, index: 0, offset: 0, bytes: prefix });
    const keys: FramedConnection[] = [];
    for (let i = 0; i < 40; i++) {
      const c = await connectChannel(addr, { key });
      c.onFrame(() => {});
      keys.push(c);
      const share = new Uint8Array(33);
      share.set(randomBytes(32));
      share[32] = (i % 20) + 1; // x = 1..20, twice each
      await c.sendMessage({ type: FrameType.SESSION, sessionId, role: 'leader', via: 'key-relay', index: i, layout });
      await c.sendMessage({ type: FrameType.KEY_SEGMENT, sessionId, index: i, share });
      await c.sendMessage({ type: FrameType.END, length: 33, sha256: null });
    }
    const t0 = Date.now();
    const err = await error;
    const ms = Date.now() - t0;
    expect(err.message).toMatch(/^leader: no 20 of the 40 key shares rebuilt a key that opens the envelope/);
    expect(ms).toBeLessThan(5000); // the old combiner: hours
    await leader.waitFor(
      / key-attempt-failed session=\w+ role=leader shares=\d+ reason="key shares: two different shares with x = \d+ \(one of them is forged\); refused"/,
    );
    for (const c of [data, ...keys]) c.destroy();
    expect(leader.alive).toBe(true);
  }, 60_000);

  it('the relay then leads an honest migration', async () => {
    const file = join(s.dir, 'after.bin');
    const sha = await makeRandomFile(file, 500_000);
    const r = await runBin(
      sendArgv(s, { file, dest: recv.addr, data: leader.addr, keys: leader.addr, threshold: 1, extra: ['--json'] }),
      { timeoutMs: 30_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { done: { sha256: string } }).done.sha256).toBe(sha);
  }, 60_000);
});
