/**
 * A destination whose disk fills up mid-transfer. Before, ENOSPC travelled upstream as an "unspecified"
 * error; now it is SMIG_ERR_FILE with the reason and the errno, and never a path of the destination (the
 * relays and the leader read that message). The destination keeps no partial file.
 * Real processes on 127.0.0.1 (`smig recv`, two `smig relay`, `smig send`); the output directory is a
 * 256 KiB tmpfs mounted by the test (needs root, as the whole suite runs in CI).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proc } from '../e2e/migration-helpers.js';
import { makeRandomFile, spawnRecv, spawnRelay, startSend, stopAll } from '../e2e/migration-helpers.js';
import { runBin } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-full-'));
const small = join(dir, 'small');
const keyFile = join(dir, 'cluster.key');
let mounted = false;
let recv: Proc;
let relays: Proc[];

beforeAll(async () => {
  mkdirSync(small);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', small]);
  mounted = m.status === 0;
  if (!mounted) throw new Error(`mount tmpfs: ${m.stderr.toString().trim()} (this test needs root)`);
  expect((await runBin(['keygen', '-o', keyFile])).status).toBe(0);
  [recv, ...relays] = await Promise.all([spawnRecv(keyFile, small), spawnRelay(keyFile), spawnRelay(keyFile)]);
}, 30_000);

afterAll(async () => {
  await stopAll();
  if (mounted) spawnSync('umount', [small]);
  rmSync(dir, { recursive: true, force: true });
});

describe('disk full at the destination', () => {
  it('send exits 1 naming ENOSPC; no path travels upstream; no partial file stays', async () => {
    const file = join(dir, 'big.bin');
    await makeRandomFile(file, 2 * 1024 * 1024);
    const send = startSend([
      file,
      '--key',
      keyFile,
      '--dest',
      recv.addr,
      '--data-relays',
      relays[0]!.addr,
      '--key-relays',
      relays[1]!.addr,
      '--threshold',
      '1',
    ]);
    expect(await send.exited).toBe(1);
    // The destination answers ERROR naming ENOSPC and stops reading the leader, which is still writing at full
    // speed, until its close timer: the leader reads the ERROR before any reset (when the destination reset the
    // connection at once, two clean-clone CI runs under load saw EPIPE towards <destination> instead).
    expect(send.stderr).toContain('no space left on the device (ENOSPC)');
    expect(send.stderr).not.toContain('unspecified');
    for (const p of [send, ...relays]) expect(p.stderr).not.toContain(small);
    const failed = await recv.waitFor(/receive-failed.*/);
    expect(failed[0]).toContain('no space left on the device (ENOSPC)');
    expect(readdirSync(small)).toEqual([]);
  }, 60_000);
});
