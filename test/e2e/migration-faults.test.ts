/**
 * the faults, with separate `smig` processes on 127.0.0.1: a key relay down, a data
 * relay killed mid-transfer, the leader killed, the destination killed, a tampered chunk, and a fuzzer
 * throwing random and mutated frames at a relay through a real TLS channel with the right key.
 *
 * Timing is made deterministic with stdin: the test decides when the payload ends, and a relay is frozen
 * (SIGSTOP) before it is killed, so the chunks it holds are certainly unacknowledged.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKeyFile } from '../../src/crypto/keyfile.js';
import { parseHostPort } from '../../src/net/index.js';
import type { Message } from '../../src/protocol/index.js';
import { encodeMessageBytes, FrameType } from '../../src/protocol/index.js';
import { runBin } from '../helpers/cli.js';
import type { Proc } from './migration-helpers.js';
import {
  connectRawTls,
  makeRandomFile,
  sha256File,
  spawnRecv,
  spawnRelay,
  startEvilRelay,
  startSend,
  stdoutOf,
  stopAll,
  writeStdin,
} from './migration-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-faults-'));
const keyFile = join(dir, 'cluster.key');
const outDir = join(dir, 'out');
let key: Uint8Array;
let relays: Proc[] = [];
let recv: Proc;

beforeAll(async () => {
  mkdirSync(outDir);
  expect((await runBin(['keygen', '-o', keyFile])).status).toBe(0);
  key = await loadKeyFile(keyFile);
  [recv, ...relays] = await Promise.all([
    spawnRecv(keyFile, outDir),
    ...Array.from({ length: 7 }, () => spawnRelay(keyFile)),
  ]);
}, 60_000);

afterAll(async () => {
  await stopAll();
  for (const p of [recv, ...relays].filter(Boolean)) expect(p.stderr).not.toMatch(/internal-error/);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const addrs = (ps: (Proc | string)[]): string => ps.map((p) => (typeof p === 'string' ? p : p.addr)).join(',');
const parts = (d: string): string[] => readdirSync(d).filter((f) => f.endsWith('.part'));

/** Sends `n` MiB of random bytes to a send process's stdin; returns them. */
async function feed(send: Proc, n: number): Promise<Buffer[]> {
  const sent: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const b = randomBytes(1 << 20);
    sent.push(b);
    await writeStdin(send, b);
  }
  return sent;
}

/** The (short) session id a `smig send` logged. */
function sessionOf(stderr: string): string {
  return /session-start session=([0-9a-f]+)/.exec(stderr)![1]!;
}

function lastLine(s: string): string {
  return s.trim().split('\n').at(-1) ?? '';
}

