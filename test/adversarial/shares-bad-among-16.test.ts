/**
 * Attack: 16 key relays, 8 of them corrupt every share that passes (k = 8). Exactly one 8-subset of the 16
 * shares is all good; the old combiner walked subsets in lexicographic order up to a limit of 1024 (of
 * 12 870), so bad shares arriving first defeated k-of-n recovery although k good ones were there. Now the
 * leader ranks every subset and checks them all if needed: the migration completes, and the leader reports
 * the CPU time the search took.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvilRelay, Proc } from '../e2e/migration-helpers.js';
import {
  makeRandomFile,
  sha256File,
  spawnRecv,
  spawnRelay,
  startEvilRelay,
  stopAll,
} from '../e2e/migration-helpers.js';
import { runBin } from '../helpers/cli.js';
import { scratch, sendArgv } from './helpers.js';

let s: Awaited<ReturnType<typeof scratch>>;
let leader: Proc;
let recv: Proc;
const keyRelays: EvilRelay[] = [];

beforeAll(async () => {
  s = await scratch('smig-adv-bad16-');
  [leader, recv] = await Promise.all([spawnRelay(s.keyFile), spawnRecv(s.keyFile, s.outDir, ['--identity', s.idFile])]);
  const key = new Uint8Array(Buffer.from(readFileSync(s.keyFile, 'utf8').trim().split(' ')[1]!, 'hex'));
  // the shares of relays 0..7 are replaced by random ones (x kept) on their way to the leader and get there first (the good ones
  // are held for 1 s): the leader's last attempt has all 16, bad ones first, and exactly one good 8-subset
  for (let i = 0; i < 16; i++)
    keyRelays.push(await startEvilRelay(key, i < 8 ? { randomShare: true } : { holdShareMs: 1000 }));
}, 60_000);

afterAll(async () => {
  await Promise.all(keyRelays.map((r) => r.close()));
  await stopAll();
  rmSync(s.dir, { recursive: true, force: true });
}, 60_000);

describe('k = 8 good key shares among 16, 8 of them bad', () => {
  it('are found: the migration completes, the search took less than 1 s of CPU', async () => {
    const file = join(s.dir, 'p.bin');
    const sha = await makeRandomFile(file, 400_000);
    const r = await runBin(
      sendArgv(s, {
        file,
        dest: recv.addr,
        data: leader.addr,
        keys: keyRelays.map((k) => k.address).join(','),
        threshold: 8,
      }),
      { timeoutMs: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(keyRelays.slice(0, 8).every((k) => k.flipped === 1)).toBe(true);
    expect(await sha256File(join(s.outDir, 'p.bin'))).toBe(sha);
    await leader.waitFor(/ key-attempt-failed session=\w+ role=leader shares=8 /); // the bad ones alone
    const m = await leader.waitFor(/ key-rebuilt session=\w+ role=leader shares=(\d+) length=\d+ cpuMs=(\d+)/);
    expect(Number(m[1])).toBe(16);
    expect(Number(m[2])).toBeLessThan(1000);
  }, 90_000);
});
