/**
 * Attack: a leader (a process with the cluster key that the relays forward to) acknowledges every byte and
 * answers DONE{ok} with the right length — and even the right SHA-256, as if it knew the payload — with no
 * receipt, a random signature or a random MAC. Before receipts `smig send` exited 0. With `--dest-key` only
 * the destination's signature counts, and the leader, which never holds the destination's key, cannot make one.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proc } from '../e2e/migration-helpers.js';
import { makeRandomFile, spawnRecv, spawnRelay, stopAll } from '../e2e/migration-helpers.js';
import { runBin } from '../helpers/cli.js';
import type { FakePeer } from './helpers.js';
import { lastLine, scratch, sendArgv, startFakePeer } from './helpers.js';

let s: Awaited<ReturnType<typeof scratch>>;
let dataRelay: Proc;
let keyRelay: Proc;
let recv: Proc;
const fakes: FakePeer[] = [];

beforeAll(async () => {
  s = await scratch('smig-adv-leader-');
  [dataRelay, keyRelay, recv] = await Promise.all([
    spawnRelay(s.keyFile),
    spawnRelay(s.keyFile),
    spawnRecv(s.keyFile, s.outDir, ['--identity', s.idFile]),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all(fakes.map((f) => f.stop()));
  await stopAll();
  rmSync(s.dir, { recursive: true, force: true });
}, 60_000);

describe('a leader that forges DONE', () => {
  const reasons = {
    none: 'it carries no receipt',
    'random-signature': 'its receipt is not signed by the destination key',
    'random-mac': 'its receipt is not signed by the destination key',
  } as const;
  for (const receipt of ['none', 'random-signature', 'random-mac'] as const) {
    it(`makes smig send exit 1 naming the forged receipt (${receipt})`, async () => {
      const file = join(s.dir, `p-${receipt}.bin`);
      const size = 300_000;
      const sha = await makeRandomFile(file, size);
      const fake = await startFakePeer(['forge-leader', s.keyFile, String(size), sha, receipt]);
      fakes.push(fake);
      const r = await runBin(
        sendArgv(s, {
          file,
          dest: recv.addr,
          data: dataRelay.addr,
          keys: keyRelay.addr,
          threshold: 1,
          extra: ['--leader', fake.addr],
        }),
        { timeoutMs: 30_000 },
      );
      expect(r.status, r.stderr).toBe(1);
      expect(fake.stderr()).toContain('fake-peer forged DONE');
      expect(lastLine(r.stderr)).toMatch(
        new RegExp(
          `^smig send: migration failed: (data|key) relay 127\\.0\\.0\\.1:\\d+ sent a DONE with a forged or invalid receipt \\(${reasons[receipt]}\\): not confirmed$`,
        ),
      );
      expect(r.stdout).toBe('');
      await fake.stop();
    }, 60_000);
  }

  it('an honest leader among the same relays completes, with the signed receipt', async () => {
    const file = join(s.dir, 'honest.bin');
    const sha = await makeRandomFile(file, 300_000);
    const r = await runBin(
      sendArgv(s, {
        file,
        dest: recv.addr,
        data: dataRelay.addr,
        keys: keyRelay.addr,
        threshold: 1,
        extra: ['--json'],
      }),
      { timeoutMs: 30_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { done: { sha256: string }; receipt: { kind: string } };
    expect(out.done.sha256).toBe(sha);
    expect(out.receipt.kind).toBe('signed');
  }, 60_000);
});