describe('faults', () => {
  it('a key relay down: the migration completes with the 2 shares left', async () => {
    const down = await spawnRelay(keyFile);
    const gone = down.addr;
    await down.stop();
    const file = join(dir, 'keydown.bin');
    const want = await makeRandomFile(file, 5_000_000);
    const send = startSend([
      file,
      '--key',
      keyFile,
      '--dest',
      recv.addr,
      '--data-relays',
      addrs(relays.slice(0, 4)),
      '--key-relays',
      addrs([relays[4]!, gone, relays[5]!]),
      '--json',
    ]);
    const out = stdoutOf(send);
    expect(await send.exited, send.stderr).toBe(0);
    expect(JSON.parse(await out).lostRelays).toEqual([gone]);
    expect(send.stderr).toMatch(
      new RegExp(`relay-unreachable session=\\w+ kind=key addr=${gone} reason="connect to ${gone}: connection refused`),
    );
    expect(await sha256File(join(outDir, 'keydown.bin'))).toBe(want);
  }, 60_000);

  it('a data relay killed mid-transfer: its unacknowledged chunks go through the others, byte-identical', async () => {
    const victim = await spawnRelay(keyFile);
    const send = startSend([
      '-',
      '--name',
      'survivor.bin',
      '--key',
      keyFile,
      '--dest',
      recv.addr,
      '--data-relays',
      addrs([relays[0]!, relays[1]!, victim, relays[2]!, relays[3]!]),
      '--leader',
      relays[0]!.addr,
      '--key-relays',
      addrs(relays.slice(4, 7)),
      '--json',
    ]);
    const out = stdoutOf(send);
    const sent = await feed(send, 8);
    await victim.waitFor(/ relay-open /);
    await new Promise((r) => setTimeout(r, 300));
    victim.kill('SIGSTOP'); // frozen: what it holds stays unacknowledged, the window fills
    const more = feed(send, 48); // blocks once the source's window is full
    await new Promise((r) => setTimeout(r, 500));
    victim.kill('SIGKILL');
    sent.push(...(await more), ...(await feed(send, 8)));
    send.child.stdin.end();
    expect(await send.exited, send.stderr).toBe(0);
    const r = JSON.parse(await out);
    expect(r.lostRelays).toEqual([victim.addr]);
    expect(r.resentChunks).toBeGreaterThan(0);
    expect(send.stderr).toMatch(new RegExp(`relay-lost session=\\w+ kind=data addr=${victim.addr} requeued=[1-9]`));
    expect(readFileSync(join(outDir, 'survivor.bin')).equals(Buffer.concat(sent))).toBe(true);
  }, 90_000);

  it('the leader killed: send exits 1 with one clear line; the destination keeps no partial file', async () => {
    const leader = await spawnRelay(keyFile);
    const send = startSend([
      '-',
      '--name',
      'leaderless.bin',
      '--key',
      keyFile,
      '--dest',
      recv.addr,
      '--data-relays',
      addrs([leader, relays[0]!, relays[1]!]),
      '--leader',
      leader.addr,
      '--key-relays',
      addrs(relays.slice(4, 7)),
    ]);
    send.child.stdin.on('error', () => {}); // EPIPE once send has exited
    await feed(send, 4);
    await recv.waitFor(/ receive-open session=\w+ name=leaderless\.bin/);
    leader.kill('SIGKILL');
    void feed(send, 64).catch(() => {});
    expect(await send.exited).toBe(1);
    // one line naming the relay that saw the leader go and the leader (which relay, and whether it saw the loss on
    // an idle link or in the middle of a send, is a race)
    expect(lastLine(send.stderr)).toMatch(
      new RegExp(
        `^smig send: migration failed: (data|key) relay 127\\.0\\.0\\.1:\\d+ reported SMIG_ERR_[A-Z_]+: .*${leader.addr}.*$`,
      ),
    );
    await recv.waitFor(new RegExp(` receive-failed session=${sessionOf(send.stderr)} bytes=\\d+ reason=`));
    expect(existsSync(join(outDir, 'leaderless.bin'))).toBe(false);
    expect(parts(outDir)).toEqual([]);
  }, 60_000);

  it('the destination killed: send exits 1; the partial file is never installed and is removed at the next start', async () => {
    const out2 = join(dir, 'out2');
    mkdirSync(out2);
    const dest = await spawnRecv(keyFile, out2);
    const send = startSend([
      '-',
      '--name',
      'orphan.bin',
      '--key',
      keyFile,
      '--dest',
      dest.addr,
      '--data-relays',
      addrs(relays.slice(0, 3)),
      '--key-relays',
      addrs(relays.slice(4, 7)),
    ]);
    send.child.stdin.on('error', () => {});
    await feed(send, 4);
    await dest.waitFor(/ receive-open session=\w+ name=orphan\.bin/);
    dest.kill('SIGKILL');
    void feed(send, 64).catch(() => {});
    expect(await send.exited).toBe(1);
    const line = lastLine(send.stderr);
    // which leader step notices first is a race: a read (connection to …), a write (send to …; after a clean close
    // it has no cause to add), or the close
    expect(line).toMatch(
      /^smig send: migration failed: (data|key) relay 127\.0\.0\.1:\d+ reported SMIG_ERR_CONNECTION: leader 127\.0\.0\.1:\d+: ((send to <destination>: connection closed: )?connection to <destination>: |send to <destination>: connection closed$|the destination closed the connection before DONE$)/,
    );
    expect(line).not.toContain(dest.addr.split(':')[1]!); // relays never read the destination's address
    const stale = parts(out2);
    expect(stale).toHaveLength(1); // SIGKILL: the receiver could not clean up, but nothing was installed
    expect(readdirSync(out2)).toEqual(stale);
    const again = await spawnRecv(keyFile, out2);
    await again.waitFor(new RegExp(`stale-temp-removed file=${stale[0]!.replace(/\./g, '\\.')}`));
    expect(readdirSync(out2)).toEqual([]);
  }, 60_000);

  it('a tampered chunk is detected by the leader and never delivered; send exits 1', async () => {
    const evil = await startEvilRelay(key, { flipDataAt: (offset, length) => (offset > 0 ? length - 1 : undefined) });
    try {
      const file = join(dir, 'tampered.bin');
      await makeRandomFile(file, 8_000_000);
      const r = await runBin(
        [
          'send',
          file,
          '--key',
          keyFile,
          '--dest',
          recv.addr,
          '--data-relays',
          addrs([evil.address, relays[0]!, relays[1]!]),
          '--leader',
          relays[0]!.addr,
          '--key-relays',
          addrs(relays.slice(4, 7)),
        ],
        { timeoutMs: 30_000 },
      );
      expect(r.status).toBe(1);
      expect(evil.flipped).toBeGreaterThan(0);
      // the first ERROR to reach the source wins: a real relay prefixes the leader, the evil one forwards verbatim
      expect(lastLine(r.stderr)).toMatch(
        new RegExp(
          `^smig send: migration failed: \\w+ relay 127\\.0\\.0\\.1:\\d+ reported SMIG_ERR_AUTH: (leader ${relays[0]!.addr}: )?envelope: segment \\d+ did not authenticate`,
        ),
      );
      await relays[0]!.waitFor(
        / session-failed session=\w+ role=leader reason="envelope: segment \d+ did not authenticate/,
      );
      await recv.waitFor(new RegExp(` receive-failed session=${sessionOf(r.stderr)} bytes=\\d+ reason=`));
      expect(existsSync(join(outDir, 'tampered.bin'))).toBe(false);
      expect(parts(outDir)).toEqual([]);
    } finally {
      await evil.close();
    }
  }, 60_000);

  it('a relay fuzzed with random and mutated frames (right key) stays up and serves the next session', async () => {
    const target = relays[6]!;
    const sid = new Uint8Array(16).fill(7);
    const layout = { dataRelays: 2, keyRelays: 2, threshold: 2 };
    // well-formed frames of every kind; a relay SESSION names the target itself as leader (loopback only)
    const valid: Message[] = [
      { type: FrameType.SESSION, sessionId: sid, role: 'data-relay', leader: target.addr, index: 1, layout },
      { type: FrameType.SESSION, sessionId: sid, role: 'key-relay', leader: target.addr, index: 0, layout },
      { type: FrameType.SESSION, sessionId: sid, role: 'leader', via: 'data-relay', index: 0, layout },
      { type: FrameType.SESSION, sessionId: sid, role: 'leader', via: 'key-relay', index: 1, layout },
      { type: FrameType.SESSION, sessionId: sid, role: 'destination', name: 'x', length: 3 },
      { type: FrameType.DATA, offset: 0, bytes: randomBytes(700) },
      { type: FrameType.DATA_SEGMENT, sessionId: sid, index: 0, offset: 0, bytes: randomBytes(600) },
      { type: FrameType.KEY, share: randomBytes(33) },
      { type: FrameType.KEY_SEGMENT, sessionId: sid, index: 1, share: randomBytes(33) },
      { type: FrameType.END, length: 700, sha256: null },
      { type: FrameType.PROGRESS, offset: 5 },
      { type: FrameType.DONE, ok: true, sha256: new Uint8Array(32), length: 0, exitStatus: 0, message: 'x' },
      { type: FrameType.ERROR, code: 3, message: 'boom' },
      { type: FrameType.PING, seq: 1 },
      { type: FrameType.PAD, length: 9 },
      { type: FrameType.STATUS, payload: { a: 1 } },
    ];
    const encoded = valid.map((m) => encodeMessageBytes(m));
    const isRelaySession = (i: number): boolean => i < 2; // never mutated: their leader address must stay loopback
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => ({ bytes: b })),
      fc
        .record({
          i: fc.nat(encoded.length - 1),
          flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
          cut: fc.option(fc.nat()),
        })
        .map(({ i, flips, cut }) => {
          const b = new Uint8Array(encoded[i]!);
          if (!isRelaySession(i)) {
            for (const [at, x] of flips) b[at % b.length]! ^= x;
            if (cut !== null) return { bytes: b.subarray(0, cut % (b.length + 1)) };
          }
          return { bytes: b };
        }),
    );
    let runs = 0;
    const targetAddr = parseHostPort(target.addr, 'target');
    await fc.assert(
      // half of the sequences open with a valid SESSION, so that mutated frames reach the role logic too
      fc.asyncProperty(
        fc.option(fc.nat(3)),
        fc.array(frame, { minLength: 1, maxLength: 6 }),
        async (opening, frames) => {
          runs++;
          const sock = await connectRawTls(targetAddr, key);
          sock.resume(); // whatever the relay answers (ERROR) is read and dropped
          const closed = once(sock, 'close');
          if (opening !== null) sock.write(encoded[opening]!);
          for (const f of frames) sock.write(f.bytes);
          sock.end();
          await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
          sock.destroy();
          expect(target.alive).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
    expect(runs).toBe(60);
    // the fuzzer did reach the frame layer: the relay refused frames and said why
    const refused = target.stderr.match(/ link-failed remote=127\.0\.0\.1:\d+ reason=/g) ?? [];
    expect(refused.length).toBeGreaterThan(10);
    expect(target.alive).toBe(true);
    expect(target.stderr).not.toMatch(/internal-error/);

    const file = join(dir, 'afterfuzz.bin');
    const want = await makeRandomFile(file, 2_000_000);
    const r = await runBin(
      [
        'send',
        file,
        '--key',
        keyFile,
        '--dest',
        recv.addr,
        '--data-relays',
        addrs([target, relays[0]!]),
        '--leader',
        target.addr,
        '--key-relays',
        addrs([target, relays[5]!]),
      ],
      { timeoutMs: 30_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(await sha256File(join(outDir, 'afterfuzz.bin'))).toBe(want);
  }, 120_000);
});
