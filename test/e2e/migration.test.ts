/**
 * the working cases: a 9-host migration with separate `smig` processes on
 * 127.0.0.1 (5 `smig relay` as data relays, 3 as key relays, 1 `smig recv`, plus `smig send`) of a
 * 256 MiB random file, of a stdin stream and of an empty file, each byte-identical (SHA-256 computed
 * while generating the input); key files checked; a sender with the wrong key refused, the relays serving
 * the next migration. Needs `npm run build` (npm test does it).
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin, runCli } from '../helpers/cli.js';
import type { Proc } from './migration-helpers.js';
import {
  makeRandomFile,
  sha256File,
  spawnRecv,
  spawnRelay,
  startSend,
  stdoutOf,
  stopAll,
  writeStdin,
} from './migration-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-e2e-'));
const keyFile = join(dir, 'cluster.key');
const outDir = join(dir, 'out');
const outDir2 = join(dir, 'out2');
const idFile = join(dir, 'dest.id');
let relays: Proc[] = [];
let recv: Proc;
/** A `smig recv` without --identity (unsealed sessions only). */
let recvOpen: Proc;

beforeAll(async () => {
  mkdirSync(outDir);
  mkdirSync(outDir2);
  const k = await runBin(['keygen', '-o', keyFile]);
  expect(k.status, k.stderr).toBe(0);
  const id = await runBin(['keygen', '--identity', '-o', idFile]);
  expect(id.status, id.stderr).toBe(0);
  // the last key relay logs JSON lines
  [recv, recvOpen, ...relays] = await Promise.all([
    spawnRecv(keyFile, outDir, ['--identity', idFile]),
    spawnRecv(keyFile, outDir2),
    ...Array.from({ length: 7 }, () => spawnRelay(keyFile)),
    spawnRelay(keyFile, ['--log-format', 'json']),
  ]);
}, 60_000);

afterAll(async () => {
  const all = [recv, recvOpen, ...relays].filter(Boolean);
  await stopAll();
  for (const p of all) {
    expect(p.child.exitCode, p.stderr).toBe(0); // a graceful SIGTERM shutdown
    expect(p.stderr).not.toMatch(/internal-error/);
    if (p !== relays[7])
      expect(p.stderr).toMatch(/ stopped cpuUserSeconds=[\d.]+ cpuSystemSeconds=[\d.]+ maxRssKiB=\d+/);
  }
  const json = relays[7]!.stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { component: string; event: string });
  expect(json[0]).toMatchObject({ component: 'relay', event: 'listening', addr: relays[7]!.addr });
  expect(json.map((e) => e.event)).toEqual(
    expect.arrayContaining(['relay-open', 'relay-end', 'relay-key-released', 'stopping', 'stopped']),
  );
  // a key relay is released once the leader has the key: it never waits for the DONE
  expect(json.map((e) => e.event)).not.toContain('relay-done');
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** `smig send` arguments for the 9-host layout: relays 0–4 carry data (0 leads), 5–7 hold key shares. */
function layout(extra: string[] = []): string[] {
  return [
    '--key',
    keyFile,
    '--dest',
    recv.addr,
    '--dest-key',
    `${idFile}.pub`,
    '--data-relays',
    relays
      .slice(0, 5)
      .map((r) => r.addr)
      .join(','),
    '--key-relays',
    relays
      .slice(5, 8)
      .map((r) => r.addr)
      .join(','),
    ...extra,
  ];
}

describe('smig keygen and --key', () => {
  it('writes a 0600 key file and refuses to overwrite it', async () => {
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, 'utf8')).toMatch(/^smig-key-v1 [0-9a-f]{64}\n$/);
    const again = await runBin(['keygen', '-o', keyFile]);
    expect(again.status).toBe(2);
    expect(again.stderr).toBe(`smig keygen: key file ${keyFile}: already exists (use --force to replace it)\n`);
  });

  it('prints a key on stdout with a warning about its permissions', async () => {
    const r = await runBin(['keygen']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^smig-key-v1 [0-9a-f]{64}\n$/);
    expect(r.stderr).toContain('must be chmod 600');
  });

  it('every --key refuses a missing, malformed or group-readable file (exit 2, one line)', async () => {
    const open = join(dir, 'open.key');
    writeFileSync(open, readFileSync(keyFile));
    chmodSync(open, 0o640);
    const bad = join(dir, 'bad.key');
    writeFileSync(bad, 'smig-key-v1 00\n', { mode: 0o600 });
    const cases: [string[], string][] = [
      [
        ['relay', '--listen', '127.0.0.1:0', '--key', join(dir, 'none.key')],
        `smig relay: key file ${join(dir, 'none.key')}: no such file\n`,
      ],
      [
        ['recv', '--listen', '127.0.0.1:0', '--out', outDir, '--key', open],
        `smig recv: key file ${open}: permissions 0640 are too open: group and others must have no access (chmod 600 '${open}')\n`,
      ],
      [
        ['send', join(dir, 'none'), ...layout().map((a) => (a === keyFile ? bad : a))],
        `smig send: key file ${bad}: wrong key length: 2 hex digits, expected 64 (32 bytes)\n`,
      ],
    ];
    for (const [argv, stderr] of cases) {
      const r = await runBin(argv, { timeoutMs: 15_000 });
      expect([r.status, r.stderr]).toEqual([2, stderr]);
    }
  });
});

