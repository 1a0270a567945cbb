/**
 * Attack: a key relay keeps its share and answers DONE{ok} with the right length at once. Before receipts,
 * `smig send` accepted any DONE whose length matched and exited 0 "verified … installed" while nothing had
 * been delivered. Now a DONE counts only with the destination's signed receipt over the source's own digest.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proc } from '../e2e/migration-helpers.js';
import { makeRandomFile, spawnRecv, spawnRelay, stopAll } from '../e2e/migration-helpers.js';
import { runBin } from '../helpers/cli.js';
import type { FakePeer } from './helpers.js';
import { lastLine, scratch, sendArgv, startFakePeer } from './helpers.js';

let s: Awaited<ReturnType<typeof scratch>>;
let relay: Proc;
let recv: Proc;
/** A destination without an identity: unsealed sessions, HMAC receipts. */
let recvOpen: Proc;
const fakes: FakePeer[] = [];

beforeAll(async () => {
  s = await scratch('smig-adv-key-');
  mkdirSync(join(s.dir, 'open'));
  [relay, recv, recvOpen] = await Promise.all([
    spawnRelay(s.keyFile),
    spawnRecv(s.keyFile, s.outDir, ['--identity', s.idFile]),
    spawnRecv(s.keyFile, join(s.dir, 'open')),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all(fakes.map((f) => f.stop()));
  await stopAll();
  rmSync(s.dir, { recursive: true, force: true });
}, 60_000);

describe('a key relay that swallows its share and answers DONE', () => {
  for (const receipt of ['none', 'random-signature'] as const) {
    it(`makes smig send exit 1 naming the forged receipt (${receipt === 'none' ? 'no receipt' : 'a random signature'}), nothing installed`, async () => {
      const file = join(s.dir, `payload-${receipt}.bin`);
      const size = 200_000;
      const sha = await makeRandomFile(file, size);
      // the fake answers 1 s after the source's END on its link: long after this small payload was sealed
      const fake = await startFakePeer(['swallow-key', s.keyFile, String(size), sha, receipt, '1000']);
      fakes.push(fake);
      const r = await runBin(sendArgv(s, { file, dest: recv.addr, data: relay.addr, keys: fake.addr, threshold: 1 }), {
        timeoutMs: 30_000,
      });
      expect(r.status, r.stderr).toBe(1);
      expect(lastLine(r.stderr)).toMatch(
        new RegExp(
          `^smig send: migration failed: key relay 127\\.0\\.0\\.1:\\d+ sent a DONE with a forged or invalid receipt \\(${receipt === 'none' ? 'it carries no receipt' : 'its receipt is not signed by the destination key'}\\): not confirmed$`,
        ),
      );
      expect(r.stdout).toBe('');
      expect(fake.stderr()).toContain('fake-peer forged DONE'); // the attack did happen
      expect(existsSync(join(s.outDir, `payload-${receipt}.bin`))).toBe(false);
      expect(readdirSync(s.outDir).filter((f) => f.endsWith('.part'))).toEqual([]);
    }, 60_000);
  }

  it('without --dest-key too: a relay cannot make the unsealed receipt (an HMAC under a key it never sees)', async () => {
    const file = join(s.dir, 'payload-open.bin');
    const size = 200_000;
    const sha = await makeRandomFile(file, size);
    const fake = await startFakePeer(['swallow-key', s.keyFile, String(size), sha, 'random-mac', '1000']);
    fakes.push(fake);
    const r = await runBin(
      sendArgv(s, { file, dest: recvOpen.addr, data: relay.addr, keys: fake.addr, threshold: 1, sealed: false }),
      { timeoutMs: 30_000 },
    );
    expect(r.status, r.stderr).toBe(1);
    expect(fake.stderr()).toContain('fake-peer forged DONE');
    expect(lastLine(r.stderr)).toMatch(
      /^smig send: migration failed: key relay 127\.0\.0\.1:\d+ sent a DONE with a forged or invalid receipt \(its receipt does not verify\): not confirmed$/,
    );
    expect(existsSync(join(s.dir, 'open', 'payload-open.bin'))).toBe(false);
  }, 60_000);

  it('the relay and the destination then serve an honest migration', async () => {
    const file = join(s.dir, 'honest.bin');
    const sha = await makeRandomFile(file, 150_000);
    const r = await runBin(sendArgv(s, { file, dest: recv.addr, data: relay.addr, keys: relay.addr, threshold: 1 }), {
      timeoutMs: 30_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`verified 150000 bytes \\(SHA-256\\) and installed \\(sha256 ${sha}\\); receipt signed by SHA256:`),
    );
  }, 60_000);
});