describe('command line', () => {
  it('has help for keygen, send, relay and recv', async () => {
    for (const cmd of ['keygen', 'send', 'relay', 'recv']) {
      const r = await runCli([cmd, '--help']);
      expect([r.status, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toContain(`Usage: smig ${cmd} [options]`);
    }
  });

  it('refuses bad usage with exit 2 and one line, before connecting anywhere', async () => {
    const file = join(dir, 'usage.bin');
    writeFileSync(file, 'x');
    const cases: [string[], string][] = [
      [[file, ...layout(['--threshold', '4'])], 'smig send: threshold (with 3 key relays): 4 is outside 1..3\n'],
      [
        [file, ...layout(['--strategy', 'profile'])],
        'smig send: --strategy profile needs a profile (--profile FILE)\n',
      ],
      [[join(dir, 'absent'), ...layout()], `smig send: ${join(dir, 'absent')}: no such file\n`],
      [[dir, ...layout()], `smig send: ${dir}: is a directory\n`],
      [
        ['-', ...layout(['--name', '../x'])],
        "smig send: --name: '../x' is not a plain file name (no /, \\, control characters; at most 255 bytes)\n",
      ],
      [
        [
          file,
          ...layout().filter((a, i, all) => a !== '--dest-key' && all[i - 1] !== '--dest-key'),
          '--identity',
          idFile,
        ],
        'smig send: --identity needs --dest-key (only a sealed session is signed)\n',
      ],
    ];
    for (const [argv, stderr] of cases) {
      const r = await runCli(['send', ...argv]);
      expect([r.status, r.stderr]).toEqual([2, stderr]);
    }
    const recvUsage = await runCli([
      'recv',
      '--listen',
      '127.0.0.1:0',
      '--key',
      keyFile,
      '--out',
      outDir,
      '--trust-source',
      `${idFile}.pub`,
    ]);
    expect([recvUsage.status, recvUsage.stderr]).toEqual([
      2,
      'smig recv: --trust-source needs --identity (signed sessions are sealed to this host)\n',
    ]);
    const r = await runCli(['send', file, ...layout(['--data-relays', '127.0.0.1:1,127.0.0.1:1'])]);
    expect([r.status, r.stderr]).toEqual([
      2,
      "smig send: option '--data-relays <list>' argument '127.0.0.1:1,127.0.0.1:1' is invalid. --data-relays: '127.0.0.1:1' is listed twice (see smig send --help)\n",
    ]);
  });
});

describe('smig send through 9 hosts', () => {
  it('moves a 256 MiB random file byte-identical and reports the session as JSON', async () => {
    const file = join(dir, 'vm.img');
    const want = await makeRandomFile(file, 256 * 1024 * 1024);
    const send = startSend([file, ...layout(['--json'])]);
    const out = stdoutOf(send);
    expect(await send.exited, send.stderr).toBe(0);
    const r = JSON.parse(await out);
    expect(r.bytes).toBe(256 * 1024 * 1024);
    expect(r.done.sha256).toBe(want);
    expect(r.hosts).toEqual({
      leader: r.hosts.leader,
      dataRelays: relays.slice(0, 5).map((p) => p.addr),
      keyRelays: relays.slice(5, 8).map((p) => p.addr),
      destination: recv.addr,
    });
    expect(relays.slice(0, 5).map((p) => p.addr)).toContain(r.hosts.leader); // a random data relay leads
    expect(r.threshold).toBe(2);
    expect(r.throughput).toBeCloseTo(r.bytes / r.seconds, 0);
    expect(r.lostRelays).toEqual([]);
    const fp = recv.stderr.match(/identity=(SHA256:[A-Za-z0-9+/]+)/)?.[1];
    expect(fp).toBeDefined();
    expect(r.receipt).toEqual({ kind: 'signed', fingerprint: fp });
    expect(await sha256File(join(outDir, 'vm.img'))).toBe(want);
    rmSync(file);
    rmSync(join(outDir, 'vm.img'));
  }, 180_000);

  it('moves a stdin stream of unknown length byte-identical', async () => {
    const send = startSend(['-', '--name', 'stream.bin', ...layout(['--leader', relays[2]!.addr])]);
    const out = stdoutOf(send);
    const sent: Buffer[] = [];
    for (let i = 0; i < 24; i++) {
      const b = randomBytes(1_000_003); // not a multiple of the segment size
      sent.push(b);
      await writeStdin(send, b);
    }
    send.child.stdin.end();
    expect(await send.exited, send.stderr).toBe(0);
    expect(readFileSync(join(outDir, 'stream.bin')).equals(Buffer.concat(sent))).toBe(true);
    expect(await out).toMatch(
      new RegExp(
        `^migrated stream\\.bin: 24000072 bytes in [\\d.]+ s\\nthroughput +[\\d.]+ [kMG]?B/s \\(payload bytes ÷ time\\)\\ninstalled as stream\\.bin in the destination's --out directory, or stream\\.bin\\.1, stream\\.bin\\.2 … if that name was taken .*\\nsession +[0-9a-f]{32}\\nleader +${relays[2]!.addr}\\n`,
      ),
    );
  }, 60_000);

  it('moves an empty file', async () => {
    const file = join(dir, 'empty');
    writeFileSync(file, '');
    const send = startSend([file, ...layout(['--json'])]);
    const out = stdoutOf(send);
    expect(await send.exited, send.stderr).toBe(0);
    expect(JSON.parse(await out).done).toEqual({
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', // SHA-256 of nothing
      length: 0,
      exitStatus: null,
      message: 'verified 0 bytes (SHA-256) and installed',
    });
    expect(statSync(join(outDir, 'empty')).size).toBe(0);
  }, 60_000);

  it('refuses a sender with the wrong key (exit 1), and the relays then serve a good migration', async () => {
    const wrong = join(dir, 'wrong.key');
    expect((await runBin(['keygen', '-o', wrong])).status).toBe(0);
    const file = join(dir, 'small.bin');
    const want = await makeRandomFile(file, 3_000_000);
    const bad = await runBin(
      ['send', file, ...layout()].map((a) => (a === keyFile ? wrong : a)),
      { timeoutMs: 30_000 },
    );
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n').at(-1)).toMatch(
      /^smig send: migration failed: no data relay reachable \(TLS handshake with 127\.0\.0\.1:\d+ failed: the peer rejected our key/,
    );
    for (const r of relays.slice(0, 5)) await r.waitFor(/ peer-rejected remote=127\.0\.0\.1:\d+ reason="wrong key/);
    expect(existsSync(join(outDir, 'small.bin'))).toBe(false);

    const good = await runBin(['send', file, ...layout()], { timeoutMs: 30_000 });
    expect(good.status, good.stderr).toBe(0);
    expect(await sha256File(join(outDir, 'small.bin'))).toBe(want);
    expect(readdirSync(outDir).filter((f) => f.endsWith('.part'))).toEqual([]);
  }, 60_000);
});

describe('sealed to the destination', () => {
  const unsealed = (addr: string): string[] =>
    layout()
      .filter((a, i, all) => a !== '--dest-key' && all[i - 1] !== '--dest-key')
      .map((a) => (a === recv.addr ? addr : a));

  it('without --dest-key: warned, and the receipt is said to be forgeable by the leader (a recv without --identity)', async () => {
    const file = join(dir, 'open.bin');
    const want = await makeRandomFile(file, 700_001);
    const r = await runBin(['send', file, ...unsealed(recvOpen.addr)], { timeoutMs: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('smig send: warning: no --dest-key: the leader can read the payload and could forge');
    expect(r.stdout).toContain(
      `confirmed 700001 bytes (sha256 ${want}) by a receipt the leader could have forged (no --dest-key)`,
    );
    expect(r.stdout).not.toContain('verified');
    expect(await sha256File(join(outDir2, 'open.bin'))).toBe(want);
  }, 60_000);

  it('a destination with an identity refuses an unsealed session and one sealed to another key, writing nothing', async () => {
    const file = join(dir, 'refused.bin');
    await makeRandomFile(file, 300_000);
    const unbound = await runBin(['send', file, ...unsealed(recv.addr)], { timeoutMs: 30_000 });
    expect(unbound.status).toBe(1);
    expect(unbound.stderr.trim().split('\n').at(-1)).toMatch(
      /^smig send: migration failed: .*inner stream: not sealed to this destination's identity/,
    );
    const other = join(dir, 'other.id');
    expect((await runBin(['keygen', '--identity', '-o', other])).status).toBe(0);
    const wrong = await runBin(['send', file, ...layout().map((a) => (a === `${idFile}.pub` ? `${other}.pub` : a))], {
      timeoutMs: 30_000,
    });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr.trim().split('\n').at(-1)).toMatch(
      /^smig send: migration failed: .*inner stream: sealed to another destination/,
    );
    expect(existsSync(join(outDir, 'refused.bin'))).toBe(false);
    // the source may exit on the ERROR before the destination has unlinked its temporary file: wait for it (bounded)
    const parts = (): string[] => readdirSync(outDir).filter((f) => f.endsWith('.part'));
    for (let i = 0; i < 100 && parts().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(parts()).toEqual([]);
  }, 60_000);
});
